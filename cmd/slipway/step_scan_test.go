package main

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"slipway.dev/slipway/engine/registry"
	"slipway.dev/slipway/engine/scan"
)

func TestScanStepRejectsBadInput(t *testing.T) {
	dir := t.TempDir()
	trivy := filepath.Join(dir, "trivy")
	if err := os.WriteFile(trivy, []byte("#!/bin/sh\nexit 3\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	ignores := filepath.Join(dir, "ignore.yaml")
	if err := os.WriteFile(ignores, []byte("ignore:\n  - id: CVE-2099-0001\n    reason: r\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	img := "127.0.0.1:5001/apps/hello@sha256:" + strings.Repeat("a", 64)
	base := []string{"step", "scan", "--trivy", trivy, "--image", img}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no image", []string{"step", "scan"}, "--image is required"},
		{"bad threshold", append(base, "--threshold", "severe"), `--threshold: threshold: severity "severe"`},
		{"bad bool", append(base, "--insecure-registry", "yes please"), `--insecure-registry "yes please"`},
		{"inline entry without reason", append(base, "--ignore", "ignore: [{id: CVE-1, expires: 2030-01-01}]"), "ignore list --ignore: entry 1 (CVE-1): reason is required"},
		{"file entry without expiry", append(base, "--ignore-file", "ignore.yaml", "--ignore-base", dir), "ignore list ignore.yaml: entry 1 (CVE-2099-0001): expires is required"},
		{"no database", append(base, "--db", ""), "no vulnerability database"},
		{"empty database dir", append(base, "--db", dir), "no trivy database"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("SLIPWAY_TRIVY_DB", "")
			_, err := run(tc.args...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

// TestScanStepEndToEnd runs the step with the real trivy against a database planted with an
// advisory for bash, on an image pushed to a real registry.
func TestScanStepEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("needs the trivy binary")
	}
	ctx := t.Context()
	trivyDir := os.Getenv("SLIPWAY_SCTOOLS")
	if trivyDir == "" {
		trivyDir = buildTool(t, "../../hack/sctools/build.sh", "trivy")
	}
	mkdb := filepath.Join(buildTool(t, "../../hack/trivydb/build.sh"), "mkdb")
	dir := t.TempDir()
	advisories := "advisories:\n- {id: CVE-2099-0001, severity: CRITICAL, affects: [{ecosystem: debian, release: '12', package: bash, fixed: 5.2.99-1}]}\n"
	db, err := scan.MakeDB(ctx, mkdb, []byte(advisories), filepath.Join(dir, "db"))
	if err != nil {
		t.Fatal(err)
	}
	reg, err := registry.Start(ctx, registry.Options{Dir: filepath.Join(dir, "registry"), Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = reg.Close(context.WithoutCancel(ctx)) })
	img := pushDebianImage(t, reg.Host()+"/apps/bash", "5.2.15-2+b13")

	res := func(n string) string { return filepath.Join(dir, n) }
	args := []string{"step", "scan", "--trivy", filepath.Join(trivyDir, "trivy"), "--image", img, "--db", db.Dir,
		"--insecure-registry", "true", "--sbom", "sbom.cdx.json", "--report", "scan.json", "--output-dir", res("out"),
		"--summary-file", res("summary"), "--verdict-file", res("verdict"), "--sbom-result-file", res("sbom")}
	out, err := run(args...)
	if !errors.Is(err, errScanBlocked) || !strings.Contains(err.Error(), "CVE-2099-0001") {
		t.Fatalf("err = %v, want the policy to block CVE-2099-0001\n%s", err, out)
	}
	if !regexp.MustCompile(`(?m)^CVE-2099-0001\s+bash\s+5\.2\.15-2\+b13\s+5\.2\.99-1\s+CRITICAL\s+blocking$`).MatchString(out) {
		t.Errorf("step output lacks the finding:\n%s", out)
	}
	var sum scan.Summary
	data, _ := os.ReadFile(res("summary"))
	if err := json.Unmarshal(data, &sum); err != nil {
		t.Fatalf("SCAN_SUMMARY %q: %v", data, err)
	}
	if sum.Verdict != "fail" || sum.Counts["CRITICAL"] != 1 || sum.SBOM != res("out/sbom.cdx.json") {
		t.Errorf("SCAN_SUMMARY = %+v", sum)
	}
	if v, _ := os.ReadFile(res("verdict")); string(v) != "fail" {
		t.Errorf("VERDICT = %q", v)
	}
	if report, _ := os.ReadFile(res("out/scan.json")); string(report) != string(data) {
		t.Errorf("report file = %q, want the summary %q", report, data)
	}
	if s, _ := os.ReadFile(res("sbom")); string(s) != res("out/sbom.cdx.json") {
		t.Errorf("SBOM result = %q", s)
	}
	if _, err := os.Stat(res("out/sbom.cdx.json")); err != nil {
		t.Error(err)
	}

	// An ignore entry with a reason and a future expiry lets it pass.
	ignore := "ignore: [{id: CVE-2099-0001, reason: no shell at runtime, expires: '" + time.Now().AddDate(0, 1, 0).Format(time.DateOnly) + "'}]"
	if out, err := run(append(args, "--ignore", ignore)...); err != nil {
		t.Fatalf("with an ignore entry: %v\n%s", err, out)
	}
	if v, _ := os.ReadFile(res("verdict")); string(v) != "pass" {
		t.Errorf("VERDICT with the ignore entry = %q", v)
	}
}

func buildTool(t *testing.T, script string, args ...string) string {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), script, args...)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s: %v", script, err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	return lines[len(lines)-1]
}

// pushDebianImage pushes a Debian 12 image whose dpkg status lists bash at version.
func pushDebianImage(t *testing.T, repo, version string) string {
	t.Helper()
	files := map[string]string{
		"etc/os-release":      "ID=debian\nVERSION_ID=\"12\"\n",
		"etc/debian_version":  "12.15\n",
		"var/lib/dpkg/status": "Package: bash\nStatus: install ok installed\nArchitecture: amd64\nVersion: " + version + "\nDescription: bash\n\n",
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, n := range slices.Sorted(maps.Keys(files)) {
		if err := tw.WriteHeader(&tar.Header{Name: n, Mode: 0o644, Size: int64(len(files[n]))}); err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(tw, files[n]); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(buf.Bytes())), nil })
	if err != nil {
		t.Fatal(err)
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := name.ParseReference(repo+":test", name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img, remote.WithContext(t.Context())); err != nil {
		t.Fatal(err)
	}
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return repo + "@" + d.String()
}
