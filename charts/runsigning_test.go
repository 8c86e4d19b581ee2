package charts_test

import (
	"maps"
	"os"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"slipway.dev/slipway/engine/render"
)

// keylessModeValues are the minimal values of an install whose pipelines sign keyless, with
// Rekor, and whose syncer verifies those signatures.
func keylessModeValues() map[string]any {
	v := minimalValues()
	v["signing"] = map[string]any{"mode": "keyless", "keyless": map[string]any{
		"fulcioURL": "https://fulcio.example.com", "rekorURL": "https://rekor.example.com",
		"trust": map[string]any{"configMap": "sigstore-trust"}, "rekorPublicKey": true,
		"oidcIssuer":     "https://kubernetes.default.svc.cluster.local",
		"identityRegexp": `https://kubernetes\.io/namespaces/[a-z0-9-]+/serviceaccounts/slipway-pipeline`,
	}}
	return v
}

// withSigning returns v with signing (or signing.keyless, for keys of the form keyless.NAME)
// changed by kv: a nil value deletes the key.
func withSigning(v map[string]any, kv map[string]any) map[string]any {
	signing := maps.Clone(v["signing"].(map[string]any))
	keyless, _ := signing["keyless"].(map[string]any)
	keyless = maps.Clone(keyless)
	for k, val := range kv {
		m, key := signing, k
		if name, ok := strings.CutPrefix(k, "keyless."); ok {
			if keyless == nil {
				keyless = map[string]any{}
			}
			m, key = keyless, name
		}
		if val == nil {
			delete(m, key)
		} else {
			m[key] = val
		}
	}
	if keyless != nil {
		signing["keyless"] = keyless
	}
	v["signing"] = signing
	return v
}

// componentPod returns a component's container env (name to value) and its pod's volume names.
func componentPod(t *testing.T, values map[string]any, component string) (map[string]string, []string) {
	t.Helper()
	for _, f := range renderSlipway(t, values) {
		u := decode(t, f)
		if u.GetKind() != "Deployment" || !strings.HasSuffix(u.GetName(), "-"+component) {
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
		var names []string
		for _, vol := range volumes {
			names = append(names, vol.(map[string]any)["name"].(string))
		}
		return env, names
	}
	t.Fatalf("no %s Deployment rendered", component)
	return nil, nil
}

// TestSigningModes renders the controller and the syncer in each signing mode: key-pair passes
// the key Secret's name; keyless passes the SLIPWAY_SIGNING_* variables engine/cluster reads
// and no key, and the syncer mounts the public key only when one is named.
func TestSigningModes(t *testing.T) {
	tests := []struct {
		name       string
		values     map[string]any
		controller map[string]string // "" means the variable must be absent
		publicKey  bool              // the syncer mounts signing.publicKeySecret
	}{
		{"key pair", minimalValues(), map[string]string{
			"SLIPWAY_SIGNING_MODE": "key-pair", "SLIPWAY_SIGNING_KEY_SECRET": "cosign-key", "SLIPWAY_SIGNING_FULCIO_URL": "",
			"SLIPWAY_SIGNING_TOKEN_AUDIENCE": "",
		}, true},
		{"keyless with Rekor", keylessModeValues(), map[string]string{
			"SLIPWAY_SIGNING_MODE": "keyless", "SLIPWAY_SIGNING_KEY_SECRET": "", "SLIPWAY_SIGNING_FULCIO_URL": "https://fulcio.example.com",
			"SLIPWAY_SIGNING_REKOR_URL": "https://rekor.example.com", "SLIPWAY_SIGNING_TIMESTAMP_URL": "", "SLIPWAY_SIGNING_TOKEN_AUDIENCE": "sigstore",
		}, false},
		{"keyless with a timestamp authority, an own audience and the old public key",
			withSigning(keylessModeValues(), map[string]any{"publicKeySecret": "cosign-pub", "keyless.rekorURL": nil, "keyless.rekorPublicKey": false,
				"keyless.tsaCertChain": true, "keyless.timestampURL": "http://tsa.sigstore.svc/api/v1/timestamp", "keyless.tokenAudience": "fulcio.internal"}),
			map[string]string{
				"SLIPWAY_SIGNING_MODE": "keyless", "SLIPWAY_SIGNING_KEY_SECRET": "", "SLIPWAY_SIGNING_REKOR_URL": "",
				"SLIPWAY_SIGNING_TIMESTAMP_URL": "http://tsa.sigstore.svc/api/v1/timestamp", "SLIPWAY_SIGNING_TOKEN_AUDIENCE": "fulcio.internal",
			}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env, _ := componentPod(t, tc.values, "controller")
			for name, want := range tc.controller {
				got, set := env[name]
				if got != want || set != (want != "") {
					t.Errorf("controller %s = %q (set %t), want %q", name, got, set, want)
				}
			}
			env, volumes := componentPod(t, tc.values, "syncer")
			_, hasKey := env["SLIPWAY_SIGNING_PUBLIC_KEY"]
			if hasKey != tc.publicKey || strings.Contains(strings.Join(volumes, ","), "signing") != tc.publicKey {
				t.Errorf("syncer SLIPWAY_SIGNING_PUBLIC_KEY set %t, volumes %v; want the public key mounted: %t", hasKey, volumes, tc.publicKey)
			}
		})
	}
	// Without a syncer, keyless signing needs no trust.
	v := keylessModeValues()
	v["signing"].(map[string]any)["keyless"] = map[string]any{"fulcioURL": "https://fulcio.example.com", "timestampURL": "https://tsa.example.com"}
	v["syncer"] = map[string]any{"enabled": false}
	if env, _ := componentPod(t, v, "controller"); env["SLIPWAY_SIGNING_MODE"] != "keyless" {
		t.Errorf("controller without a syncer: SLIPWAY_SIGNING_MODE = %q", env["SLIPWAY_SIGNING_MODE"])
	}
}

// TestSigningModeRefusals proves each mode asks for what it needs and refuses what it cannot
// use, naming the value: the schema's path, or the template's message.
func TestSigningModeRefusals(t *testing.T) {
	tests := []struct {
		name   string
		values map[string]any
		want   string
	}{
		{"key pair without a key", withSigning(minimalValues(), map[string]any{"keySecret": nil}), "/signing/keySecret"},
		{"key pair without a public key", withSigning(minimalValues(), map[string]any{"publicKeySecret": ""}), "/signing/publicKeySecret"},
		{"unknown mode", withSigning(minimalValues(), map[string]any{"mode": "keyPair"}), "/signing/mode"},
		{"keyless without Fulcio", withSigning(keylessModeValues(), map[string]any{"keyless.fulcioURL": nil}), "/signing/keyless/fulcioURL"},
		{"keyless with an empty Fulcio", withSigning(keylessModeValues(), map[string]any{"keyless.fulcioURL": ""}), "/signing/keyless/fulcioURL"},
		{"keyless with a key", withSigning(keylessModeValues(), map[string]any{"keySecret": "cosign-key"}), "/signing/keySecret"},
		{"Fulcio without a scheme", withSigning(keylessModeValues(), map[string]any{"keyless.fulcioURL": "fulcio.example.com"}), "/signing/keyless/fulcioURL"},
		{"Rekor with credentials", withSigning(keylessModeValues(), map[string]any{"keyless.rekorURL": "https://u:p@rekor.example.com"}), "/signing/keyless/rekorURL"},
		{"two audiences", withSigning(keylessModeValues(), map[string]any{"keyless.tokenAudience": "sigstore,other"}), "/signing/keyless/tokenAudience"},
		{"keyless without a log or timestamp authority", withSigning(keylessModeValues(), map[string]any{"keyless.rekorURL": nil}),
			"signing.keyless: set rekorURL or timestampURL (or both) for signing.mode keyless: Fulcio certificates expire after 10 minutes"},
		{"keyless without the syncer's trust", withSigning(keylessModeValues(), map[string]any{"keyless.trust": nil}),
			"signing.keyless.trust: set configMap or secret"},
		{"syncer wants Rekor entries the pipelines do not make", withSigning(keylessModeValues(),
			map[string]any{"keyless.rekorURL": nil, "keyless.timestampURL": "https://tsa.example.com"}), "signing.keyless.rekorURL: set it"},
		{"syncer wants timestamps the pipelines do not get", withSigning(keylessModeValues(), map[string]any{"keyless.tsaCertChain": true}),
			"signing.keyless.timestampURL: set it"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := render.RenderChart(os.DirFS("."), chartDir, rel, tc.values)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to name %s", err, tc.want)
			}
		})
	}
}
