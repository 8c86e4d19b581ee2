package detect

import (
	"bufio"
	"bytes"
	"fmt"
	"regexp"
	"strings"
)

// process is one process type of a Procfile.
type process struct {
	Name    string
	Command string
	Line    int
}

var procNameRE = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// parseProcfile reads a Procfile: one "type: command" per line, blank lines and # comments
// ignored. Errors name the line.
func parseProcfile(data []byte) ([]process, error) {
	var procs []process
	seen := map[string]int{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), MaxFileSize)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, cmd, ok := strings.Cut(line, ":")
		name, cmd = strings.TrimSpace(name), strings.TrimSpace(cmd)
		if !ok || !procNameRE.MatchString(name) {
			return nil, fmt.Errorf("line %d: want \"type: command\" with a type of letters, digits, - or _", n)
		}
		if cmd == "" {
			return nil, fmt.Errorf("line %d: process type %q has no command", n, name)
		}
		if prev, dup := seen[name]; dup {
			return nil, fmt.Errorf("line %d: process type %q already defined on line %d", n, name, prev)
		}
		seen[name] = n
		procs = append(procs, process{Name: name, Command: cmd, Line: n})
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(procs) == 0 {
		return nil, fmt.Errorf("no process types")
	}
	return procs, nil
}

var (
	// portFlagRE finds a port given on a command line: -p 5000, --port=5000, --bind 0.0.0.0:8000,
	// -b :8000, 0.0.0.0:9000.
	portFlagRE = regexp.MustCompile(`(?:(?:^|\s)(?:-p|--port|-P|--listen)[ =]|(?:^|\s)(?:-b|--bind)[ =]\S*:|\b0\.0\.0\.0:|\blocalhost:)(\d{2,5})\b`)
	// portEnvRE finds a reference to the PORT environment variable in a command.
	portEnvRE = regexp.MustCompile(`\$\{?PORT\b`)
)

// commandPort returns the port a command line names explicitly, or usesEnv when it takes the
// port from $PORT.
func commandPort(cmd string) (port int, usesEnv bool) {
	if m := portFlagRE.FindStringSubmatch(cmd); m != nil {
		if p, ok := validPort(m[1]); ok {
			return p, false
		}
	}
	return 0, portEnvRE.MatchString(cmd)
}
