package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"slipway.dev/slipway/engine/api/v1alpha1"
)

func run(args ...string) (string, error) {
	cmd := newRootCmd()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs(args)
	err := cmd.ExecuteContext(context.Background())
	return out.String(), err
}

func TestBadInputGetsClearErrors(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"unknown resource", []string{"get", "pods", "--dir", dir}, `unknown resource "pods": want apps, deliveries or releases`},
		{"no dev environment", []string{"get", "apps", "--dir", dir}, "no dev environment in " + dir},
		{"bad webhook port", []string{"dev", "--dir", dir, "--webhook-port", "70000"}, "--webhook-port 70000"},
		{"bad sync interval", []string{"dev", "--dir", dir, "--sync-interval", "10ms"}, "--sync-interval 10ms: want at least 1s"},
		{"bad log level", []string{"dev", "--dir", dir, "--log-level", "loud"}, `--log-level "loud"`},
		{"logs needs a run", []string{"logs", "--dir", dir}, "accepts 1 arg"},
		{"git-clone needs a sha", []string{"step", "git-clone", "--url", "https://h/r.git", "--revision", "main", "--dir", dir}, "must be a commit SHA"},
		{"go-build bad bool", []string{"step", "go-build", "--insecure-registry", "maybe"}, `--insecure-registry "maybe"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("KUBECONFIG", "")
			_, err := run(tc.args...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestHelpNamesTheMainCommands(t *testing.T) {
	out, err := run("--help")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"dev", "get", "logs", "slipway get apps"} {
		if !strings.Contains(out, want) {
			t.Errorf("help lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "step ") && strings.Contains(out, "Run one step") {
		t.Errorf("help lists the hidden step command:\n%s", out)
	}
}

func TestScanColumn(t *testing.T) {
	for _, tc := range []struct {
		in   *v1alpha1.ScanSummary
		want string
	}{
		{nil, "-"},
		{&v1alpha1.ScanSummary{Medium: 2, Passed: true}, "pass 0C/0H/2M/0L"},
		{&v1alpha1.ScanSummary{Critical: 1, High: 3}, "BLOCKED 1C/3H/0M/0L"},
	} {
		if got := scanColumn(tc.in); got != tc.want {
			t.Errorf("scanColumn(%+v) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
