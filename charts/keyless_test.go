package charts_test

import (
	"os"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"slipway.dev/slipway/engine/render"
	"slipway.dev/slipway/internal/kubetest"
)

// withKeyless returns the minimal values with signing.keyless set to k.
func withKeyless(k map[string]any) map[string]any {
	v := minimalValues()
	v["signing"] = map[string]any{"keySecret": "cosign-key", "publicKeySecret": "cosign-pub", "keyless": k}
	return v
}

// syncerPod returns the syncer container's env and the pod's volumes.
func syncerPod(t *testing.T, values map[string]any) (*unstructured.Unstructured, map[string]string, []any) {
	t.Helper()
	for _, f := range renderSlipway(t, values) {
		u := decode(t, f)
		if u.GetKind() != "Deployment" || !strings.HasSuffix(u.GetName(), "-syncer") {
			continue
		}
		containers, _, _ := unstructured.NestedSlice(u.Object, "spec", "template", "spec", "containers")
		env := map[string]string{}
		for _, e := range containers[0].(map[string]any)["env"].([]any) {
			m := e.(map[string]any)
			value, _ := m["value"].(string)
			env[m["name"].(string)] = value
		}
		volumes, _, _ := unstructured.NestedSlice(u.Object, "spec", "template", "spec", "volumes")
		return u, env, volumes
	}
	t.Fatal("no syncer Deployment rendered")
	return nil, nil, nil
}

func keylessVolume(volumes []any) map[string]any {
	for _, v := range volumes {
		if m := v.(map[string]any); m["name"] == "keyless" {
			return m
		}
	}
	return nil
}

// TestKeylessVerification renders the syncer with keyless trust: the SLIPWAY_KEYLESS_*
// variables engine/cluster reads, the trust ConfigMap or Secret mounted in the syncer only, and
// a pod the restricted Pod Security Standard admits.
func TestKeylessVerification(t *testing.T) {
	const dir = "/var/run/slipway/keyless"
	_, env, volumes := syncerPod(t, minimalValues())
	for name := range env {
		if strings.HasPrefix(name, "SLIPWAY_KEYLESS_") {
			t.Errorf("keyless off by default, but the syncer gets %s", name)
		}
	}
	if keylessVolume(volumes) != nil {
		t.Error("keyless off by default, but the syncer mounts its trust")
	}

	tests := []struct {
		name    string
		keyless map[string]any
		env     map[string]string
		source  string // "configMap" or "secret"
	}{
		{"ConfigMap, exact identity, timestamp authority", map[string]any{
			"trust":      map[string]any{"configMap": "sigstore-trust"},
			"oidcIssuer": "https://kubernetes.default.svc.cluster.local", "identity": "https://kubernetes.io/namespaces/ci/serviceaccounts/signer",
			"tsaCertChain": true,
		}, map[string]string{
			"SLIPWAY_KEYLESS_FULCIO_ROOTS":   dir + "/fulcio.pem",
			"SLIPWAY_KEYLESS_OIDC_ISSUER":    "https://kubernetes.default.svc.cluster.local",
			"SLIPWAY_KEYLESS_IDENTITY":       "https://kubernetes.io/namespaces/ci/serviceaccounts/signer",
			"SLIPWAY_KEYLESS_TSA_CERT_CHAIN": dir + "/tsa.pem",
		}, "configMap"},
		{"Secret, regexps, Rekor", map[string]any{
			"trust":            map[string]any{"secret": "sigstore-trust"},
			"oidcIssuerRegexp": `https://token\.actions\.example\.com`, "identityRegexp": `https://ci\.example\.com/.+`,
			"rekorPublicKey": true,
		}, map[string]string{
			"SLIPWAY_KEYLESS_FULCIO_ROOTS":       dir + "/fulcio.pem",
			"SLIPWAY_KEYLESS_OIDC_ISSUER_REGEXP": `https://token\.actions\.example\.com`,
			"SLIPWAY_KEYLESS_IDENTITY_REGEXP":    `https://ci\.example\.com/.+`,
			"SLIPWAY_KEYLESS_REKOR_PUBLIC_KEY":   dir + "/rekor.pub",
		}, "secret"},
	}
	// The syncer's pods are dry-run into a namespace of this test that enforces the restricted
	// Pod Security Standard, with the syncer's ServiceAccount.
	c, podNS := srv.Namespace(t)
	ns := &unstructured.Unstructured{}
	ns.SetAPIVersion("v1")
	ns.SetKind("Namespace")
	if err := c.Get(t.Context(), client.ObjectKey{Name: podNS}, ns); err != nil {
		t.Fatal(err)
	}
	ns.SetLabels(map[string]string{"pod-security.kubernetes.io/enforce": "restricted"})
	if err := c.Update(t.Context(), ns); err != nil {
		t.Fatal(err)
	}
	sa := &unstructured.Unstructured{}
	sa.SetAPIVersion("v1")
	sa.SetKind("ServiceAccount")
	sa.SetNamespace(podNS)
	sa.SetName("slipway-syncer")
	if err := c.Create(t.Context(), sa); err != nil {
		t.Fatal(err)
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			values := withKeyless(tc.keyless)
			u, env, volumes := syncerPod(t, values)
			got := map[string]string{}
			for name, value := range env {
				if strings.HasPrefix(name, "SLIPWAY_KEYLESS_") {
					got[name] = value
				}
			}
			if len(got) != len(tc.env) {
				t.Errorf("keyless env = %v, want %v", got, tc.env)
			}
			for name, want := range tc.env {
				if got[name] != want {
					t.Errorf("%s = %q, want %q", name, got[name], want)
				}
			}
			vol := keylessVolume(volumes)
			if vol == nil || vol[tc.source] == nil {
				t.Fatalf("keyless volume %v, want one from a %s", vol, tc.source)
			}
			if msgs := render.LintChart(chartDir, namespace, values); len(msgs) > 0 {
				t.Errorf("helm lint: %v", msgs)
			}
			u.SetNamespace(podNS)
			if err := kubetest.DryRunPod(t.Context(), c, u); err != nil {
				t.Errorf("syncer pod: %v", err)
			}
			for _, f := range renderSlipway(t, values) {
				if d := decode(t, f); d.GetKind() == "Deployment" && !strings.HasSuffix(d.GetName(), "-syncer") &&
					strings.Contains(string(f.Data), "sigstore-trust") {
					t.Errorf("%s mounts the keyless trust; only the syncer verifies", f.Path)
				}
			}
		})
	}

	for _, tc := range []struct {
		name    string
		keyless map[string]any
		want    string
	}{
		{"ConfigMap and Secret", map[string]any{"trust": map[string]any{"configMap": "a", "secret": "b"},
			"oidcIssuer": "https://i.example", "identity": "x", "tsaCertChain": true}, "set configMap or secret, not both"},
		{"no trusted time", map[string]any{"trust": map[string]any{"configMap": "a"}, "oidcIssuer": "https://i.example", "identity": "x"},
			"set rekorPublicKey or tsaCertChain"},
		{"no issuer", map[string]any{"trust": map[string]any{"configMap": "a"}, "identity": "x", "rekorPublicKey": true}, "set oidcIssuer or oidcIssuerRegexp"},
		{"no identity", map[string]any{"trust": map[string]any{"configMap": "a"}, "oidcIssuer": "https://i.example", "rekorPublicKey": true}, "set identity or identityRegexp"},
		{"issuer without scheme", map[string]any{"oidcIssuer": "kubernetes.default.svc"}, "/signing/keyless/oidcIssuer"},
		{"bad trust name", map[string]any{"trust": map[string]any{"configMap": "Sigstore_Trust"}}, "/signing/keyless/trust/configMap"},
		{"misspelt key", map[string]any{"identityRegex": "x"}, "identityRegex"},
	} {
		t.Run("refused/"+tc.name, func(t *testing.T) {
			_, err := render.RenderChart(os.DirFS("."), chartDir, rel, withKeyless(tc.keyless))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to say %s", err, tc.want)
			}
		})
	}
}
