package detect_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"slipway.dev/slipway/engine/detect"
)

// writeTree creates files (path -> content) under a new temporary directory.
func writeTree(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestBadInput(t *testing.T) {
	tests := []struct {
		name    string
		files   map[string]string
		path    string
		choice  detect.Choice
		wantErr []string // the error must contain each
	}{
		{
			name:    "malformed package.json",
			files:   map[string]string{"web/package.json": "{\n  \"name\": \"a\",\n  \"scripts\": {\"start\" \"node s.js\"}\n}\n"},
			path:    "web",
			wantErr: []string{"web/package.json", "line 3"},
		},
		{
			name:    "package.json field of the wrong type",
			files:   map[string]string{"package.json": `{"scripts": ["start"]}`},
			wantErr: []string{"package.json", "line 1", "scripts"},
		},
		{
			name:    "malformed pom.xml",
			files:   map[string]string{"pom.xml": "<project>\n<artifactId>a</artifactId>\n<dependencies>\n</project>\n"},
			wantErr: []string{"pom.xml", "line 4"},
		},
		{
			name:    "pom.xml that is not a project",
			files:   map[string]string{"pom.xml": "<settings/>"},
			wantErr: []string{"pom.xml", "project"},
		},
		{
			name:    "malformed pyproject.toml",
			files:   map[string]string{"pyproject.toml": "[project]\nname = \n"},
			wantErr: []string{"pyproject.toml", "line 2"},
		},
		{
			name:    "malformed Procfile",
			files:   map[string]string{"Procfile": "web: ./server\nthis is not a process\n", "index.php": "<?php"},
			wantErr: []string{"Procfile", "line 2"},
		},
		{
			name:    "Dockerfile without FROM",
			files:   map[string]string{"Dockerfile": "RUN true\n"},
			wantErr: []string{"Dockerfile", "line 1", "before the first FROM"},
		},
		{
			name:    "go.mod without module",
			files:   map[string]string{"go.mod": "go 1.22\n", "main.go": "package main\nfunc main() {}\n"},
			wantErr: []string{"go.mod", "no module directive"},
		},
		{
			name:    "Go module with two unrelated programs",
			files:   map[string]string{"go.mod": "module x/app\n", "cmd/a/main.go": "package main\n", "cmd/b/main.go": "package main\n"},
			wantErr: []string{"2 main packages", "./cmd/a, ./cmd/b", "spec.build.goPackage"},
		},
		{
			name:    "go.mod without a program",
			files:   map[string]string{"go.mod": "module x/lib\n", "lib.go": "package lib\n"},
			wantErr: []string{"no main package"},
		},
		{
			name:    "path outside the repository",
			files:   map[string]string{"index.html": ""},
			path:    "../etc",
			wantErr: []string{"inside the repository"},
		},
		{
			name:    "absolute path",
			files:   map[string]string{"index.html": ""},
			path:    "/etc",
			wantErr: []string{"relative"},
		},
		{
			name:    "dockerfile named but missing",
			files:   map[string]string{"Dockerfile": "FROM x\n"},
			choice:  detect.Choice{Strategy: "dockerfile", Dockerfile: "build/Dockerfile"},
			wantErr: []string{"spec.build.dockerfile", "build/Dockerfile"},
		},
		{
			name:    "unknown strategy",
			files:   map[string]string{"index.html": ""},
			choice:  detect.Choice{Strategy: "maven"},
			wantErr: []string{`"maven"`, "buildpacks"},
		},
		{
			name:    "buildpacks with nothing to build",
			files:   map[string]string{"Dockerfile": "FROM x\n"},
			choice:  detect.Choice{Strategy: "buildpacks"},
			wantErr: []string{"buildpacks", "no language"},
		},
		{
			name:    "empty directory",
			files:   map[string]string{"README.md": "hi"},
			wantErr: []string{"README.md", "spec.build.strategy"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := writeTree(t, tc.files)
			res, err := detect.Decide(context.Background(), dir, tc.path, tc.choice)
			if err == nil {
				t.Fatalf("got %+v, want an error", res)
			}
			for _, w := range tc.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("err = %q, want it to mention %q", err, w)
				}
			}
		})
	}
}

func TestSymlinksStayInside(t *testing.T) {
	outside := writeTree(t, map[string]string{"package.json": `{"scripts":{"start":"node x.js"}}`, "app/go.mod": "module x\n"})
	dir := writeTree(t, map[string]string{"README.md": "x"})
	if err := os.Symlink(filepath.Join(outside, "package.json"), filepath.Join(dir, "package.json")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(outside, "app"), filepath.Join(dir, "app")); err != nil {
		t.Fatal(err)
	}
	if res, err := detect.Detect(context.Background(), dir, ""); err == nil {
		t.Fatalf("followed a symlink out of the source: %+v", res)
	}
	if res, err := detect.Detect(context.Background(), dir, "app"); err == nil {
		t.Fatalf("followed a symlinked path out of the source: %+v", res)
	}
	// A symlink inside the source is fine.
	if err := os.WriteFile(filepath.Join(dir, "site.html"), []byte("<p>"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("site.html", filepath.Join(dir, "index.html")); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, "package.json")); err != nil {
		t.Fatal(err)
	}
	res, err := detect.Detect(context.Background(), dir, "")
	if err != nil {
		t.Fatal(err)
	}
	if res.Language != detect.LangStatic {
		t.Errorf("language = %q, want static", res.Language)
	}
}

func TestLargeManifest(t *testing.T) {
	big := `{"name":"` + strings.Repeat("a", detect.MaxFileSize) + `"}`
	dir := writeTree(t, map[string]string{"package.json": big})
	_, err := detect.Detect(context.Background(), dir, "")
	if !errors.Is(err, detect.ErrFileTooLarge) || !strings.Contains(err.Error(), "package.json") {
		t.Fatalf("err = %v, want ErrFileTooLarge naming package.json", err)
	}
}

func TestDecisions(t *testing.T) {
	tests := []struct {
		name      string
		files     map[string]string
		path      string
		strategy  string
		language  string
		framework string
		component string
		port      int
		run       string
	}{
		{
			name:     "Containerfile wins over the language",
			files:    map[string]string{"Containerfile": "FROM node:20\nEXPOSE 4000\nCMD [\"node\", \"s.js\"]\n", "package.json": `{"scripts":{"start":"node s.js"}}`},
			strategy: "dockerfile", language: "node", component: "service", port: 4000, run: "node s.js",
		},
		{
			name:     "multi-stage Dockerfile: the final stage decides",
			files:    map[string]string{"Dockerfile": "FROM golang AS b\nEXPOSE 1234\nCMD [\"x\"]\nFROM scratch\nEXPOSE 9090\nENTRYPOINT [\"/app\"]\n"},
			strategy: "dockerfile", language: "unknown", component: "service", port: 9090, run: "/app",
		},
		{
			name:     "Rails app with front-end tooling",
			files:    map[string]string{"Gemfile": "gem 'rails', '~> 7.1'\n", "package.json": `{"scripts":{"build":"esbuild app.js"},"devDependencies":{"esbuild":"0.20"}}`},
			strategy: "buildpacks", language: "ruby", framework: "rails", component: "service", port: 3000,
			run: "bundle exec rails server -b 0.0.0.0 -p 3000",
		},
		{
			name:     "Django with a Procfile binding $PORT",
			files:    map[string]string{"requirements.txt": "Django>=5\ngunicorn\n", "manage.py": "", "mysite/wsgi.py": "", "Procfile": "web: gunicorn mysite.wsgi --bind 0.0.0.0:$PORT\nrelease: python manage.py migrate\n"},
			strategy: "buildpacks", language: "python", framework: "django", component: "service", port: 8000,
			run: "gunicorn mysite.wsgi --bind 0.0.0.0:$PORT",
		},
		{
			name:     "Vite front end is a static site",
			files:    map[string]string{"package.json": `{"scripts":{"build":"vite build"},"devDependencies":{"vite":"5"}}`, "index.html": "<div id=app>"},
			strategy: "buildpacks", language: "node", framework: "vite", component: "static-site", port: 8080,
		},
		{
			name:     "Laravel",
			files:    map[string]string{"composer.json": `{"require":{"php":"^8.2","laravel/framework":"^11.0"}}`, "public/index.php": "<?php"},
			strategy: "buildpacks", language: "php", framework: "laravel", component: "service", port: 8080,
			run: "php -S 0.0.0.0:8080 -t public",
		},
		{
			name:     "Go worker",
			files:    map[string]string{"go.mod": "module example.com/worker\n", "main.go": "package main\nimport \"time\"\nfunc main() { time.Sleep(1) }\n"},
			strategy: "ko", language: "go", component: "worker", port: 0, run: "/app/worker",
		},
		{
			name:     "Go with gin on a Procfile port",
			files:    map[string]string{"go.mod": "module x/svc\nrequire github.com/gin-gonic/gin v1.10.0\n", "cmd/svc/main.go": "package main\nimport \"github.com/gin-gonic/gin\"\nfunc main() { gin.Default().Run(\":7000\") }\n", "cmd/tool/main.go": "package main\nfunc main() {}\n"},
			strategy: "ko", language: "go", framework: "gin", component: "service", port: 7000, run: "/app/svc",
		},
		{
			name:     "Poetry FastAPI",
			files:    map[string]string{"pyproject.toml": "[tool.poetry]\nname = \"x\"\n[tool.poetry.dependencies]\npython = \"^3.12\"\nfastapi = \"*\"\n", "main.py": "from fastapi import FastAPI\napp = FastAPI()\n"},
			strategy: "buildpacks", language: "python", framework: "fastapi", component: "service", port: 8000,
			run: "uvicorn main:app --host 0.0.0.0 --port 8000",
		},
		{
			name:     "Spring Boot worker with Gradle",
			files:    map[string]string{"build.gradle": "plugins {\n  id 'org.springframework.boot' version '3.3.0'\n}\ndependencies { implementation 'org.springframework.boot:spring-boot-starter' }\n"},
			strategy: "buildpacks", language: "java", framework: "spring-boot", component: "worker", port: 0,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, err := detect.Detect(context.Background(), writeTree(t, tc.files), tc.path)
			if err != nil {
				t.Fatal(err)
			}
			got := []any{res.Strategy, res.Language, res.Framework, res.Component, res.Port}
			want := []any{tc.strategy, tc.language, tc.framework, tc.component, tc.port}
			for i := range got {
				if got[i] != want[i] {
					t.Errorf("(strategy, language, framework, component, port) = %v, want %v\n%v", got, want, res.Evidence)
					break
				}
			}
			if tc.run != "" && res.RunCommand != tc.run {
				t.Errorf("run = %q, want %q", res.RunCommand, tc.run)
			}
		})
	}
}
