package charts_test

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"slipway.dev/slipway/engine/manifest"
	"slipway.dev/slipway/engine/render"
	"slipway.dev/slipway/internal/golden"
	"slipway.dev/slipway/internal/kubetest"
)

var update = flag.Bool("update", false, "rewrite testdata/ golden files and charts/slipway/crds from engine/crds/slipway")

var srv = kubetest.New("charts")

func TestMain(m *testing.M) { os.Exit(srv.Run(m)) }

const (
	chartDir  = "slipway"
	namespace = "slipway-system"
	digest    = "sha256:4f53cda18c2baa0c0354bb5f9a3ecbe5ed12ab4d8e11ba873c2f11161202b945"
)

var rel = render.Release{Name: "slipway", Namespace: namespace}

// minimalValues are the values that have no default: what an install must set.
func minimalValues() map[string]any {
	return map[string]any{
		"image":      map[string]any{"digest": digest},
		"registry":   map[string]any{"url": "registry.example.com/apps"},
		"configRepo": map[string]any{"url": "https://git.example.com/platform/config.git", "credentialsSecret": "config-repo"},
		"signing":    map[string]any{"keySecret": "cosign-key", "publicKeySecret": "cosign-pub"},
	}
}

// fullValues set every option.
func fullValues() map[string]any {
	v := minimalValues()
	v["image"] = map[string]any{"repository": "registry.example.com/platform/slipway", "digest": digest, "pullPolicy": "Always"}
	v["imagePullSecrets"] = []any{"pull-secret"}
	v["logLevel"] = "debug"
	v["registry"] = map[string]any{"url": "registry.internal:5000/apps", "credentialsSecret": "registry-push", "insecure": true}
	v["configRepo"] = map[string]any{"url": "ssh://git@git.example.com/platform/config.git", "branch": "deploy/main", "credentialsSecret": "config-repo-ssh",
		"signingKeySecret": "config-repo-signing"}
	v["applicationNamespaces"] = []any{"team-a", "team-b"}
	v["controller"] = map[string]any{"replicas": 2}
	v["pipelines"] = map[string]any{"serviceAccount": "builder"}
	v["webhook"] = map[string]any{
		"replicas":   3,
		"secretRefs": []any{map[string]any{"name": "gitlab-system-hook", "key": "token"}, map[string]any{"name": "gitlab-system-hook", "key": "old-token"}},
		"service":    map[string]any{"type": "LoadBalancer", "port": 443},
		"ingress": map[string]any{"enabled": true, "className": "nginx", "host": "hooks.example.com", "tlsSecretName": "hooks-tls",
			"annotations": map[string]any{"nginx.ingress.kubernetes.io/proxy-body-size": "2m"}},
	}
	v["syncer"] = map[string]any{"replicas": 2, "interval": "90s", "webhook": map[string]any{
		"secretRefs": []any{map[string]any{"name": "config-repo-hook", "key": "secret"}}}}
	v["nodeSelector"] = map[string]any{"kubernetes.io/os": "linux"}
	v["tolerations"] = []any{map[string]any{"key": "platform", "operator": "Exists", "effect": "NoSchedule"}}
	return v
}

func renderSlipway(t *testing.T, values map[string]any) []manifest.File {
	t.Helper()
	files, err := render.RenderChart(os.DirFS("."), chartDir, rel, values)
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func decode(t *testing.T, f manifest.File) *unstructured.Unstructured {
	t.Helper()
	u := &unstructured.Unstructured{}
	if err := yaml.Unmarshal(f.Data, &u.Object); err != nil {
		t.Fatalf("%s: %v", f.Path, err)
	}
	return u
}

// TestLint runs Helm's linter with the values an install must set and with every option.
func TestLint(t *testing.T) {
	if msgs := render.LintChart(chartDir, namespace, nil); len(msgs) == 0 {
		t.Error("helm lint accepted the chart without its required values")
	}
	for name, values := range map[string]map[string]any{"minimal": minimalValues(), "full": fullValues(), "keyless": keylessModeValues()} {
		t.Run(name, func(t *testing.T) {
			if msgs := render.LintChart(chartDir, namespace, values); len(msgs) > 0 {
				t.Errorf("helm lint:\n%s", strings.Join(msgs, "\n"))
			}
		})
	}
}

// TestGolden renders the chart with minimal, full and keyless-signing values and compares every
// object with testdata/slipway/<values>/; -update rewrites them.
func TestGolden(t *testing.T) {
	for name, values := range map[string]map[string]any{"minimal": minimalValues(), "full": fullValues(), "keyless": keylessModeValues()} {
		t.Run(name, func(t *testing.T) {
			golden.Files(t, filepath.Join("testdata", "slipway", name), renderSlipway(t, values), *update)
		})
	}
}

// TestDefaultsNameWhatIsMissing proves a bare install fails, naming each required value.
func TestDefaultsNameWhatIsMissing(t *testing.T) {
	_, err := render.RenderChart(os.DirFS("."), chartDir, rel, nil)
	if err == nil {
		t.Fatal("rendered without an image digest, registry, config repo or signing keys")
	}
	for _, field := range []string{"/image/digest", "/registry/url", "/configRepo/url", "/configRepo/credentialsSecret", "/signing/keySecret", "/signing/publicKeySecret"} {
		if !strings.Contains(err.Error(), field) {
			t.Errorf("error does not name %s:\n%v", field, err)
		}
	}
}

func TestInvalidValuesAreRejected(t *testing.T) {
	tests := []struct {
		name   string
		modify func(v map[string]any)
		want   string // the field the error must name
	}{
		{"image by tag", func(v map[string]any) { v["image"] = map[string]any{"digest": "latest"} }, "/image/digest"},
		{"image repository with a tag", func(v map[string]any) {
			v["image"] = map[string]any{"repository": "registry.example.com/slipway:1.0", "digest": digest}
		}, "/image/repository"},
		{"config repo without scheme", func(v map[string]any) { v["configRepo"].(map[string]any)["url"] = "git.example.com/config" }, "/configRepo/url"},
		{"config repo signing key secret not a name", func(v map[string]any) { v["configRepo"].(map[string]any)["signingKeySecret"] = "Signing Key" },
			"/configRepo/signingKeySecret"},
		{"registry with scheme", func(v map[string]any) { v["registry"] = map[string]any{"url": "https://registry.example.com"} }, "/registry/url"},
		{"misspelt key", func(v map[string]any) { v["webhok"] = map[string]any{} }, "webhok"},
		{"zero replicas", func(v map[string]any) { v["controller"] = map[string]any{"replicas": 0} }, "/controller/replicas"},
		{"ingress without host", func(v map[string]any) { v["webhook"] = map[string]any{"ingress": map[string]any{"enabled": true}} }, "/webhook/ingress/host"},
		{"bad log level", func(v map[string]any) { v["logLevel"] = "loud" }, "/logLevel"},
		{"bad sync interval", func(v map[string]any) { v["syncer"] = map[string]any{"interval": "soon"} }, "/syncer/interval"},
		{"secret ref without key", func(v map[string]any) {
			v["webhook"] = map[string]any{"secretRefs": []any{map[string]any{"name": "hook"}}}
		}, "/webhook/secretRefs/0"},
		{"bad resource quantity", func(v map[string]any) {
			v["syncer"] = map[string]any{"resources": map[string]any{"limits": map[string]any{"memory": "lots"}}}
		}, "/syncer/resources/limits/memory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := minimalValues()
			tt.modify(v)
			_, err := render.RenderChart(os.DirFS("."), chartDir, rel, v)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to name %s", err, tt.want)
			}
		})
	}
}

// TestRBACIsNarrow checks every role: no wildcard anywhere, no escalate/bind/impersonate, the
// webhook may create Deliveries and read, nothing more, and Secrets are only ever read.
func TestRBACIsNarrow(t *testing.T) {
	for name, values := range map[string]map[string]any{"minimal": minimalValues(), "full": fullValues(), "keyless": keylessModeValues()} {
		t.Run(name, func(t *testing.T) {
			for _, f := range renderSlipway(t, values) {
				u := decode(t, f)
				if k := u.GetKind(); k != "ClusterRole" && k != "Role" {
					continue
				}
				rules, _, err := unstructured.NestedSlice(u.Object, "rules")
				if err != nil || len(rules) == 0 {
					t.Fatalf("%s: no rules (%v)", f.Path, err)
				}
				for i, r := range rules {
					rule := r.(map[string]any)
					for _, key := range []string{"apiGroups", "resources", "verbs", "resourceNames"} {
						vals, _, _ := unstructured.NestedStringSlice(rule, key)
						if slices.Contains(vals, "*") {
							t.Errorf("%s rule %d: wildcard in %s", f.Path, i, key)
						}
					}
					verbs, _, _ := unstructured.NestedStringSlice(rule, "verbs")
					resources, _, _ := unstructured.NestedStringSlice(rule, "resources")
					if slices.ContainsFunc(verbs, func(v string) bool { return v == "escalate" || v == "bind" || v == "impersonate" }) {
						t.Errorf("%s rule %d: grants %v", f.Path, i, verbs)
					}
					if strings.Contains(u.GetName(), "webhook") {
						writes := slices.ContainsFunc(verbs, func(v string) bool { return v != "get" && v != "list" && v != "watch" })
						if writes && !(slices.Equal(resources, []string{"deliveries"}) && slices.Equal(verbs, []string{"create"})) {
							t.Errorf("%s rule %d: the webhook may %v %v; it may only create deliveries", f.Path, i, verbs, resources)
						}
					}
					if slices.Contains(resources, "secrets") && !slices.Equal(verbs, []string{"get", "list", "watch"}) && !slices.Equal(verbs, []string{"get"}) {
						t.Errorf("%s rule %d: Secrets may only be read, not %v", f.Path, i, verbs)
					}
					names, _, _ := unstructured.NestedStringSlice(rule, "resourceNames")
					if slices.Contains(resources, "secrets") && strings.Contains(u.GetName(), "syncer") &&
						(len(names) == 0 || !slices.Equal(verbs, []string{"get"}) || u.GetKind() != "Role") {
						t.Errorf("%s rule %d: the syncer may only get its push webhook's Secrets by name", f.Path, i)
					}
				}
			}
		})
	}
}

// TestObjectsAreValid creates every rendered object against a real kube-apiserver (namespaces
// and service accounts for real, the rest as a server-side dry run), so the API server's schema
// proves the chart, and each component's pod passes the restricted Pod Security Standard.
func TestObjectsAreValid(t *testing.T) {
	c, _ := srv.Namespace(t)
	for _, ns := range []string{namespace, "team-a", "team-b"} {
		u := &unstructured.Unstructured{}
		u.SetAPIVersion("v1")
		u.SetKind("Namespace")
		u.SetName(ns)
		u.SetLabels(map[string]string{"pod-security.kubernetes.io/enforce": "restricted"})
		if err := c.Create(t.Context(), u); err != nil {
			t.Fatal(err)
		}
	}
	for name, values := range map[string]map[string]any{"minimal": minimalValues(), "full": fullValues(), "keyless": keylessModeValues()} {
		t.Run(name, func(t *testing.T) {
			files := renderSlipway(t, values)
			if len(files) == 0 {
				t.Fatal("nothing rendered")
			}
			for _, f := range files {
				u := decode(t, f)
				opts := []client.CreateOption{client.DryRunAll}
				if u.GetKind() == "ServiceAccount" {
					// Real, so that the pods below pass ServiceAccount admission; the
					// minimal and full renders name the same accounts.
					opts = nil
				}
				if err := c.Create(t.Context(), u, opts...); err != nil && !(opts == nil && apierrors.IsAlreadyExists(err)) {
					t.Errorf("%s: %v", f.Path, err)
				}
			}
			// Each Deployment's pod, dry-run into a namespace that enforces the restricted
			// Pod Security Standard.
			for _, f := range files {
				u := decode(t, f)
				if u.GetKind() != "Deployment" {
					continue
				}
				if err := kubetest.DryRunPod(t.Context(), c, u); err != nil {
					t.Errorf("%s: %v", f.Path, err)
				}
			}
		})
	}
}

// TestCRDsMatchTheAPI proves the chart installs exactly the generated CRDs; -update copies
// them from engine/crds/slipway.
func TestCRDsMatchTheAPI(t *testing.T) {
	src := filepath.Join("..", "engine", "crds", "slipway")
	want, err := filepath.Glob(filepath.Join(src, "*.yaml"))
	if err != nil || len(want) == 0 {
		t.Fatalf("no CRDs in %s: %v", src, err)
	}
	dst := filepath.Join(chartDir, "crds")
	if *update {
		old, _ := filepath.Glob(filepath.Join(dst, "*.yaml"))
		for _, p := range old {
			os.Remove(p)
		}
		for _, p := range want {
			data, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dst, filepath.Base(p)), data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	got, _ := filepath.Glob(filepath.Join(dst, "*.yaml"))
	base := func(ps []string) []string {
		var out []string
		for _, p := range ps {
			out = append(out, filepath.Base(p))
		}
		return out
	}
	if !slices.Equal(base(got), base(want)) {
		t.Fatalf("chart CRDs %v, API CRDs %v (run make generate)", base(got), base(want))
	}
	for _, p := range want {
		a, _ := os.ReadFile(p)
		b, _ := os.ReadFile(filepath.Join(dst, filepath.Base(p)))
		if !bytes.Equal(a, b) {
			t.Errorf("%s differs from %s (run make generate)", filepath.Join(dst, filepath.Base(p)), p)
		}
	}
}

// TestLintAppChart runs Helm's linter over the application chart with a service and a worker.
func TestLintAppChart(t *testing.T) {
	values := map[string]any{
		"app": "hello", "env": "dev", "image": "registry.example.com/hello@" + digest,
		"ingress":  map[string]any{"hosts": []any{"hello.example.com"}, "tlsSecretName": "", "className": ""},
		"services": []any{map[string]any{"name": "web", "port": 8080, "replicas": 2, "routes": []any{"/"}}},
		"workers":  []any{map[string]any{"name": "jobs", "replicas": 1}},
	}
	if msgs := render.LintChart("app", "hello-dev", values); len(msgs) > 0 {
		t.Errorf("helm lint charts/app:\n%s", strings.Join(msgs, "\n"))
	}
}
