package cluster

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"slipway.dev/slipway/engine/appchart"
	"slipway.dev/slipway/engine/configcommit"
	"slipway.dev/slipway/engine/configrepo"
	"slipway.dev/slipway/engine/crds"
	"slipway.dev/slipway/engine/deploy"
	"slipway.dev/slipway/engine/localkube"
	"slipway.dev/slipway/engine/render"
	"slipway.dev/slipway/engine/sign"
	"slipway.dev/slipway/internal/kubetest"
)

// kwokEnv is Slipway installed on a full local control plane (kube-controller-manager,
// kube-scheduler and kwok, so Deployments become Available): the controller runs as an
// administrator, the syncer as the chart's syncer ServiceAccount with exactly the RBAC the chart
// renders, and serves the config repo's push webhook.
type kwokEnv struct {
	admin      client.Client
	kube       kubernetes.Interface
	kubeconfig string
	// appNS holds the Applications and Releases.
	appNS    string
	registry string
	signer   *sign.Signer
	repoURL  string
	// person commits straight to the config repo, as someone other than Slipway would.
	person *configrepo.Writer
	// hookURL is the syncer's push webhook endpoint, hookSecret what signs its deliveries.
	hookURL    string
	hookSecret []byte
}

const (
	releaseNS  = "slipway-system"
	hookSecret = "config-repo-hook"
)

// startKwok starts the control plane and Slipway's in-cluster components on it.
func startKwok(t *testing.T) *kwokEnv {
	t.Helper()
	if testing.Short() {
		t.Skip("starts a full control plane")
	}
	bin, err := localkube.BinDir()
	if err != nil {
		t.Skip(err)
	}
	ctx := t.Context()
	cluster, err := localkube.Start(ctx, localkube.Options{BinDir: bin, StateDir: t.TempDir(), Components: localkube.Full, NoFsync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := cluster.Stop(); err != nil {
			t.Error(err)
		}
	})
	cfg := cluster.Config()
	var docs [][]byte
	for _, set := range []func() ([][]byte, error){crds.Slipway, crds.Tekton} {
		d, err := set()
		if err != nil {
			t.Fatal(err)
		}
		docs = append(docs, d...)
	}
	if err := localkube.InstallCRDs(ctx, cfg, docs...); err != nil {
		t.Fatal(err)
	}
	admin, err := client.New(cfg, client.Options{Scheme: kubetest.Scheme(t)})
	if err != nil {
		t.Fatal(err)
	}
	e := &kwokEnv{admin: admin, kube: kubernetes.NewForConfigOrDie(cfg), kubeconfig: cluster.KubeconfigPath(), appNS: "apps",
		hookSecret: []byte("config-repo-hook-secret")}
	for _, ns := range []string{releaseNS, e.appNS} {
		if err := admin.Create(ctx, &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": ns}}}); err != nil {
			t.Fatal(err)
		}
	}
	createSecret(t, admin, releaseNS, hookSecret, map[string]string{"secret": string(e.hookSecret)})
	syncerCfg := installSyncerRBAC(t, admin, e.kube, cfg, e.appNS)

	e.registry = startRegistry(t)
	kp, err := sign.GenerateKeyPair([]byte("correct horse battery staple"))
	if err != nil {
		t.Fatal(err)
	}
	if e.signer, err = sign.NewSigner(kp.PrivateKey, kp.Password); err != nil {
		t.Fatal(err)
	}
	e.repoURL = startGit(t)
	if e.person, err = configrepo.New(e.repoURL, t.TempDir(), configrepo.Author{Name: "A Person", Email: "person@example.com"}); err != nil {
		t.Fatal(err)
	}

	common := func(kube *rest.Config) Common {
		return Common{Namespace: releaseNS, ApplicationNamespaces: []string{e.appNS}, HealthAddr: freeAddr(t), MetricsAddr: "0",
			Kube: kube, Logger: kubetest.Logger(t)}
	}
	// The controller's deploy reconciler, as RunController wires it: Releases to config-repo
	// commits, rollbacks included.
	ctrlCommon := common(cfg)
	mgr, err := newManager(ctrlCommon, "controller", "")
	if err != nil {
		t.Fatal(err)
	}
	writer, err := newWriter(ctrlCommon, ConfigRepo{URL: e.repoURL, Branch: "main", CacheDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	dep := &deploy.Reconciler{Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Renderer: appchart.Renderer{},
		Committer: configcommit.New(writer, "main"), Log: kubetest.Logger(t).With("component", "deploy")}
	if err := dep.SetupWithManager(mgr); err != nil {
		t.Fatal(err)
	}
	start(t, ctrlCommon, mgr.Start)

	hookAddr := freeAddr(t)
	e.hookURL = "http://" + hookAddr
	sc := SyncerConfig{
		Common:     common(syncerCfg),
		ConfigRepo: ConfigRepo{URL: e.repoURL, Branch: "main", CacheDir: t.TempDir()},
		PublicKeys: [][]byte{kp.PublicKey}, VerifySignatures: true,
		// Far longer than the test: every sync below follows a commit Slipway recorded, a push
		// webhook, a watch event, or the nudges of targets still progressing.
		Interval: time.Hour,
		PushHook: PushHook{Addr: hookAddr, Secrets: []SecretRef{{Name: hookSecret, Key: "secret"}}},
	}
	sc.LeaderElect = true // the chart's Role for leases is exercised too
	start(t, sc.Common, func(ctx context.Context) error { return RunSyncer(ctx, sc) })
	return e
}

// installSyncerRBAC renders charts/slipway, creates the syncer's ServiceAccount, ClusterRole,
// Role and their bindings exactly as rendered, and returns a configuration that authenticates
// as that ServiceAccount with a token the API server issued.
func installSyncerRBAC(t *testing.T, c client.Client, kc kubernetes.Interface, admin *rest.Config, appNS string) *rest.Config {
	t.Helper()
	values := map[string]any{
		"image":                 map[string]any{"digest": "sha256:" + fmt.Sprintf("%064x", 1)},
		"registry":              map[string]any{"url": "registry.example.com/apps"},
		"configRepo":            map[string]any{"url": "https://git.example.com/platform/config.git", "credentialsSecret": "config-repo"},
		"signing":               map[string]any{"keySecret": "cosign-key", "publicKeySecret": "cosign-pub"},
		"applicationNamespaces": []any{appNS},
		"syncer":                map[string]any{"webhook": map[string]any{"secretRefs": []any{map[string]any{"name": hookSecret, "key": "secret"}}}},
	}
	files, err := render.RenderChart(os.DirFS(filepath.Join("..", "..", "charts")), "slipway",
		render.Release{Name: "slipway", Namespace: releaseNS}, values)
	if err != nil {
		t.Fatal(err)
	}
	sa := ""
	rbac := map[string]bool{"ServiceAccount": true, "ClusterRole": true, "ClusterRoleBinding": true, "Role": true, "RoleBinding": true}
	for _, f := range files {
		var obj unstructured.Unstructured
		if err := yaml.Unmarshal(f.Data, &obj.Object); err != nil {
			t.Fatalf("%s: %v", f.Path, err)
		}
		if !rbac[obj.GetKind()] || obj.GetLabels()["app.kubernetes.io/component"] != "syncer" {
			continue
		}
		if obj.GetKind() == "ServiceAccount" {
			sa = obj.GetName()
		}
		if err := c.Create(t.Context(), &obj); err != nil {
			t.Fatalf("%s: %v", f.Path, err)
		}
		t.Logf("created %s %s from the chart", obj.GetKind(), obj.GetName())
	}
	if sa == "" {
		t.Fatal("the chart renders no syncer ServiceAccount")
	}
	tok, err := kc.CoreV1().ServiceAccounts(releaseNS).CreateToken(t.Context(), sa, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptrTo(int64(3 * 3600))}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cfg := rest.AnonymousClientConfig(admin)
	cfg.BearerToken = tok.Status.Token
	// Prove the configuration is the ServiceAccount, not an administrator.
	if _, err := kubernetes.NewForConfigOrDie(cfg).CoreV1().ConfigMaps("kube-system").List(t.Context(), metav1.ListOptions{}); err == nil {
		t.Fatal("the syncer's ServiceAccount may list ConfigMaps in kube-system")
	}
	return cfg
}

func ptrTo[T any](v T) *T { return &v }

// within retries f until it succeeds or d has passed; the load of the machine decides how long
// a rollout takes, so d is generous.
func within(t *testing.T, d time.Duration, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		err := f()
		if err == nil {
			return
		}
		if errors.Is(err, errStop) || time.Now().After(deadline) {
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// errStop ends within at once.
var errStop = errors.New("stop waiting")
