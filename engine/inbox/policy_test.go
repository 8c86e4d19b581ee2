package inbox_test

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"slipway.dev/slipway/engine/api/v1alpha1"
	"slipway.dev/slipway/engine/inbox"
)

func TestPolicyReconciler(t *testing.T) {
	c, ns := testNamespace(t)
	for name, data := range map[string]map[string]string{"current": {"secret": "s3cr3t-value"}, "wrongkey": {"other": "x"}} {
		if err := c.Create(t.Context(), &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, StringData: data}); err != nil {
			t.Fatal(err)
		}
	}
	r := &inbox.PolicyReconciler{Client: c}
	for _, tc := range []struct {
		name          string
		refs          []v1alpha1.SecretKeyRef
		allowUnsigned bool
		wantStatus    metav1.ConditionStatus
		wantReason    string
		wantMessage   string
	}{
		{name: "signed", refs: []v1alpha1.SecretKeyRef{{Name: "current"}}, wantStatus: metav1.ConditionTrue,
			wantReason: inbox.ReasonSignatureRequired, wantMessage: "one of 1 webhook secrets"},
		{name: "one of two missing", refs: []v1alpha1.SecretKeyRef{{Name: "current"}, {Name: "rotated-out"}}, wantStatus: metav1.ConditionTrue,
			wantReason: inbox.ReasonSignatureRequired, wantMessage: "Secret rotated-out does not exist"},
		{name: "unsigned allowed", allowUnsigned: true, refs: []v1alpha1.SecretKeyRef{{Name: "current"}}, wantStatus: metav1.ConditionFalse,
			wantReason: v1alpha1.ReasonUnsignedAllowed, wantMessage: "anyone who can reach the webhook endpoint"},
		{name: "no secret", wantStatus: metav1.ConditionFalse, wantReason: inbox.ReasonNoWebhookSecret, wantMessage: "spec.source.webhookSecrets is empty"},
		{name: "all missing", refs: []v1alpha1.SecretKeyRef{{Name: "gone"}, {Name: "wrongkey"}}, wantStatus: metav1.ConditionFalse,
			wantReason: inbox.ReasonWebhookSecretMissing, wantMessage: `Secret gone does not exist; Secret wrongkey has no key "secret"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			app := &v1alpha1.Application{
				ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: strings.ReplaceAll(tc.name, " ", "-")},
				Spec: v1alpha1.ApplicationSpec{
					Source: v1alpha1.SourceSpec{Provider: "github", RepoURL: "https://github.com/acme/hello.git",
						WebhookSecrets: tc.refs, AllowUnsignedWebhooks: tc.allowUnsigned},
					Environments: []v1alpha1.Environment{{Name: "staging"}},
				},
			}
			if err := c.Create(t.Context(), app); err != nil {
				t.Fatal(err)
			}
			if _, err := r.Reconcile(t.Context(), ctrl.Request{NamespacedName: client.ObjectKeyFromObject(app)}); err != nil {
				t.Fatal(err)
			}
			if err := c.Get(t.Context(), client.ObjectKeyFromObject(app), app); err != nil {
				t.Fatal(err)
			}
			cond := meta.FindStatusCondition(app.Status.Conditions, v1alpha1.ConditionWebhooksVerified)
			if cond == nil || cond.Status != tc.wantStatus || cond.Reason != tc.wantReason || !strings.Contains(cond.Message, tc.wantMessage) {
				t.Fatalf("condition = %+v, want %s/%s containing %q", cond, tc.wantStatus, tc.wantReason, tc.wantMessage)
			}
			if strings.Contains(cond.Message, "s3cr3t-value") {
				t.Fatal("condition message contains a secret value")
			}
		})
	}
}
