package trigger

import (
	"context"
	"fmt"
	"path"
	"strings"

	"slipway.dev/slipway/engine/api/v1alpha1"
	"slipway.dev/slipway/webhooks/event"
)

// tag handles a tag push: one deploy run per Application whose spec.source.tags matches the tag.
// The run builds the delivery's revision through the tag's ref; for an annotated tag that is the
// tag object, which the git-clone task peels to the commit it points at. The Release it makes
// goes to the environments a branch push's would.
func (r *Reconciler) tag(ctx context.Context, d *v1alpha1.Delivery) (*outcome, error) {
	out := &outcome{}
	name, ok := strings.CutPrefix(d.Spec.Ref, "refs/tags/")
	switch {
	case !ok || name == "":
		return out.ignore(v1alpha1.ReasonIgnored, fmt.Sprintf("ref %s is not a tag", d.Spec.Ref)), nil
	case event.IsZeroSHA(d.Spec.After):
		return out.ignore(v1alpha1.ReasonIgnored, "the tag was deleted"), nil
	}
	all, err := r.repoApps(ctx, d)
	if err != nil {
		return nil, err
	}
	var apps []v1alpha1.Application
	for _, a := range all {
		match, err := TagMatches(a.Spec.Source.Tags, name)
		if err != nil {
			out.add(a.Name, FlowDeploy, "", v1alpha1.ReasonInvalidSpec, err.Error())
			continue
		}
		if match {
			apps = append(apps, a)
		}
	}
	if len(apps) == 0 && len(out.notes) == 0 {
		return out.ignore(v1alpha1.ReasonNoApplication, fmt.Sprintf("no Application in namespace %s deploys tag %s of %s (spec.source.tags)",
			d.Namespace, name, d.Spec.RepoURL)), nil
	}
	return r.deployApps(ctx, d, apps, out)
}

// TagMatches reports whether tag matches one of patterns, glob patterns in path.Match syntax
// (v*, v[0-9]*, release/*: a * does not cross a slash). A malformed pattern is an error naming it.
func TagMatches(patterns []string, tag string) (bool, error) {
	for i, p := range patterns {
		ok, err := path.Match(p, tag)
		if err != nil {
			return false, fmt.Errorf("spec.source.tags[%d] %q is not a valid pattern: %w", i, p, err)
		}
		if ok {
			return true, nil
		}
	}
	return false, nil
}
