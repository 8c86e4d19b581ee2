package trigger

import (
	"fmt"
	"slices"
	"strings"

	"slipway.dev/slipway/engine/api/v1alpha1"
)

// Fork policies of PreviewPolicy.ForkPolicy.
const (
	ForkDeny    = "deny"
	ForkApprove = "approve"
)

// verdict is whether a pull request's head may run.
type verdict struct {
	run    bool
	reason string // a v1alpha1 reason when !run
	msg    string
}

// previewVerdict decides whether a Preview's head runs. The rule (DESIGN.md, "Untrusted PRs"):
// a pull request from the repository itself by a trusted author or maintainer runs; a fork never
// runs when the fork policy is deny; anything else runs only once a maintainer's /ok-to-test
// approved exactly the current head commit.
func previewVerdict(app *v1alpha1.Application, p *v1alpha1.Preview) verdict {
	pol := app.Spec.Previews
	who := fmt.Sprintf("pull request #%d by %s", p.Spec.PullRequest, orDefault(p.Spec.Author, "an unknown author"))
	switch {
	case p.Spec.Fork && pol != nil && pol.ForkPolicy == ForkDeny:
		return verdict{reason: v1alpha1.ReasonForkDenied,
			msg: fmt.Sprintf("%s comes from a fork and application %s never runs forks", who, app.Name)}
	case !p.Spec.Fork && trustedAuthor(app, p.Spec.Author):
		return verdict{run: true}
	case p.Status.Approval != nil && p.Status.Approval.SHA == p.Spec.HeadSHA && p.Spec.HeadSHA != "":
		return verdict{run: true}
	}
	why := "its author is not trusted"
	if p.Spec.Fork {
		why = "it comes from a fork"
	}
	return verdict{reason: v1alpha1.ReasonAwaitingApproval,
		msg: fmt.Sprintf("%s runs nothing until a maintainer comments /ok-to-test on head %s: %s", who, short(p.Spec.HeadSHA), why)}
}

// trustedAuthor reports whether login's own pull requests run without approval.
func trustedAuthor(app *v1alpha1.Application, login string) bool {
	if isMaintainer(app, login) {
		return true
	}
	return app.Spec.Previews != nil && containsLogin(app.Spec.Previews.TrustedAuthors, login)
}

func isMaintainer(app *v1alpha1.Application, login string) bool {
	return containsLogin(app.Spec.Source.Maintainers, login)
}

// mayCommand reports whether login may give cmd: only maintainers approve; maintainers and
// trusted authors may retest and cancel.
func mayCommand(app *v1alpha1.Application, login string, cmd Command) bool {
	if cmd == CmdOkToTest {
		return isMaintainer(app, login)
	}
	return trustedAuthor(app, login)
}

func containsLogin(list []string, login string) bool {
	if login == "" {
		return false
	}
	return slices.ContainsFunc(list, func(s string) bool { return strings.EqualFold(s, login) })
}

func short(sha string) string {
	if len(sha) > 12 {
		return sha[:12]
	}
	return orDefault(sha, "(unknown)")
}
