package scan

import (
	"fmt"
	"strings"
	"time"

	"sigs.k8s.io/yaml"
)

// Ignore is one accepted risk: findings with ID (in Package, when set) do not block until
// Expires. Every entry must say why it is accepted and until when.
type Ignore struct {
	ID      string `json:"id"`
	Package string `json:"package,omitempty"`
	Reason  string `json:"reason"`
	// Expires is the first instant the entry no longer applies. A file's date-only value
	// ("2026-12-31") means the end of that day in UTC.
	Expires time.Time `json:"expires"`
}

// matches reports whether the entry names f.
func (ig Ignore) matches(f Finding) bool {
	return ig.ID == f.ID && (ig.Package == "" || ig.Package == f.Package)
}

// ignoreFile is the ignore list's file format.
type ignoreFile struct {
	Ignore []struct {
		ID      string `json:"id"`
		Package string `json:"package"`
		Reason  string `json:"reason"`
		Expires string `json:"expires"`
	} `json:"ignore"`
}

// ParseIgnores reads an ignore list (YAML or JSON):
//
//	ignore:
//	  - id: CVE-2024-1234
//	    package: bash        # optional: only this package
//	    reason: not reachable, the image never runs a shell
//	    expires: 2026-12-31  # a date (through that day, UTC) or an RFC 3339 time
//
// An entry without an id, a reason or a valid expiry is rejected with an error naming it;
// source names the list in errors (a file name or "--ignore").
func ParseIgnores(data []byte, source string) ([]Ignore, error) {
	var f ignoreFile
	if err := yaml.UnmarshalStrict(data, &f); err != nil {
		return nil, fmt.Errorf("ignore list %s: %w", source, err)
	}
	out := make([]Ignore, 0, len(f.Ignore))
	for i, e := range f.Ignore {
		name := fmt.Sprintf("ignore list %s: entry %d", source, i+1)
		id := strings.TrimSpace(e.ID)
		if id == "" {
			return nil, fmt.Errorf("%s: id is required", name)
		}
		name += " (" + id + ")"
		if strings.TrimSpace(e.Reason) == "" {
			return nil, fmt.Errorf("%s: reason is required: say why the risk is accepted", name)
		}
		if strings.TrimSpace(e.Expires) == "" {
			return nil, fmt.Errorf("%s: expires is required: a date (2026-12-31) after which the finding blocks again", name)
		}
		exp, err := parseExpiry(e.Expires)
		if err != nil {
			return nil, fmt.Errorf("%s: expires %q: want a date (2026-12-31) or an RFC 3339 time", name, e.Expires)
		}
		out = append(out, Ignore{ID: id, Package: strings.TrimSpace(e.Package), Reason: strings.TrimSpace(e.Reason), Expires: exp})
	}
	return out, nil
}

func parseExpiry(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if d, err := time.Parse(time.DateOnly, s); err == nil {
		return d.AddDate(0, 0, 1), nil
	}
	return time.Parse(time.RFC3339, s)
}

// Policy decides which findings block an image.
type Policy struct {
	// Threshold is the lowest severity that blocks. Findings below it are reported only.
	Threshold Severity
	// ReportOnly turns blocking off: every finding is reported, none blocks.
	ReportOnly bool
	// Ignores are accepted risks; expired ones no longer apply.
	Ignores []Ignore
}

// ParseThreshold reads a policy threshold: a severity name, or "NONE" for report only.
func ParseThreshold(s string) (Policy, error) {
	if strings.EqualFold(strings.TrimSpace(s), "NONE") {
		return Policy{ReportOnly: true}, nil
	}
	sev, err := ParseSeverity(s)
	if err != nil {
		return Policy{}, fmt.Errorf("threshold: %w (or NONE to report only)", err)
	}
	return Policy{Threshold: sev}, nil
}

// Status says what the policy made of a finding.
type Status string

// Finding statuses.
const (
	StatusBlocking Status = "blocking"
	StatusIgnored  Status = "ignored"
	StatusAllowed  Status = "below threshold"
)

// Judged is a finding with the policy's decision on it.
type Judged struct {
	Finding
	Status Status `json:"status"`
	// Ignore is the entry that ignored the finding (StatusIgnored), or the expired entry that
	// would have (StatusBlocking or StatusAllowed), if any.
	Ignore *Ignore `json:"ignore,omitempty"`
}

// Verdict is the outcome of a policy applied to a report.
type Verdict struct {
	Pass     bool
	Findings []Judged
	// Expired lists ignore entries past their expiry: they no longer ignore anything.
	Expired []Ignore
}

// Blocking returns the findings that fail the verdict.
func (v *Verdict) Blocking() []Judged {
	var b []Judged
	for _, f := range v.Findings {
		if f.Status == StatusBlocking {
			b = append(b, f)
		}
	}
	return b
}

// Evaluate applies p to r at the instant now.
func (p Policy) Evaluate(r *Report, now time.Time) *Verdict {
	v := &Verdict{Pass: true}
	var active []Ignore
	for _, ig := range p.Ignores {
		if now.Before(ig.Expires) {
			active = append(active, ig)
		} else {
			v.Expired = append(v.Expired, ig)
		}
	}
	for _, f := range r.Findings {
		j := Judged{Finding: f, Status: StatusAllowed}
		if !p.ReportOnly && f.Severity >= p.Threshold {
			j.Status = StatusBlocking
		}
		if ig := firstMatch(active, f); ig != nil {
			j.Status, j.Ignore = StatusIgnored, ig
		} else if ig := firstMatch(v.Expired, f); ig != nil {
			j.Ignore = ig
		}
		if j.Status == StatusBlocking {
			v.Pass = false
		}
		v.Findings = append(v.Findings, j)
	}
	return v
}

func firstMatch(list []Ignore, f Finding) *Ignore {
	for i := range list {
		if list[i].matches(f) {
			ig := list[i]
			return &ig
		}
	}
	return nil
}
