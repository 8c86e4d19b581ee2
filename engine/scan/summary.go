package scan

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// maxListed caps the ids a Summary lists, so that it fits a pipeline result.
const maxListed = 20

// Summary is a scan's outcome in a few hundred bytes of JSON, for a pipeline result.
type Summary struct {
	Image     string         `json:"image"`
	Verdict   string         `json:"verdict"`
	Threshold string         `json:"threshold"`
	OS        string         `json:"os,omitempty"`
	Packages  int            `json:"packages"`
	Counts    map[string]int `json:"counts"`
	Total     int            `json:"total"`
	// Blocking lists the ids of blocking findings, at most maxListed; BlockingCount counts all.
	Blocking      []string `json:"blocking,omitempty"`
	BlockingCount int      `json:"blockingCount"`
	Ignored       int      `json:"ignored"`
	// ExpiredIgnores lists ignore entries past their expiry.
	ExpiredIgnores []string `json:"expiredIgnores,omitempty"`
	SBOM           string   `json:"sbom,omitempty"`
}

// Verdict values of a Summary.
const (
	VerdictPass = "pass"
	VerdictFail = "fail"
)

// Summarize condenses a report and its verdict.
func Summarize(image string, p Policy, r *Report, v *Verdict, sbom string) Summary {
	s := Summary{Image: image, Verdict: VerdictPass, Threshold: p.Threshold.String(), OS: r.OS,
		Packages: r.Packages, Counts: r.Counts(), Total: len(r.Findings), SBOM: sbom}
	if p.ReportOnly {
		s.Threshold = "NONE"
	}
	if !v.Pass {
		s.Verdict = VerdictFail
	}
	seen := map[string]bool{}
	for _, f := range v.Findings {
		switch f.Status {
		case StatusBlocking:
			s.BlockingCount++
			if !seen[f.ID] && len(s.Blocking) < maxListed {
				seen[f.ID] = true
				s.Blocking = append(s.Blocking, f.ID)
			}
		case StatusIgnored:
			s.Ignored++
		}
	}
	for _, ig := range v.Expired {
		s.ExpiredIgnores = append(s.ExpiredIgnores, ig.ID)
	}
	return s
}

// WriteTable writes the findings as an aligned table (id, package, installed, fixed,
// severity, status), then expired ignore entries, then a one-line verdict.
func WriteTable(w io.Writer, s Summary, v *Verdict) error {
	if len(v.Findings) == 0 {
		fmt.Fprintln(w, "no vulnerabilities found")
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	if len(v.Findings) > 0 {
		fmt.Fprintf(tw, "ID\tPACKAGE\tINSTALLED\tFIXED\tSEVERITY\tSTATUS\n")
	}
	for _, f := range v.Findings {
		fixed := f.Fixed
		if fixed == "" {
			fixed = "-"
		}
		status := string(f.Status)
		switch {
		case f.Status == StatusIgnored:
			status += fmt.Sprintf(" %s: %s", validity(f.Ignore.Expires), oneLine(f.Ignore.Reason))
		case f.Ignore != nil:
			status += fmt.Sprintf(" (ignore entry %s)", expiry(f.Ignore.Expires))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", f.ID, f.Package, f.Installed, fixed, f.Severity, status)
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write table: %w", err)
	}
	for _, ig := range v.Expired {
		fmt.Fprintf(w, "expired ignore entry: %s%s %s (%s); it no longer ignores anything\n",
			ig.ID, pkgSuffix(ig.Package), expiry(ig.Expires), oneLine(ig.Reason))
	}
	c := s.Counts
	_, err := fmt.Fprintf(w, "%s: %s (threshold %s): %d critical, %d high, %d medium, %d low, %d unknown; %d blocking, %d ignored; %d packages\n",
		s.Image, strings.ToUpper(s.Verdict), s.Threshold, c["CRITICAL"], c["HIGH"], c["MEDIUM"], c["LOW"], c["UNKNOWN"],
		s.BlockingCount, s.Ignored, s.Packages)
	return err
}

// lastDay returns the last day an expiry at midnight UTC covers, as the file said it.
func lastDay(t time.Time) (string, bool) {
	t = t.UTC()
	if t.Hour() != 0 || t.Minute() != 0 || t.Second() != 0 || t.Nanosecond() != 0 {
		return "", false
	}
	return t.AddDate(0, 0, -1).Format(time.DateOnly), true
}

func validity(t time.Time) string {
	if d, ok := lastDay(t); ok {
		return "through " + d
	}
	return "until " + t.UTC().Format(time.RFC3339)
}

func expiry(t time.Time) string {
	if d, ok := lastDay(t); ok {
		return "expired after " + d
	}
	return "expired at " + t.UTC().Format(time.RFC3339)
}

func pkgSuffix(p string) string {
	if p == "" {
		return ""
	}
	return " in " + p
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
