package detect

import (
	"context"
	"errors"
	"fmt"
	"path"
	"strings"
)

// candidate is one language found in the application's directory, with what its detector
// decided.
type candidate struct {
	res *Result
	// weak candidates (a package.json only for tooling, a bare index.html) yield to any other.
	weak bool
	// err is a problem that matters only if this candidate is chosen (several Go main
	// packages, for example).
	err error
}

func (c *candidate) marker() Evidence {
	for _, e := range c.res.Evidence {
		if e.Decision == DecisionLanguage {
			return e
		}
	}
	return Evidence{Decision: DecisionLanguage, Reason: c.res.Language}
}

// findings is everything detection found in one directory before deciding.
type findings struct {
	procs      []process
	procfile   string
	docker     *dockerfile
	dockerName string // relative to the application's directory
	cands      []*candidate
}

// dockerfileNames are the names looked for when the Application names no Dockerfile.
var dockerfileNames = []string{"Dockerfile", "Containerfile", "dockerfile"}

type detector func(ctx context.Context, s *source, c Choice) (*candidate, error)

var detectors = []detector{detectGo, detectNode, detectPython, detectJava, detectRuby, detectPHP, detectStatic}

func survey(ctx context.Context, s *source, c Choice) (*findings, error) {
	f := &findings{}
	data, err := s.readOptional("Procfile")
	if err != nil {
		return nil, err
	}
	if data != nil {
		f.procfile = s.name("Procfile")
		if f.procs, err = parseProcfile(data); err != nil {
			return nil, fmt.Errorf("%s: %w", f.procfile, err)
		}
	}
	names := dockerfileNames
	if c.Dockerfile != "" {
		p, err := cleanSubPath(c.Dockerfile)
		if err != nil {
			return nil, fmt.Errorf("dockerfile %w", err)
		}
		names = []string{p}
	}
	for _, n := range names {
		data, err := s.readOptional(n)
		if err != nil {
			return nil, err
		}
		if data == nil {
			continue
		}
		if f.docker, err = parseDockerfile(data); err != nil {
			return nil, fmt.Errorf("%s: %w", s.name(n), err)
		}
		f.dockerName = n
		break
	}
	for _, d := range detectors {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		cand, err := d(ctx, s, c)
		if err != nil {
			return nil, err
		}
		if cand != nil {
			f.cands = append(f.cands, cand)
		}
	}
	return f, nil
}

// pick returns the one application language of the directory. With several strong
// candidates it fails with ErrAmbiguousSource; with none, it returns nil.
func (f *findings) pick(s *source) (*candidate, error) {
	var strong, weak []*candidate
	for _, c := range f.cands {
		if c.weak {
			weak = append(weak, c)
		} else {
			strong = append(strong, c)
		}
	}
	switch {
	case len(strong) == 1:
		return strong[0], nil
	case len(strong) > 1:
		var found []string
		for _, c := range strong {
			found = append(found, fmt.Sprintf("%s (%s)", c.res.Language, c.marker().File))
		}
		return nil, fmt.Errorf("%w: %s holds %s. Set spec.source.path to the directory of one application, "+
			"or add a Dockerfile and set spec.build.strategy: dockerfile", ErrAmbiguousSource, where(s), strings.Join(found, " and "))
	case len(weak) > 0:
		return weak[0], nil // detectors run in preference order: node before static
	}
	return nil, nil
}

func where(s *source) string {
	if s.dir == "." {
		return "the repository root"
	}
	return s.dir
}

func (f *findings) decide(ctx context.Context, s *source, c Choice) (*Result, error) {
	strategy := c.Strategy
	if strategy == "" {
		strategy = StrategyAuto
	}
	switch strategy {
	case StrategyDockerfile:
		if f.docker == nil {
			return nil, f.noDockerfile(s, c)
		}
		return f.dockerResult(s, "spec.build.strategy is dockerfile"), nil
	case StrategyKo:
		return f.koResult(s)
	case StrategyBuildpacks:
		cand, err := f.pick(s)
		if errors.Is(err, ErrAmbiguousSource) {
			// Buildpacks detect their own groups, so several languages are the builder's
			// call; only the summary is unknown.
			r := &Result{Language: LangUnknown, Component: ComponentService, Port: defaultPort}
			r.note(DecisionLanguage, "", 0, "several languages (%s); the builder's buildpacks decide", f.languages())
			r.note(DecisionComponent, "", 0, "service: assumed; set spec.source.path to one application to detect it")
			r.note(DecisionPort, "", 0, "%d, the port buildpacks images listen on by convention ($PORT)", defaultPort)
			return f.finish(s, r, StrategyBuildpacks, "spec.build.strategy is buildpacks"), nil
		}
		if err != nil {
			return nil, err
		}
		if cand == nil {
			return nil, f.mismatch(s, StrategyBuildpacks, "found no language buildpacks build (go.mod, package.json, requirements.txt, pom.xml, Gemfile, composer.json, index.html...)")
		}
		if cand.err != nil && cand.res.Language != LangGo {
			return nil, cand.err
		}
		return f.finish(s, cand.res, StrategyBuildpacks, "spec.build.strategy is buildpacks"), nil
	}
	if f.docker != nil {
		return f.dockerResult(s, fmt.Sprintf("%s is present; an explicit Dockerfile wins over language detection", s.name(f.dockerName))), nil
	}
	cand, err := f.pick(s)
	if err != nil {
		return nil, err
	}
	if cand == nil {
		return nil, f.unknown(ctx, s)
	}
	if cand.err != nil {
		return nil, cand.err
	}
	if cand.res.Language == LangGo {
		return f.finish(s, cand.res, StrategyKo, "a Go main package builds with the Go fast path (no container build)"), nil
	}
	return f.finish(s, cand.res, StrategyBuildpacks, fmt.Sprintf("%s builds with Cloud Native Buildpacks", cand.res.Language)), nil
}

func (f *findings) languages() string {
	var l []string
	for _, c := range f.cands {
		l = append(l, c.res.Language)
	}
	return strings.Join(l, ", ")
}

// finish sets the strategy and applies the Procfile, which overrides the detector's run
// command, port and component.
func (f *findings) finish(s *source, r *Result, strategy, why string) *Result {
	r.Path = s.dir
	r.Strategy = strategy
	r.note(DecisionStrategy, "", 0, "%s: %s", strategy, why)
	if strategy != StrategyKo {
		r.GoPackage = ""
	}
	f.applyProcfile(r, strategy != StrategyDockerfile && strategy != StrategyKo)
	return r
}

func (f *findings) applyProcfile(r *Result, runs bool) {
	if f.procs == nil {
		return
	}
	r.Processes = nil
	for _, p := range f.procs {
		r.Processes = append(r.Processes, Process{Name: p.Name, Command: p.Command})
	}
	if !runs {
		r.note(DecisionRun, f.procfile, 0, "Procfile ignored: the %s build decides the command", r.Strategy)
		return
	}
	main := f.procs[0]
	web := false
	for _, p := range f.procs {
		if p.Name == "web" {
			main, web = p, true
		}
	}
	r.RunCommand = main.Command
	r.note(DecisionRun, f.procfile, main.Line, "process type %q: %s", main.Name, main.Command)
	if !web {
		r.Component, r.Port = ComponentWorker, 0
		r.note(DecisionComponent, f.procfile, main.Line, "worker: the Procfile has no web process, only %q", main.Name)
		return
	}
	r.Component = ComponentService
	r.note(DecisionComponent, f.procfile, main.Line, "service: the Procfile has a web process")
	switch port, env := commandPort(main.Command); {
	case port > 0:
		r.Port = port
		r.note(DecisionPort, f.procfile, main.Line, "%d, named on the web command line", port)
	case env:
		if r.Port == 0 {
			r.Port = defaultPort
		}
		r.note(DecisionPort, f.procfile, main.Line, "%d: the web command listens on $PORT, which the platform sets to the service port", r.Port)
	}
}

// defaultPort is the port a service listens on when nothing says otherwise; the platform
// sets PORT to it.
const defaultPort = 8080

func (f *findings) dockerResult(s *source, why string) *Result {
	var r *Result
	if cand, err := f.pick(s); err == nil && cand != nil {
		r = cand.res
	} else {
		r = &Result{Language: LangUnknown, Component: ComponentService}
		if err != nil {
			r.note(DecisionLanguage, "", 0, "several languages (%s); the Dockerfile decides", f.languages())
		} else {
			r.note(DecisionLanguage, "", 0, "no language manifest; the Dockerfile decides")
		}
	}
	r.Framework = strings.TrimSpace(r.Framework)
	name := s.name(f.dockerName)
	r.Dockerfile = f.dockerName
	r.BuildCommand = "build " + f.dockerName + " (Kaniko)"
	r.note(DecisionBuild, name, f.docker.FromLine, "%d stage(s), final stage FROM %s", f.docker.Stages, f.docker.From)
	if f.docker.Cmd != "" {
		r.RunCommand = f.docker.Cmd
		r.note(DecisionRun, name, f.docker.CmdLine, "the final stage's command: %s", f.docker.Cmd)
	} else {
		r.RunCommand = ""
		r.note(DecisionRun, name, 0, "no CMD or ENTRYPOINT in the final stage; the base image's command runs")
	}
	switch {
	case len(f.docker.Expose) > 0 && (!r.decided(DecisionComponent) || r.Component != ComponentService):
		r.note(DecisionComponent, name, f.docker.ExposeLine, "service: the final stage exposes a port")
	case !r.decided(DecisionComponent):
		r.note(DecisionComponent, name, 0, "service: assumed, as the Dockerfile exposes no port and no language manifest says otherwise")
	}
	switch {
	case len(f.docker.Expose) > 0:
		r.Port, r.Component = f.docker.Expose[0], ComponentService
		r.note(DecisionPort, name, f.docker.ExposeLine, "%d, from EXPOSE in the final stage", r.Port)
	case r.Port == 0 && r.Component == ComponentService:
		r.Port = defaultPort
		r.note(DecisionPort, name, 0, "%d: no EXPOSE; the platform default (set spec.service.port if it listens elsewhere)", defaultPort)
	}
	return f.finish(s, r, StrategyDockerfile, why)
}

func (f *findings) koResult(s *source) (*Result, error) {
	for _, c := range f.cands {
		if c.res.Language != LangGo {
			continue
		}
		if c.err != nil {
			return nil, c.err
		}
		return f.finish(s, c.res, StrategyKo, "spec.build.strategy is ko"), nil
	}
	return nil, f.mismatch(s, StrategyKo, "the Go fast path needs a go.mod and a main package, and there is no go.mod")
}

func (f *findings) noDockerfile(s *source, c Choice) error {
	if c.Dockerfile != "" {
		return f.mismatch(s, StrategyDockerfile, fmt.Sprintf("spec.build.dockerfile names %s, which does not exist", path.Join(s.dir, c.Dockerfile)))
	}
	return f.mismatch(s, StrategyDockerfile, fmt.Sprintf("no Dockerfile or Containerfile in %s (add one, set spec.build.dockerfile, or use strategy auto)", where(s)))
}

func (f *findings) mismatch(s *source, strategy, problem string) error {
	found := "nothing recognizable"
	if len(f.cands) > 0 {
		var l []string
		for _, c := range f.cands {
			l = append(l, fmt.Sprintf("%s (%s)", c.res.Language, c.marker().File))
		}
		found = strings.Join(l, ", ")
	}
	return fmt.Errorf("%w: %s: %s; found %s in %s", ErrStrategyMismatch, strategy, problem, found, where(s))
}

// markers are the files that make a directory an application, for suggesting paths.
var markers = []string{"Dockerfile", "Containerfile", "go.mod", "package.json", "requirements.txt", "pyproject.toml",
	"Pipfile", "pom.xml", "build.gradle", "build.gradle.kts", "Gemfile", "composer.json", "Procfile", "index.html", "index.php"}

// unknown explains that nothing was recognized: what the directory holds and, when
// subdirectories look like applications, which paths to choose.
func (f *findings) unknown(ctx context.Context, s *source) error {
	entries, _ := s.list(".")
	var names []string
	for i, e := range entries {
		if i == 12 {
			names = append(names, fmt.Sprintf("and %d more", len(entries)-i))
			break
		}
		names = append(names, e.Name())
	}
	msg := where(s) + " holds no Dockerfile, Procfile or language manifest"
	if len(names) > 0 {
		msg += " (it has: " + strings.Join(names, ", ") + ")"
	}
	if apps := nestedApps(ctx, s, ".", 2); len(apps) > 0 {
		msg += ". Applications found below it: " + strings.Join(apps, ", ") + "; set spec.source.path to one of them"
	} else {
		msg += ". Add a Dockerfile and set spec.build.strategy: dockerfile, or point spec.source.path at the application"
	}
	return fmt.Errorf("%w: %s", ErrUnknownSource, msg)
}

// nestedApps lists subdirectories (down to depth) holding a marker file.
func nestedApps(ctx context.Context, s *source, dir string, depth int) []string {
	if depth == 0 || ctx.Err() != nil {
		return nil
	}
	entries, err := s.list(dir)
	if err != nil {
		return nil
	}
	var apps []string
	for _, e := range entries {
		if !e.IsDir() || skipDir(e.Name()) {
			continue
		}
		sub := path.Join(dir, e.Name())
		if m := firstMarker(s, sub); m != "" {
			apps = append(apps, fmt.Sprintf("%s (%s)", path.Join(s.dir, sub), m))
			continue
		}
		apps = append(apps, nestedApps(ctx, s, sub, depth-1)...)
	}
	return apps
}

func firstMarker(s *source, dir string) string {
	for _, m := range markers {
		if s.isFile(path.Join(dir, m)) {
			return m
		}
	}
	return ""
}

// skipDir reports directories that never hold the application itself.
func skipDir(name string) bool {
	switch name {
	case "node_modules", "vendor", "testdata", "target", "build", "dist", "__pycache__", "venv":
		return true
	}
	return strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_")
}
