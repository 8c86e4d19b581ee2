package detect

import (
	"bufio"
	"bytes"
	"fmt"
	"regexp"
	"strings"

	"github.com/BurntSushi/toml"
)

// pythonDeps is what detection reads from a Python project's manifests: the names of its
// dependencies (lower case, "_" as "-") with the line each was declared on (0 when unknown).
type pythonDeps map[string]int

// reqNameRE takes the distribution name at the start of a requirement ("Flask[async]>=3").
var reqNameRE = regexp.MustCompile(`^([A-Za-z0-9][A-Za-z0-9._-]*)`)

func normalizePyName(n string) string {
	return strings.ReplaceAll(strings.ToLower(n), "_", "-")
}

// parseRequirements reads a pip requirements file. Options (-r, -e, --index-url) and URLs are
// skipped; a line that names no distribution is an error naming the line.
func parseRequirements(data []byte) (pythonDeps, error) {
	deps := pythonDeps{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), MaxFileSize)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if i := strings.Index(line, " #"); i >= 0 {
			line = line[:i]
		}
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, "-") || strings.Contains(line, "://") {
			continue
		}
		m := reqNameRE.FindStringSubmatch(line)
		if m == nil {
			return nil, fmt.Errorf("line %d: %q names no package", n, line)
		}
		deps[normalizePyName(m[1])] = n
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return deps, nil
}

// pyproject is the part of pyproject.toml detection reads (PEP 621 and Poetry).
type pyproject struct {
	Project struct {
		Name           string            `toml:"name"`
		RequiresPython string            `toml:"requires-python"`
		Dependencies   []string          `toml:"dependencies"`
		Scripts        map[string]string `toml:"scripts"`
	} `toml:"project"`
	Tool struct {
		Poetry struct {
			Name         string            `toml:"name"`
			Dependencies map[string]any    `toml:"dependencies"`
			Scripts      map[string]string `toml:"scripts"`
		} `toml:"poetry"`
	} `toml:"tool"`
	BuildSystem struct {
		BuildBackend string `toml:"build-backend"`
	} `toml:"build-system"`
}

// parsePyproject decodes pyproject.toml and returns it with its dependency names.
func parsePyproject(data []byte) (*pyproject, pythonDeps, error) {
	var p pyproject
	if err := toml.Unmarshal(data, &p); err != nil {
		return nil, nil, tomlError(err)
	}
	deps := pythonDeps{}
	for _, d := range p.Project.Dependencies {
		if m := reqNameRE.FindStringSubmatch(strings.TrimSpace(d)); m != nil {
			deps[normalizePyName(m[1])] = 0
		}
	}
	for name := range p.Tool.Poetry.Dependencies {
		if name != "python" {
			deps[normalizePyName(name)] = 0
		}
	}
	lower := bytes.ToLower(data)
	for name := range deps {
		if i := bytes.Index(lower, []byte(name)); i >= 0 {
			deps[name] = bytes.Count(data[:i], []byte("\n")) + 1
		}
	}
	return &p, deps, nil
}

// parsePipfile decodes a Pipfile (TOML) and returns its [packages] names.
func parsePipfile(data []byte) (pythonDeps, error) {
	var p struct {
		Packages map[string]any `toml:"packages"`
	}
	if err := toml.Unmarshal(data, &p); err != nil {
		return nil, tomlError(err)
	}
	deps := pythonDeps{}
	for name := range p.Packages {
		deps[normalizePyName(name)] = 0
	}
	return deps, nil
}

// tomlError keeps the position of a TOML parse error and drops the library's long usage text.
func tomlError(err error) error {
	if pe, ok := err.(toml.ParseError); ok {
		return fmt.Errorf("line %d, column %d: %s", pe.Position.Line, pe.Position.Col, pe.Message)
	}
	return err
}
