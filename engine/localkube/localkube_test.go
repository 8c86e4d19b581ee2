package localkube

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

// testBinDir returns $SLIPWAY_K8S_BIN. `make test` always sets it, so a missing value fails
// the test rather than silently skipping the control-plane tests; -short skips them.
func testBinDir(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("starts a local control plane; skipped with -short")
	}
	dir, err := BinDir()
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// startCluster starts a cluster in dir, stops it at the end of the test, and logs how long the
// start took and the resident memory of each component.
func startCluster(t *testing.T, dir string, comps Components, fresh bool) *Cluster {
	t.Helper()
	began := time.Now()
	c, err := Start(t.Context(), Options{
		BinDir: testBinDir(t), StateDir: dir, Components: comps, Fresh: fresh, NoFsync: true,
		Logger: slog.New(slog.NewTextHandler(t.Output(), nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Stop(); err != nil {
			t.Error(err)
		}
	})
	t.Logf("started %s in %v; RSS %s", comps, time.Since(began).Round(time.Millisecond), rssReport(c))
	return c
}

func rssReport(c *Cluster) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var parts []string
	total := 0
	for _, p := range c.procs {
		kb := rssKB(p.pid())
		total += kb
		parts = append(parts, fmt.Sprintf("%s=%dMB", p.name, kb/1024))
	}
	return strings.Join(parts, " ") + fmt.Sprintf(" total=%dMB", total/1024)
}

func rssKB(pid int) int {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(b)) {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.Atoi(f[1])
			return kb
		}
	}
	return 0
}

func clientset(t *testing.T, c *Cluster) kubernetes.Interface {
	t.Helper()
	cs, err := kubernetes.NewForConfig(c.Config())
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

func createConfigMap(t *testing.T, cs kubernetes.Interface, name string) {
	t.Helper()
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name}, Data: map[string]string{"k": "v"}}
	if _, err := cs.CoreV1().ConfigMaps("default").Create(t.Context(), cm, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func TestResumeKeepsStateAndFreshWipesIt(t *testing.T) {
	dir := t.TempDir()
	c := startCluster(t, dir, APIServerOnly, false)
	createConfigMap(t, clientset(t, c), "survivor")
	ca, err := os.ReadFile(filepath.Join(dir, "pki", "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := c.Err(); !errors.Is(err, ErrStopped) {
		t.Errorf("Err() after Stop = %v, want ErrStopped", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "run", "pids.json")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("pid file after Stop: %v, want it removed", err)
	}

	c = startCluster(t, dir, APIServerOnly, false)
	if _, err := clientset(t, c).CoreV1().ConfigMaps("default").Get(t.Context(), "survivor", metav1.GetOptions{}); err != nil {
		t.Fatalf("ConfigMap after resume: %v", err)
	}
	ca2, err := os.ReadFile(filepath.Join(dir, "pki", "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(ca, ca2) {
		t.Error("the CA was regenerated on resume; want the PKI reused")
	}
	// The admin kubeconfig on disk works on its own, as kubectl would use it.
	kcfg, err := clientcmd.BuildConfigFromFlags("", c.KubeconfigPath())
	if err != nil {
		t.Fatal(err)
	}
	kcs, err := kubernetes.NewForConfig(kcfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kcs.CoreV1().ConfigMaps("default").Get(t.Context(), "survivor", metav1.GetOptions{}); err != nil {
		t.Fatalf("ConfigMap through the admin kubeconfig: %v", err)
	}
	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}

	c = startCluster(t, dir, APIServerOnly, true)
	_, err = clientset(t, c).CoreV1().ConfigMaps("default").Get(t.Context(), "survivor", metav1.GetOptions{})
	if !apierrors.IsNotFound(err) {
		t.Fatalf("ConfigMap after a Fresh start: %v, want NotFound", err)
	}
}

func TestFullRunsDeploymentToAvailable(t *testing.T) {
	c := startCluster(t, t.TempDir(), Full, false)
	cs := clientset(t, c)
	labels := map[string]string{"app": "demo"}
	dep := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "demo", Namespace: "default"},
		Spec: appsv1.DeploymentSpec{
			Replicas: new(int32(1)),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{
					Name:  "app",
					Image: "registry.invalid/app@sha256:" + strings.Repeat("ab", 32),
				}}},
			},
		},
	}
	began := time.Now()
	if _, err := cs.AppsV1().Deployments("default").Create(t.Context(), dep, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(90 * time.Second)
	for {
		got, err := cs.AppsV1().Deployments("default").Get(t.Context(), "demo", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if deploymentAvailable(got) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Deployment not Available after 90 s; status %+v; logs in %s", got.Status, c.LogDir())
		}
		time.Sleep(250 * time.Millisecond)
	}
	t.Logf("Deployment Available %v after create", time.Since(began).Round(time.Millisecond))

	pods, err := cs.CoreV1().Pods("default").List(t.Context(), metav1.ListOptions{LabelSelector: "app=demo"})
	if err != nil {
		t.Fatal(err)
	}
	if len(pods.Items) != 1 || pods.Items[0].Spec.NodeName != FakeNodeName || pods.Items[0].Status.Phase != corev1.PodRunning {
		t.Errorf("pods = %d, want one Running on %s", len(pods.Items), FakeNodeName)
	}
}

func deploymentAvailable(d *appsv1.Deployment) bool {
	if d.Status.ObservedGeneration < d.Generation {
		return false
	}
	for _, cond := range d.Status.Conditions {
		if cond.Type == appsv1.DeploymentAvailable {
			return cond.Status == corev1.ConditionTrue && d.Status.AvailableReplicas == 1
		}
	}
	return false
}

func TestTwoClustersInParallel(t *testing.T) {
	bin := testBinDir(t)
	var (
		wg       sync.WaitGroup
		clusters [2]*Cluster
		errs     [2]error
	)
	for i := range clusters {
		wg.Go(func() {
			clusters[i], errs[i] = Start(t.Context(), Options{BinDir: bin, StateDir: t.TempDir(), NoFsync: true})
		})
	}
	wg.Wait()
	for i, c := range clusters {
		if c != nil {
			t.Cleanup(func() {
				if err := c.Stop(); err != nil {
					t.Error(err)
				}
			})
		}
		if errs[i] != nil {
			t.Fatalf("cluster %d: %v", i, errs[i])
		}
	}
	if a, b := clusters[0].ports, clusters[1].ports; a == b || a.apiserver == b.apiserver || a.etcdClient == b.etcdClient {
		t.Fatalf("clusters share ports: %+v and %+v", a, b)
	}
	for i, c := range clusters {
		createConfigMap(t, clientset(t, c), fmt.Sprintf("only-in-%d", i))
	}
	// Each cluster has its own etcd: neither sees the other's object.
	for i, c := range clusters {
		_, err := clientset(t, c).CoreV1().ConfigMaps("default").Get(t.Context(), fmt.Sprintf("only-in-%d", 1-i), metav1.GetOptions{})
		if !apierrors.IsNotFound(err) {
			t.Errorf("cluster %d sees the other cluster's ConfigMap: %v", i, err)
		}
	}
}

func TestStartReapsComponentsOfACrashedRun(t *testing.T) {
	dir := t.TempDir()
	old := startCluster(t, dir, APIServerOnly, false)

	_, err := Start(t.Context(), Options{BinDir: testBinDir(t), StateDir: dir})
	if !errors.Is(err, ErrStateDirInUse) {
		t.Fatalf("second Start on a live state dir: %v, want ErrStateDirInUse", err)
	}

	// Simulate a parent that died without Stop: the kernel would drop its lock, while the
	// components (in the real case already SIGKILLed through Pdeathsig, here deliberately left
	// running) are still recorded in the pid file.
	if err := old.unlock(); err != nil {
		t.Fatal(err)
	}
	old.unlock = nil
	var oldPIDs []int
	for _, p := range old.procs {
		oldPIDs = append(oldPIDs, p.pid())
	}

	if err := old.Err(); err != nil {
		t.Fatalf("old cluster Err() before the restart = %v, want nil", err)
	}

	c := startCluster(t, dir, APIServerOnly, false)
	select {
	case <-old.Done():
		if err := old.Err(); err == nil || errors.Is(err, ErrStopped) {
			t.Errorf("old cluster Err() = %v, want the component that exited unexpectedly", err)
		}
	case <-time.After(10 * time.Second):
		t.Error("old cluster's Done not closed after its components were reaped")
	}
	for _, pid := range oldPIDs {
		if _, alive, err := procCmdline(pid); err != nil || alive {
			t.Errorf("stale pid %d still alive (err %v)", pid, err)
		}
	}
	if _, err := clientset(t, c).CoreV1().Namespaces().Get(t.Context(), "default", metav1.GetOptions{}); err != nil {
		t.Fatal(err)
	}
}

const widgetCRD = `
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.test.slipway.dev
spec:
  group: test.slipway.dev
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget, listKind: WidgetList}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              size: {type: integer}
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: gadgets.test.slipway.dev
spec:
  group: test.slipway.dev
  scope: Cluster
  names: {plural: gadgets, singular: gadget, kind: Gadget}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}
`

func TestInstallCRDs(t *testing.T) {
	c := startCluster(t, t.TempDir(), APIServerOnly, false)
	for range 2 { // the second apply is a no-op, not a conflict
		if err := InstallCRDs(t.Context(), c.Config(), []byte(widgetCRD)); err != nil {
			t.Fatal(err)
		}
	}
	dyn, err := dynamic.NewForConfig(c.Config())
	if err != nil {
		t.Fatal(err)
	}
	w := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "test.slipway.dev/v1", "kind": "Widget",
		"metadata": map[string]any{"name": "w1"}, "spec": map[string]any{"size": int64(3)},
	}}
	gvr := schema.GroupVersionResource{Group: "test.slipway.dev", Version: "v1", Resource: "widgets"}
	if _, err := dyn.Resource(gvr).Namespace("default").Create(t.Context(), w, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create a Widget right after InstallCRDs: %v", err)
	}
}

func TestStartFailureReportsLogAndCleansUp(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	dir := t.TempDir()
	began := time.Now()
	_, err = Start(t.Context(), Options{
		BinDir: testBinDir(t), StateDir: dir, NoFsync: true,
		APIServerPort: busy.Addr().(*net.TCPAddr).Port, StartTimeout: 60 * time.Second,
	})
	if err == nil || !strings.Contains(err.Error(), "kube-apiserver exited") {
		t.Fatalf("Start on a busy port: %v, want kube-apiserver to exit", err)
	}
	t.Logf("failed start returned after %v; error as reported:\n%v", time.Since(began).Round(time.Millisecond), err)
	if _, err := os.Stat(filepath.Join(dir, "run", "pids.json")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("pid file after a failed start: %v, want removed", err)
	}
	// The failed start released the directory and stopped etcd: a normal start works.
	startCluster(t, dir, APIServerOnly, false)
}
