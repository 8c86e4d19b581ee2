package scan

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite golden files")

// testdata/trivy-report.json is Trivy v0.72.0's JSON report (--list-all-pkgs) of the test
// fixture's vulnerable image.
func TestReportGolden(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "trivy-report.json"))
	if err != nil {
		t.Fatal(err)
	}
	r, err := ParseReport(data)
	if err != nil {
		t.Fatal(err)
	}
	ig, err := ParseIgnores([]byte(`ignore:
- {id: CVE-2099-0004, package: zlib1g, reason: "compression is never fed untrusted input", expires: 2030-12-31}
- {id: CVE-2099-0001, reason: "rebuilt on the next base image", expires: 2030-01-15}
`), "golden")
	if err != nil {
		t.Fatal(err)
	}
	p := Policy{Threshold: High, Ignores: ig}
	v := p.Evaluate(r, time.Date(2030, 2, 1, 0, 0, 0, 0, time.UTC))
	var got bytes.Buffer
	if err := WriteTable(&got, Summarize(r.Artifact, p, r, v, "/workspace/output/sbom.cdx.json"), v); err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "report.golden")
	if *update {
		if err := os.WriteFile(golden, got.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if got.String() != string(want) {
		t.Errorf("report differs from %s (rerun with -update):\n%s", golden, got.String())
	}
}

func TestParseReportRejects(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"not json", "<html>", "parse trivy report"},
		{"old schema", `{"SchemaVersion":1}`, "schema version 1, want 2"},
		{"no id", `{"SchemaVersion":2,"Results":[{"Target":"t","Vulnerabilities":[{"PkgName":"p","Severity":"LOW"}]}]}`, "result 0 (t) vulnerability 0 lacks an id"},
		{"bad severity", `{"SchemaVersion":2,"Results":[{"Target":"t","Vulnerabilities":[{"VulnerabilityID":"X","PkgName":"p","Severity":"BAD"}]}]}`, `X in p: severity "BAD"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseReport([]byte(tc.in))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func FuzzParseReport(f *testing.F) {
	data, err := os.ReadFile(filepath.Join("testdata", "trivy-report.json"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(data)
	f.Add([]byte(`{"SchemaVersion":2,"Results":[{"Target":"t","Vulnerabilities":[{"VulnerabilityID":"X","PkgName":"p","Severity":"LOW"}]}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := ParseReport(data)
		if err != nil {
			return
		}
		total := 0
		for _, n := range r.Counts() {
			total += n
		}
		if total != len(r.Findings) {
			t.Fatalf("counts add up to %d, findings %d", total, len(r.Findings))
		}
		v := Policy{Threshold: Low}.Evaluate(r, time.Now())
		var buf bytes.Buffer
		if err := WriteTable(&buf, Summarize("img", Policy{}, r, v, ""), v); err != nil {
			t.Fatal(err)
		}
	})
}
