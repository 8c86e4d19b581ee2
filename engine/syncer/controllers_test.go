package syncer

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// startFullControlPlane adds kube-controller-manager, kube-scheduler and kwok (with one fake
// node) to envtest's API server, so Deployments really become Available. It needs the full
// hack/k8sbin/build.sh output (SLIPWAY_K8SBIN or the user cache).
func startFullControlPlane(t *testing.T) (*rest.Config, kubernetes.Interface) {
	t.Helper()
	if testing.Short() {
		t.Skip("starts a control plane")
	}
	t.Setenv("KUBEBUILDER_ASSETS", "") // the full binary directory is needed, not only envtest's
	assets := k8sAssets(t)
	t.Setenv("KUBEBUILDER_ASSETS", assets)
	bin := filepath.Dir(mustReadlink(t, filepath.Join(assets, "kube-apiserver")))
	for _, b := range []string{"kube-controller-manager", "kube-scheduler", "kwok", "kwok-stages.yaml"} {
		if _, err := os.Stat(filepath.Join(bin, b)); err != nil {
			t.Skipf("no %s in %s", b, bin)
		}
	}
	env := &envtest.Environment{BinaryAssetsDirectory: assets}
	cfg, err := env.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	admin, err := env.AddUser(envtest.User{Name: "local-admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	kubeconfig, err := admin.KubeConfig()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	kcfg := filepath.Join(dir, "admin.kubeconfig")
	if err := os.WriteFile(kcfg, kubeconfig, 0o600); err != nil {
		t.Fatal(err)
	}
	saKey := filepath.Join(env.ControlPlane.APIServer.CertDir, "sa-signer.key")
	start := func(name string, args ...string) {
		cmd := exec.Command(filepath.Join(bin, name), args...)
		logf, err := os.Create(filepath.Join(dir, name+".log"))
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stdout, cmd.Stderr = logf, logf
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			_ = cmd.Process.Kill() // only the process this test started
			_ = cmd.Wait()
			logf.Close()
			if t.Failed() {
				out, _ := os.ReadFile(logf.Name())
				if len(out) > 4000 {
					out = out[len(out)-4000:]
				}
				t.Logf("%s log tail:\n%s", name, out)
			}
		})
	}
	start("kube-controller-manager", "--kubeconfig="+kcfg, "--authentication-kubeconfig="+kcfg,
		"--authorization-kubeconfig="+kcfg, "--bind-address=127.0.0.1", "--secure-port=0",
		"--leader-elect=false", "--service-account-private-key-file="+saKey,
		"--use-service-account-credentials=false", "--controllers=*", "--v=1")
	start("kube-scheduler", "--kubeconfig="+kcfg, "--authentication-kubeconfig="+kcfg,
		"--authorization-kubeconfig="+kcfg, "--bind-address=127.0.0.1", "--secure-port=0",
		"--leader-elect=false", "--v=1")
	start("kwok", "--kubeconfig="+kcfg, "--config="+filepath.Join(bin, "kwok-stages.yaml"),
		"--manage-all-nodes=false", "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
		"--node-ip=10.244.0.1", "--node-port=0", "--server-address=", "--cidr=10.244.0.0/16")

	ctx := t.Context()
	kc := kubernetes.NewForConfigOrDie(cfg)
	if _, err := kc.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{
		Name:        "kwok-node-0",
		Annotations: map[string]string{"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
		Labels:      map[string]string{"kubernetes.io/hostname": "kwok-node-0", "kubernetes.io/os": "linux", "type": "kwok"},
	}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	return cfg, kc
}

// TestHealthWithControllers: the syncer reports a Deployment Healthy once it is Available, and
// prune with foreground propagation (the garbage collector runs) finishes.
func TestHealthWithControllers(t *testing.T) {
	cfg, kc := startFullControlPlane(t)
	ctx := t.Context()
	src := &memSource{}
	s, err := New(cfg, src, WithGarbageCollector(true))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	tgt := Target{Name: "hello-prod", Branch: "main", Dir: "environments/prod/hello", Namespace: "hello-prod"}
	src.set("main", tgt.Dir, nsFile("hello-prod"), deploymentFile("hello-prod", image, 2), serviceFile("hello-prod"))
	began := time.Now()
	r, err := s.SyncOnce(ctx, tgt)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("sync #1 incl. cache sync: %v, health %s", r.Duration.Round(time.Millisecond), r.Health)
	r = waitHealthy(ctx, t, s, tgt, 60*time.Second)
	t.Logf("Healthy %v after the first sync began", time.Since(began).Round(time.Millisecond))
	if d := byKey(r)["Deployment hello-prod/web"]; d.Health != HealthHealthy {
		t.Errorf("deployment health = %s (%s)", d.Health, d.HealthMessage)
	}

	// Foreground prune of a Deployment: the garbage collector deletes its ReplicaSet and Pods
	// first, then the Deployment.
	src.set("main", tgt.Dir, nsFile("hello-prod"), serviceFile("hello-prod"))
	r, err = s.SyncOnce(ctx, tgt)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("sync #2 (foreground prune of the Deployment): %v", r.Duration.Round(time.Millisecond))
	if st := byKey(r)["Deployment hello-prod/web"].Status; st != StatusPruned {
		t.Errorf("deployment status = %s, want Pruned", st)
	}
	waitGone(t, func() error {
		_, err := kc.AppsV1().Deployments("hello-prod").Get(ctx, "web", metav1.GetOptions{})
		return err
	})
}

func waitHealthy(ctx context.Context, t *testing.T, s *Syncer, tgt Target, timeout time.Duration) Result {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		r, err := s.SyncOnce(ctx, tgt)
		if err != nil {
			t.Fatal(err)
		}
		if r.Health == HealthHealthy {
			return r
		}
		if time.Now().After(deadline) {
			t.Fatalf("not Healthy after %v: %+v", timeout, r.Resources)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func mustReadlink(t *testing.T, p string) string {
	t.Helper()
	target, err := os.Readlink(p)
	if err != nil {
		t.Fatal(err)
	}
	return target
}

// TestRunSelfHeals runs the Run loop with an interval far longer than the test, so that every
// repair and every health update below can only come from the cluster cache's watch events:
// deploy to Healthy, update the image, repair replicas changed with a client Update, recreate
// a Service deleted with a client, apply a later sync wave only once the earlier one is
// Healthy, and prune a removed Service.
func TestRunSelfHeals(t *testing.T) {
	cfg, kc := startFullControlPlane(t)
	ctx := t.Context()
	src := &memSource{}
	tgt := Target{Name: "heal-prod", Branch: "main", Dir: "environments/prod/heal", Namespace: "heal-prod"}
	src.set("main", tgt.Dir, nsFile("heal-prod"), deploymentFile("heal-prod", image, 2), serviceFile("heal-prod"))
	reports := make(chan Result, 100)
	s, err := New(cfg, src, WithGarbageCollector(true), WithTargets(tgt), WithInterval(time.Hour),
		WithReporter(func(_ context.Context, _ Target, r Result) { reports <- r }))
	if err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- s.Run(runCtx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	began := time.Now()
	first := waitReport(t, reports, "deploy Healthy", func(r Result) bool { return r.Err == nil && r.Health == HealthHealthy })
	t.Logf("deployed and Healthy after %v (no interval: health reassessed on watch events)", time.Since(began).Round(time.Millisecond))

	// Update: a new image rolls out and is reported Healthy.
	image2 := strings.Replace(image, "@sha256:0", "@sha256:1", 1)
	src.set("main", tgt.Dir, nsFile("heal-prod"), deploymentFile("heal-prod", image2, 2), serviceFile("heal-prod"))
	s.Notify(tgt.Name)
	waitReport(t, reports, "update Healthy", func(r Result) bool {
		return r.Err == nil && r.Revision != first.Revision && r.Health == HealthHealthy && slices.Equal(r.Images, []string{image2})
	})
	dep, err := kc.AppsV1().Deployments("heal-prod").Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := dep.Spec.Template.Spec.Containers[0].Image; got != image2 || dep.Status.UpdatedReplicas != 2 {
		t.Fatalf("deployment image %s, updated replicas %d; want %s, 2", got, dep.Status.UpdatedReplicas, image2)
	}

	// Drift: replicas changed with a client Update are put back without any Notify. The
	// controllers still write the Deployment's status, so the edit retries on a conflict, as
	// kubectl edit asks its user to.
	if err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		d, err := kc.AppsV1().Deployments("heal-prod").Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			return err
		}
		d.Spec.Replicas = ptr(int32(5))
		_, err = kc.AppsV1().Deployments("heal-prod").Update(ctx, d, metav1.UpdateOptions{FieldManager: "kubectl-edit"})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	edited := time.Now()
	waitFor(t, "replicas repaired to 2", func() bool {
		d, err := kc.AppsV1().Deployments("heal-prod").Get(ctx, "web", metav1.GetOptions{})
		return err == nil && *d.Spec.Replicas == 2
	})
	t.Logf("replicas drift repaired %v after the edit", time.Since(edited).Round(time.Millisecond))

	// Deleted with a client: recreated without any Notify.
	if err := kc.CoreV1().Services("heal-prod").Delete(ctx, "web", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	deleted := time.Now()
	waitFor(t, "service recreated", func() bool {
		_, err := kc.CoreV1().Services("heal-prod").Get(ctx, "web", metav1.GetOptions{})
		return err == nil
	})
	t.Logf("deleted service recreated %v after the delete", time.Since(deleted).Round(time.Millisecond))

	// Waves: a ConfigMap in wave 1 is applied only once wave 0 (a second Deployment) is Healthy.
	worker := deploymentFile("heal-prod", image2, 1)
	worker.Path = "deployment-worker.yaml"
	worker.Data = []byte(strings.ReplaceAll(string(worker.Data), "web", "worker"))
	src.set("main", tgt.Dir, nsFile("heal-prod"), deploymentFile("heal-prod", image2, 2), serviceFile("heal-prod"),
		worker, configMapFile("after-worker", "1"))
	s.Notify(tgt.Name)
	waitReport(t, reports, "waves synced", func(r Result) bool {
		return r.Err == nil && byKey(r)["ConfigMap heal-prod/after-worker"].Status == StatusSynced
	})
	w, err := kc.AppsV1().Deployments("heal-prod").Get(ctx, "worker", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cm, err := kc.CoreV1().ConfigMaps("heal-prod").Get(ctx, "after-worker", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var available *metav1.Time
	for _, c := range w.Status.Conditions {
		if c.Type == "Available" && c.Status == corev1.ConditionTrue {
			available = &c.LastTransitionTime
		}
	}
	if available == nil || cm.CreationTimestamp.Before(available) {
		t.Errorf("wave-1 ConfigMap created %v, worker Available since %v: want it created after", cm.CreationTimestamp, available)
	}

	// Prune: the Service removed from the config repo is deleted.
	src.set("main", tgt.Dir, nsFile("heal-prod"), deploymentFile("heal-prod", image2, 2), worker, configMapFile("after-worker", "1"))
	s.Notify(tgt.Name)
	waitReport(t, reports, "service pruned", func(r Result) bool {
		return r.Err == nil && byKey(r)["Service heal-prod/web"].Status == StatusPruned
	})
	waitGone(t, func() error {
		_, err := kc.CoreV1().Services("heal-prod").Get(ctx, "web", metav1.GetOptions{})
		return err
	})
}

func ptr[T any](v T) *T { return &v }

// waitReport reads reports until one satisfies ok, for at most a minute.
func waitReport(t *testing.T, reports <-chan Result, what string, ok func(Result) bool) Result {
	t.Helper()
	deadline := time.After(time.Minute)
	var last Result
	for {
		select {
		case r := <-reports:
			if ok(r) {
				return r
			}
			last = r
		case <-deadline:
			t.Fatalf("%s: no such report within a minute; last %+v", what, last)
		}
	}
}

// waitFor polls cond for at most a minute.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within a minute", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
