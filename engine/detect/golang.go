package detect

import (
	"context"
	"fmt"
	"go/parser"
	"go/token"
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// maxGoScan caps how many directories are searched for main packages.
const maxGoScan = 200

// webImports mark a Go program that serves HTTP, with the framework each names.
var webImports = map[string]string{
	"net/http":                    "",
	"github.com/gin-gonic/gin":    "gin",
	"github.com/labstack/echo/v4": "echo",
	"github.com/gofiber/fiber/v2": "fiber",
	"github.com/gofiber/fiber/v3": "fiber",
	"github.com/go-chi/chi/v5":    "chi",
	"github.com/gorilla/mux":      "gorilla/mux",
	"google.golang.org/grpc":      "grpc",
	"connectrpc.com/connect":      "connect",
}

// goPortRE finds a port literal in Go source: ":8080", or port = "8080".
var goPortRE = regexp.MustCompile(`(?i)"(?:0\.0\.0\.0)?:(\d{2,5})"|port\w*\s*:?=\s*"(\d{2,5})"`)

// goMain is a main package found in the module.
type goMain struct {
	dir     string // relative to the application's directory: "." or "cmd/api"
	files   []string
	imports map[string]string // import path -> file
}

func detectGo(ctx context.Context, s *source, c Choice) (*candidate, error) {
	data, err := s.readOptional("go.mod")
	if err != nil || data == nil {
		return nil, err
	}
	mod, err := parseGoMod(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", s.name("go.mod"), err)
	}
	r := &Result{Language: LangGo}
	r.note(DecisionLanguage, s.name("go.mod"), mod.ModuleLine, "go.mod declares module %s (go %s)", mod.Module, mod.Go)
	cand := &candidate{res: r}
	mains, err := findGoMains(ctx, s)
	if err != nil {
		return nil, err
	}
	m, err := chooseGoMain(s, mod, mains, c.GoPackage)
	if err != nil {
		cand.err = err
		return cand, nil
	}
	pkg := "."
	if m.dir != "." {
		pkg = "./" + m.dir
	}
	r.GoPackage = pkg
	r.note(DecisionPackage, s.name(path.Join(m.dir, m.files[0])), 0, "package main in %s", pkg)
	bin := path.Base(mod.Module)
	if m.dir != "." {
		bin = path.Base(m.dir)
	}
	r.BuildCommand = "CGO_ENABLED=0 go build -trimpath " + pkg
	r.RunCommand = "/app/" + bin
	r.note(DecisionBuild, s.name("go.mod"), 0, "Go toolchain build of %s", pkg)
	framework, webFile := "", ""
	imps := make([]string, 0, len(m.imports))
	for imp := range m.imports {
		imps = append(imps, imp)
	}
	sort.Strings(imps)
	for _, imp := range imps {
		fw, ok := webImports[imp]
		if !ok {
			continue
		}
		if webFile == "" || (framework == "" && fw != "") {
			framework, webFile = fw, m.imports[imp]
		}
	}
	if webFile == "" {
		r.Component = ComponentWorker
		r.note(DecisionComponent, s.name(path.Join(m.dir, m.files[0])), 0, "worker: the main package imports no HTTP or RPC server package")
		return cand, nil
	}
	r.Framework = framework
	if framework != "" {
		r.note(DecisionFramework, s.name(path.Join(m.dir, webFile)), 0, "imports %s", frameworkImport(m.imports, framework))
	}
	r.Component = ComponentService
	r.note(DecisionComponent, s.name(path.Join(m.dir, webFile)), 0, "service: the main package serves network requests")
	r.Port = defaultPort
	for _, f := range m.files {
		src, err := s.read(path.Join(m.dir, f))
		if err != nil {
			return nil, err
		}
		if p, line := findPort(src, goPortRE); p > 0 {
			r.Port = p
			r.note(DecisionPort, s.name(path.Join(m.dir, f)), line, "%d, the port in the source", p)
			return cand, nil
		}
	}
	r.note(DecisionPort, "", 0, "%d, the platform default (the program should listen on $PORT)", defaultPort)
	return cand, nil
}

func frameworkImport(imports map[string]string, fw string) string {
	for imp := range imports {
		if webImports[imp] == fw {
			return imp
		}
	}
	return fw
}

// findPort returns the first port re matches in src and its line.
func findPort(src []byte, re *regexp.Regexp) (int, int) {
	for i, line := range strings.Split(string(src), "\n") {
		for _, m := range re.FindAllStringSubmatch(line, -1) {
			for _, g := range m[1:] {
				if p, ok := validPort(g); ok {
					return p, i + 1
				}
			}
		}
	}
	return 0, 0
}

// findGoMains walks the module (skipping vendor, testdata and hidden directories, and nested
// modules) for directories whose non-test files are package main.
func findGoMains(ctx context.Context, s *source) ([]goMain, error) {
	var mains []goMain
	queue := []string{"."}
	for scanned := 0; len(queue) > 0 && scanned < maxGoScan; scanned++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		dir := queue[0]
		queue = queue[1:]
		entries, err := s.list(dir)
		if err != nil {
			return nil, err
		}
		m := goMain{dir: dir, imports: map[string]string{}}
		isMain := false
		for _, e := range entries {
			name := e.Name()
			if e.IsDir() {
				sub := path.Join(dir, name)
				if !skipDir(name) && !s.isFile(path.Join(sub, "go.mod")) {
					queue = append(queue, sub)
				}
				continue
			}
			if !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") || !s.isFile(path.Join(dir, name)) {
				continue
			}
			src, err := s.read(path.Join(dir, name))
			if err != nil {
				return nil, err
			}
			f, err := parser.ParseFile(token.NewFileSet(), name, src, parser.ImportsOnly)
			if err != nil || f.Name.Name != "main" {
				continue
			}
			isMain = true
			m.files = append(m.files, name)
			for _, imp := range f.Imports {
				if p, err := strconv.Unquote(imp.Path.Value); err == nil {
					if _, seen := m.imports[p]; !seen {
						m.imports[p] = name
					}
				}
			}
		}
		if isMain {
			mains = append(mains, m)
		}
	}
	return mains, nil
}

// chooseGoMain picks the package to build: the Application's goPackage, the module root, the
// only main package, or the one named like the module.
func chooseGoMain(s *source, mod *goMod, mains []goMain, want string) (goMain, error) {
	if want != "" {
		w := path.Clean(strings.TrimPrefix(want, "./"))
		for _, m := range mains {
			if m.dir == w {
				return m, nil
			}
		}
		return goMain{}, fmt.Errorf("%w: ko: spec.build.goPackage %q is not a main package in %s (main packages: %s)",
			ErrStrategyMismatch, want, where(s), listMains(mains))
	}
	switch {
	case len(mains) == 0:
		return goMain{}, fmt.Errorf("%w: %s has a go.mod but no main package (package main) to build; "+
			"set spec.source.path to the module with the program", ErrUnknownSource, where(s))
	case len(mains) == 1:
		return mains[0], nil
	}
	for _, m := range mains {
		if m.dir == "." {
			return m, nil
		}
	}
	for _, m := range mains {
		if path.Base(m.dir) == path.Base(mod.Module) {
			return m, nil
		}
	}
	return goMain{}, fmt.Errorf("%w: %s has %d main packages (%s); set spec.build.goPackage to the one to deploy",
		ErrAmbiguousSource, where(s), len(mains), listMains(mains))
}

func listMains(mains []goMain) string {
	var l []string
	for _, m := range mains {
		l = append(l, "./"+strings.TrimPrefix(m.dir, "."))
	}
	if len(l) == 0 {
		return "none"
	}
	return strings.Join(l, ", ")
}
