package detect

import (
	"strings"
	"testing"
)

// The fuzz tests run their seeds as unit tests under go test; go test -fuzz=FuzzX explores
// further. Each checks the parser never panics and that what it accepts is well formed.

func FuzzParsePackageJSON(f *testing.F) {
	f.Add([]byte(`{"name":"a","scripts":{"start":"node s.js"},"dependencies":{"express":"4"}}`))
	f.Add([]byte(`{"scripts": 3}`))
	f.Add([]byte("{\n  \"name\": \"a\",\n}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := parsePackageJSON(data)
		if err != nil {
			if p != nil {
				t.Fatal("result with an error")
			}
			return
		}
		_ = p.has("express")
	})
}

func FuzzParseProcfile(f *testing.F) {
	f.Add([]byte("web: gunicorn app:app --bind 0.0.0.0:$PORT\nworker: python w.py\n"))
	f.Add([]byte("# comment\n\nweb:\n"))
	f.Add([]byte("bad line"))
	f.Fuzz(func(t *testing.T, data []byte) {
		procs, err := parseProcfile(data)
		if err != nil {
			return
		}
		seen := map[string]bool{}
		for _, p := range procs {
			if !procNameRE.MatchString(p.Name) || p.Command == "" || p.Line < 1 || seen[p.Name] {
				t.Fatalf("accepted bad process %+v", p)
			}
			seen[p.Name] = true
			if port, _ := commandPort(p.Command); port < 0 || port > 65535 {
				t.Fatalf("port %d", port)
			}
		}
	})
}

func FuzzParseDockerfile(f *testing.F) {
	f.Add([]byte("FROM golang AS build\nRUN go build\nFROM scratch\nEXPOSE 8080/tcp\nCMD [\"/app\"]\n"))
	f.Add([]byte("# escape=`\nFROM x\nRUN a `\n b\nENTRYPOINT [\"a\"]\nCMD [\"b\"]"))
	f.Add([]byte("EXPOSE 80\n"))
	f.Add([]byte("FROM x\nEXPOSE 99999\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := parseDockerfile(data)
		if err != nil {
			return
		}
		if d.Stages < 1 || d.From == "" {
			t.Fatalf("accepted without FROM: %+v", d)
		}
		for _, p := range d.Expose {
			if p < 1 || p > 65535 {
				t.Fatalf("port %d", p)
			}
		}
	})
}

func FuzzParseRequirements(f *testing.F) {
	f.Add([]byte("Flask[async]>=3 # web\n-r base.txt\ngit+https://x/y\n"))
	f.Add([]byte("==1"))
	f.Fuzz(func(t *testing.T, data []byte) {
		deps, err := parseRequirements(data)
		if err != nil {
			return
		}
		for name := range deps {
			if name == "" || strings.ContainsAny(name, " _") {
				t.Fatalf("bad name %q", name)
			}
		}
	})
}

func FuzzParsePyproject(f *testing.F) {
	f.Add([]byte("[project]\nname = \"a\"\ndependencies = [\"fastapi>=0.1\"]\n"))
	f.Add([]byte("[tool.poetry.dependencies]\npython = \"^3.11\"\nDjango = \"5\"\n"))
	f.Add([]byte("[project\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if _, deps, err := parsePyproject(data); err == nil {
			for name := range deps {
				if name == "" || name == "python" {
					t.Fatalf("bad dependency %q", name)
				}
			}
		}
		_, _ = parsePipfile(data)
	})
}

func FuzzParsePom(f *testing.F) {
	f.Add([]byte(`<project><artifactId>a</artifactId><parent><groupId>org.springframework.boot</groupId></parent></project>`))
	f.Add([]byte(`<project><artifactId>a</artifactId`))
	f.Add([]byte(`<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><project><artifactId>&e;</artifactId></project>`))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := parsePom(data)
		if err == nil && p.ArtifactID == "" {
			t.Fatal("accepted a pom without artifactId")
		}
		if err == nil && strings.Contains(p.ArtifactID, "root:") {
			t.Fatal("external entity expanded")
		}
	})
}

func FuzzParseGradle(f *testing.F) {
	f.Add([]byte("plugins {\n  id 'org.springframework.boot' version '3.3.0'\n  application\n}\napplication { mainClass = 'a.B' }\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if _, err := parseGradle(data); err != nil && !strings.Contains(err.Error(), "token too long") {
			t.Fatal(err)
		}
	})
}

func FuzzParseGemfile(f *testing.F) {
	f.Add([]byte("source 'x'\nruby '3.3.0'\ngem 'rails', '~> 7'\ngem(\"puma\")\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		g, err := parseGemfile(data)
		if err != nil {
			return
		}
		for name, line := range g.Gems {
			if name == "" || line < 1 {
				t.Fatalf("bad gem %q on line %d", name, line)
			}
		}
	})
}

func FuzzParseGoMod(f *testing.F) {
	f.Add([]byte("module example.com/a\n\ngo 1.22\n\nrequire (\n\tgithub.com/gin-gonic/gin v1.9.0 // indirect\n)\n"))
	f.Add([]byte("go 1.22\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := parseGoMod(data)
		if err == nil && m.Module == "" {
			t.Fatal("accepted a go.mod without a module")
		}
	})
}

func FuzzParseComposer(f *testing.F) {
	f.Add([]byte(`{"require":{"laravel/framework":"^11"}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		if c, err := parseComposer(data); err == nil && c == nil {
			t.Fatal("nil without error")
		}
	})
}
