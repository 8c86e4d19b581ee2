package scan

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// fakeTrivy writes a script that records its arguments and environment, then writes the
// report in testdata (or fails, when fail is set) the way trivy does.
func fakeTrivy(t *testing.T, fail bool) (bin, argsFile, envFile string) {
	t.Helper()
	dir := t.TempDir()
	argsFile, envFile = filepath.Join(dir, "args"), filepath.Join(dir, "env")
	report, err := filepath.Abs(filepath.Join("testdata", "trivy-report.json"))
	if err != nil {
		t.Fatal(err)
	}
	script := `#!/bin/sh
printf '%s\n' "$@" > ` + argsFile + `
env > ` + envFile + `
`
	if fail {
		script += "echo 'FATAL registry said no' >&2\nexit 1\n"
	} else {
		script += `out=""
while [ $# -gt 0 ]; do [ "$1" = --output ] && out=$2; shift; done
cp ` + report + ` "$out"
`
	}
	bin = filepath.Join(dir, "trivy")
	if err := os.WriteFile(bin, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return bin, argsFile, envFile
}

func emptyDB(t *testing.T) DB {
	t.Helper()
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "trivy.db"), nil, 0o644)
	os.WriteFile(filepath.Join(dir, "metadata.json"), []byte(`{"Version":2}`), 0o644)
	db, err := OpenDB(dir)
	if err != nil {
		t.Fatal(err)
	}
	return db
}

func TestTrivyRunsOfflineWithNothingInherited(t *testing.T) {
	t.Setenv("TRIVY_PASSWORD", "hunter2-secret")
	t.Setenv("TRIVY_DB_REPOSITORY", "elsewhere.example/db")
	bin, argsFile, envFile := fakeTrivy(t, false)
	s, err := New(bin, emptyDB(t))
	if err != nil {
		t.Fatal(err)
	}
	img := "127.0.0.1:5001/test/vulnerable@sha256:" + strings.Repeat("e", 64)
	res, err := s.Scan(t.Context(), img, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Report.Findings) != 3 {
		t.Errorf("findings = %d, want the report's 3", len(res.Report.Findings))
	}
	argsData, _ := os.ReadFile(argsFile)
	args := strings.Split(strings.TrimSpace(string(argsData)), "\n")
	for _, want := range []string{"--skip-db-update", "--skip-java-db-update", "--offline-scan", "--skip-check-update",
		"--skip-version-check", "--disable-telemetry", "--image-src", "--list-all-pkgs", img} {
		if !slices.Contains(args, want) {
			t.Errorf("trivy args lack %s: %v", want, args)
		}
	}
	if slices.Contains(args, "--insecure") {
		t.Error("--insecure passed without WithInsecureRegistry")
	}
	env, _ := os.ReadFile(envFile)
	for _, leak := range []string{"hunter2-secret", "TRIVY_DB_REPOSITORY"} {
		if strings.Contains(string(env), leak) {
			t.Errorf("trivy inherited %s from the caller's environment", leak)
		}
	}
}

func TestTrivyFailureIsReported(t *testing.T) {
	bin, _, _ := fakeTrivy(t, true)
	s, err := New(bin, emptyDB(t))
	if err != nil {
		t.Fatal(err)
	}
	img := "127.0.0.1:5001/test/x@sha256:" + strings.Repeat("e", 64)
	_, err = s.Scan(t.Context(), img, "")
	if err == nil || !strings.Contains(err.Error(), "scan "+img) || !strings.Contains(err.Error(), "FATAL registry said no") {
		t.Fatalf("err = %v, want one naming the image and quoting trivy", err)
	}
}
