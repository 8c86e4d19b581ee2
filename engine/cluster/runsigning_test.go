package cluster

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	tektonv1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"slipway.dev/slipway/engine/api/v1alpha1"
	"slipway.dev/slipway/engine/inbox"
	"slipway.dev/slipway/engine/trigger"
	"slipway.dev/slipway/webhooks/event"
)

func TestLoadControllerRunSigning(t *testing.T) {
	creds := writeFiles(t, map[string]string{"username": "slipway", "password": "s3cret-token"})
	base := env{
		EnvNamespace: "slipway-system", EnvRegistry: "registry.example.com/apps",
		EnvConfigRepoURL: "https://git.example.com/platform/config.git", EnvConfigRepoCredentials: creds,
		EnvStepImage: "registry.example.com/slipway/slipway@sha256:" + strings.Repeat("0a", 32),
	}
	keyPair := base.with(EnvSigningKeySecret, "cosign-key")
	keyless := base.with(EnvSigningMode, SigningKeyless, EnvSigningFulcioURL, "https://fulcio.example.com",
		EnvSigningRekorURL, "https://rekor.example.com")
	tests := []struct {
		name    string
		env     env
		want    []string         // variables the error must name; none: no error
		keyless *trigger.Keyless // what a good configuration yields; nil: key pair
	}{
		{name: "key pair by default", env: keyPair},
		{name: "key pair by name", env: keyPair.with(EnvSigningMode, SigningKeyPair)},
		{name: "key pair without a key", env: base, want: []string{EnvSigningKeySecret}},
		{name: "key pair with a keyless setting", env: keyPair.with(EnvSigningFulcioURL, "https://fulcio.example.com", EnvSigningTokenAudience, "sigstore"),
			want: []string{EnvSigningFulcioURL, EnvSigningTokenAudience}},
		{name: "unknown mode", env: keyPair.with(EnvSigningMode, "cosign"), want: []string{EnvSigningMode}},
		{name: "keyless with Rekor", env: keyless,
			keyless: &trigger.Keyless{FulcioURL: "https://fulcio.example.com", RekorURL: "https://rekor.example.com", Audience: "sigstore"}},
		{name: "keyless with a timestamp authority and an own audience", env: keyless.with(EnvSigningRekorURL, "",
			EnvSigningTimestampURL, "http://tsa.sigstore.svc/api/v1/timestamp", EnvSigningTokenAudience, "fulcio.internal"),
			keyless: &trigger.Keyless{FulcioURL: "https://fulcio.example.com", TimestampURL: "http://tsa.sigstore.svc/api/v1/timestamp", Audience: "fulcio.internal"}},
		{name: "keyless with both", env: keyless.with(EnvSigningTimestampURL, "https://tsa.example.com/api/v1/timestamp"),
			keyless: &trigger.Keyless{FulcioURL: "https://fulcio.example.com", RekorURL: "https://rekor.example.com",
				TimestampURL: "https://tsa.example.com/api/v1/timestamp", Audience: "sigstore"}},
		{name: "keyless without Fulcio", env: keyless.with(EnvSigningFulcioURL, ""), want: []string{EnvSigningFulcioURL}},
		{name: "keyless without a log or timestamp authority", env: keyless.with(EnvSigningRekorURL, ""), want: []string{EnvSigningRekorURL}},
		{name: "keyless with a signing key too", env: keyless.with(EnvSigningKeySecret, "cosign-key"), want: []string{EnvSigningKeySecret}},
		{name: "Fulcio URL without scheme", env: keyless.with(EnvSigningFulcioURL, "fulcio.example.com"), want: []string{EnvSigningFulcioURL}},
		{name: "Rekor URL with credentials", env: keyless.with(EnvSigningRekorURL, "https://user:hunter2@rekor.example.com"), want: []string{EnvSigningRekorURL}},
		{name: "timestamp URL not http", env: keyless.with(EnvSigningTimestampURL, "ftp://tsa.example.com"), want: []string{EnvSigningTimestampURL}},
		{name: "audience of the API server", env: keyless.with(EnvSigningTokenAudience, "https://kubernetes.default.svc.cluster.local"),
			want: []string{EnvSigningTokenAudience}},
		{name: "two audiences", env: keyless.with(EnvSigningTokenAudience, "sigstore,other"), want: []string{EnvSigningTokenAudience}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := LoadController(tc.env.get)
			checkProblems(t, err, tc.want, "hunter2")
			if len(tc.want) > 0 {
				return
			}
			switch {
			case tc.keyless == nil && (c.Keyless != nil || c.SigningKeySecret != "cosign-key"):
				t.Errorf("key pair mode: keyless %+v, key Secret %q", c.Keyless, c.SigningKeySecret)
			case tc.keyless != nil && (c.Keyless == nil || *c.Keyless != *tc.keyless || c.SigningKeySecret != ""):
				t.Errorf("keyless = %+v (key Secret %q), want %+v", c.Keyless, c.SigningKeySecret, tc.keyless)
			}
		})
	}
}

// The refusal of keyless signing without a trusted time says why, in the terms of the syncer's
// own refusal, and names what to set.
func TestKeylessSigningNeedsTrustedTime(t *testing.T) {
	creds := writeFiles(t, map[string]string{"username": "slipway", "password": "s3cret-token"})
	_, err := LoadController(env{
		EnvNamespace: "slipway-system", EnvRegistry: "registry.example.com/apps",
		EnvConfigRepoURL: "https://git.example.com/platform/config.git", EnvConfigRepoCredentials: creds,
		EnvStepImage:   "registry.example.com/slipway/slipway@sha256:" + strings.Repeat("0a", 32),
		EnvSigningMode: SigningKeyless, EnvSigningFulcioURL: "https://fulcio.example.com",
	}.get)
	if err == nil {
		t.Fatal("keyless signing without Rekor or a timestamp authority was accepted")
	}
	for _, want := range []string{"expire after 10 minutes", EnvSigningRekorURL, EnvSigningTimestampURL, EnvKeylessRekorPublicKey, EnvKeylessTSACertChain} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}

// A keyless controller, configured through its variables, creates runs on a real API server
// that bind the pipeline ServiceAccount's projected token for Fulcio and no signing-key Secret,
// with the authorities' URLs as params; the API server issues that token, and it opens nothing
// in the cluster itself.
func TestControllerKeylessRun(t *testing.T) {
	c, ns := apiServer.Namespace(t)
	if err := c.Create(t.Context(), newApp(ns, "hello")); err != nil {
		t.Fatal(err)
	}
	cfg, err := LoadController(env{
		EnvNamespace: ns, EnvRegistry: "registry.example.com/apps", EnvRegistryCredentialsSecret: "registry-push",
		EnvConfigRepoURL: startGit(t), EnvCacheDir: t.TempDir(), EnvStepImage: testStepImage,
		EnvSigningMode: SigningKeyless, EnvSigningFulcioURL: "https://fulcio.example.com",
		EnvSigningRekorURL: "https://rekor.example.com", EnvSigningTimestampURL: "https://tsa.example.com/api/v1/timestamp",
	}.get)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Common, cfg.Version = commonFor(t, ns), "v0.1.0"
	start(t, cfg.Common, func(ctx context.Context) error { return RunController(ctx, cfg) })

	in := &inbox.Inbox{Writer: c, Reader: c, Namespace: ns}
	if _, err := in.Record(t.Context(), event.Event{Provider: event.GitHub, Kind: event.Push, DeliveryID: "keyless-1",
		RepoURL: "https://github.com/Codertocat/Hello-World.git", RepoFullName: "Codertocat/Hello-World", Ref: "refs/heads/master",
		Before: "a10867b14bb761a232cd80139fbd4c0d33264240", After: "199eddf46df50de8d02e99bf1c5fdb4101338224", ReceivedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	var pr tektonv1.PipelineRun
	eventually(t, "a PipelineRun for the delivery", func() error {
		var runs tektonv1.PipelineRunList
		if err := c.List(t.Context(), &runs, client.InNamespace(ns),
			client.MatchingLabels{v1alpha1.LabelDelivery: inbox.DeliveryName(event.GitHub, "keyless-1")}); err != nil {
			return err
		}
		if len(runs.Items) != 1 {
			return fmt.Errorf("%d runs", len(runs.Items))
		}
		pr = runs.Items[0]
		return nil
	})

	var projection *corev1.ServiceAccountTokenProjection
	for _, w := range pr.Spec.Workspaces {
		switch {
		case w.Name == "signing-key":
			t.Errorf("run %s binds the signing-key workspace: %+v", pr.Name, w)
		case w.Secret != nil && w.Name != "registry-credentials":
			t.Errorf("run %s binds workspace %s to Secret %s", pr.Name, w.Name, w.Secret.SecretName)
		case w.Name == trigger.IdentityTokenWorkspace && w.Projected != nil && len(w.Projected.Sources) == 1:
			projection = w.Projected.Sources[0].ServiceAccountToken
		}
	}
	if projection == nil || projection.Audience != trigger.DefaultTokenAudience || projection.Path != "token" ||
		projection.ExpirationSeconds == nil || *projection.ExpirationSeconds != trigger.IdentityTokenExpirationSeconds {
		t.Fatalf("run %s identity-token projection = %+v, want the %s audience for %ds as file token (workspaces %+v)",
			pr.Name, projection, trigger.DefaultTokenAudience, trigger.IdentityTokenExpirationSeconds, pr.Spec.Workspaces)
	}
	for name, want := range map[string]string{"fulcio-url": "https://fulcio.example.com", "rekor-url": "https://rekor.example.com",
		"timestamp-url": "https://tsa.example.com/api/v1/timestamp"} {
		if got := param(&pr, name); got != want {
			t.Errorf("run %s param %s = %q, want %q", pr.Name, name, got, want)
		}
	}
	sa := pr.Spec.TaskRunTemplate.ServiceAccountName
	if sa != DefaultPipelineServiceAccount {
		t.Fatalf("run %s runs as %q, want %s", pr.Name, sa, DefaultPipelineServiceAccount)
	}

	// What the kubelet asks for the sign task's pod: the API server issues it for the
	// pipeline's ServiceAccount, which the controller created.
	account := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: sa}}
	tr := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{
		Audiences: []string{projection.Audience}, ExpirationSeconds: projection.ExpirationSeconds}}
	eventually(t, "a projected token for "+sa, func() error { return c.SubResource("token").Create(t.Context(), account, tr) })
	review := func(audiences ...string) authenticationv1.TokenReviewStatus {
		r := &authenticationv1.TokenReview{Spec: authenticationv1.TokenReviewSpec{Token: tr.Status.Token, Audiences: audiences}}
		if err := c.Create(t.Context(), r); err != nil {
			t.Fatal(err)
		}
		return r.Status
	}
	if st := review(projection.Audience); !st.Authenticated || st.User.Username != "system:serviceaccount:"+ns+":"+sa {
		t.Errorf("the token for %s is %+v, want the identity system:serviceaccount:%s:%s", projection.Audience, st.User, ns, sa)
	}
	if st := review(); st.Authenticated {
		t.Errorf("the sign task's token logs in to the API server as %s", st.User.Username)
	}
}
