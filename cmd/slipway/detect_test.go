package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"slipway.dev/slipway/engine/detect"
)

const sampleApps = "../../testdata/apps"

func TestDetectCommand(t *testing.T) {
	out, err := run("detect", filepath.Join(sampleApps, "monorepo"), "--path", "apps/api")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"apps/api: go service on port 9000, built with the Go fast path (ko)", "./cmd/api",
		"apps/api/go.mod:1", "spec.build.strategy"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	out, err = run("detect", filepath.Join(sampleApps, "node-express"), "--json")
	if err != nil {
		t.Fatal(err)
	}
	var res detect.Result
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("--json: %v\n%s", err, out)
	}
	if res.Strategy != "buildpacks" || res.Language != "node" || res.Port != 3000 {
		t.Errorf("got %+v", res)
	}
	if _, err := run("detect", filepath.Join(sampleApps, "ambiguous")); err == nil || !strings.Contains(err.Error(), "spec.source.path") {
		t.Errorf("ambiguous source: err = %v", err)
	}
	if _, err := run("detect", filepath.Join(sampleApps, "go-hello"), "--strategy", "dockerfile"); err == nil || !strings.Contains(err.Error(), "no Dockerfile") {
		t.Errorf("dockerfile without one: err = %v", err)
	}
}

func TestDetectStepWritesResults(t *testing.T) {
	dir := t.TempDir()
	// The task passes $(results.strategy.path)/.., which need not exist as a directory.
	out, err := run("step", "detect", "--source", filepath.Join(sampleApps, "monorepo"), "--path", "apps/web",
		"--result-dir", filepath.Join(dir, "strategy", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "Why:") {
		t.Errorf("no explanation on stdout:\n%s", out)
	}
	want := map[string]string{"strategy": "buildpacks", "language": "node", "framework": "fastify", "port": "3000",
		"component": "service", "go-package": "", "dockerfile": ""}
	for name, v := range want {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if string(b) != v {
			t.Errorf("result %s = %q, want %q", name, b, v)
		}
	}
	ev, err := os.ReadFile(filepath.Join(dir, "evidence"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(ev), "apps/web/package.json") || len(ev) > maxEvidenceResult {
		t.Errorf("evidence result (%d bytes) = %q", len(ev), ev)
	}
	if _, err := run("step", "detect", "--source", filepath.Join(sampleApps, "ambiguous"), "--result-dir", dir); err == nil {
		t.Error("ambiguous source: want an error")
	}
}
