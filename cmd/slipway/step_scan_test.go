package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
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
