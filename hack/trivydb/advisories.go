package main

import (
	"fmt"
	"strings"

	"github.com/aquasecurity/trivy-db/pkg/types"
	"sigs.k8s.io/yaml"
)

// File is the advisory list mkdb reads (YAML or JSON).
type File struct {
	Advisories []Advisory `json:"advisories"`
}

// Advisory is one vulnerability and the packages it affects.
type Advisory struct {
	ID          string   `json:"id"`
	Severity    string   `json:"severity"`
	Title       string   `json:"title,omitempty"`
	Description string   `json:"description,omitempty"`
	References  []string `json:"references,omitempty"`
	Affects     []Affect `json:"affects"`
}

// Affect names one affected package in one ecosystem.
//
// OS ecosystems (debian, ubuntu, alpine) need a release ("12", "22.04", "3.20") and key the
// package by its source package name; fixed is the first fixed version, empty when no fix
// exists. Language ecosystems (go, npm, pip, cargo, maven, rubygems, composer, nuget) take
// version ranges in Trivy's syntax, for example vulnerable: ["<1.99.0"].
type Affect struct {
	Ecosystem  string   `json:"ecosystem"`
	Release    string   `json:"release,omitempty"`
	Package    string   `json:"package"`
	Fixed      string   `json:"fixed,omitempty"`
	Vulnerable []string `json:"vulnerable,omitempty"`
	Patched    []string `json:"patched,omitempty"`
}

var osEcosystems = map[string]bool{"debian": true, "ubuntu": true, "alpine": true}

var langEcosystems = map[string]string{
	"go": "Go", "npm": "npm", "pip": "pip", "cargo": "Rust", "maven": "Maven",
	"rubygems": "RubyGems", "composer": "Composer", "nuget": "NuGet",
}

// parse reads and checks an advisory list; errors name the advisory and the field.
func parse(data []byte) (File, error) {
	var f File
	if err := yaml.UnmarshalStrict(data, &f); err != nil {
		return File{}, fmt.Errorf("parse advisories: %w", err)
	}
	seen := map[string]bool{}
	for i, a := range f.Advisories {
		where := fmt.Sprintf("advisory %d", i+1)
		if a.ID == "" {
			return File{}, fmt.Errorf("%s: id is required", where)
		}
		where += " (" + a.ID + ")"
		if seen[a.ID] {
			return File{}, fmt.Errorf("%s: duplicate id; list every affected package under one entry", where)
		}
		seen[a.ID] = true
		if _, err := types.NewSeverity(strings.ToUpper(a.Severity)); err != nil || a.Severity == "" {
			return File{}, fmt.Errorf("%s: severity %q: want one of %s", where, a.Severity, strings.Join(types.SeverityNames, ", "))
		}
		if len(a.Affects) == 0 {
			return File{}, fmt.Errorf("%s: affects lists no package", where)
		}
		for j, p := range a.Affects {
			pw := fmt.Sprintf("%s affects[%d]", where, j)
			if p.Package == "" {
				return File{}, fmt.Errorf("%s: package is required", pw)
			}
			switch {
			case osEcosystems[p.Ecosystem]:
				if p.Release == "" {
					return File{}, fmt.Errorf("%s: ecosystem %s needs a release", pw, p.Ecosystem)
				}
				if len(p.Vulnerable)+len(p.Patched) > 0 {
					return File{}, fmt.Errorf("%s: ecosystem %s takes fixed, not version ranges", pw, p.Ecosystem)
				}
			case langEcosystems[p.Ecosystem] != "":
				if len(p.Vulnerable)+len(p.Patched) == 0 {
					return File{}, fmt.Errorf("%s: ecosystem %s needs vulnerable or patched version ranges", pw, p.Ecosystem)
				}
				if p.Fixed != "" || p.Release != "" {
					return File{}, fmt.Errorf("%s: ecosystem %s takes version ranges, not fixed or release", pw, p.Ecosystem)
				}
			default:
				return File{}, fmt.Errorf("%s: unknown ecosystem %q", pw, p.Ecosystem)
			}
		}
	}
	return f, nil
}
