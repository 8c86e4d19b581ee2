package syncer

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"slipway.dev/slipway/engine/manifest"
)

// memSource is an in-memory config repo: one list of files per branch and directory, with a
// revision that changes on every write.
type memSource struct {
	mu    sync.Mutex
	rev   int
	files map[string][]manifest.File
}

func (m *memSource) set(branch, dir string, files ...manifest.File) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.files == nil {
		m.files = map[string][]manifest.File{}
	}
	m.rev++
	m.files[branch+":"+dir] = files
}

func (m *memSource) Read(_ context.Context, branch, dir string) (string, []manifest.File, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	f, ok := m.files[branch+":"+dir]
	if !ok {
		return "", nil, fmt.Errorf("no directory %s on %s", dir, branch)
	}
	return fmt.Sprintf("rev%040d", m.rev), slices.Clone(f), nil
}

// refuser is a Verifier that rejects everything and remembers what it was asked.
type refuser struct {
	mu  sync.Mutex
	got []string
}

func (r *refuser) VerifyImages(_ context.Context, imgs []string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = imgs
	return errors.New("no valid signature from a trusted key")
}

const image = "registry.local/hello@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

func nsFile(ns string) manifest.File {
	return manifest.File{Path: "namespace.yaml", Data: fmt.Appendf(nil, "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: %s\n", ns)}
}

func deploymentFile(ns, img string, replicas int) manifest.File {
	return manifest.File{Path: "deployment-web.yaml", Data: fmt.Appendf(nil, `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: %s
spec:
  replicas: %d
  selector:
    matchLabels: {app.kubernetes.io/name: web}
  template:
    metadata:
      labels: {app.kubernetes.io/name: web}
    spec:
      containers:
        - name: web
          image: %s
          ports: [{name: http, containerPort: 8080}]
`, ns, replicas, img)}
}

func serviceFile(ns string) manifest.File {
	// No namespace: the target's is used.
	return manifest.File{Path: "service-web.yaml", Data: []byte(`apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector: {app.kubernetes.io/name: web}
  ports: [{name: http, port: 80, targetPort: http}]
`)}
}

// k8sAssets finds kube-apiserver and etcd: KUBEBUILDER_ASSETS, else SLIPWAY_K8SBIN or the
// newest complete hack/k8sbin/build.sh output in the user cache, linked into a temp directory.
func k8sAssets(t *testing.T) string {
	t.Helper()
	if dir := os.Getenv("KUBEBUILDER_ASSETS"); dir != "" {
		return dir
	}
	bin := os.Getenv("SLIPWAY_K8SBIN")
	if bin == "" {
		home, _ := os.UserCacheDir()
		dirs, _ := filepath.Glob(filepath.Join(home, "slipway", "k8sbin", "v*"))
		for _, d := range slices.Backward(dirs) {
			if strings.HasSuffix(d, ".tmp") {
				continue
			}
			if _, err := os.Stat(filepath.Join(d, "kube-apiserver")); err == nil {
				bin = d
				break
			}
		}
	}
	if bin == "" {
		t.Skip("no control plane binaries: set KUBEBUILDER_ASSETS or SLIPWAY_K8SBIN (run hack/k8sbin/build.sh)")
	}
	dir := t.TempDir()
	for _, b := range []string{"kube-apiserver", "etcd"} {
		if err := os.Symlink(filepath.Join(bin, b), filepath.Join(dir, b)); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func startControlPlane(t *testing.T) *rest.Config {
	t.Helper()
	if testing.Short() {
		t.Skip("starts kube-apiserver and etcd")
	}
	env := &envtest.Environment{BinaryAssetsDirectory: k8sAssets(t)}
	start := time.Now()
	cfg, err := env.Start()
	if err != nil {
		t.Fatalf("start envtest: %v", err)
	}
	t.Logf("control plane ready in %v", time.Since(start).Round(time.Millisecond))
	t.Cleanup(func() {
		if err := env.Stop(); err != nil {
			t.Errorf("stop envtest: %v", err)
		}
	})
	return cfg
}

func byKey(r Result) map[string]ResourceResult {
	m := map[string]ResourceResult{}
	for _, rr := range r.Resources {
		m[rr.String()] = rr
	}
	return m
}

// TestSyncer runs the syncer against a real kube-apiserver (envtest: no controller-manager,
// so Deployments stay Progressing and the tests assert on sync results, not on health).
func TestSyncer(t *testing.T) {
	cfg := startControlPlane(t)
	kc := kubernetes.NewForConfigOrDie(cfg)
	ctx := t.Context()
	src := &memSource{}
	s, err := New(cfg, src)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	start := time.Now()
	if err := s.cache.EnsureSynced(); err != nil {
		t.Fatal(err)
	}
	t.Logf("cluster cache synced in %v", time.Since(start).Round(time.Millisecond))

	t.Run("create, prune, drift", func(t *testing.T) {
		tgt := Target{Name: "hello-dev", Branch: "main", Dir: "environments/dev/hello", Namespace: "hello-dev"}
		src.set("main", tgt.Dir, nsFile("hello-dev"), deploymentFile("hello-dev", image, 2), serviceFile("hello-dev"))

		// An object the syncer did not create, in the same namespace, must survive every prune.
		r, err := s.SyncOnce(ctx, tgt)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("sync #1 (create): %v", r.Duration.Round(time.Millisecond))
		got := byKey(r)
		for _, k := range []string{"Namespace hello-dev", "Deployment hello-dev/web", "Service hello-dev/web"} {
			if got[k].Status != StatusSynced {
				t.Errorf("%s: status %q (%s), want Synced", k, got[k].Status, got[k].Message)
			}
		}
		if len(r.Resources) != 3 {
			t.Errorf("got %d results, want 3: %v", len(r.Resources), r.Resources)
		}
		if h := got["Service hello-dev/web"].Health; h != HealthHealthy {
			t.Errorf("service health = %q, want Healthy", h)
		}
		if h := got["Deployment hello-dev/web"].Health; h != HealthProgressing {
			t.Errorf("deployment health without a controller-manager = %q, want Progressing", h)
		}
		if !slices.Equal(r.Images, []string{image}) {
			t.Errorf("images = %v", r.Images)
		}
		dep, err := kc.AppsV1().Deployments("hello-dev").Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if dep.Annotations[AnnotationTarget] != tgt.Name {
			t.Errorf("deployment annotations = %v", dep.Annotations)
		}
		if !slices.ContainsFunc(dep.ManagedFields, func(m metav1.ManagedFieldsEntry) bool {
			return m.Manager == "slipway" && m.Operation == metav1.ManagedFieldsOperationApply
		}) {
			t.Errorf("deployment not server-side applied by slipway: %v", dep.ManagedFields)
		}
		if _, err := kc.CoreV1().ConfigMaps("hello-dev").Create(ctx, &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Name: "not-ours"},
		}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}

		// Sync #2: the Service is gone from the config repo, so it is pruned.
		src.set("main", tgt.Dir, nsFile("hello-dev"), deploymentFile("hello-dev", image, 2))
		r, err = s.SyncOnce(ctx, tgt)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("sync #2 (prune): %v", r.Duration.Round(time.Millisecond))
		if st := byKey(r)["Service hello-dev/web"].Status; st != StatusPruned {
			t.Errorf("service status = %q, want Pruned; results %v", st, r.Resources)
		}
		waitGone(t, func() error {
			_, err := kc.CoreV1().Services("hello-dev").Get(ctx, "web", metav1.GetOptions{})
			return err
		})
		if _, err := kc.CoreV1().ConfigMaps("hello-dev").Get(ctx, "not-ours", metav1.GetOptions{}); err != nil {
			t.Errorf("an object the syncer did not apply was touched: %v", err)
		}

		// Drift: someone scales the Deployment by hand; the next sync puts it back.
		dep, err = kc.AppsV1().Deployments("hello-dev").Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		five := int32(5)
		dep.Spec.Replicas = &five
		if _, err := kc.AppsV1().Deployments("hello-dev").Update(ctx, dep, metav1.UpdateOptions{FieldManager: "kubectl-edit"}); err != nil {
			t.Fatal(err)
		}
		r, err = s.SyncOnce(ctx, tgt)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("sync #3 (drift repair): %v", r.Duration.Round(time.Millisecond))
		dep, err = kc.AppsV1().Deployments("hello-dev").Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if *dep.Spec.Replicas != 2 {
			t.Errorf("replicas after drift repair = %d, want 2", *dep.Spec.Replicas)
		}
	})

	t.Run("sync waves in order, namespace first", func(t *testing.T) {
		tgt := Target{Name: "waves-dev", Branch: "main", Dir: "environments/dev/waves", Namespace: "waves-dev"}
		// File names sort against the waves, so only the annotations can give the order.
		src.set("main", tgt.Dir, configMapFile("a-late", "2"), configMapFile("b-early", "-1"),
			configMapFile("c-default", ""), nsFile("waves-dev"))
		r, err := s.SyncOnce(ctx, tgt)
		if err != nil {
			t.Fatal(err)
		}
		if len(r.Resources) != 4 {
			t.Fatalf("results %v, want 4", r.Resources)
		}
		// Every object here is written once, so its resourceVersion is the etcd revision of its
		// creation, which orders creations across kinds.
		rv := map[string]int{}
		ns, err := kc.CoreV1().Namespaces().Get(ctx, "waves-dev", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		rv["namespace"] = atoi(t, ns.ResourceVersion)
		for _, name := range []string{"a-late", "b-early", "c-default"} {
			cm, err := kc.CoreV1().ConfigMaps("waves-dev").Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			rv[name] = atoi(t, cm.ResourceVersion)
		}
		if !(rv["namespace"] < rv["b-early"] && rv["b-early"] < rv["c-default"] && rv["c-default"] < rv["a-late"]) {
			t.Errorf("creation order (resourceVersions) %v, want namespace < b-early (wave -1) < c-default (wave 0) < a-late (wave 2)", rv)
		}

		// The same revision again: nothing changes, so health comes from the cluster cache.
		r, err = s.SyncOnce(ctx, tgt)
		if err != nil {
			t.Fatal(err)
		}
		if r.LiveReads != 0 {
			t.Errorf("resync of an applied revision read %d objects from the API server, want 0 (cluster cache)", r.LiveReads)
		}
	})

	t.Run("unpinned image refused, nothing applied", func(t *testing.T) {
		tgt := Target{Name: "tagged-dev", Branch: "main", Dir: "environments/dev/tagged", Namespace: "tagged-dev"}
		src.set("main", tgt.Dir, nsFile("tagged-dev"), deploymentFile("tagged-dev", "registry.local/hello:latest", 1))
		r, err := s.SyncOnce(ctx, tgt)
		if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "registry.local/hello:latest") {
			t.Fatalf("err = %v, want ErrRefused naming the image", err)
		}
		if len(r.Resources) != 0 || r.Err == nil {
			t.Errorf("result = %+v, want no resources and the error", r)
		}
		assertNoNamespace(ctx, t, kc, "tagged-dev")
	})

	t.Run("verifier refuses, nothing applied", func(t *testing.T) {
		v := &refuser{}
		vs, err := New(cfg, src, WithVerifier(v))
		if err != nil {
			t.Fatal(err)
		}
		defer vs.Close()
		tgt := Target{Name: "unsigned-dev", Branch: "main", Dir: "environments/dev/unsigned", Namespace: "unsigned-dev"}
		src.set("main", tgt.Dir, nsFile("unsigned-dev"), deploymentFile("unsigned-dev", image, 1), serviceFile("unsigned-dev"))
		_, err = vs.SyncOnce(ctx, tgt)
		if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "no valid signature from a trusted key") {
			t.Fatalf("err = %v, want ErrRefused with the verifier's reason", err)
		}
		if !slices.Equal(v.got, []string{image}) {
			t.Errorf("verifier was asked about %v, want [%s]", v.got, image)
		}
		assertNoNamespace(ctx, t, kc, "unsigned-dev")
	})

	t.Run("bad YAML names file and document", func(t *testing.T) {
		tgt := Target{Name: "broken-dev", Branch: "main", Dir: "environments/dev/broken", Namespace: "broken-dev"}
		src.set("main", tgt.Dir, nsFile("broken-dev"), manifest.File{Path: "deployment-web.yaml", Data: []byte("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\nmetadata: {name: [\n")})
		_, err := s.SyncOnce(ctx, tgt)
		if err == nil || !strings.Contains(err.Error(), "deployment-web.yaml: document 2") {
			t.Fatalf("err = %v, want it to name deployment-web.yaml document 2", err)
		}
		assertNoNamespace(ctx, t, kc, "broken-dev")
	})

	t.Run("run loop, notify, reporter", func(t *testing.T) {
		tgt := Target{Name: "loop-dev", Branch: "main", Dir: "environments/dev/loop", Namespace: "loop-dev"}
		src.set("main", tgt.Dir, nsFile("loop-dev"), deploymentFile("loop-dev", image, 1))
		reports := make(chan Result, 10)
		ls, err := New(cfg, src, WithTargets(tgt), WithInterval(time.Hour),
			WithReporter(func(_ context.Context, got Target, r Result) {
				if got != tgt {
					t.Errorf("reporter got target %+v", got)
				}
				reports <- r
			}))
		if err != nil {
			t.Fatal(err)
		}
		runCtx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- ls.Run(runCtx) }()
		first := receive(t, reports)
		if first.Err != nil || len(first.Resources) != 2 {
			t.Fatalf("first sync: %+v", first)
		}
		src.set("main", tgt.Dir, nsFile("loop-dev"), deploymentFile("loop-dev", image, 1), serviceFile("loop-dev"))
		nudged := time.Now()
		ls.Notify()
		ls.Notify() // never blocks, even with a nudge pending
		second := receive(t, reports)
		t.Logf("notify to reported sync: %v", time.Since(nudged).Round(time.Millisecond))
		if second.Revision == first.Revision || byKey(second)["Service loop-dev/web"].Status != StatusSynced {
			t.Errorf("second sync: %+v", second)
		}
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("Run did not return after cancel")
		}
	})
}

func configMapFile(name, wave string) manifest.File {
	ann := ""
	if wave != "" {
		ann = fmt.Sprintf("\n  annotations: {argocd.argoproj.io/sync-wave: %q}", wave)
	}
	return manifest.File{Path: "configmap-" + name + ".yaml", Data: fmt.Appendf(nil,
		"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: %s%s\ndata: {k: v}\n", name, ann)}
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatalf("resourceVersion %q: %v", s, err)
	}
	return n
}

func receive(t *testing.T, ch <-chan Result) Result {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(30 * time.Second):
		t.Fatal("no report within 30 s")
		return Result{}
	}
}

func waitGone(t *testing.T, get func() error) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := get()
		if apierrors.IsNotFound(err) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("object still there after 10 s (err %v)", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func assertNoNamespace(ctx context.Context, t *testing.T, kc kubernetes.Interface, ns string) {
	t.Helper()
	if _, err := kc.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("namespace %s: err = %v, want NotFound (nothing applied)", ns, err)
	}
}
