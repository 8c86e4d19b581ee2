package trigger

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"

	tektonv1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	"slipway.dev/slipway/engine/api/v1alpha1"
	"slipway.dev/slipway/pipelines"
)

// PreviewName is the name of an Application's Preview of one pull request.
func PreviewName(app string, number int64) string {
	if len(app) > 40 {
		app = strings.TrimRight(app[:40], "-.")
	}
	return fmt.Sprintf("%s-pr-%d", app, number)
}

// previewApps lists the Applications of the Delivery's repository with previews enabled, and
// counts those without.
func (r *Reconciler) previewApps(ctx context.Context, d *v1alpha1.Delivery) ([]v1alpha1.Application, int, error) {
	all, err := r.repoApps(ctx, d)
	if err != nil {
		return nil, 0, err
	}
	var out []v1alpha1.Application
	for _, a := range all {
		if a.Spec.Previews != nil && a.Spec.Previews.Enabled {
			out = append(out, a)
		}
	}
	return out, len(all) - len(out), nil
}

// pullRequest handles a pull request opened, updated, reopened, closed or merged.
func (r *Reconciler) pullRequest(ctx context.Context, d *v1alpha1.Delivery) (*outcome, error) {
	out := &outcome{}
	if d.Spec.PullRequest == nil || d.Spec.PullRequest.Number <= 0 {
		return out.ignore(v1alpha1.ReasonIgnored, fmt.Sprintf("%s delivery names no pull request", d.Spec.Event)), nil
	}
	n := d.Spec.PullRequest.Number
	apps, disabled, err := r.previewApps(ctx, d)
	if err != nil {
		return nil, err
	}
	if len(apps) == 0 {
		if disabled > 0 {
			return out.ignore(v1alpha1.ReasonPreviewsDisabled, fmt.Sprintf("no Application of %s has previews enabled", d.Spec.RepoURL)), nil
		}
		return out.ignore(v1alpha1.ReasonNoApplication, fmt.Sprintf("no Application in namespace %s watches %s", d.Namespace, d.Spec.RepoURL)), nil
	}
	closing := d.Spec.Event == "pr-closed" || d.Spec.Event == "pr-merged"
	for i := range apps {
		app := &apps[i]
		p, stale, err := r.upsertPreview(ctx, d, app, closing)
		if err != nil {
			return nil, err
		}
		switch {
		case stale != "":
			out.add(app.Name, FlowPreview, "", v1alpha1.ReasonSuperseded, stale)
		case closing:
			what := strings.TrimPrefix(d.Spec.Event, "pr-")
			if _, err := r.cancelPullRequestRuns(ctx, app, n, d.Name, "pull request #"+strconv.FormatInt(n, 10)+" "+what); err != nil {
				return nil, err
			}
			out.admit(app)
			msg := fmt.Sprintf("pull request #%d %s: runs cancelled, preview %s marked for teardown", n, what, p.Name)
			if err := r.setPreviewReady(ctx, p, v1alpha1.ReasonClosed, msg); err != nil {
				return nil, err
			}
			out.add(app.Name, FlowTeardown, "", v1alpha1.ReasonSucceeded, msg)
		default:
			if err := r.runPreviewIfAllowed(ctx, d, app, p, out); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

// runPreviewIfAllowed starts the preview of p's head when the trust rules allow it, and records
// why not otherwise.
func (r *Reconciler) runPreviewIfAllowed(ctx context.Context, d *v1alpha1.Delivery, app *v1alpha1.Application, p *v1alpha1.Preview, out *outcome) error {
	v := previewVerdict(app, p)
	if !v.run {
		// The runs of earlier heads build code nobody wants any more.
		k, err := r.cancelPullRequestRuns(ctx, app, p.Spec.PullRequest, d.Name,
			fmt.Sprintf("pull request #%d moved to head %s (delivery %s)", p.Spec.PullRequest, short(p.Spec.HeadSHA), d.Name))
		if err != nil {
			return err
		}
		if k > 0 {
			out.admit(app)
		}
		out.add(app.Name, FlowPreview, "", v.reason, v.msg)
		return r.setPreviewReady(ctx, p, v.reason, v.msg)
	}
	name, err := r.startPreview(ctx, d, app, p, out)
	if err != nil || name == "" {
		return err
	}
	out.add(app.Name, FlowPreview, name, v1alpha1.ReasonSucceeded, "preview run "+name+" of head "+short(p.Spec.HeadSHA))
	return nil
}

// startPreview creates the preview run of p's head for Delivery d, after cancelling the pull
// request's runs that d supersedes. It returns "" when the run's spec is invalid (recorded in out).
func (r *Reconciler) startPreview(ctx context.Context, d *v1alpha1.Delivery, app *v1alpha1.Application, p *v1alpha1.Preview, out *outcome) (string, error) {
	pr, err := PreviewRun(ctx, d, app, p, r.Config)
	if err != nil {
		r.logger().Warn("pipeline run not created", "application", app.Name, "err", err)
		out.add(app.Name, FlowPreview, "", v1alpha1.ReasonInvalidSpec, err.Error())
		return "", nil
	}
	reason := fmt.Sprintf("superseded by a newer run of pull request #%d (head %s, delivery %s)", p.Spec.PullRequest, short(p.Spec.HeadSHA), d.Name)
	if _, err := r.cancelPullRequestRuns(ctx, app, p.Spec.PullRequest, d.Name, reason); err != nil {
		return "", err
	}
	if err := r.createRun(ctx, app, pr); err != nil {
		return "", err
	}
	out.admit(app)
	r.logger().Info("preview run triggered", "application", app.Name, "pullRequest", p.Spec.PullRequest, "pipelineRun", pr.Name)
	err = r.updatePreviewStatus(ctx, p, func(st *v1alpha1.PreviewStatus) {
		st.PipelineRun = pr.Name
		meta.SetStatusCondition(&st.Conditions, metav1.Condition{Type: v1alpha1.ConditionReady, Status: metav1.ConditionFalse,
			Reason: v1alpha1.ReasonProgressing, Message: "preview run " + pr.Name + " of head " + short(p.Spec.HeadSHA)})
	})
	return pr.Name, err
}

// cancelPullRequestRuns cancels an Application's unfinished runs of one pull request, except
// those of the Delivery keep.
func (r *Reconciler) cancelPullRequestRuns(ctx context.Context, app *v1alpha1.Application, number int64, keep, reason string) (int, error) {
	var list tektonv1.PipelineRunList
	if err := r.reader().List(ctx, &list, client.InNamespace(app.Namespace), client.MatchingLabels{
		v1alpha1.LabelApplication: app.Name, v1alpha1.LabelFlow: FlowPreview,
		v1alpha1.LabelPullRequest: strconv.FormatInt(number, 10),
	}); err != nil {
		return 0, fmt.Errorf("list runs of pull request #%d: %w", number, err)
	}
	n := 0
	for i := range list.Items {
		pr := &list.Items[i]
		if !inFlight(pr) || pr.Labels[v1alpha1.LabelDelivery] == keep {
			continue
		}
		if err := r.cancelRun(ctx, pr, keep, reason); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// upsertPreview creates or moves the Preview of the Delivery's pull request. It returns a
// non-empty stale message, and changes nothing, when the Delivery is older than what the
// Preview already records (see supersedes).
func (r *Reconciler) upsertPreview(ctx context.Context, d *v1alpha1.Delivery, app *v1alpha1.Application, closing bool) (*v1alpha1.Preview, string, error) {
	pr := d.Spec.PullRequest
	key := client.ObjectKey{Namespace: app.Namespace, Name: PreviewName(app.Name, pr.Number)}
	var p v1alpha1.Preview
	err := r.Client.Get(ctx, key, &p)
	switch {
	case apierrors.IsNotFound(err):
		p = v1alpha1.Preview{
			ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name, Labels: map[string]string{
				v1alpha1.LabelApplication: app.Name, v1alpha1.LabelPullRequest: strconv.FormatInt(pr.Number, 10)}},
			Spec: v1alpha1.PreviewSpec{Application: app.Name, PullRequest: pr.Number},
		}
		if err := controllerutil.SetOwnerReference(app, &p, r.Client.Scheme()); err != nil {
			return nil, "", fmt.Errorf("own preview %s: %w", p.Name, err)
		}
	case err != nil:
		return nil, "", fmt.Errorf("get preview %s: %w", key.Name, err)
	}

	u := deliveryUpdate(d)
	if p.Status.HeadDelivery == d.Name {
		return &p, "", nil // this Delivery already moved the Preview (a retry)
	}
	if p.Status.HeadReceivedAt != nil {
		head := refUpdate{before: p.Annotations[v1alpha1.AnnotationBefore], after: p.Spec.HeadSHA, receivedAt: p.Status.HeadReceivedAt.Time}
		if !supersedes(u, head) {
			return &p, fmt.Sprintf("pull request #%d already moved on to head %s (delivery %s); this older delivery changes nothing",
				pr.Number, short(p.Spec.HeadSHA), p.Status.HeadDelivery), nil
		}
	}
	if c := p.Status.ClosedAt; c != nil && !closing && d.Spec.ReceivedAt.Before(c) {
		return &p, fmt.Sprintf("pull request #%d was closed after this delivery was sent", pr.Number), nil
	}

	if !closing {
		p.Spec.HeadSHA, p.Spec.HeadRef, p.Spec.Fork = u.after, pr.HeadRef, pr.Fork
		if d.Spec.Event != "pr-updated" || p.Spec.Author == "" {
			p.Spec.Author = d.Spec.Author // the pull request's author; on updates, the pusher
		}
		metav1.SetMetaDataAnnotation(&p.ObjectMeta, v1alpha1.AnnotationBefore, u.before)
	}
	if p.CreationTimestamp.IsZero() {
		if err := r.Client.Create(ctx, &p); err != nil {
			return nil, "", fmt.Errorf("create preview %s: %w", p.Name, err)
		}
	} else if err := r.Client.Update(ctx, &p); err != nil {
		return nil, "", fmt.Errorf("update preview %s: %w", p.Name, err)
	}
	at := d.Spec.ReceivedAt
	err = r.updatePreviewStatus(ctx, &p, func(st *v1alpha1.PreviewStatus) {
		st.HeadReceivedAt, st.HeadDelivery = &at, d.Name
		st.ClosedAt = nil
		if closing {
			st.ClosedAt = &at
		}
	})
	return &p, "", err
}

func (r *Reconciler) setPreviewReady(ctx context.Context, p *v1alpha1.Preview, reason, msg string) error {
	return r.updatePreviewStatus(ctx, p, func(st *v1alpha1.PreviewStatus) {
		meta.SetStatusCondition(&st.Conditions, metav1.Condition{Type: v1alpha1.ConditionReady,
			Status: metav1.ConditionFalse, Reason: reason, Message: msg})
	})
}

// updatePreviewStatus applies mutate to the latest copy of p's status and leaves p up to date.
func (r *Reconciler) updatePreviewStatus(ctx context.Context, p *v1alpha1.Preview, mutate func(*v1alpha1.PreviewStatus)) error {
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		if err := r.Client.Get(ctx, client.ObjectKeyFromObject(p), p); err != nil {
			return err
		}
		mutate(&p.Status)
		return r.Client.Status().Update(ctx, p)
	})
	if err != nil {
		return fmt.Errorf("update preview %s status: %w", p.Name, err)
	}
	return nil
}

// PreviewRun builds the PipelineRun that builds a Preview's head commit for Delivery d (the pull
// request event, or the comment that approved or retested it), validated like DeployRun's.
func PreviewRun(ctx context.Context, d *v1alpha1.Delivery, app *v1alpha1.Application, p *v1alpha1.Preview, cfg Config) (*tektonv1.PipelineRun, error) {
	number := strconv.FormatInt(p.Spec.PullRequest, 10)
	return flowRun(ctx, d, app, cfg, runSpec{
		flow:     FlowPreview,
		pipeline: pipelines.Preview,
		repoURL:  orDefault(d.Spec.RepoURL, app.Spec.Source.RepoURL),
		revision: p.Spec.HeadSHA,
		fetchRef: pullRequestRef(app.Spec.Source.Provider, p),
		ref:      "pull/" + number,
		before:   p.Annotations[v1alpha1.AnnotationBefore],
		imageDir: "previews",
		params:   map[string]string{"pull-request": number},
		labels:   map[string]string{v1alpha1.LabelPullRequest: number},
	})
}

// sortedParams turns a map of params into Tekton params in name order.
func sortedParams(params map[string]string) tektonv1.Params {
	names := make([]string, 0, len(params))
	for k := range params {
		names = append(names, k)
	}
	sort.Strings(names)
	var ps tektonv1.Params
	for _, k := range names {
		ps = append(ps, tektonv1.Param{Name: k, Value: *tektonv1.NewStructuredValues(params[k])})
	}
	return ps
}

// pullRequestRef is the ref a pull request's head commit can be fetched from in the base
// repository, so that an abbreviated head SHA (Bitbucket sends 12 digits) can be resolved:
// GitHub, Gitea and Forgejo publish refs/pull/<n>/head, GitLab refs/merge-requests/<n>/head;
// Bitbucket publishes none, so the source branch is used (pull requests from forks then need a
// full SHA).
func pullRequestRef(provider string, p *v1alpha1.Preview) string {
	n := strconv.FormatInt(p.Spec.PullRequest, 10)
	switch provider {
	case "gitlab":
		return "refs/merge-requests/" + n + "/head"
	case "bitbucket":
		if p.Spec.HeadRef == "" {
			return ""
		}
		return "refs/heads/" + p.Spec.HeadRef
	}
	return "refs/pull/" + n + "/head"
}
