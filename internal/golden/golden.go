// Package golden compares test output with golden files and rewrites them when a test runs with
// its package's -update flag.
package golden

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"slipway.dev/slipway/engine/manifest"
)

// Check compares got with the golden file at path; with update it first writes got there.
func Check(t testing.TB, path string, got []byte, update bool) {
	t.Helper()
	if update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden file (run with -update to create it): %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("output differs from %s (run with -update if intended)\ngot:\n%s\nwant:\n%s", path, got, want)
	}
}

// JSON returns v as indented JSON with a final newline, the form golden files use.
func JSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return append(b, '\n')
}

// Files compares rendered files with the golden files in dir, one each by path, and fails if
// dir holds any other file or the files are not in name order; with update it first empties
// dir and writes them.
func Files(t *testing.T, dir string, files []manifest.File, update bool) {
	t.Helper()
	if update {
		if err := os.RemoveAll(dir); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	for _, f := range files {
		Check(t, filepath.Join(dir, f.Path), f.Data, update)
		got = append(got, f.Path)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, e := range entries {
		want = append(want, e.Name())
	}
	if !slices.Equal(got, want) {
		t.Errorf("rendered files %v, golden files %v (run with -update if intended)", got, want)
	}
}
