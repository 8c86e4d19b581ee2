package detect

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
)

// gemfile is what detection reads from a Ruby Gemfile: gem names with their lines, and the
// Ruby version.
type gemfile struct {
	Gems map[string]int
	Ruby string
}

var (
	gemRE  = regexp.MustCompile(`^\s*gem\s*\(?\s*["']([A-Za-z0-9_.-]+)["']`)
	rubyRE = regexp.MustCompile(`^\s*ruby\s*\(?\s*["']([0-9][0-9A-Za-z.~> =-]*)["']`)
)

// parseGemfile scans a Gemfile. A Gemfile is Ruby code; this reads the gem and ruby lines.
func parseGemfile(data []byte) (*gemfile, error) {
	g := &gemfile{Gems: map[string]int{}}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), MaxFileSize)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if m := gemRE.FindStringSubmatch(line); m != nil {
			if _, dup := g.Gems[m[1]]; !dup {
				g.Gems[m[1]] = n
			}
		} else if m := rubyRE.FindStringSubmatch(line); m != nil {
			g.Ruby = strings.TrimSpace(m[1])
		}
	}
	return g, sc.Err()
}

// composerJSON is the part of a PHP composer.json detection reads.
type composerJSON struct {
	Name    string            `json:"name"`
	Require map[string]string `json:"require"`
}

// parseComposer decodes composer.json. Errors name the line and column.
func parseComposer(data []byte) (*composerJSON, error) {
	var c composerJSON
	if err := json.Unmarshal(data, &c); err != nil {
		return nil, jsonError(data, err)
	}
	return &c, nil
}

// goMod is what detection reads from go.mod.
type goMod struct {
	Module     string
	ModuleLine int
	Go         string
	Requires   map[string]int
}

// parseGoMod reads the module path, go version and requirements of a go.mod file. Errors name
// the line.
func parseGoMod(data []byte) (*goMod, error) {
	m := &goMod{Requires: map[string]int{}}
	inRequire := false
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), MaxFileSize)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if i := strings.Index(line, "//"); i >= 0 {
			line = line[:i]
		}
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		switch {
		case inRequire && f[0] == ")":
			inRequire = false
		case inRequire:
			m.Requires[strings.Trim(f[0], `"`)] = n
		case f[0] == "module":
			if len(f) != 2 {
				return nil, fmt.Errorf("line %d: want \"module path\"", n)
			}
			m.Module, m.ModuleLine = strings.Trim(f[1], `"`+"`"), n
		case f[0] == "go" && len(f) == 2:
			m.Go = f[1]
		case f[0] == "require" && len(f) == 2 && f[1] == "(":
			inRequire = true
		case f[0] == "require" && len(f) >= 2:
			m.Requires[strings.Trim(f[1], `"`)] = n
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if m.Module == "" {
		return nil, fmt.Errorf("no module directive")
	}
	return m, nil
}
