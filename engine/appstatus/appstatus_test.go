package appstatus_test

import (
	"os"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"slipway.dev/slipway/engine/api/v1alpha1"
	"slipway.dev/slipway/engine/appstatus"
	"slipway.dev/slipway/engine/deploy"
	"slipway.dev/slipway/engine/syncer"
	"slipway.dev/slipway/internal/kubetest"
)

var apiServer = kubetest.New("appstatus")

func TestMain(m *testing.M) { os.Exit(apiServer.Run(m)) }

// A sync that began before the Application recorded a new config revision (a new Release or a
// rollback) must not be reported as that revision's outcome: the rollback would show Healthy
// while the previous Release still runs. The sync after it is.
func TestReportIgnoresSyncsOfThePreviousRevision(t *testing.T) {
	c, ns := apiServer.Namespace(t)
	ctx := t.Context()
	sy, err := syncer.New(apiServer.Config(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	rep := &appstatus.Reporter{Client: c, Syncer: sy, Branch: "main", Log: kubetest.Logger(t)}
	app := &v1alpha1.Application{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "hello"},
		Spec: v1alpha1.ApplicationSpec{
			Source:       v1alpha1.SourceSpec{Provider: "github", RepoURL: "https://github.com/acme/hello.git"},
			Services:     []v1alpha1.Service{{Name: "web"}},
			Environments: []v1alpha1.Environment{{Name: "dev"}},
		},
	}
	if err := c.Create(ctx, app); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"hello-1", "hello-2"} {
		rel := &v1alpha1.Release{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
			Spec: v1alpha1.ReleaseSpec{Application: "hello", SourceSHA: "0123456789abcdef0123456789abcdef01234567",
				Image: "registry.local/hello@sha256:0000000000000000000000000000000000000000000000000000000000000000"}}
		if err := c.Create(ctx, rel); err != nil {
			t.Fatal(err)
		}
		rel.Status.Environments = []v1alpha1.ReleaseEnvironment{{Name: "dev", Phase: deploy.PhaseCommitted, ConfigRevision: name}}
		if err := c.Status().Update(ctx, rel); err != nil {
			t.Fatal(err)
		}
	}
	record := func(rel string) {
		t.Helper()
		if err := c.Get(ctx, client.ObjectKeyFromObject(app), app); err != nil {
			t.Fatal(err)
		}
		app.Status.Environments = []v1alpha1.EnvironmentStatus{{Name: "dev", Release: rel, ConfigRevision: rel, Sync: "Pending"}}
		if err := c.Status().Update(ctx, app); err != nil {
			t.Fatal(err)
		}
		if _, err := rep.Reconcile(ctx, ctrl.Request{}); err != nil {
			t.Fatal(err)
		}
	}
	env := func() v1alpha1.EnvironmentStatus {
		t.Helper()
		if err := c.Get(ctx, client.ObjectKeyFromObject(app), app); err != nil {
			t.Fatal(err)
		}
		return app.Status.Environments[0]
	}
	target := syncer.Target{Name: ns + ".hello.dev", Branch: "main", Dir: deploy.Dir("dev", "hello"), Namespace: "hello-dev"}

	record("hello-1")
	rep.Report(ctx, target, syncer.Result{Target: target.Name, Revision: "hello-1", Health: syncer.HealthHealthy, Started: time.Now()})
	if st := env(); st.Sync != "Synced" || st.Health != "Healthy" {
		t.Fatalf("after hello-1's sync: %+v, want Synced and Healthy", st)
	}

	inFlight := time.Now() // a sync of hello-1's revision, still running when hello-2 is recorded
	time.Sleep(10 * time.Millisecond)
	record("hello-2")
	rep.Report(ctx, target, syncer.Result{Target: target.Name, Revision: "hello-1", Health: syncer.HealthHealthy, Started: inFlight})
	if st := env(); st.Release != "hello-2" || st.Sync != "Pending" || st.Health != "" {
		t.Errorf("after a sync that began before hello-2 was recorded: %+v, want hello-2 still Pending", st)
	}
	rep.Report(ctx, target, syncer.Result{Target: target.Name, Revision: "hello-2", Health: syncer.HealthProgressing, Started: time.Now()})
	if st := env(); st.Release != "hello-2" || st.Sync != "Synced" || st.Health != "Progressing" {
		t.Errorf("after hello-2's own sync: %+v, want Synced and Progressing", st)
	}
}
