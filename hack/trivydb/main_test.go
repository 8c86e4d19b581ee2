package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aquasecurity/trivy-db/pkg/metadata"
	bolt "go.etcd.io/bbolt"
)

func TestParseRejects(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"no id", `advisories: [{severity: HIGH, affects: [{ecosystem: go, package: x, vulnerable: ["<1"]}]}]`, "advisory 1: id is required"},
		{"bad severity", `advisories: [{id: CVE-1, severity: severe, affects: [{ecosystem: go, package: x, vulnerable: ["<1"]}]}]`, `advisory 1 (CVE-1): severity "severe"`},
		{"no affects", `advisories: [{id: CVE-1, severity: LOW}]`, "affects lists no package"},
		{"os without release", `advisories: [{id: CVE-1, severity: LOW, affects: [{ecosystem: debian, package: bash, fixed: "1"}]}]`, "needs a release"},
		{"lang without ranges", `advisories: [{id: CVE-1, severity: LOW, affects: [{ecosystem: npm, package: x}]}]`, "needs vulnerable or patched"},
		{"lang with fixed", `advisories: [{id: CVE-1, severity: LOW, affects: [{ecosystem: go, package: x, fixed: "1", vulnerable: ["<1"]}]}]`, "not fixed or release"},
		{"unknown ecosystem", `advisories: [{id: CVE-1, severity: LOW, affects: [{ecosystem: cobol, package: x}]}]`, `unknown ecosystem "cobol"`},
		{"duplicate", `advisories: [{id: CVE-1, severity: LOW, affects: [{ecosystem: go, package: x, vulnerable: ["<1"]}]}, {id: CVE-1, severity: LOW, affects: [{ecosystem: go, package: y, vulnerable: ["<1"]}]}]`, "advisory 2 (CVE-1): duplicate id"},
		{"unknown field", `advisories: [{id: CVE-1, severty: LOW}]`, "unknown field"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parse([]byte(tt.in))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestWritesBucketsTrivyReads(t *testing.T) {
	out := t.TempDir()
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	n, err := run(filepath.Join("testdata", "planted.yaml"), out, time.Hour, now)
	if err != nil {
		t.Fatal(err)
	}
	if n != 3 {
		t.Fatalf("wrote %d advisories, want 3", n)
	}
	meta, err := metadata.NewClient(out).Get()
	if err != nil {
		t.Fatal(err)
	}
	if meta.Version != 2 || !meta.NextUpdate.Equal(now.Add(time.Hour)) {
		t.Errorf("metadata = %+v, want version 2 and NextUpdate an hour after %s", meta, now)
	}
	bdb, err := bolt.Open(filepath.Join(out, "trivy.db"), 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer bdb.Close()
	err = bdb.View(func(tx *bolt.Tx) error {
		checks := []struct {
			path             []string
			key, field, want string
		}{
			{[]string{"debian 12", "bash"}, "CVE-2099-0001", "FixedVersion", "5.2.99-1"},
			{[]string{"go::GitHub Security Advisory Go", "stdlib"}, "CVE-2099-0002", "VulnerableVersions", "[<1.99.0]"},
			{[]string{"vulnerability"}, "CVE-2099-0001", "Severity", "CRITICAL"},
		}
		for _, c := range checks {
			b := tx.Bucket([]byte(c.path[0]))
			for _, p := range c.path[1:] {
				if b != nil {
					b = b.Bucket([]byte(p))
				}
			}
			if b == nil {
				t.Errorf("bucket %v missing", c.path)
				continue
			}
			var v map[string]any
			if err := json.Unmarshal(b.Get([]byte(c.key)), &v); err != nil {
				t.Errorf("%v/%s: %v", c.path, c.key, err)
				continue
			}
			if got := toString(v[c.field]); got != c.want {
				t.Errorf("%v/%s %s = %q, want %q", c.path, c.key, c.field, got, c.want)
			}
		}
		if tx.Bucket([]byte("advisory-detail")) != nil {
			t.Error("staging bucket advisory-detail left in the database")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if left, _ := filepath.Glob(filepath.Join(out, ".mkdb-*")); len(left) > 0 {
		t.Errorf("work directories left behind: %v", left)
	}
}

func toString(v any) string {
	if l, ok := v.([]any); ok {
		s := make([]string, len(l))
		for i, e := range l {
			s[i], _ = e.(string)
		}
		return "[" + strings.Join(s, " ") + "]"
	}
	s, _ := v.(string)
	return s
}

func TestEmptyListMakesAnEmptyDatabase(t *testing.T) {
	in := filepath.Join(t.TempDir(), "none.yaml")
	if err := os.WriteFile(in, []byte("advisories: []\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	if _, err := run(in, out, time.Hour, time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(out, "trivy.db")); err != nil {
		t.Fatal(err)
	}
}

func FuzzParse(f *testing.F) {
	data, err := os.ReadFile(filepath.Join("testdata", "planted.yaml"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(data)
	f.Add([]byte(`{"advisories":[{"id":"X","severity":"LOW","affects":[{"ecosystem":"alpine","release":"3.20","package":"musl"}]}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := parse(data)
		if err != nil {
			return
		}
		for _, a := range file.Advisories {
			if a.ID == "" || len(a.Affects) == 0 {
				t.Fatalf("accepted advisory %+v", a)
			}
			for _, p := range a.Affects {
				if _, _, err := bucketFor(p); err != nil {
					t.Fatalf("accepted %+v, but no bucket: %v", p, err)
				}
			}
		}
	})
}
