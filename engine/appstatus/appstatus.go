// Package appstatus keeps the syncer's targets in step with Applications and writes every sync's
// outcome back to the Application and the Release it deployed. Both compositions (the embedded
// dev environment and the in-cluster syncer) use it.
package appstatus

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"slipway.dev/slipway/engine/api/v1alpha1"
	"slipway.dev/slipway/engine/deploy"
	"slipway.dev/slipway/engine/syncer"
)

// Syncer is the part of the syncer a Reporter drives.
type Syncer interface {
	SetTargets(ts ...syncer.Target)
	Notify(names ...string)
}

// Reporter keeps one syncer target per Application environment, writes each sync's outcome back
// to the Application and its Release, and keeps nudging targets that are still progressing so
// that Available shows up without waiting for the sync interval. It also nudges a target as
// soon as an Application records a new config-repo revision for it, so a syncer in another
// process than the committer need not wait for its interval either.
type Reporter struct {
	// Client reads Applications and writes their and their Releases' status.
	Client client.Client
	// Syncer receives the targets; set it before the manager starts.
	Syncer Syncer
	// Branch is the config repo branch every target reads.
	Branch string
	// Log receives errors writing status; nil discards them.
	Log *slog.Logger

	mu          sync.Mutex
	progressing map[string]bool
	byName      map[string]targetKey // target name -> what it deploys
	revisions   map[string]string    // target name -> config revision last seen on the Application
	movedAt     map[string]time.Time // target name -> when that revision was first seen
}

// targetKey names the Application environment a syncer target deploys.
type targetKey struct{ namespace, app, env string }

func targetName(app *v1alpha1.Application, env string) string {
	return app.Namespace + "." + app.Name + "." + env
}

// SetupWithManager registers the Reporter as a controller of Applications.
func (t *Reporter) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).Named("targets").For(&v1alpha1.Application{}).Complete(t)
}

// Reconcile recomputes every target whenever any Application changes.
func (t *Reporter) Reconcile(ctx context.Context, _ ctrl.Request) (ctrl.Result, error) {
	var apps v1alpha1.ApplicationList
	if err := t.Client.List(ctx, &apps); err != nil {
		return ctrl.Result{}, fmt.Errorf("list applications: %w", err)
	}
	var ts []syncer.Target
	byName := map[string]targetKey{}
	revisions := map[string]string{}
	for i := range apps.Items {
		a := &apps.Items[i]
		if a.DeletionTimestamp != nil {
			continue
		}
		for _, e := range a.Spec.Environments {
			if !committed(a, e.Name) {
				continue // nothing in the config repo yet: no target, so no "not found" syncs
			}
			byName[targetName(a, e.Name)] = targetKey{a.Namespace, a.Name, e.Name}
			revisions[targetName(a, e.Name)] = configRevision(a, e.Name)
			ts = append(ts, syncer.Target{
				Name:      targetName(a, e.Name),
				Branch:    t.Branch,
				Dir:       deploy.Dir(e.Name, a.Name),
				Namespace: deploy.Namespace(a, e),
			})
		}
	}
	sort.Slice(ts, func(i, j int) bool { return ts[i].Name < ts[j].Name })
	t.mu.Lock()
	t.byName = byName
	var moved []string
	movedAt := map[string]time.Time{}
	for name, rev := range revisions {
		if old, ok := t.revisions[name]; ok && old != rev {
			moved = append(moved, name)
			movedAt[name] = time.Now()
		} else if at, ok := t.movedAt[name]; ok {
			movedAt[name] = at
		}
	}
	t.revisions, t.movedAt = revisions, movedAt
	t.mu.Unlock()
	t.Syncer.SetTargets(ts...)
	if len(moved) > 0 {
		sort.Strings(moved)
		t.Syncer.Notify(moved...)
	}
	return ctrl.Result{}, nil
}

// committed reports whether a release of app has been committed to env's directory.
func committed(app *v1alpha1.Application, env string) bool {
	return configRevision(app, env) != ""
}

// configRevision is the config-repo commit last recorded for app in env.
func configRevision(app *v1alpha1.Application, env string) string {
	for _, st := range app.Status.Environments {
		if st.Name == env {
			return st.ConfigRevision
		}
	}
	return ""
}

// Nudge re-syncs progressing targets every interval until ctx ends.
func (t *Reporter) Nudge(ctx context.Context, every time.Duration) {
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		t.mu.Lock()
		var names []string
		for n := range t.progressing {
			names = append(names, n)
		}
		t.mu.Unlock()
		if len(names) > 0 {
			t.Syncer.Notify(names...)
		}
	}
}

// Report writes one sync result to the Application's environment status and to the Release
// deployed there; it is the syncer's Reporter.
func (t *Reporter) Report(ctx context.Context, tg syncer.Target, r syncer.Result) {
	t.mu.Lock()
	key, ok := t.byName[tg.Name]
	moved := t.movedAt[tg.Name]
	t.mu.Unlock()
	if !ok {
		return // the target was removed while it synced
	}
	if r.Started.Before(moved) {
		// The sync began before the Application recorded the revision it now runs (a new
		// Release, or a rollback): its outcome may be the previous revision's, and must not be
		// shown as the new one's. The target was nudged when the revision moved; that sync
		// reports.
		return
	}
	ns, appName, env := key.namespace, key.app, key.env
	if r.Revision == "" && r.Err != nil && strings.Contains(r.Err.Error(), "not found") {
		return // nothing committed for this environment yet
	}
	syncState, msg := "Synced", ""
	switch {
	case r.Err != nil && strings.Contains(r.Err.Error(), syncer.ErrRefused.Error()):
		syncState, msg = "Refused", r.Err.Error()
	case r.Err != nil:
		syncState, msg = "Failed", r.Err.Error()
	}
	health := string(r.Health)
	t.mu.Lock()
	if t.progressing == nil {
		t.progressing = map[string]bool{}
	}
	if r.Err == nil && health != "Healthy" {
		t.progressing[tg.Name] = true
	} else {
		delete(t.progressing, tg.Name)
	}
	t.mu.Unlock()

	var relName string
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		var app v1alpha1.Application
		if err := t.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: appName}, &app); err != nil {
			return client.IgnoreNotFound(err)
		}
		now := metav1.Now()
		var st *v1alpha1.EnvironmentStatus
		for i := range app.Status.Environments {
			if app.Status.Environments[i].Name == env {
				st = &app.Status.Environments[i]
			}
		}
		if st == nil {
			app.Status.Environments = append(app.Status.Environments, v1alpha1.EnvironmentStatus{Name: env})
			st = &app.Status.Environments[len(app.Status.Environments)-1]
		}
		st.Sync, st.Health, st.Message, st.LastSyncTime = syncState, health, msg, &now
		relName = st.Release
		ready := metav1.Condition{Type: v1alpha1.ConditionReady, Status: metav1.ConditionFalse,
			Reason: v1alpha1.ReasonProgressing, Message: fmt.Sprintf("%s: sync %s, health %s", env, syncState, health)}
		if syncState == "Synced" && health == "Healthy" {
			ready.Status, ready.Reason, ready.Message = metav1.ConditionTrue, v1alpha1.ReasonSucceeded, fmt.Sprintf("%s is available in %s", st.Release, env)
		} else if syncState != "Synced" {
			ready.Reason, ready.Message = v1alpha1.ReasonFailed, fmt.Sprintf("%s: %s", env, msg)
		}
		meta.SetStatusCondition(&app.Status.Conditions, ready)
		return t.Client.Status().Update(ctx, &app)
	})
	if err != nil {
		t.logger().Error("update application status", "application", appName, "err", err)
		return
	}
	if relName == "" {
		return
	}
	phase := deploy.PhaseSynced
	switch {
	case syncState == "Refused":
		phase = deploy.PhaseRefused
	case syncState == "Failed":
		phase = deploy.PhaseFailed
	case health == "Healthy":
		phase = deploy.PhaseAvailable
	}
	err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
		var rel v1alpha1.Release
		if err := t.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: relName}, &rel); err != nil {
			return client.IgnoreNotFound(err)
		}
		changed := false
		for i := range rel.Status.Environments {
			e := &rel.Status.Environments[i]
			if e.Name != env || e.Phase == phase || e.Phase == deploy.PhaseAvailable && phase == deploy.PhaseSynced {
				continue
			}
			now := metav1.Now()
			e.Phase, e.Message, e.UpdatedAt, changed = phase, msg, &now, true
		}
		if phase == deploy.PhaseAvailable {
			changed = meta.SetStatusCondition(&rel.Status.Conditions, metav1.Condition{Type: v1alpha1.ConditionReady,
				Status: metav1.ConditionTrue, Reason: v1alpha1.ReasonSucceeded, Message: "available in " + env}) || changed
		}
		if !changed {
			return nil
		}
		return t.Client.Status().Update(ctx, &rel)
	})
	if err != nil {
		t.logger().Error("update release status", "release", relName, "err", err)
	}
}

func (t *Reporter) logger() *slog.Logger {
	if t.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return t.Log
}
