package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"slipway.dev/slipway/engine/api/v1alpha1"
)

// TestGetAppsShowsUnsigned proves that `slipway get apps` marks an Application that accepts
// unsigned webhooks in its row and warns about it under the table, whether its spec says so
// before the WebhooksVerified condition is written or the condition says so.
func TestGetAppsShowsUnsigned(t *testing.T) {
	app := func(name string, allowUnsigned bool, cond *metav1.Condition) v1alpha1.Application {
		a := v1alpha1.Application{
			ObjectMeta: metav1.ObjectMeta{Name: name, CreationTimestamp: metav1.NewTime(time.Now())},
			Spec: v1alpha1.ApplicationSpec{
				Source:       v1alpha1.SourceSpec{Provider: "gitea", RepoURL: "https://gitea.example.com/acme/" + name + ".git", AllowUnsignedWebhooks: allowUnsigned},
				Environments: []v1alpha1.Environment{{Name: "dev"}},
			},
		}
		if cond != nil {
			cond.Type = v1alpha1.ConditionWebhooksVerified
			a.Status.Conditions = []metav1.Condition{*cond}
		}
		return a
	}
	apps := []v1alpha1.Application{
		app("signed", false, &metav1.Condition{Status: metav1.ConditionTrue, Reason: "SignatureRequired"}),
		app("open", true, &metav1.Condition{Status: metav1.ConditionFalse, Reason: v1alpha1.ReasonUnsignedAllowed}),
		app("fresh", true, nil),
		app("nosecret", false, &metav1.Condition{Status: metav1.ConditionFalse, Reason: "NoWebhookSecret"}),
		app("new", false, nil),
	}
	var out bytes.Buffer
	if err := writeApps(&out, "default", apps); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	header := strings.Fields(lines[0])
	col := -1
	for i, h := range header {
		if h == "WEBHOOKS" {
			col = i
		}
	}
	if col < 0 {
		t.Fatalf("no WEBHOOKS column:\n%s", out.String())
	}
	want := map[string]string{"signed": "verified", "open": "UNSIGNED", "fresh": "UNSIGNED", "nosecret": "NoWebhookSecret", "new": "-"}
	for _, line := range lines[1 : 1+len(apps)] {
		f := strings.Fields(line)
		if got := f[col]; got != want[f[0]] {
			t.Errorf("%s: WEBHOOKS = %q, want %q", f[0], got, want[f[0]])
		}
	}
	warnings := lines[1+len(apps):]
	var got []string
	for _, l := range warnings {
		if l != "" {
			got = append(got, l)
		}
	}
	if len(got) != 2 || !strings.HasPrefix(got[0], "WARNING: application open accepts unsigned webhooks") ||
		!strings.HasPrefix(got[1], "WARNING: application fresh accepts unsigned webhooks") ||
		!strings.Contains(got[0], "https://gitea.example.com/acme/open.git") {
		t.Errorf("warnings under the table = %q, want one per unsigned application naming its repository", got)
	}

	out.Reset()
	if err := writeApps(&out, "default", apps[:1]); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out.String(), "WARNING") || strings.Contains(out.String(), "UNSIGNED") {
		t.Errorf("a signed application alone is shown with a warning:\n%s", out.String())
	}
}

// TestGetDeliveriesShowsUnsigned proves that `slipway get deliveries` marks each Delivery
// accepted without a signature and counts them under the table.
func TestGetDeliveriesShowsUnsigned(t *testing.T) {
	now := time.Now()
	delivery := func(name string, unsigned bool, at time.Duration) v1alpha1.Delivery {
		d := v1alpha1.Delivery{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: v1alpha1.DeliverySpec{Provider: "gitea", DeliveryID: name, Event: "push", Ref: "refs/heads/main",
				After: "0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c", ReceivedAt: metav1.NewTime(now.Add(at))},
		}
		if unsigned {
			d.Labels = map[string]string{v1alpha1.LabelUnsigned: "true"}
		}
		return d
	}
	var out bytes.Buffer
	err := writeDeliveries(&out, "default", []v1alpha1.Delivery{
		delivery("gitea-b", true, -time.Minute), delivery("gitea-a", false, -2*time.Minute), delivery("gitea-c", true, 0),
	})
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if h := strings.Fields(lines[0]); len(h) < 6 || h[5] != "SIGNED" {
		t.Fatalf("header %q, want SIGNED after SHA", lines[0])
	}
	for i, want := range [][2]string{{"gitea-a", "yes"}, {"gitea-b", "UNSIGNED"}, {"gitea-c", "UNSIGNED"}} {
		f := strings.Fields(lines[1+i])
		if f[0] != want[0] || f[5] != want[1] {
			t.Errorf("row %d = %s ... SIGNED %s, want %s ... %s", i, f[0], f[5], want[0], want[1])
		}
	}
	if last := lines[len(lines)-1]; !strings.HasPrefix(last, "WARNING: 2 of 3 deliveries were accepted without a signature") {
		t.Errorf("last line %q, want the warning counting the unsigned deliveries", last)
	}

	out.Reset()
	if err := writeDeliveries(&out, "default", []v1alpha1.Delivery{delivery("gitea-a", false, 0)}); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out.String(), "WARNING") {
		t.Errorf("signed deliveries alone are shown with a warning:\n%s", out.String())
	}
}
