package scan

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

func scanner(t testing.TB, f *fixture, opts ...Option) *Scanner {
	t.Helper()
	s, err := New(f.trivy, f.db, append([]Option{WithInsecureRegistry(true)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func ids(fs []Judged) []string {
	var out []string
	for _, f := range fs {
		out = append(out, f.ID+"/"+f.Package)
	}
	return out
}

func TestVulnerableImageIsBlocked(t *testing.T) {
	f := setup(t)
	sbom := filepath.Join(t.TempDir(), "sbom.cdx.json")
	res, err := scanner(t, f).Scan(t.Context(), f.vulnerable, sbom)
	if err != nil {
		t.Fatal(err)
	}
	r := res.Report
	if r.OS != "debian 12.15" {
		t.Errorf("OS = %q, want debian 12.15", r.OS)
	}
	want := map[string]string{"CVE-2099-0001/bash": "CRITICAL", "CVE-2099-0002/stdlib": "HIGH", "CVE-2099-0004/zlib1g": "LOW"}
	got := map[string]string{}
	for _, fd := range r.Findings {
		got[fd.ID+"/"+fd.Package] = fd.Severity.String()
	}
	if len(got) != len(want) {
		t.Errorf("findings %v, want %v", got, want)
	}
	for k, sev := range want {
		if got[k] != sev {
			t.Errorf("finding %s: severity %q, want %q", k, got[k], sev)
		}
	}
	if c := r.Counts(); c["CRITICAL"] != 1 || c["HIGH"] != 1 || c["MEDIUM"] != 0 || c["LOW"] != 1 {
		t.Errorf("counts = %v", c)
	}

	p, _ := ParseThreshold("HIGH")
	v := p.Evaluate(r, time.Now())
	if v.Pass {
		t.Fatal("vulnerable image passed a HIGH threshold")
	}
	if b := ids(v.Blocking()); strings.Join(b, ",") != "CVE-2099-0001/bash,CVE-2099-0002/stdlib" {
		t.Errorf("blocking = %v", b)
	}
	s := Summarize(f.vulnerable, p, r, v, sbom)
	var table bytes.Buffer
	if err := WriteTable(&table, s, v); err != nil {
		t.Fatal(err)
	}
	t.Logf("report:\n%s", table.String())
	for _, re := range []string{
		`(?m)^CVE-2099-0001\s+bash\s+5\.2\.15-2\+b13\s+5\.2\.99-1\s+CRITICAL\s+blocking$`,
		`(?m)^CVE-2099-0002\s+stdlib\s+v1\.\d+\.\d+\s+>=1\.99\.0\s+HIGH\s+blocking$`,
		`(?m)^CVE-2099-0004\s+zlib1g\s+1:1\.2\.13\.dfsg-1\s+1:1\.3\.99-1\s+LOW\s+below threshold$`,
		`FAIL \(threshold HIGH\): 1 critical, 1 high, 0 medium, 1 low, 0 unknown; 2 blocking, 0 ignored`,
	} {
		if !regexp.MustCompile(re).MatchString(table.String()) {
			t.Errorf("report does not match %s", re)
		}
	}
	checkSBOM(t, sbom, "bash", "zlib1g", "stdlib", "example.com/app")
}

// checkSBOM checks the file is CycloneDX JSON listing the named components.
func checkSBOM(t *testing.T, path string, names ...string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var bom struct {
		BOMFormat    string `json:"bomFormat"`
		SpecVersion  string `json:"specVersion"`
		SerialNumber string `json:"serialNumber"`
		Metadata     struct {
			Component struct{ Name string } `json:"component"`
		} `json:"metadata"`
		Components []struct {
			Type    string `json:"type"`
			Name    string `json:"name"`
			Version string `json:"version"`
			PURL    string `json:"purl"`
		} `json:"components"`
	}
	if err := json.Unmarshal(data, &bom); err != nil {
		t.Fatalf("SBOM is not JSON: %v", err)
	}
	if bom.BOMFormat != "CycloneDX" || !regexp.MustCompile(`^1\.\d+$`).MatchString(bom.SpecVersion) ||
		!strings.HasPrefix(bom.SerialNumber, "urn:uuid:") {
		t.Errorf("SBOM header: format %q, spec %q, serial %q", bom.BOMFormat, bom.SpecVersion, bom.SerialNumber)
	}
	purls := map[string]string{}
	for _, c := range bom.Components {
		purls[c.Name] = c.PURL
	}
	for _, n := range names {
		if _, ok := purls[n]; !ok {
			t.Errorf("SBOM lacks component %s (has %d components)", n, len(bom.Components))
		}
	}
	if p := purls["bash"]; p != "" && !strings.HasPrefix(p, "pkg:deb/debian/bash@") {
		t.Errorf("bash purl = %q", p)
	}
}

func TestCleanImagePasses(t *testing.T) {
	f := setup(t)
	sbom := filepath.Join(t.TempDir(), "sbom.cdx.json")
	res, err := scanner(t, f).Scan(t.Context(), f.clean, sbom)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Report.Findings) != 0 || res.Report.Packages != 2 {
		t.Errorf("findings %+v in %d packages, want none in 2", res.Report.Findings, res.Report.Packages)
	}
	p := Policy{Threshold: Low}
	v := p.Evaluate(res.Report, time.Now())
	if !v.Pass {
		t.Errorf("clean image failed: %v", ids(v.Findings))
	}
	var table bytes.Buffer
	if err := WriteTable(&table, Summarize(f.clean, p, res.Report, v, sbom), v); err != nil {
		t.Fatal(err)
	}
	if want := "no vulnerabilities found\n" + f.clean + ": PASS (threshold LOW)"; !strings.HasPrefix(table.String(), want) {
		t.Errorf("report = %q, want it to start with %q", table.String(), want)
	}
	checkSBOM(t, sbom, "bash", "zlib1g")
}

func TestIgnoreList(t *testing.T) {
	f := setup(t)
	res, err := scanner(t, f).Scan(t.Context(), f.vulnerable, "")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2030, 6, 15, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name       string
		ignores    string
		wantPass   bool
		wantInText []string
	}{
		{
			name:       "reason and expiry unblock",
			ignores:    "ignore:\n- {id: CVE-2099-0001, package: bash, reason: no shell at runtime, expires: 2030-07-01}\n- {id: CVE-2099-0002, reason: fixed by the next Go release, expires: 2030-06-15}\n",
			wantPass:   true,
			wantInText: []string{"ignored through 2030-07-01: no shell at runtime", "PASS (threshold HIGH)", "0 blocking, 2 ignored"},
		},
		{
			name:       "expired entry does not",
			ignores:    "ignore:\n- {id: CVE-2099-0001, reason: no shell at runtime, expires: 2030-06-14}\n- {id: CVE-2099-0002, reason: fixed soon, expires: 2031-01-01}\n",
			wantPass:   false,
			wantInText: []string{"blocking (ignore entry expired after 2030-06-14)", "expired ignore entry: CVE-2099-0001 expired after 2030-06-14 (no shell at runtime)", "1 blocking, 1 ignored"},
		},
		{
			name:       "other package does not",
			ignores:    "ignore:\n- {id: CVE-2099-0001, package: dash, reason: r, expires: 2031-01-01}\n- {id: CVE-2099-0002, reason: r, expires: 2031-01-01}\n",
			wantPass:   false,
			wantInText: []string{"1 blocking, 1 ignored"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ig, err := ParseIgnores([]byte(tt.ignores), "test")
			if err != nil {
				t.Fatal(err)
			}
			p := Policy{Threshold: High, Ignores: ig}
			v := p.Evaluate(res.Report, now)
			if v.Pass != tt.wantPass {
				t.Errorf("pass = %v, want %v", v.Pass, tt.wantPass)
			}
			var buf bytes.Buffer
			if err := WriteTable(&buf, Summarize(f.vulnerable, p, res.Report, v, ""), v); err != nil {
				t.Fatal(err)
			}
			for _, w := range tt.wantInText {
				if !strings.Contains(buf.String(), w) {
					t.Errorf("report lacks %q:\n%s", w, buf.String())
				}
			}
		})
	}
}

func TestScanErrors(t *testing.T) {
	f := setup(t)
	s := scanner(t, f)
	tag := strings.Split(f.vulnerable, "@")[0] + ":test"
	if _, err := s.Scan(t.Context(), tag, ""); err == nil || !strings.Contains(err.Error(), "not pinned by digest") {
		t.Errorf("scan by tag: err = %v, want a digest error", err)
	}
	missing := strings.Split(f.vulnerable, "@")[0] + "@sha256:" + strings.Repeat("0", 64)
	if _, err := s.Scan(t.Context(), missing, ""); err == nil || !strings.Contains(err.Error(), missing) {
		t.Errorf("scan of a missing image: err = %v, want one naming it", err)
	}
	if _, err := New(filepath.Join(t.TempDir(), "trivy"), f.db); err == nil {
		t.Error("New accepted a missing trivy binary")
	}
	if _, err := OpenDB(t.TempDir()); !errors.Is(err, ErrNoDB) {
		t.Errorf("OpenDB(empty dir) = %v, want ErrNoDB", err)
	}
	old := t.TempDir()
	os.WriteFile(filepath.Join(old, "trivy.db"), nil, 0o644)
	os.WriteFile(filepath.Join(old, "metadata.json"), []byte(`{"Version":1}`), 0o644)
	if _, err := OpenDB(old); err == nil || !strings.Contains(err.Error(), "schema version 1") {
		t.Errorf("OpenDB(schema 1) = %v", err)
	}
}

// A Trivy cache directory (db/ inside) is accepted as a database location.
func TestOpenDBAcceptsCacheDir(t *testing.T) {
	f := setup(t)
	db, err := OpenDB(filepath.Dir(f.db.Dir))
	if err != nil || db.Dir != f.db.Dir {
		t.Fatalf("OpenDB(parent) = %+v, %v; want %s", db, err, f.db.Dir)
	}
	if time.Until(db.NextUpdate) < 365*24*time.Hour {
		t.Errorf("NextUpdate = %s, want years ahead", db.NextUpdate)
	}
}

func TestSharedCacheDir(t *testing.T) {
	f := setup(t)
	cache := t.TempDir()
	s := scanner(t, f, WithCacheDir(cache))
	var wg sync.WaitGroup
	errs := make([]error, 3)
	for i := range errs {
		wg.Go(func() {
			img := f.vulnerable
			if i%2 == 1 {
				img = f.clean
			}
			_, errs[i] = s.Scan(t.Context(), img, "")
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("scan %d: %v", i, err)
		}
	}
	if _, err := os.Stat(filepath.Join(cache, "fanal", "fanal.db")); err != nil {
		t.Errorf("layer cache not kept: %v", err)
	}
	if _, err := os.Lstat(filepath.Join(cache, "db")); err == nil {
		t.Error("the shared cache dir got a db entry; the database must stay where the operator put it")
	}
}

func TestEnsureDB(t *testing.T) {
	f := setup(t)
	dir := filepath.Join(t.TempDir(), "db")
	db, created, err := EnsureDB(t.Context(), dir, f.mkdb, EmptyAdvisories)
	if err != nil || !created || db.Dir != dir {
		t.Fatalf("EnsureDB(empty dir) = %+v, %v, %v; want a new database in %s", db, created, err, dir)
	}
	if _, created, err = EnsureDB(t.Context(), dir, f.mkdb, EmptyAdvisories); err != nil || created {
		t.Fatalf("EnsureDB(existing) created = %v, err = %v; want the existing one", created, err)
	}
	// The empty database finds nothing in the vulnerable image.
	s, err := New(f.trivy, db, WithInsecureRegistry(true))
	if err != nil {
		t.Fatal(err)
	}
	res, err := s.Scan(t.Context(), f.vulnerable, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Report.Findings) != 0 || res.Report.Packages != 4 {
		t.Errorf("empty database: %d findings in %d packages, want 0 in 4", len(res.Report.Findings), res.Report.Packages)
	}
	if _, _, err := EnsureDB(t.Context(), t.TempDir(), "", nil); !errors.Is(err, ErrNoDB) {
		t.Errorf("EnsureDB without mkdb = %v, want ErrNoDB", err)
	}
	bad := t.TempDir()
	if _, _, err := EnsureDB(t.Context(), bad, f.mkdb, []byte("advisories: [{id: X}]")); err == nil || !strings.Contains(err.Error(), "advisory 1 (X): severity") {
		t.Errorf("EnsureDB with a bad list = %v, want mkdb's error", err)
	}
}
