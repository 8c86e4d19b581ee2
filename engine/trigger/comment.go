package trigger

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	tektonv1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"slipway.dev/slipway/engine/api/v1alpha1"
)

// comment carries out the commands of a pull-request comment for every Application previewing
// the pull request. Nothing a comment asks is done silently or dropped silently: each command's
// outcome, or the reason it was ignored, ends up in the Delivery's Command condition.
func (r *Reconciler) comment(ctx context.Context, d *v1alpha1.Delivery) (*outcome, error) {
	out := &outcome{}
	parsed := ParseComment(d.Spec.Comment)
	if len(parsed.Commands) == 0 && len(parsed.Ignored) == 0 {
		return out.ignore(v1alpha1.ReasonNoCommand, "the comment holds no command"), nil
	}
	for _, line := range parsed.Ignored {
		out.command(v1alpha1.ReasonUnknownCommand, fmt.Sprintf("%q ignored: not a command (known: /ok-to-test, /retest, /cancel, each alone on its line)", line))
	}
	if d.Spec.PullRequest == nil || d.Spec.PullRequest.Number <= 0 {
		out.command(v1alpha1.ReasonIgnored, "the comment is not on a pull request")
		return out, nil
	}
	n := d.Spec.PullRequest.Number
	apps, _, err := r.previewApps(ctx, d)
	if err != nil {
		return nil, err
	}
	found := false
	for i := range apps {
		app := &apps[i]
		var p v1alpha1.Preview
		err := r.Client.Get(ctx, client.ObjectKey{Namespace: app.Namespace, Name: PreviewName(app.Name, n)}, &p)
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("get preview of pull request #%d: %w", n, err)
		}
		found = true
		for _, cmd := range parsed.Commands {
			if err := r.runCommand(ctx, d, app, &p, cmd, out); err != nil {
				return nil, err
			}
		}
	}
	if !found && len(parsed.Commands) > 0 {
		out.command(v1alpha1.ReasonIgnored, fmt.Sprintf("no Application previews pull request #%d of %s", n, d.Spec.RepoURL))
	}
	return out, nil
}

func (r *Reconciler) runCommand(ctx context.Context, d *v1alpha1.Delivery, app *v1alpha1.Application, p *v1alpha1.Preview, cmd Command, out *outcome) error {
	who := orDefault(d.Spec.Author, "an unknown user")
	prefix := fmt.Sprintf("%s: /%s by %s", app.Name, cmd, who)
	if !mayCommand(app, d.Spec.Author, cmd) {
		role := "a maintainer"
		if cmd != CmdOkToTest {
			role = "a maintainer or trusted author"
		}
		out.command(v1alpha1.ReasonUntrustedCommenter, fmt.Sprintf("%s ignored: %s is not %s of the application", prefix, who, role))
		return nil
	}
	if p.Status.ClosedAt != nil && cmd != CmdCancel {
		out.command(v1alpha1.ReasonIgnored, fmt.Sprintf("%s ignored: pull request #%d is closed", prefix, p.Spec.PullRequest))
		return nil
	}
	switch cmd {
	case CmdCancel:
		k, err := r.cancelPullRequestRuns(ctx, app, p.Spec.PullRequest, d.Name, "/cancel by "+who)
		if err != nil {
			return err
		}
		out.admit(app)
		out.command(v1alpha1.ReasonCancelled, fmt.Sprintf("%s: cancelled %d run(s)", prefix, k))
		return nil
	case CmdOkToTest:
		if p.Spec.HeadSHA == "" {
			out.command(v1alpha1.ReasonIgnored, prefix+" ignored: the pull request's head commit is not known yet")
			return nil
		}
		approval := &v1alpha1.PreviewApproval{SHA: p.Spec.HeadSHA, By: d.Spec.Author, Delivery: d.Name, At: d.Spec.ReceivedAt}
		if err := r.updatePreviewStatus(ctx, p, func(st *v1alpha1.PreviewStatus) { st.Approval = approval }); err != nil {
			return err
		}
		exists, err := r.headRunExists(ctx, app, p)
		if err != nil {
			return err
		}
		if exists {
			out.command(v1alpha1.ReasonApproved, fmt.Sprintf("%s: approved head %s, which already has a run", prefix, short(p.Spec.HeadSHA)))
			return nil
		}
	}
	// ok-to-test without a run yet, and retest: run the head if the trust rules allow it.
	v := previewVerdict(app, p)
	if !v.run {
		out.command(v.reason, prefix+": "+v.msg)
		return r.setPreviewReady(ctx, p, v.reason, v.msg)
	}
	name, err := r.startPreview(ctx, d, app, p, out)
	if err != nil || name == "" {
		return err
	}
	reason := v1alpha1.ReasonSucceeded
	if cmd == CmdOkToTest {
		reason = v1alpha1.ReasonApproved
	}
	out.run(app.Name, FlowPreview, name)
	out.command(reason, fmt.Sprintf("%s: preview run %s of head %s", prefix, name, short(p.Spec.HeadSHA)))
	return nil
}

// headRunExists reports whether the Preview's head already has a run that was not cancelled.
func (r *Reconciler) headRunExists(ctx context.Context, app *v1alpha1.Application, p *v1alpha1.Preview) (bool, error) {
	var list tektonv1.PipelineRunList
	if err := r.reader().List(ctx, &list, client.InNamespace(app.Namespace), client.MatchingLabels{
		v1alpha1.LabelApplication: app.Name, v1alpha1.LabelFlow: FlowPreview,
		v1alpha1.LabelPullRequest: strconv.FormatInt(p.Spec.PullRequest, 10), v1alpha1.LabelSHA: p.Spec.HeadSHA,
	}); err != nil {
		return false, fmt.Errorf("list runs of pull request #%d: %w", p.Spec.PullRequest, err)
	}
	for i := range list.Items {
		if !isCancelled(&list.Items[i]) {
			return true, nil
		}
	}
	return false, nil
}

// commandCondition summarizes a comment's commands.
func commandCondition(notes []note, gen int64) metav1.Condition {
	reason := notes[0].reason
	for _, n := range notes {
		if n.reason == v1alpha1.ReasonSucceeded || n.reason == v1alpha1.ReasonApproved || n.reason == v1alpha1.ReasonCancelled {
			reason = n.reason
			break
		}
	}
	msgs := make([]string, len(notes))
	for i, n := range notes {
		msgs[i] = n.msg
	}
	return metav1.Condition{Type: v1alpha1.ConditionCommand, Status: metav1.ConditionTrue, Reason: reason,
		Message: strings.Join(msgs, "; "), ObservedGeneration: gen}
}
