package detect

import (
	"bufio"
	"bytes"
	"fmt"
	"strconv"
	"strings"
)

// dockerfile is what detection reads from a Dockerfile: the final stage's base image, exposed
// ports and command.
type dockerfile struct {
	From       string
	FromLine   int
	Expose     []int
	ExposeLine int
	Cmd        string
	CmdLine    int
	Stages     int
}

// parseDockerfile reads the instructions of a Dockerfile, joining continuation lines. Only the
// final stage's EXPOSE, CMD and ENTRYPOINT count. Errors name the line.
func parseDockerfile(data []byte) (*dockerfile, error) {
	var d dockerfile
	var entrypoint, cmd string
	var entryLine, cmdLine int
	escape := byte('\\')
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), MaxFileSize)
	var buf strings.Builder
	start, n, sawInstruction := 0, 0, false
	flush := func() error {
		text := strings.TrimSpace(buf.String())
		buf.Reset()
		if text == "" {
			return nil
		}
		sawInstruction = true
		instr, args, _ := strings.Cut(text, " ")
		args = strings.TrimSpace(args)
		switch strings.ToUpper(instr) {
		case "FROM":
			if args == "" {
				return fmt.Errorf("line %d: FROM without an image", start)
			}
			d.Stages++
			d.From, d.FromLine = strings.Fields(args)[0], start
			d.Expose, d.ExposeLine = nil, 0
			entrypoint, cmd, entryLine, cmdLine = "", "", 0, 0
		case "EXPOSE":
			for _, f := range strings.Fields(args) {
				num, _, _ := strings.Cut(f, "/")
				p, ok := validPort(num)
				if !ok {
					if strings.Contains(num, "$") {
						continue // a build argument; its value is unknown here
					}
					return fmt.Errorf("line %d: EXPOSE %q is not a port", start, f)
				}
				d.Expose = append(d.Expose, p)
				d.ExposeLine = start
			}
		case "CMD":
			cmd, cmdLine = execForm(args), start
		case "ENTRYPOINT":
			entrypoint, entryLine = execForm(args), start
		}
		if d.Stages == 0 && !strings.EqualFold(instr, "ARG") {
			return fmt.Errorf("line %d: %s before the first FROM", start, strings.ToUpper(instr))
		}
		return nil
	}
	for sc.Scan() {
		n++
		line := sc.Text()
		trimmed := strings.TrimSpace(line)
		if !sawInstruction && buf.Len() == 0 && strings.HasPrefix(trimmed, "#") {
			// Parser directives come first: # escape=`
			if k, v, ok := strings.Cut(strings.TrimSpace(strings.TrimPrefix(trimmed, "#")), "="); ok &&
				strings.EqualFold(strings.TrimSpace(k), "escape") && len(strings.TrimSpace(v)) == 1 {
				escape = strings.TrimSpace(v)[0]
			}
			continue
		}
		if strings.HasPrefix(trimmed, "#") {
			continue
		}
		if buf.Len() == 0 {
			start = n
		}
		if strings.HasSuffix(trimmed, string(escape)) {
			buf.WriteString(strings.TrimSuffix(trimmed, string(escape)))
			buf.WriteByte(' ')
			continue
		}
		buf.WriteString(trimmed)
		if err := flush(); err != nil {
			return nil, err
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if err := flush(); err != nil {
		return nil, err
	}
	if d.Stages == 0 {
		return nil, fmt.Errorf("no FROM instruction")
	}
	switch {
	case entrypoint != "" && cmd != "":
		d.Cmd, d.CmdLine = entrypoint+" "+cmd, entryLine
	case entrypoint != "":
		d.Cmd, d.CmdLine = entrypoint, entryLine
	default:
		d.Cmd, d.CmdLine = cmd, cmdLine
	}
	return &d, nil
}

// execForm renders CMD ["a", "b"] as "a b"; the shell form is returned as written.
func execForm(args string) string {
	if !strings.HasPrefix(args, "[") {
		return args
	}
	var parts []string
	rest := strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(args), "["), "]")
	for _, p := range strings.Split(rest, ",") {
		p = strings.TrimSpace(p)
		if u, err := strconv.Unquote(p); err == nil {
			p = u
		}
		parts = append(parts, p)
	}
	return strings.Join(parts, " ")
}

// validPort parses s as a TCP port number (1-65535).
func validPort(s string) (int, bool) {
	p, err := strconv.Atoi(s)
	if err != nil || p < 1 || p > 65535 {
		return 0, false
	}
	return p, true
}
