package cluster

import (
	"context"
	"net/http"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"slipway.dev/slipway/engine/api/v1alpha1"
	"slipway.dev/slipway/engine/inbox"
	"slipway.dev/slipway/webhooks/event"
	"slipway.dev/slipway/webhooks/webhooktest"
)

// The webhook component verifies deliveries against the Application's Secret or a
// provider-wide one, records each accepted one as a Delivery and refuses a bad signature.
func TestWebhookRecordsSignedDeliveries(t *testing.T) {
	c, ns := apiServer.Namespace(t)
	app := newApp(ns, "hello")
	app.Spec.Source.WebhookSecrets = []v1alpha1.SecretKeyRef{{Name: "hello-hook", Key: "secret"}}
	if err := c.Create(t.Context(), app); err != nil {
		t.Fatal(err)
	}
	createSecret(t, c, ns, "hello-hook", map[string]string{"secret": "app-secret"})
	createSecret(t, c, ns, "provider-hook", map[string]string{"token": "provider-secret"})

	cfg := WebhookConfig{Common: commonFor(t, ns), Addr: freeAddr(t), Secrets: []SecretRef{{Name: "provider-hook", Key: "token"}}}
	start(t, cfg.Common, func(ctx context.Context) error { return RunWebhook(ctx, cfg) })

	body := readFile(t, "../../testdata/webhooks/github/thirdparty/push.branch-update.drone-go-scm.json")
	tests := []struct {
		name   string
		id     string
		secret string
		sig    webhooktest.Signature
		want   int
	}{
		{name: "signed with the application's secret", id: "delivery-1", secret: "app-secret", want: http.StatusAccepted},
		{name: "signed with the provider-wide secret", id: "delivery-2", secret: "provider-secret", want: http.StatusAccepted},
		{name: "bad signature", id: "delivery-3", secret: "app-secret", sig: webhooktest.BadSignature, want: http.StatusUnauthorized},
		{name: "unsigned", id: "delivery-4", sig: webhooktest.Unsigned, want: http.StatusUnauthorized},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := webhooktest.Delivery{Provider: event.GitHub, Event: "push", ID: tc.id, Body: body, Secret: []byte(tc.secret), Signature: tc.sig}
			req, err := d.Request(t.Context(), "http://"+cfg.Addr)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Fatalf("status = %s, want %d", resp.Status, tc.want)
			}
			var got v1alpha1.Delivery
			err = c.Get(t.Context(), client.ObjectKey{Namespace: ns, Name: inbox.DeliveryName(event.GitHub, tc.id)}, &got)
			switch {
			case tc.want == http.StatusAccepted && err != nil:
				t.Fatalf("delivery not recorded: %v", err)
			case tc.want == http.StatusAccepted && (got.Spec.After != "199eddf46df50de8d02e99bf1c5fdb4101338224" || got.Spec.Ref != "refs/heads/master"):
				t.Errorf("delivery = %+v", got.Spec)
			case tc.want != http.StatusAccepted && !apierrors.IsNotFound(err):
				t.Errorf("refused delivery: Get = %v, want NotFound", err)
			}
		})
	}
}
