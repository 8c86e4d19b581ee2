package scan

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
)

// Severity ranks a finding. The zero value is Unknown, which ranks below Low.
type Severity int

// Severities from lowest to highest, as Trivy names them.
const (
	Unknown Severity = iota
	Low
	Medium
	High
	Critical
)

var severityNames = []string{"UNKNOWN", "LOW", "MEDIUM", "HIGH", "CRITICAL"}

// String returns Trivy's name for s.
func (s Severity) String() string {
	if s < 0 || int(s) >= len(severityNames) {
		return fmt.Sprintf("Severity(%d)", int(s))
	}
	return severityNames[s]
}

// MarshalText writes s by name, so JSON summaries read "HIGH", not 3.
func (s Severity) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText reads a severity name.
func (s *Severity) UnmarshalText(b []byte) error {
	v, err := ParseSeverity(string(b))
	*s = v
	return err
}

// ParseSeverity reads a severity name (any case).
func ParseSeverity(name string) (Severity, error) {
	for i, n := range severityNames {
		if strings.EqualFold(strings.TrimSpace(name), n) {
			return Severity(i), nil
		}
	}
	return Unknown, fmt.Errorf("severity %q: want one of %s", name, strings.Join(severityNames, ", "))
}

// Finding is one vulnerability in one installed package.
type Finding struct {
	ID        string   `json:"id"`
	Package   string   `json:"package"`
	Installed string   `json:"installed"`
	Fixed     string   `json:"fixed,omitempty"`
	Severity  Severity `json:"severity"`
	Title     string   `json:"title,omitempty"`
	URL       string   `json:"url,omitempty"`
	// Target is where Trivy found the package: the OS ("debian 12.15") or a file (usr/bin/app).
	Target string `json:"target"`
}

// Report is what a scan found in one image.
type Report struct {
	// Artifact is the image as Trivy names it.
	Artifact string
	// OS is the detected distribution ("debian 12.15"), empty when none was found.
	OS string
	// Packages counts the installed packages Trivy inventoried, OS and language ones.
	Packages int
	// Findings are sorted by severity (highest first), then id and package.
	Findings []Finding
}

// Counts returns how many findings have each severity, keyed by the severity's name; every
// severity is present, zero or not.
func (r *Report) Counts() map[string]int {
	c := make(map[string]int, len(severityNames))
	for _, n := range severityNames {
		c[n] = 0
	}
	for _, f := range r.Findings {
		c[f.Severity.String()]++
	}
	return c
}

// trivyReport is the part of Trivy's JSON report (SchemaVersion 2) that a scan reads.
type trivyReport struct {
	SchemaVersion int
	ArtifactName  string
	Metadata      struct {
		OS *struct{ Family, Name string }
	}
	Results []struct {
		Target          string
		Class           string
		Packages        []json.RawMessage
		Vulnerabilities []struct {
			VulnerabilityID  string
			PkgName          string
			InstalledVersion string
			FixedVersion     string
			Severity         string
			Title            string
			PrimaryURL       string
		}
	}
}

// ParseReport reads a Trivy JSON report (`--format json`, schema version 2).
func ParseReport(data []byte) (*Report, error) {
	var tr trivyReport
	if err := json.Unmarshal(data, &tr); err != nil {
		return nil, fmt.Errorf("parse trivy report: %w", err)
	}
	if tr.SchemaVersion != 2 {
		return nil, fmt.Errorf("parse trivy report: schema version %d, want 2", tr.SchemaVersion)
	}
	r := &Report{Artifact: tr.ArtifactName}
	if os := tr.Metadata.OS; os != nil {
		r.OS = strings.TrimSpace(os.Family + " " + os.Name)
	}
	for i, res := range tr.Results {
		r.Packages += len(res.Packages)
		for j, v := range res.Vulnerabilities {
			if v.VulnerabilityID == "" || v.PkgName == "" {
				return nil, fmt.Errorf("parse trivy report: result %d (%s) vulnerability %d lacks an id or package", i, res.Target, j)
			}
			sev, err := ParseSeverity(v.Severity)
			if err != nil {
				return nil, fmt.Errorf("parse trivy report: %s in %s: %w", v.VulnerabilityID, v.PkgName, err)
			}
			r.Findings = append(r.Findings, Finding{
				ID: v.VulnerabilityID, Package: v.PkgName, Installed: v.InstalledVersion, Fixed: v.FixedVersion,
				Severity: sev, Title: v.Title, URL: v.PrimaryURL, Target: res.Target,
			})
		}
	}
	sort.SliceStable(r.Findings, func(i, j int) bool {
		a, b := r.Findings[i], r.Findings[j]
		if a.Severity != b.Severity {
			return a.Severity > b.Severity
		}
		if a.ID != b.ID {
			return a.ID < b.ID
		}
		return a.Package < b.Package
	})
	return r, nil
}
