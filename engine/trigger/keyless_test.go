package trigger_test

import (
	"strings"
	"testing"

	tektonv1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"slipway.dev/slipway/engine/api/v1alpha1"
	"slipway.dev/slipway/engine/trigger"
)

func keylessConfig() trigger.Config {
	cfg := testConfig()
	cfg.Executor, cfg.ServiceAccount, cfg.RegistryCredentialsSecret = trigger.ExecutorTekton, "slipway-pipeline", "registry-push"
	cfg.Keyless = &trigger.Keyless{FulcioURL: "https://fulcio.example.com", RekorURL: "https://rekor.example.com"}
	return cfg
}

// identityToken returns the run's identity-token binding, failing unless it is exactly one
// projected ServiceAccount token.
func identityToken(t *testing.T, pr *tektonv1.PipelineRun) *tektonv1.WorkspaceBinding {
	t.Helper()
	for i, w := range pr.Spec.Workspaces {
		if w.Name != trigger.IdentityTokenWorkspace {
			continue
		}
		if w.Projected == nil || len(w.Projected.Sources) != 1 || w.Projected.Sources[0].ServiceAccountToken == nil ||
			w.Secret != nil || w.ConfigMap != nil || w.EmptyDir != nil {
			t.Fatalf("identity-token binding = %+v, want one projected ServiceAccount token", w)
		}
		return &pr.Spec.Workspaces[i]
	}
	t.Fatalf("run %s binds no identity-token workspace: %+v", pr.Name, pr.Spec.Workspaces)
	return nil
}

func runParams(pr *tektonv1.PipelineRun) map[string]string {
	out := map[string]string{}
	for _, p := range pr.Spec.Params {
		out[p.Name] = p.Value.StringVal
	}
	return out
}

// In keyless mode a run binds a short-lived projected token with Fulcio's audience instead of
// the signing key, and hands the sign task the authorities' URLs; deploy and preview runs alike.
func TestKeylessRuns(t *testing.T) {
	preview := &v1alpha1.Preview{
		ObjectMeta: metav1.ObjectMeta{Namespace: "acme", Name: trigger.PreviewName("hello", 7)},
		Spec:       v1alpha1.PreviewSpec{Application: "hello", PullRequest: 7, HeadRef: "feature", HeadSHA: afterSHA, Author: "tom"},
	}
	tests := []struct {
		name     string
		keyless  trigger.Keyless
		audience string
		params   map[string]string // "" means the param is left to its empty default
	}{
		{
			name:     "rekor, default audience",
			keyless:  trigger.Keyless{FulcioURL: "https://fulcio.example.com", RekorURL: "https://rekor.example.com"},
			audience: "sigstore",
			params:   map[string]string{"fulcio-url": "https://fulcio.example.com", "rekor-url": "https://rekor.example.com", "timestamp-url": ""},
		},
		{
			name: "timestamp authority, own audience",
			keyless: trigger.Keyless{FulcioURL: "http://fulcio.sigstore.svc", TimestampURL: "http://tsa.sigstore.svc/api/v1/timestamp",
				Audience: "fulcio.internal"},
			audience: "fulcio.internal",
			params:   map[string]string{"fulcio-url": "http://fulcio.sigstore.svc", "rekor-url": "", "timestamp-url": "http://tsa.sigstore.svc/api/v1/timestamp"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := keylessConfig()
			cfg.Keyless = &tc.keyless
			cfg.StatusTokenSecret = "gh-token"
			deploy, err := trigger.DeployRun(t.Context(), sampleDelivery("acme", "github-1"), sampleApplication("acme", "hello"), cfg)
			if err != nil {
				t.Fatal(err)
			}
			prev, err := trigger.PreviewRun(t.Context(), sampleDelivery("acme", "github-2"), previewApplication("acme"), preview, cfg)
			if err != nil {
				t.Fatal(err)
			}
			for _, pr := range []*tektonv1.PipelineRun{deploy, prev} {
				var names []string
				for _, w := range pr.Spec.Workspaces {
					names = append(names, w.Name)
					if w.Secret != nil && w.Name != "status-token" && w.Name != "registry-credentials" {
						t.Errorf("%s: workspace %s is bound to Secret %s", pr.Name, w.Name, w.Secret.SecretName)
					}
				}
				if got := strings.Join(names, ","); got != "source,cache,identity-token,status-token,registry-credentials" {
					t.Errorf("%s: workspaces = %s, want source,cache,identity-token,status-token,registry-credentials", pr.Name, got)
				}
				tok := identityToken(t, pr).Projected.Sources[0].ServiceAccountToken
				if tok.Audience != tc.audience || tok.Path != "token" || tok.ExpirationSeconds == nil ||
					*tok.ExpirationSeconds != trigger.IdentityTokenExpirationSeconds {
					t.Errorf("%s: token projection = %+v, want audience %s, path token, %ds", pr.Name, tok, tc.audience, trigger.IdentityTokenExpirationSeconds)
				}
				params := runParams(pr)
				for name, want := range tc.params {
					got, set := params[name]
					if got != want || (want == "") == set {
						t.Errorf("%s: param %s = %q (set %t), want %q", pr.Name, name, got, set, want)
					}
				}
				if tmpl := pr.Spec.TaskRunTemplate; tmpl.ServiceAccountName != "slipway-pipeline" || !ptrFalse(tmpl.PodTemplate.AutomountServiceAccountToken) {
					t.Errorf("%s: taskRunTemplate = %+v; the token must be the pipeline account's, and the only one in the pods", pr.Name, tmpl)
				}
			}
		})
	}
}

func ptrFalse(b *bool) bool { return b != nil && !*b }

func TestKeylessRunRefusals(t *testing.T) {
	tests := []struct {
		name    string
		config  func(*trigger.Config)
		params  map[string]string
		wantErr string
	}{
		{
			name:    "signing key and keyless both configured",
			config:  func(c *trigger.Config) { c.SigningKeySecret = "cosign-key" },
			wantErr: "both a signing key Secret and keyless signing are configured",
		},
		{
			name:    "application points the sign task at another Fulcio",
			params:  map[string]string{"fulcio-url": "https://fulcio.evil.example.com"},
			wantErr: `spec.build.params[fulcio-url]: param "fulcio-url" is set by Slipway from the platform's signing configuration`,
		},
		{
			name:    "application drops the transparency log",
			params:  map[string]string{"Rekor-URL": ""},
			wantErr: `spec.build.params[Rekor-URL]: param "rekor-url" is set by Slipway`,
		},
		{
			name:    "application sets a timestamp authority in key-pair mode",
			config:  func(c *trigger.Config) { c.Keyless, c.SigningKeySecret = nil, "cosign-key" },
			params:  map[string]string{"timestamp-url": "https://tsa.example.com"},
			wantErr: `param "timestamp-url" is set by Slipway`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := keylessConfig()
			if tc.config != nil {
				tc.config(&cfg)
			}
			app := sampleApplication("acme", "hello")
			app.Spec.Build.Params = tc.params
			_, err := trigger.DeployRun(t.Context(), sampleDelivery("acme", "github-1"), app, cfg)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
}
