// Package detect decides how an application's source is built and run, and says why: language,
// framework, build strategy, build and run commands, port and component type, each with the
// files and lines that led to it.
package detect

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
)

// Build strategies; the values are those of an Application's spec.build.strategy.
const (
	StrategyAuto       = "auto"
	StrategyBuildpacks = "buildpacks"
	StrategyDockerfile = "dockerfile"
	StrategyKo         = "ko"
)

// Component types.
const (
	ComponentService    = "service"
	ComponentWorker     = "worker"
	ComponentStaticSite = "static-site"
)

// Languages.
const (
	LangGo      = "go"
	LangNode    = "node"
	LangPython  = "python"
	LangJava    = "java"
	LangRuby    = "ruby"
	LangPHP     = "php"
	LangStatic  = "static"
	LangUnknown = "unknown"
)

// Decision names what a piece of Evidence supports.
const (
	DecisionLanguage  = "language"
	DecisionFramework = "framework"
	DecisionStrategy  = "strategy"
	DecisionBuild     = "build"
	DecisionRun       = "run"
	DecisionPort      = "port"
	DecisionComponent = "component"
	DecisionPackage   = "package"
)

// Sentinel errors for the outcomes a user must resolve in the Application.
var (
	// ErrUnknownSource means nothing in the directory says how to build it.
	ErrUnknownSource = errors.New("cannot tell how to build this source")
	// ErrAmbiguousSource means the directory holds more than one application.
	ErrAmbiguousSource = errors.New("more than one way to build this source")
	// ErrStrategyMismatch means the chosen strategy does not fit the source.
	ErrStrategyMismatch = errors.New("build strategy does not fit the source")
)

// Evidence is one reason for a decision: the file (relative to the repository root), the
// line when one line decided it, and what was seen there.
type Evidence struct {
	Decision string `json:"decision"`
	File     string `json:"file,omitempty"`
	Line     int    `json:"line,omitempty"`
	Reason   string `json:"reason"`
}

// String renders e as "language: go.mod:1: module example.com/hello".
func (e Evidence) String() string {
	var b strings.Builder
	b.WriteString(e.Decision)
	b.WriteString(": ")
	if e.File != "" {
		b.WriteString(e.File)
		if e.Line > 0 {
			fmt.Fprintf(&b, ":%d", e.Line)
		}
		b.WriteString(": ")
	}
	b.WriteString(e.Reason)
	return b.String()
}

// Process is one process type of the application (from a Procfile, or the run command).
type Process struct {
	Name    string `json:"name"`
	Command string `json:"command"`
}

// Result is the decision for one application directory.
type Result struct {
	// Path is the application's directory inside the repository ("." for the root).
	Path string `json:"path"`
	// Language is one of the Lang constants.
	Language string `json:"language"`
	// Framework is the web or application framework, when one is recognizable.
	Framework string `json:"framework,omitempty"`
	// Strategy is buildpacks, dockerfile or ko.
	Strategy string `json:"strategy"`
	// Dockerfile is the Dockerfile used, relative to Path, for the dockerfile strategy.
	Dockerfile string `json:"dockerfile,omitempty"`
	// GoPackage is the main package built by ko, relative to Path ("." or "./cmd/api").
	GoPackage string `json:"goPackage,omitempty"`
	// BuildCommand is how the source would be built, for people reading the decision.
	BuildCommand string `json:"buildCommand,omitempty"`
	// RunCommand is the command the image runs.
	RunCommand string `json:"runCommand,omitempty"`
	// Port is the port the service listens on, 0 for workers.
	Port int `json:"port,omitempty"`
	// Component is service, worker or static-site.
	Component string `json:"component"`
	// Processes are the Procfile's process types, if it has one.
	Processes []Process `json:"processes,omitempty"`
	// Evidence lists why each decision was made, in decision order.
	Evidence []Evidence `json:"evidence"`
}

// decided reports whether some evidence already explains decision.
func (r *Result) decided(decision string) bool {
	for _, e := range r.Evidence {
		if e.Decision == decision {
			return true
		}
	}
	return false
}

func (r *Result) note(decision, file string, line int, format string, args ...any) {
	r.Evidence = append(r.Evidence, Evidence{Decision: decision, File: file, Line: line, Reason: fmt.Sprintf(format, args...)})
}

// Choice is what an Application says about its build; the zero value means detect everything.
type Choice struct {
	// Strategy is spec.build.strategy: "", auto, buildpacks, dockerfile or ko.
	Strategy string
	// Dockerfile is spec.build.dockerfile, relative to the application's path.
	Dockerfile string
	// GoPackage is spec.build.goPackage, relative to the application's path.
	GoPackage string
}

// Detect decides how to build the application at subPath ("" or "." for the root) of the
// source checked out in dir.
func Detect(ctx context.Context, dir, subPath string) (*Result, error) {
	return Decide(ctx, dir, subPath, Choice{})
}

// Decide is Detect honoring the Application's explicit choices: a chosen strategy is checked
// against the source (a dockerfile strategy needs a Dockerfile, ko needs a Go main package,
// buildpacks a language they build) and kept; auto detects one.
func Decide(ctx context.Context, dir, subPath string, c Choice) (*Result, error) {
	sub, err := cleanSubPath(subPath)
	if err != nil {
		return nil, err
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("open source: %w", err)
	}
	defer root.Close()
	s := &source{root: root, dir: sub}
	if !s.isDir(".") {
		return nil, fmt.Errorf("path %q: no such directory in the source (check spec.source.path)", sub)
	}
	switch c.Strategy {
	case "", StrategyAuto, StrategyBuildpacks, StrategyDockerfile, StrategyKo:
	default:
		return nil, fmt.Errorf("unknown build strategy %q: want %s, %s, %s or %s",
			c.Strategy, StrategyAuto, StrategyBuildpacks, StrategyDockerfile, StrategyKo)
	}
	a, err := survey(ctx, s, c)
	if err != nil {
		return nil, err
	}
	return a.decide(ctx, s, c)
}
