package syncer

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// TestHealthWithControllers adds kube-controller-manager, kube-scheduler and kwok (with one
// fake node) to envtest's API server, so a Deployment really becomes Available: the syncer
// must then report it Healthy, and prune with foreground propagation (the garbage collector
// runs) must finish. It needs the full hack/k8sbin/build.sh output (SLIPWAY_K8SBIN or the
// user cache).
func TestHealthWithControllers(t *testing.T) {
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
