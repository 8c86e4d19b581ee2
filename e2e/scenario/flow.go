package scenario

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	tektonv1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	corev1 "k8s.io/api/core/v1"
	"knative.dev/pkg/apis"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"slipway.dev/slipway/engine/api/v1alpha1"
	"slipway.dev/slipway/engine/inbox"
	"slipway.dev/slipway/webhooks/event"
)

// Push is one delivered push: what was pushed and what the receiver answered.
type Push struct {
	Before, After string
	DeliveryID    string
	Delivery      string // the Delivery resource's name
	Body          []byte
	Status        int
	Acked         time.Duration
}

// NewDeliveryID returns a random GitHub-style delivery id (a UUID).
func NewDeliveryID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	h := hex.EncodeToString(b)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// SendPush signs and posts a GitHub push webhook for before..after of repoURL.
func SendPush(ctx context.Context, d *Dev, template, repoURL, before, after string, secret []byte) (Push, error) {
	p := Push{Before: before, After: after, DeliveryID: NewDeliveryID()}
	p.Delivery = inbox.DeliveryName(event.GitHub, p.DeliveryID)
	body, err := PushPayload(template, repoURL, "local/"+strings.TrimSuffix(filepath.Base(repoURL), ".git"), before, after)
	if err != nil {
		return p, err
	}
	p.Body = body
	start := time.Now()
	status, resp, err := Post(ctx, d.WebhookURL+"/hooks/github", GitHubHeaders(p.DeliveryID, secret, body), body)
	p.Acked, p.Status = time.Since(start), status
	if err != nil {
		return p, fmt.Errorf("post webhook: %w", err)
	}
	if status != 202 {
		return p, fmt.Errorf("webhook answered %d, want 202: %s", status, resp)
	}
	return p, nil
}

// Stages are the milestones of one delivery, in order.
var Stages = []string{"delivery recorded", "pipeline run created", "image built and pushed",
	"release created", "committed to config repo", "synced", "deployment available"}

// Follow waits for each stage of a delivery to app in environment env and calls stage as each
// is reached. It returns the Release that became available.
func Follow(ctx context.Context, d *Dev, app *v1alpha1.Application, env string, p Push, stage func(name string)) (*v1alpha1.Release, error) {
	c, ns := d.Client, app.Namespace
	var runName string
	var rel v1alpha1.Release
	steps := []func(ctx context.Context) (bool, error){
		func(ctx context.Context) (bool, error) {
			var del v1alpha1.Delivery
			err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: p.Delivery}, &del)
			return err == nil, client.IgnoreNotFound(err)
		},
		func(ctx context.Context) (bool, error) {
			runs, err := RunsFor(ctx, c, ns, p.Delivery)
			if err != nil || len(runs) == 0 {
				return false, err
			}
			runName = runs[0].Name
			return true, nil
		},
		func(ctx context.Context) (bool, error) {
			var pr tektonv1.PipelineRun
			if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: runName}, &pr); err != nil {
				return false, err
			}
			cond := pr.Status.GetCondition(apis.ConditionSucceeded)
			if cond != nil && cond.Status == corev1.ConditionFalse {
				return false, fmt.Errorf("pipeline run %s failed: %s (see `slipway logs %s --dir %s`)", runName, cond.Message, runName, d.Dir)
			}
			return cond != nil && cond.Status == corev1.ConditionTrue, nil
		},
		func(ctx context.Context) (bool, error) {
			var list v1alpha1.ReleaseList
			if err := c.List(ctx, &list, client.InNamespace(ns), client.MatchingLabels{v1alpha1.LabelSHA: p.After}); err != nil {
				return false, err
			}
			for _, r := range list.Items {
				if r.Spec.Application == app.Name {
					rel = r
					return true, nil
				}
			}
			return false, nil
		},
		func(ctx context.Context) (bool, error) {
			return releasePhase(ctx, c, &rel, env, "Committed", "Synced", "Available")
		},
		func(ctx context.Context) (bool, error) { return releasePhase(ctx, c, &rel, env, "Synced", "Available") },
		// The Deployment lives in the environment's namespace and is named after the service.
		func(ctx context.Context) (bool, error) {
			return DeploymentAvailable(ctx, c, app.Name+"-"+env, app.Spec.Services[0].Name, rel.Spec.Image)
		},
	}
	for i, step := range steps {
		if err := Until(ctx, Stages[i], step); err != nil {
			return nil, err
		}
		if stage != nil {
			stage(Stages[i])
		}
	}
	return &rel, nil
}

func releasePhase(ctx context.Context, c client.Client, rel *v1alpha1.Release, env string, phases ...string) (bool, error) {
	if err := c.Get(ctx, client.ObjectKeyFromObject(rel), rel); err != nil {
		return false, err
	}
	for _, e := range rel.Status.Environments {
		if e.Name != env {
			continue
		}
		if e.Phase == "Refused" || e.Phase == "Failed" {
			return false, fmt.Errorf("release %s in %s: %s: %s", rel.Name, env, e.Phase, e.Message)
		}
		for _, p := range phases {
			if e.Phase == p {
				return true, nil
			}
		}
	}
	return false, nil
}
