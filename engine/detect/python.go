package detect

import (
	"context"
	"fmt"
	"path"
	"regexp"
)

// pyPortRE finds a port in Python source: port=5000, PORT", 8000), ("0.0.0.0", 8000).
var pyPortRE = regexp.MustCompile(`\bport\s*=\s*(?:int\([^)]*["'](\d{2,5})["']\)|(\d{2,5}))|PORT["']\s*,\s*["']?(\d{2,5})`)

func detectPython(ctx context.Context, s *source, c Choice) (*candidate, error) {
	deps := pythonDeps{}
	var r *Result
	manifest := ""
	add := func(name string, parse func([]byte) (pythonDeps, error), build string) error {
		data, err := s.readOptional(name)
		if err != nil || data == nil {
			return err
		}
		d, err := parse(data)
		if err != nil {
			return fmt.Errorf("%s: %w", s.name(name), err)
		}
		if r == nil {
			r = &Result{Language: LangPython, BuildCommand: build}
			manifest = name
		}
		r.note(DecisionLanguage, s.name(name), 0, "%s (%d dependencies)", name, len(d))
		for k, v := range d {
			if _, ok := deps[k]; !ok {
				deps[k] = v
			}
		}
		return nil
	}
	if err := add("requirements.txt", parseRequirements, "pip install -r requirements.txt"); err != nil {
		return nil, err
	}
	if err := add("Pipfile", parsePipfile, "pipenv install --deploy --system"); err != nil {
		return nil, err
	}
	poetry := false
	if err := add("pyproject.toml", func(b []byte) (pythonDeps, error) {
		p, d, err := parsePyproject(b)
		if err == nil && p.Tool.Poetry.Name != "" {
			poetry = true
		}
		return d, err
	}, "pip install ."); err != nil {
		return nil, err
	}
	if r == nil && s.isFile("setup.py") {
		r = &Result{Language: LangPython, BuildCommand: "pip install ."}
		r.note(DecisionLanguage, s.name("setup.py"), 0, "setup.py")
	}
	if r == nil {
		return nil, nil
	}
	if poetry && manifest == "pyproject.toml" {
		r.BuildCommand = "poetry install --only main"
	}
	file := s.name(manifest)
	depLine := func(d string) int { return deps[d] }

	server := ""
	for _, srv := range []string{"gunicorn", "uvicorn", "hypercorn", "waitress"} {
		if _, ok := deps[srv]; ok {
			server = srv
			break
		}
	}
	entry := firstFile(s, "app.py", "main.py", "wsgi.py", "application.py", "server.py", "asgi.py")
	module := "app"
	if entry != "" {
		module = entry[:len(entry)-len(".py")]
	}
	r.Component, r.Port = ComponentService, 8000
	switch {
	case has(deps, "django") || s.isFile("manage.py"):
		r.Framework = "django"
		r.note(DecisionFramework, evidenceFile(s, file, deps, "django", "manage.py"), depLine("django"), "Django project")
		proj := djangoProject(s)
		if server == "" {
			server = "gunicorn"
		}
		r.RunCommand = fmt.Sprintf("gunicorn %s.wsgi --bind 0.0.0.0:8000", proj)
		if proj != "" {
			r.note(DecisionRun, s.name(path.Join(proj, "wsgi.py")), 0, "the Django WSGI module %s.wsgi", proj)
		}
	case has(deps, "fastapi"):
		r.Framework = "fastapi"
		r.note(DecisionFramework, file, depLine("fastapi"), "depends on fastapi")
		obj := pyAppObject(s, entry, `FastAPI\(`)
		r.RunCommand = fmt.Sprintf("uvicorn %s:%s --host 0.0.0.0 --port 8000", module, obj)
		if server == "" {
			server = "uvicorn"
		}
	case has(deps, "flask"):
		r.Framework = "flask"
		r.note(DecisionFramework, file, depLine("flask"), "depends on flask")
		obj := pyAppObject(s, entry, `Flask\(`)
		if server == "gunicorn" {
			r.RunCommand = fmt.Sprintf("gunicorn %s:%s --bind 0.0.0.0:8000", module, obj)
		} else {
			r.Port = 5000
			r.RunCommand = fmt.Sprintf("flask --app %s run --host 0.0.0.0 --port 5000", module)
		}
	default:
		if entry == "" {
			r.Component, r.Port = ComponentWorker, 0
			r.note(DecisionComponent, file, 0, "worker: no web framework and no app.py or main.py")
			return &candidate{res: r}, nil
		}
		r.RunCommand = "python " + entry
		if server == "" {
			r.Component, r.Port = ComponentWorker, 0
			r.note(DecisionRun, s.name(entry), 0, "the entry script")
			r.note(DecisionComponent, file, 0, "worker: no web framework or server among the dependencies")
			return &candidate{res: r}, nil
		}
	}
	if server != "" && deps[server] > 0 {
		r.note(DecisionRun, file, deps[server], "serves with %s", server)
	}
	r.note(DecisionComponent, file, 0, "service: a web framework")
	if r.RunCommand == "python "+entry {
		src, err := s.read(entry)
		if err != nil {
			return nil, err
		}
		if p, line := findPort(src, pyPortRE); p > 0 {
			r.Port = p
			r.note(DecisionPort, s.name(entry), line, "%d, the port in the source", p)
			return &candidate{res: r}, nil
		}
	}
	r.note(DecisionPort, "", 0, "%d, the port the run command binds", r.Port)
	return &candidate{res: r}, nil
}

func has(deps pythonDeps, name string) bool {
	_, ok := deps[name]
	return ok
}

func evidenceFile(s *source, manifest string, deps pythonDeps, dep, fallback string) string {
	if has(deps, dep) {
		return manifest
	}
	return s.name(fallback)
}

func firstFile(s *source, names ...string) string {
	for _, n := range names {
		if s.isFile(n) {
			return n
		}
	}
	return ""
}

// djangoProject finds the directory holding the project's wsgi.py and settings.py.
func djangoProject(s *source) string {
	entries, err := s.list(".")
	if err != nil {
		return "project"
	}
	for _, e := range entries {
		if e.IsDir() && s.isFile(path.Join(e.Name(), "wsgi.py")) {
			return e.Name()
		}
	}
	return "project"
}

// pyAppObject finds the variable an app object is assigned to (app = Flask(__name__)).
func pyAppObject(s *source, entry, ctor string) string {
	if entry == "" {
		return "app"
	}
	src, err := s.read(entry)
	if err != nil {
		return "app"
	}
	re := regexp.MustCompile(`(?m)^(\w+)\s*=\s*` + ctor)
	if m := re.FindSubmatch(src); m != nil {
		return string(m[1])
	}
	return "app"
}
