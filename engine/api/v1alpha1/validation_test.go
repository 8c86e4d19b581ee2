package v1alpha1_test

import (
	"fmt"
	"os"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"slipway.dev/slipway/engine/api/v1alpha1"
	"slipway.dev/slipway/internal/kubetest"
)

// These tests prove that the validation written as kubebuilder markers reaches the generated
// CRDs and is enforced by a real kube-apiserver, with messages that name the offending field.

const digest = "sha256:4f53cda18c2baa0c0354bb5f9a3ecbe5ed12ab4d8e11ba873c2f11161202b945"

func TestApplicationValidation(t *testing.T) {
	c, ns := testNamespace(t)
	tests := []struct {
		name    string
		mutate  func(*v1alpha1.Application)
		wantErr []string // substrings of the error; none means the create succeeds
	}{
		{
			name:   "valid",
			mutate: func(*v1alpha1.Application) {},
		},
		{
			name:    "repo URL without scheme",
			mutate:  func(a *v1alpha1.Application) { a.Spec.Source.RepoURL = "github.com/acme/hello" },
			wantErr: []string{"spec.source.repoURL", "must be a clone URL"},
		},
		{
			name:    "repo URL with whitespace",
			mutate:  func(a *v1alpha1.Application) { a.Spec.Source.RepoURL = "https://github.com/acme/hel lo" },
			wantErr: []string{"spec.source.repoURL", "must be a clone URL"},
		},
		{
			name:   "ssh repo URL",
			mutate: func(a *v1alpha1.Application) { a.Spec.Source.RepoURL = "ssh://git@github.com/acme/hello.git" },
		},
		{
			name:    "unknown provider",
			mutate:  func(a *v1alpha1.Application) { a.Spec.Source.Provider = "svn" },
			wantErr: []string{"spec.source.provider", "Unsupported value"},
		},
		{
			name:    "unknown build strategy",
			mutate:  func(a *v1alpha1.Application) { a.Spec.Build.Strategy = "maven" },
			wantErr: []string{"spec.build.strategy", "Unsupported value"},
		},
		{
			name: "duplicate environment names",
			mutate: func(a *v1alpha1.Application) {
				a.Spec.Environments = []v1alpha1.Environment{{Name: "staging"}, {Name: "staging"}}
			},
			wantErr: []string{"spec.environments[1]", "Duplicate value"},
		},
		{
			name:    "no environments",
			mutate:  func(a *v1alpha1.Application) { a.Spec.Environments = []v1alpha1.Environment{} },
			wantErr: []string{"spec.environments", "at least 1 items"},
		},
		{
			name:    "environments missing",
			mutate:  func(a *v1alpha1.Application) { a.Spec.Environments = nil },
			wantErr: []string{"spec.environments", "Required value"},
		},
		{
			name:    "environment name not a DNS label",
			mutate:  func(a *v1alpha1.Application) { a.Spec.Environments[0].Name = "Staging" },
			wantErr: []string{"spec.environments[0].name"},
		},
		{
			name:    "service name not a DNS label",
			mutate:  func(a *v1alpha1.Application) { a.Spec.Services[0].Name = "Web_1" },
			wantErr: []string{"spec.services[0].name"},
		},
		{
			name:    "port out of range",
			mutate:  func(a *v1alpha1.Application) { a.Spec.Services[0].Port = 70000 },
			wantErr: []string{"spec.services[0].port", "less than or equal to 65535"},
		},
		{
			name:    "negative port",
			mutate:  func(a *v1alpha1.Application) { a.Spec.Services[0].Port = -1 },
			wantErr: []string{"spec.services[0].port", "greater than or equal to 1"},
		},
		{
			name:    "path escaping the repository",
			mutate:  func(a *v1alpha1.Application) { a.Spec.Source.Path = "apps/../../etc" },
			wantErr: []string{"spec.source.path", "must be a relative path"},
		},
		{
			name:    "absolute path",
			mutate:  func(a *v1alpha1.Application) { a.Spec.Source.Path = "/apps/hello" },
			wantErr: []string{"spec.source.path", "must be a relative path"},
		},
		{
			name:   "path with dots in a name",
			mutate: func(a *v1alpha1.Application) { a.Spec.Source.Path = "apps/hello..v2" },
		},
		{
			name:    "branch given as a ref",
			mutate:  func(a *v1alpha1.Application) { a.Spec.Source.Branch = "refs/heads/main" },
			wantErr: []string{"spec.source.branch", "must be a branch name"},
		},
		{
			name:   "branch with a slash",
			mutate: func(a *v1alpha1.Application) { a.Spec.Source.Branch = "release/v1" },
		},
		{
			name:    "build env name not an identifier",
			mutate:  func(a *v1alpha1.Application) { a.Spec.Build.Env = []v1alpha1.EnvVar{{Name: "1BAD"}} },
			wantErr: []string{"spec.build.env[0].name"},
		},
		{
			name: "approval without approvers",
			mutate: func(a *v1alpha1.Application) {
				a.Spec.Environments = append(a.Spec.Environments, v1alpha1.Environment{Name: "production", Approval: &v1alpha1.ApprovalPolicy{}})
			},
			wantErr: []string{"spec.environments[1].approval.approvers"},
		},
		{
			name: "too many webhook secrets",
			mutate: func(a *v1alpha1.Application) {
				a.Spec.Source.WebhookSecrets = make([]v1alpha1.SecretKeyRef, 5)
				for i := range a.Spec.Source.WebhookSecrets {
					a.Spec.Source.WebhookSecrets[i].Name = fmt.Sprintf("hook-%d", i)
				}
			},
			wantErr: []string{"spec.source.webhookSecrets", "at most 4 items"},
		},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			app := sampleApplication(ns, fmt.Sprintf("app-%d", i))
			tt.mutate(app)
			err := c.Create(t.Context(), app)
			checkCreateErr(t, err, tt.wantErr)
		})
	}
}

// TestApplicationDefaults proves the defaults declared in the types are applied by the API
// server, so that the engine reads them back without defaulting in code.
func TestApplicationDefaults(t *testing.T) {
	c, ns := testNamespace(t)
	app := sampleApplication(ns, "hello")
	app.Spec.Source.WebhookSecrets = []v1alpha1.SecretKeyRef{{Name: "hello-webhook"}}
	app.Spec.Environments = append(app.Spec.Environments, v1alpha1.Environment{
		Name: "production", Approval: &v1alpha1.ApprovalPolicy{Approvers: []string{"alice"}},
	})
	if err := c.Create(t.Context(), app); err != nil {
		t.Fatal(err)
	}
	var got v1alpha1.Application
	if err := c.Get(t.Context(), client.ObjectKeyFromObject(app), &got); err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"spec.source.branch", got.Spec.Source.Branch, "main"},
		{"spec.build.strategy", got.Spec.Build.Strategy, v1alpha1.BuildAuto},
		{"spec.services[0].port", got.Spec.Services[0].Port, int32(8080)},
		{"spec.source.webhookSecrets[0].key", got.Spec.Source.WebhookSecrets[0].Key, "secret"},
		{"spec.environments[1].approval.required", got.Spec.Environments[1].Approval.Required, int32(1)},
		{"TrackedBranch()", got.TrackedBranch(), "main"},
	}
	for _, ck := range checks {
		if ck.got != ck.want {
			t.Errorf("%s = %v, want %v", ck.name, ck.got, ck.want)
		}
	}
}

func TestDeliveryValidation(t *testing.T) {
	c, ns := testNamespace(t)
	tests := []struct {
		name    string
		mutate  func(*v1alpha1.Delivery)
		wantErr []string
	}{
		{name: "valid", mutate: func(*v1alpha1.Delivery) {}},
		{
			name:    "unknown event",
			mutate:  func(d *v1alpha1.Delivery) { d.Spec.Event = "deploy" },
			wantErr: []string{"spec.event", "Unsupported value"},
		},
		{
			name:    "empty delivery id",
			mutate:  func(d *v1alpha1.Delivery) { d.Spec.DeliveryID = "" },
			wantErr: []string{"spec.deliveryID"},
		},
		{
			name:    "comment too long",
			mutate:  func(d *v1alpha1.Delivery) { d.Spec.Comment = strings.Repeat("x", 4097) },
			wantErr: []string{"spec.comment", "Too long"},
		},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := sampleDelivery(ns, fmt.Sprintf("github-%d", i))
			tt.mutate(d)
			checkCreateErr(t, c.Create(t.Context(), d), tt.wantErr)
		})
	}
}

// TestDeliveryImmutable proves that a recorded delivery cannot be rewritten, while its status,
// written through the status subresource by the trigger, still can.
func TestDeliveryImmutable(t *testing.T) {
	c, ns := testNamespace(t)
	d := sampleDelivery(ns, "github-immutable")
	if err := c.Create(t.Context(), d); err != nil {
		t.Fatal(err)
	}

	changed := d.DeepCopy()
	changed.Spec.After = "1111111111111111111111111111111111111111"
	err := c.Update(t.Context(), changed)
	checkCreateErr(t, err, []string{"spec", "a Delivery's spec is immutable"})

	labelled := d.DeepCopy()
	labelled.Labels = map[string]string{"note": "metadata-stays-mutable"}
	if err := c.Update(t.Context(), labelled); err != nil {
		t.Errorf("update labels: %v", err)
	}

	labelled.Status.Conditions = []metav1.Condition{{Type: v1alpha1.ConditionReady, Status: metav1.ConditionTrue,
		Reason: v1alpha1.ReasonIgnored, Message: "test", LastTransitionTime: metav1.Now()}}
	if err := c.Status().Update(t.Context(), labelled); err != nil {
		t.Errorf("update status: %v", err)
	}
}

func TestReleaseValidation(t *testing.T) {
	c, ns := testNamespace(t)
	tests := []struct {
		name    string
		image   string
		sha     string
		wantErr []string
	}{
		{name: "pinned by digest", image: "127.0.0.1:5000/apps/hello@" + digest},
		{name: "tag and digest", image: "127.0.0.1:5000/apps/hello:v1@" + digest},
		{
			name:    "tag only",
			image:   "127.0.0.1:5000/apps/hello:latest",
			wantErr: []string{"spec.image", "pinned by digest"},
		},
		{
			name:    "short digest",
			image:   "127.0.0.1:5000/apps/hello@sha256:abc",
			wantErr: []string{"spec.image", "pinned by digest"},
		},
		{
			name:    "upper-case digest",
			image:   "127.0.0.1:5000/apps/hello@" + strings.ToUpper(digest),
			wantErr: []string{"spec.image", "pinned by digest"},
		},
		{
			name:    "digest without repository",
			image:   "@" + digest,
			wantErr: []string{"spec.image", "pinned by digest"},
		},
		{
			name:    "abbreviated source commit",
			image:   "127.0.0.1:5000/apps/hello@" + digest,
			sha:     "0d1a26e",
			wantErr: []string{"spec.sourceSHA"},
		},
		{
			name:  "SHA-256 source commit",
			image: "127.0.0.1:5000/apps/hello@" + digest,
			sha:   strings.Repeat("ab", 32),
		},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rel := sampleRelease(ns, fmt.Sprintf("hello-%d", i))
			rel.Spec.Image = tt.image
			if tt.sha != "" {
				rel.Spec.SourceSHA = tt.sha
			}
			checkCreateErr(t, c.Create(t.Context(), rel), tt.wantErr)
		})
	}
}

func TestReleaseImmutable(t *testing.T) {
	c, ns := testNamespace(t)
	rel := sampleRelease(ns, "hello-immutable")
	if err := c.Create(t.Context(), rel); err != nil {
		t.Fatal(err)
	}
	rel.Spec.Image = "127.0.0.1:5000/apps/other@" + digest
	checkCreateErr(t, c.Update(t.Context(), rel), []string{"a Release's spec is immutable"})
}

func TestPromotionValidation(t *testing.T) {
	c, ns := testNamespace(t)
	tests := []struct {
		name     string
		from, to string
		wantErr  []string
	}{
		{name: "between environments", from: "staging", to: "production"},
		{name: "to itself", from: "staging", to: "staging", wantErr: []string{"spec", "from and to must be different environments"}},
		{name: "empty target", from: "staging", to: "", wantErr: []string{"spec.to"}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := &v1alpha1.Promotion{
				ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("promo-%d", i)},
				Spec:       v1alpha1.PromotionSpec{Application: "hello", Release: "hello-0d1a26e67d8f", From: tt.from, To: tt.to},
			}
			checkCreateErr(t, c.Create(t.Context(), p), tt.wantErr)
		})
	}
}

// checkCreateErr fails unless err is nil when want is empty, or an Invalid error holding every
// substring of want.
func checkCreateErr(t *testing.T, err error, want []string) {
	t.Helper()
	if len(want) == 0 {
		if err != nil {
			t.Fatalf("rejected: %v", err)
		}
		return
	}
	if err == nil {
		t.Fatalf("accepted; want an error naming %q", want)
	}
	if !apierrors.IsInvalid(err) {
		t.Errorf("error is not Invalid (422): %v", err)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not contain %q", err.Error(), w)
		}
	}
}

func sampleApplication(ns, name string) *v1alpha1.Application {
	return &v1alpha1.Application{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: v1alpha1.ApplicationSpec{
			Source:       v1alpha1.SourceSpec{Provider: "github", RepoURL: "https://github.com/acme/hello.git"},
			Services:     []v1alpha1.Service{{Name: "web", HealthPath: "/healthz", Routes: []v1alpha1.Route{{Path: "/"}}}},
			Environments: []v1alpha1.Environment{{Name: "staging"}},
		},
	}
}

func sampleDelivery(ns, name string) *v1alpha1.Delivery {
	return &v1alpha1.Delivery{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: v1alpha1.DeliverySpec{
			Provider: "github", DeliveryID: name, Event: "push",
			RepoURL: "https://github.com/acme/hello.git", Ref: "refs/heads/main",
			Before: "9049f1265b7d61be4a8904a9a27120d2064dab3b", After: "0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c",
			ReceivedAt: metav1.Now(),
		},
	}
}

func sampleRelease(ns, name string) *v1alpha1.Release {
	return &v1alpha1.Release{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: v1alpha1.ReleaseSpec{
			Application: "hello", SourceSHA: "0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c",
			Image: "127.0.0.1:5000/apps/hello@" + digest,
		},
	}
}

// apiServer is this package's one local API server, shared by its tests.
var apiServer = kubetest.New("v1alpha1")

func TestMain(m *testing.M) { os.Exit(apiServer.Run(m)) }

// testNamespace returns a client of the shared API server and a new namespace for the test.
func testNamespace(t *testing.T) (client.Client, string) { return apiServer.Namespace(t) }
