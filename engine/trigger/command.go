package trigger

import (
	"regexp"
	"strings"
)

// Command is a pull-request comment command.
type Command string

// The commands a pull-request comment may give.
const (
	// CmdOkToTest approves the pull request's current head commit for an untrusted pull request.
	CmdOkToTest Command = "ok-to-test"
	// CmdRetest runs the preview of the current head again.
	CmdRetest Command = "retest"
	// CmdCancel cancels the pull request's runs that have not finished.
	CmdCancel Command = "cancel"
)

var knownCommands = map[Command]bool{CmdOkToTest: true, CmdRetest: true, CmdCancel: true}

// commandLike is a line that looks like a command: a slash, a word, then the end of the line or
// more text. Paths such as /usr/bin do not match.
var commandLike = regexp.MustCompile(`^/([A-Za-z][A-Za-z0-9_-]*)(\s.*)?$`)

// maxIgnoredLine caps how much of an ignored line is echoed into a Delivery's status.
const maxIgnoredLine = 64

// ParsedComment is what a comment asks for.
type ParsedComment struct {
	// Commands are the known commands, each once, in the order they first appear.
	Commands []Command
	// Ignored are lines that look like commands but are not: unknown commands and known ones
	// followed by more text, cut to 64 bytes.
	Ignored []string
}

// ParseComment reads the commands of a pull-request comment strictly: a command is a line of its
// own, exactly "/name" with nothing but surrounding spaces, in lower case. Lines inside fenced
// code blocks and quoted lines ("> /ok-to-test", as when someone replies to a maintainer) are
// never commands, so quoting an approval does not approve.
func ParseComment(body string) ParsedComment {
	var out ParsedComment
	seen := map[Command]bool{}
	fenced := false
	for _, line := range strings.Split(body, "\n") {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "```") || strings.HasPrefix(line, "~~~") {
			fenced = !fenced
			continue
		}
		if fenced || !strings.HasPrefix(line, "/") {
			continue
		}
		m := commandLike.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		cmd := Command(m[1])
		if m[2] != "" || !knownCommands[cmd] {
			out.Ignored = append(out.Ignored, cut(line, maxIgnoredLine))
			continue
		}
		if !seen[cmd] {
			seen[cmd] = true
			out.Commands = append(out.Commands, cmd)
		}
	}
	return out
}

// cut shortens s to at most n bytes without splitting a UTF-8 sequence.
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !isRuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

func isRuneStart(b byte) bool { return b&0xC0 != 0x80 }
