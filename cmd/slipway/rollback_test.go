package main

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"slipway.dev/slipway/engine/api/v1alpha1"
	"slipway.dev/slipway/engine/crds"
	"slipway.dev/slipway/engine/deploy"
	"slipway.dev/slipway/engine/devenv"
	"slipway.dev/slipway/engine/localkube"
)

// TestRollbackCommand runs `slipway rollback` against a real API server: it marks the Release
// it chose for the deploy reconciler, and with --wait follows the Application's status until the
// release is synced and Healthy, or fails with the syncer's reason or at the deadline.
func TestRollbackCommand(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a local kube-apiserver")
	}
	bin, err := localkube.BinDir()
	if err != nil {
		t.Fatal(err)
	}
	cluster, err := localkube.Start(t.Context(), localkube.Options{
		BinDir: bin, StateDir: t.TempDir(), Components: localkube.APIServerOnly, NoFsync: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := cluster.Stop(); err != nil {
			t.Error(err)
		}
	})
	docs, err := crds.Slipway()
	if err != nil {
		t.Fatal(err)
	}
	if err := localkube.InstallCRDs(t.Context(), cluster.Config(), docs...); err != nil {
		t.Fatal(err)
	}
	scheme, err := devenv.Scheme()
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.New(cluster.Config(), client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	kc := cluster.KubeconfigPath()
	ctx := t.Context()

	app := &v1alpha1.Application{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "hello"},
		Spec: v1alpha1.ApplicationSpec{
			Source:       v1alpha1.SourceSpec{Provider: "github", RepoURL: "https://github.com/acme/hello.git"},
			Services:     []v1alpha1.Service{{Name: "web"}},
			Environments: []v1alpha1.Environment{{Name: "dev"}, {Name: "prod"}},
		},
	}
	if err := c.Create(ctx, app); err != nil {
		t.Fatal(err)
	}
	for n := 1; n <= 3; n++ {
		rel := &v1alpha1.Release{
			ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: fmt.Sprintf("hello-%d", n)},
			Spec: v1alpha1.ReleaseSpec{Application: "hello", SourceSHA: fmt.Sprintf("%040x", n),
				Image: fmt.Sprintf("registry.local/hello@sha256:%064x", n)},
		}
		if err := c.Create(ctx, rel); err != nil {
			t.Fatal(err)
		}
		if n == 3 {
			break // built, never deployed
		}
		rel.Status.Environments = []v1alpha1.ReleaseEnvironment{{Name: "dev", Phase: deploy.PhaseAvailable, ConfigRevision: fmt.Sprintf("%040x", 100+n)}}
		if err := c.Status().Update(ctx, rel); err != nil {
			t.Fatal(err)
		}
		time.Sleep(1100 * time.Millisecond) // creation timestamps order the releases; they have one-second resolution
	}
	setEnv := func(st v1alpha1.EnvironmentStatus) error {
		var a v1alpha1.Application
		if err := c.Get(ctx, client.ObjectKeyFromObject(app), &a); err != nil {
			return err
		}
		st.Name = "dev"
		a.Status.Environments = []v1alpha1.EnvironmentStatus{st}
		return c.Status().Update(ctx, &a)
	}
	if err := setEnv(v1alpha1.EnvironmentStatus{Release: "hello-2", Sync: "Synced", Health: "Healthy"}); err != nil {
		t.Fatal(err)
	}
	requested := func(rel string) (string, error) {
		var r v1alpha1.Release
		err := c.Get(ctx, client.ObjectKey{Namespace: "default", Name: rel}, &r)
		return r.Annotations[deploy.AnnotationRollbackPrefix+"dev"], err
	}
	// answer plays the deploy reconciler and the syncer: once rel is asked for again, it records
	// it on the Application, then the sync's outcome. Wait for it with the function returned.
	answer := func(t *testing.T, rel, sync, health, msg string) (wait func()) {
		t.Helper()
		before, err := requested(rel)
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() {
			for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
				now, err := requested(rel)
				if err != nil {
					done <- err
					return
				}
				if now != before {
					done <- errors.Join(setEnv(v1alpha1.EnvironmentStatus{Release: rel, Sync: "Pending"}),
						setEnv(v1alpha1.EnvironmentStatus{Release: rel, Sync: sync, Health: health, Message: msg}))
					return
				}
			}
			done <- fmt.Errorf("no new rollback request for %s", rel)
		}()
		return func() {
			if err := <-done; err != nil {
				t.Error(err)
			}
		}
	}

	t.Run("without waiting: the previous release is requested", func(t *testing.T) {
		out, err := run("rollback", "hello", "--env", "dev", "--kubeconfig", kc, "--wait", "0")
		if err != nil {
			t.Fatal(err)
		}
		if want := "rolling hello in dev back to hello-1 (registry.local/hello@sha256:" + fmt.Sprintf("%064x", 1) + ")\n"; out != want {
			t.Errorf("output %q, want %q", out, want)
		}
		if req, err := requested("hello-1"); err != nil || req == "" {
			t.Errorf("hello-1 carries no rollback request for dev (%v)", err)
		}
	})
	t.Run("the deadline passes", func(t *testing.T) {
		out, err := run("rollback", "hello", "--env", "dev", "--kubeconfig", kc, "--wait", "1s")
		if err == nil || !strings.Contains(err.Error(), "rollback of dev to hello-1 requested, but not synced and healthy within 1s (last: dev: release hello-2, sync Synced, health Healthy)") {
			t.Fatalf("err = %v, output %q", err, out)
		}
	})
	t.Run("synced and healthy", func(t *testing.T) {
		defer answer(t, "hello-1", "Synced", "Healthy", "")()
		out, err := run("rollback", "hello", "--env", "dev", "--kubeconfig", kc, "--wait", "1m")
		if err != nil {
			t.Fatalf("%v; output:\n%s", err, out)
		}
		if !strings.HasSuffix(out, "dev: release hello-1, sync Synced, health Healthy\n") {
			t.Errorf("output does not end with the healthy state:\n%s", out)
		}
	})
	t.Run("the syncer refuses", func(t *testing.T) {
		defer answer(t, "hello-2", "Refused", "", "sync refused: image verification: no signature found")()
		_, err := run("rollback", "hello", "--env", "dev", "--to", "hello-2", "--kubeconfig", kc, "--wait", "1m")
		if err == nil || !strings.Contains(err.Error(), "rollback of dev to hello-2: sync Refused: sync refused: image verification: no signature found") {
			t.Fatalf("err = %v, want the refusal", err)
		}
	})
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no env", []string{"rollback", "hello"}, "--env is required"},
		{"no app", []string{"rollback", "--env", "dev"}, "accepts 1 arg"},
		{"unknown env", []string{"rollback", "hello", "--env", "qa"}, `application hello has no environment "qa" (it has: dev, prod)`},
		{"unknown app", []string{"rollback", "bye", "--env", "dev"}, `application "bye" not found in namespace "default"`},
		{"unknown release", []string{"rollback", "hello", "--env", "dev", "--to", "hello-9"}, `release "hello-9" not found`},
		{"release that never ran there", []string{"rollback", "hello", "--env", "dev", "--to", "hello-3"}, "release hello-3 never ran in dev"},
		{"nothing deployed", []string{"rollback", "hello", "--env", "prod"}, "nothing of hello is deployed to prod"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := run(append(tc.args, "--kubeconfig", kc, "--wait", "0")...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}
