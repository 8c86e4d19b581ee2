package detect

import (
	"bytes"
	"context"
	"fmt"
	"regexp"
)

// nodeFrameworks maps a dependency to the framework it names and that framework's default
// port, in preference order (a Next.js app may also depend on express).
var nodeFrameworks = []struct {
	dep, name string
	port      int
	static    bool
}{
	{"next", "next", 3000, false},
	{"nuxt", "nuxt", 3000, false},
	{"@remix-run/serve", "remix", 3000, false},
	{"@nestjs/core", "nestjs", 3000, false},
	{"express", "express", 3000, false},
	{"fastify", "fastify", 3000, false},
	{"koa", "koa", 3000, false},
	{"@hapi/hapi", "hapi", 3000, false},
	{"vite", "vite", 0, true},
	{"react-scripts", "create-react-app", 0, true},
	{"@angular/cli", "angular", 0, true},
	{"gatsby", "gatsby", 0, true},
}

// nodePortRE finds a port in JavaScript: PORT || 3000, listen(3000), port: 3000.
var nodePortRE = regexp.MustCompile(`PORT\s*(?:\|\||\?\?)\s*["']?(\d{2,5})|\.listen\(\s*(\d{2,5})|\bport\s*[:=]\s*(\d{2,5})\b`)

// nodeEntryRE takes the script a start command runs: "node server.js".
var nodeEntryRE = regexp.MustCompile(`\bnode\s+(?:--?\S+\s+)*([\w./-]+\.[cm]?js)\b`)

func detectNode(ctx context.Context, s *source, c Choice) (*candidate, error) {
	data, err := s.readOptional("package.json")
	if err != nil || data == nil {
		return nil, err
	}
	file := s.name("package.json")
	pkg, err := parsePackageJSON(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	r := &Result{Language: LangNode}
	reason := "package.json"
	if v := pkg.Engines["node"]; v != "" {
		reason += fmt.Sprintf(", engines.node %s", v)
	}
	r.note(DecisionLanguage, file, 0, "%s", reason)
	cand := &candidate{res: r}

	pm, install := "npm", "npm install"
	switch {
	case s.isFile("pnpm-lock.yaml"):
		pm, install = "pnpm", "pnpm install --frozen-lockfile"
	case s.isFile("yarn.lock"):
		pm, install = "yarn", "yarn install --frozen-lockfile"
	case s.isFile("package-lock.json"):
		install = "npm ci"
	}
	r.BuildCommand = install
	if _, ok := pkg.Scripts["build"]; ok {
		r.BuildCommand += " && " + pm + " run build"
		r.note(DecisionBuild, file, jsonKeyLine(data, "build"), "scripts.build: %s", pkg.Scripts["build"])
	}

	static := false
	for _, fw := range nodeFrameworks {
		if !pkg.has(fw.dep) {
			continue
		}
		r.Framework, static = fw.name, fw.static
		r.Port = fw.port
		r.note(DecisionFramework, file, jsonKeyLine(data, fw.dep), "depends on %s", fw.dep)
		break
	}
	start, hasStart := pkg.Scripts["start"]
	entry := ""
	switch {
	case hasStart:
		r.RunCommand = pm + " start"
		r.note(DecisionRun, file, jsonKeyLine(data, "start"), "scripts.start: %s", start)
		if m := nodeEntryRE.FindStringSubmatch(start); m != nil {
			entry = m[1]
		}
	case r.Framework == "next":
		r.RunCommand = "npx next start"
		r.note(DecisionRun, file, 0, "next start serves the built Next.js app")
	default:
		for _, e := range []string{pkg.Main, "server.js", "app.js", "index.js", "main.js"} {
			if e != "" && s.isFile(e) {
				entry = e
				r.RunCommand = "node " + e
				r.note(DecisionRun, s.name(e), 0, "the entry script (package.json main, or a conventional name)")
				break
			}
		}
	}
	if static && !hasStart {
		r.Component, r.Port = ComponentStaticSite, defaultPort
		r.RunCommand = "serve the build output with a static web server"
		r.note(DecisionComponent, file, 0, "static-site: %s builds static files and there is no start script", r.Framework)
		r.note(DecisionPort, "", 0, "%d, the static web server's port", defaultPort)
		cand.weak = true // next to a server language, a front-end build is that app's tooling
		return cand, nil
	}
	if r.RunCommand == "" {
		// A package.json with nothing to run is tooling for another language's app.
		cand.weak = true
		r.Component, r.Port = ComponentService, defaultPort
		r.note(DecisionRun, file, 0, "no start script, main or server.js; buildpacks will run npm start")
		r.note(DecisionPort, "", 0, "%d, the platform default", defaultPort)
		return cand, nil
	}
	r.Component = ComponentService
	r.note(DecisionComponent, file, 0, "service: it runs a server process")
	if entry != "" && s.isFile(entry) {
		src, err := s.read(entry)
		if err != nil {
			return nil, err
		}
		if p, line := findPort(src, nodePortRE); p > 0 {
			r.Port = p
			r.note(DecisionPort, s.name(entry), line, "%d, the port in the source (the platform sets PORT to it)", p)
			return cand, nil
		}
	}
	if r.Port == 0 {
		r.Port = defaultPort
		r.note(DecisionPort, "", 0, "%d, the platform default (the app should listen on $PORT)", defaultPort)
	} else {
		r.note(DecisionPort, "", 0, "%d, the %s default", r.Port, r.Framework)
	}
	return cand, nil
}

// jsonKeyLine returns the line of the first "key": in a JSON document, 0 if absent.
func jsonKeyLine(data []byte, key string) int {
	i := bytes.Index(data, []byte(`"`+key+`"`))
	if i < 0 {
		return 0
	}
	return bytes.Count(data[:i], []byte("\n")) + 1
}
