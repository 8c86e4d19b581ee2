package detect

import (
	"fmt"
	"io"
	"strconv"
	"strings"
)

// strategyNames says what each strategy means, for people.
var strategyNames = map[string]string{
	StrategyKo:         "the Go fast path (ko)",
	StrategyBuildpacks: "Cloud Native Buildpacks",
	StrategyDockerfile: "its Dockerfile (Kaniko)",
}

// Summary is one line: "apps/api: go service (gin), built with the Go fast path (ko)".
func (r *Result) Summary() string {
	what := r.Language
	if r.Language == LangStatic || r.Language == LangUnknown {
		what = ""
	}
	s := strings.TrimSpace(what + " " + r.Component)
	if r.Framework != "" {
		s += " (" + r.Framework + ")"
	}
	if r.Port > 0 {
		s += " on port " + strconv.Itoa(r.Port)
	}
	return fmt.Sprintf("%s: %s, built with %s", r.Path, s, strategyNames[r.Strategy])
}

// Explain writes the decision and the evidence for it, for people.
func (r *Result) Explain(w io.Writer) error {
	var b strings.Builder
	b.WriteString(r.Summary() + "\n\n")
	row := func(k, v string) {
		if v != "" {
			fmt.Fprintf(&b, "  %-10s %s\n", k, v)
		}
	}
	row("strategy", r.Strategy)
	row("language", r.Language)
	row("framework", r.Framework)
	row("component", r.Component)
	if r.Port > 0 {
		row("port", strconv.Itoa(r.Port))
	}
	row("package", r.GoPackage)
	row("dockerfile", r.Dockerfile)
	row("build", r.BuildCommand)
	row("run", r.RunCommand)
	for _, p := range r.Processes {
		row("process", p.Name+": "+p.Command)
	}
	b.WriteString("\nWhy:\n")
	for _, e := range r.Evidence {
		b.WriteString("  " + e.String() + "\n")
	}
	b.WriteString("\nTo decide otherwise, set spec.build.strategy (auto, buildpacks, dockerfile, ko), " +
		"spec.build.dockerfile, spec.build.goPackage or spec.source.path in the Application.\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// EvidenceSummary is the evidence as "; "-separated lines, cut to at most max bytes on a
// line boundary, for places with little room such as pipeline results.
func (r *Result) EvidenceSummary(max int) string {
	var parts []string
	n := 0
	for _, e := range r.Evidence {
		s := e.String()
		if n+len(s)+2 > max {
			break
		}
		parts = append(parts, s)
		n += len(s) + 2
	}
	return strings.Join(parts, "; ")
}
