package scan

import (
	"strings"
	"testing"
	"time"
)

func TestParseIgnores(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    []Ignore
		wantErr string
	}{
		{
			name: "date means through that day",
			in:   "ignore:\n  - id: CVE-2099-0001\n    package: bash\n    reason: shell never runs\n    expires: 2030-01-31\n",
			want: []Ignore{{ID: "CVE-2099-0001", Package: "bash", Reason: "shell never runs", Expires: time.Date(2030, 2, 1, 0, 0, 0, 0, time.UTC)}},
		},
		{
			name: "RFC 3339 time, JSON",
			in:   `{"ignore":[{"id":"GHSA-x","reason":"r","expires":"2030-01-31T12:00:00+02:00"}]}`,
			want: []Ignore{{ID: "GHSA-x", Reason: "r", Expires: time.Date(2030, 1, 31, 10, 0, 0, 0, time.UTC)}},
		},
		{name: "empty list", in: "ignore: []\n", want: []Ignore{}},
		{name: "missing reason", in: "ignore:\n  - id: CVE-1\n    expires: 2030-01-01\n", wantErr: "ignore list f.yaml: entry 1 (CVE-1): reason is required"},
		{name: "blank reason", in: "ignore:\n  - id: CVE-1\n    reason: '  '\n    expires: 2030-01-01\n", wantErr: "entry 1 (CVE-1): reason is required"},
		{name: "missing expiry", in: "ignore:\n  - {id: CVE-0, reason: r, expires: 2030-01-01}\n  - id: CVE-2\n    reason: r\n", wantErr: "entry 2 (CVE-2): expires is required"},
		{name: "bad expiry", in: "ignore:\n  - {id: CVE-3, reason: r, expires: next year}\n", wantErr: `entry 1 (CVE-3): expires "next year"`},
		{name: "missing id", in: "ignore:\n  - {reason: r, expires: 2030-01-01}\n", wantErr: "entry 1: id is required"},
		{name: "unknown field", in: "ignore:\n  - {id: CVE-4, reason: r, expiry: 2030-01-01}\n", wantErr: "unknown field"},
		{name: "not a list", in: "ignore: CVE-1\n", wantErr: "ignore list f.yaml"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseIgnores([]byte(tt.in), "f.yaml")
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %d entries, want %d", len(got), len(tt.want))
			}
			for i := range got {
				g, w := got[i], tt.want[i]
				if g.ID != w.ID || g.Package != w.Package || g.Reason != w.Reason || !g.Expires.Equal(w.Expires) {
					t.Errorf("entry %d = %+v, want %+v", i, g, w)
				}
			}
		})
	}
}

func testReport() *Report {
	return &Report{Artifact: "img", Findings: []Finding{
		{ID: "CVE-C", Package: "bash", Installed: "5.2", Fixed: "5.3", Severity: Critical},
		{ID: "CVE-H", Package: "stdlib", Installed: "v1.26.8", Severity: High},
		{ID: "CVE-M", Package: "golang.org/x/text", Installed: "v0.3.0", Severity: Medium},
	}}
}

func TestEvaluate(t *testing.T) {
	now := time.Date(2030, 6, 1, 0, 0, 0, 0, time.UTC)
	future, past := now.Add(24*time.Hour), now.Add(-time.Second)
	tests := []struct {
		name        string
		policy      Policy
		wantPass    bool
		wantStatus  []Status // per finding, in report order
		wantExpired int
	}{
		{"critical threshold blocks critical only", Policy{Threshold: Critical}, false,
			[]Status{StatusBlocking, StatusAllowed, StatusAllowed}, 0},
		{"high threshold", Policy{Threshold: High}, false,
			[]Status{StatusBlocking, StatusBlocking, StatusAllowed}, 0},
		{"report only", Policy{ReportOnly: true}, true,
			[]Status{StatusAllowed, StatusAllowed, StatusAllowed}, 0},
		{"active ignore unblocks", Policy{Threshold: Critical, Ignores: []Ignore{{ID: "CVE-C", Reason: "r", Expires: future}}}, true,
			[]Status{StatusIgnored, StatusAllowed, StatusAllowed}, 0},
		{"expired ignore does not", Policy{Threshold: Critical, Ignores: []Ignore{{ID: "CVE-C", Reason: "r", Expires: past}}}, false,
			[]Status{StatusBlocking, StatusAllowed, StatusAllowed}, 1},
		{"expiry instant itself no longer ignores", Policy{Threshold: Critical, Ignores: []Ignore{{ID: "CVE-C", Reason: "r", Expires: now}}}, false,
			[]Status{StatusBlocking, StatusAllowed, StatusAllowed}, 1},
		{"package must match when given", Policy{Threshold: Critical, Ignores: []Ignore{{ID: "CVE-C", Package: "dash", Reason: "r", Expires: future}}}, false,
			[]Status{StatusBlocking, StatusAllowed, StatusAllowed}, 0},
		{"two blocking, one ignored", Policy{Threshold: Medium, Ignores: []Ignore{{ID: "CVE-H", Package: "stdlib", Reason: "r", Expires: future}}}, false,
			[]Status{StatusBlocking, StatusIgnored, StatusBlocking}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := tt.policy.Evaluate(testReport(), now)
			if v.Pass != tt.wantPass {
				t.Errorf("Pass = %v, want %v", v.Pass, tt.wantPass)
			}
			for i, f := range v.Findings {
				if f.Status != tt.wantStatus[i] {
					t.Errorf("%s: status %q, want %q", f.ID, f.Status, tt.wantStatus[i])
				}
			}
			if len(v.Expired) != tt.wantExpired {
				t.Errorf("expired = %v, want %d entries", v.Expired, tt.wantExpired)
			}
		})
	}
}

func TestParseThreshold(t *testing.T) {
	for in, want := range map[string]Policy{"high": {Threshold: High}, " CRITICAL": {Threshold: Critical}, "none": {ReportOnly: true}, "UNKNOWN": {Threshold: Unknown}} {
		got, err := ParseThreshold(in)
		if err != nil || got.Threshold != want.Threshold || got.ReportOnly != want.ReportOnly {
			t.Errorf("ParseThreshold(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
	if _, err := ParseThreshold("severe"); err == nil || !strings.Contains(err.Error(), `"severe"`) {
		t.Errorf("err = %v, want one naming the value", err)
	}
}

func FuzzParseIgnores(f *testing.F) {
	f.Add([]byte("ignore:\n  - id: CVE-1\n    reason: r\n    expires: 2030-01-01\n"))
	f.Add([]byte(`{"ignore":[{"id":"X","package":"p","reason":"r","expires":"2030-01-31T12:00:00Z"}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		list, err := ParseIgnores(data, "fuzz")
		if err != nil {
			return
		}
		for _, ig := range list {
			if ig.ID == "" || ig.Reason == "" || ig.Expires.IsZero() {
				t.Fatalf("accepted incomplete entry %+v", ig)
			}
		}
	})
}
