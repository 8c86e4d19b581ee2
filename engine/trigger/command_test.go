package trigger_test

import (
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"slipway.dev/slipway/engine/trigger"
)

func TestParseComment(t *testing.T) {
	tests := []struct {
		name        string
		body        string
		wantCmds    string
		wantIgnored string
	}{
		{name: "alone", body: "/ok-to-test", wantCmds: "[ok-to-test]"},
		{name: "surrounded by spaces and CRLF", body: "  /retest \r\n", wantCmds: "[retest]"},
		{name: "among prose", body: "Looks good.\n/ok-to-test\nthanks", wantCmds: "[ok-to-test]"},
		{name: "several, deduplicated, in order", body: "/cancel\n/retest\n/cancel", wantCmds: "[cancel retest]"},
		{name: "inside a sentence", body: "please /retest this", wantCmds: "[]"},
		{name: "with trailing text", body: "/retest please", wantCmds: "[]", wantIgnored: "[/retest please]"},
		{name: "upper case", body: "/OK-TO-TEST", wantCmds: "[]", wantIgnored: "[/OK-TO-TEST]"},
		{name: "unknown command", body: "/deploy", wantCmds: "[]", wantIgnored: "[/deploy]"},
		{name: "quoted approval", body: "> /ok-to-test\nwhy was this approved?", wantCmds: "[]"},
		{name: "fenced code", body: "```\n/ok-to-test\n```\n", wantCmds: "[]"},
		{name: "after fenced code", body: "```sh\n/retest\n```\n/cancel", wantCmds: "[cancel]"},
		{name: "a path", body: "/usr/bin/env", wantCmds: "[]"},
		{name: "slash alone", body: "/", wantCmds: "[]"},
		{name: "empty", body: "", wantCmds: "[]"},
		{name: "long unknown line is cut", body: "/x " + strings.Repeat("é", 100), wantCmds: "[]",
			wantIgnored: "[/x " + strings.Repeat("é", 30) + "…]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := trigger.ParseComment(tt.body)
			if s := fmt.Sprint(got.Commands); s != tt.wantCmds {
				t.Errorf("commands = %s, want %s", s, tt.wantCmds)
			}
			want := tt.wantIgnored
			if want == "" {
				want = "[]"
			}
			if s := fmt.Sprint(got.Ignored); s != want {
				t.Errorf("ignored = %s, want %s", s, want)
			}
		})
	}
}

// FuzzParseComment checks the parser's promises on any input: every command it returns is known
// and stands alone on a line of the comment, none twice; ignored lines are valid, short, and
// look like commands.
func FuzzParseComment(f *testing.F) {
	for _, s := range []string{"/ok-to-test", "a\n/retest\n", "> /cancel", "```\n/retest\n```", "/retest now", "/x\n/y", "\xff/retest"} {
		f.Add(s)
	}
	known := map[trigger.Command]bool{trigger.CmdOkToTest: true, trigger.CmdRetest: true, trigger.CmdCancel: true}
	f.Fuzz(func(t *testing.T, body string) {
		got := trigger.ParseComment(body)
		lines := map[string]bool{}
		for _, l := range strings.Split(body, "\n") {
			lines[strings.TrimSpace(l)] = true
		}
		seen := map[trigger.Command]bool{}
		for _, c := range got.Commands {
			if !known[c] {
				t.Errorf("unknown command %q returned", c)
			}
			if seen[c] {
				t.Errorf("command %q returned twice", c)
			}
			seen[c] = true
			if !lines["/"+string(c)] {
				t.Errorf("command %q is not a line of its own in %q", c, body)
			}
		}
		for _, l := range got.Ignored {
			if !strings.HasPrefix(l, "/") || len(l) > 64+len("…") {
				t.Errorf("ignored line %q does not look like a cut command", l)
			}
			if utf8.ValidString(body) && !utf8.ValidString(l) {
				t.Errorf("ignored line %q is not valid UTF-8", l)
			}
		}
	})
}
