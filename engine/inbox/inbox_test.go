package inbox_test

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"slipway.dev/slipway/engine/api/v1alpha1"
	"slipway.dev/slipway/engine/inbox"
	"slipway.dev/slipway/internal/kubetest"
	"slipway.dev/slipway/webhooks/event"
)

func TestDeliveryName(t *testing.T) {
	tests := []struct {
		name     string
		provider event.Provider
		id       string
		want     string // "" means a hashed name: provider, "-", 32 hex digits
	}{
		{
			name: "GitHub UUID", provider: event.GitHub, id: "72d3162e-cc78-11e3-81ab-4c9367dc0958",
			want: "github-72d3162e-cc78-11e3-81ab-4c9367dc0958",
		},
		{name: "number", provider: event.Gitea, id: "1234", want: "gitea-1234"},
		{name: "upper case", provider: event.GitLab, id: "72D3162E-CC78-11E3-81AB-4C9367DC0958"},
		{name: "slash and space", provider: event.Bitbucket, id: "a/b c"},
		{name: "leading hyphen", provider: event.GitHub, id: "-abc"},
		{name: "empty", provider: event.GitHub, id: ""},
		{name: "unicode", provider: event.Forgejo, id: "lieferung-ä"},
		{name: "just too long", provider: event.GitHub, id: strings.Repeat("a", 63-len("github-")+1)},
		{name: "longest readable", provider: event.GitHub, id: strings.Repeat("a", 63-len("github-")),
			want: "github-" + strings.Repeat("a", 63-len("github-"))},
		{name: "256 characters", provider: event.Bitbucket, id: strings.Repeat("{x}", 85) + "z"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := inbox.DeliveryName(tt.provider, tt.id)
			if tt.want != "" && got != tt.want {
				t.Errorf("DeliveryName(%s, %q) = %q, want %q", tt.provider, tt.id, got, tt.want)
			}
			if tt.want == "" {
				hash, ok := strings.CutPrefix(got, string(tt.provider)+"-")
				if !ok || len(hash) != 32 || strings.Trim(hash, "0123456789abcdef") != "" {
					t.Errorf("DeliveryName(%s, %q) = %q, want %s-<32 hex>", tt.provider, tt.id, got, tt.provider)
				}
			}
			// The name becomes a label value on the runs the delivery triggers.
			if errs := validation.IsDNS1123Label(got); len(errs) > 0 {
				t.Errorf("DeliveryName(%s, %q) = %q, not a DNS-1123 label: %v", tt.provider, tt.id, got, errs)
			}
			if again := inbox.DeliveryName(tt.provider, tt.id); again != got {
				t.Errorf("DeliveryName is not deterministic: %q then %q", got, again)
			}
		})
	}

	t.Run("distinct inputs give distinct names", func(t *testing.T) {
		seen := map[string]string{}
		for _, in := range []struct {
			p  event.Provider
			id string
		}{
			{event.GitHub, "abc"}, {event.GitLab, "abc"}, {event.GitHub, "ABC"}, {event.GitHub, "Abc"},
			{event.GitHub, "a/b"}, {event.GitHub, "a b"}, {event.Gitea, "a/b"},
			{event.GitHub, strings.Repeat("a", 57)}, {event.GitHub, strings.Repeat("a", 58)},
		} {
			n := inbox.DeliveryName(in.p, in.id)
			if prev, ok := seen[n]; ok {
				t.Errorf("DeliveryName(%s, %q) = %q, the same as for %s", in.p, in.id, n, prev)
			}
			seen[n] = fmt.Sprintf("%s %q", in.p, in.id)
		}
	})
}

func TestRecord(t *testing.T) {
	c, ns := testNamespace(t)
	in := &inbox.Inbox{Writer: c, Reader: c, Namespace: ns}
	received := time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)
	ev := event.Event{
		Provider: event.GitHub, Kind: event.PRUpdated, DeliveryID: "72d3162e-cc78-11e3-81ab-4c9367dc0958",
		RepoURL: "https://github.com/acme/hello.git", RepoFullName: "acme/hello", Ref: "refs/pull/7/head",
		Before: "9049f1265b7d61be4a8904a9a27120d2064dab3b", After: "0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c",
		PullRequest: &event.PullRequest{Number: 7, HeadRef: "feature", HeadSHA: "0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c",
			BaseRef: "main", BaseSHA: "9049f1265b7d61be4a8904a9a27120d2064dab3b", Fork: true},
		Comment: "/ok-to-test", Author: "alice", ReceivedAt: received,
		BodySHA256: event.BodyDigest([]byte(`{"action":"synchronize"}`)),
	}

	created, err := in.Record(t.Context(), ev)
	if err != nil || !created {
		t.Fatalf("Record = %v, %v; want true, nil", created, err)
	}
	var got v1alpha1.Delivery
	if err := c.Get(t.Context(), client.ObjectKey{Namespace: ns, Name: inbox.DeliveryName(ev.Provider, ev.DeliveryID)}, &got); err != nil {
		t.Fatal(err)
	}
	want := v1alpha1.DeliverySpec{
		Provider: "github", DeliveryID: ev.DeliveryID, Event: "pr-updated",
		RepoURL: ev.RepoURL, RepoFullName: "acme/hello", Ref: "refs/pull/7/head", Before: ev.Before, After: ev.After,
		PullRequest: &v1alpha1.PullRequestRef{Number: 7, HeadRef: "feature", HeadSHA: ev.PullRequest.HeadSHA,
			BaseRef: "main", BaseSHA: ev.PullRequest.BaseSHA, Fork: true},
		Comment: "/ok-to-test", Author: "alice", ReceivedAt: metav1.NewTime(received), BodySHA256: ev.BodySHA256,
	}
	// Semantic equality compares ReceivedAt as an instant: the round trip changes its location.
	if !equality.Semantic.DeepEqual(got.Spec, want) {
		t.Errorf("spec =\n%s\nwant\n%s", toYAML(t, got.Spec), toYAML(t, want))
	}
	if _, ok := got.Labels[v1alpha1.LabelUnsigned]; ok {
		t.Errorf("signed delivery labelled %s", v1alpha1.LabelUnsigned)
	}

	t.Run("redelivery", func(t *testing.T) {
		again := ev
		again.After = "1111111111111111111111111111111111111111" // the first recording wins
		created, err := in.Record(t.Context(), again)
		if err != nil || created {
			t.Fatalf("Record = %v, %v; want false, nil", created, err)
		}
		var list v1alpha1.DeliveryList
		if err := c.List(t.Context(), &list, client.InNamespace(ns)); err != nil {
			t.Fatal(err)
		}
		if len(list.Items) != 1 || list.Items[0].Spec.After != ev.After {
			t.Errorf("deliveries = %d (after %q), want the first one alone", len(list.Items), list.Items[0].Spec.After)
		}
	})

	t.Run("rejected by the API server", func(t *testing.T) {
		bad := ev
		bad.DeliveryID = "too-long-comment"
		bad.Comment = strings.Repeat("x", event.MaxCommentRunes+1)
		created, err := in.Record(t.Context(), bad)
		if err == nil || created || !strings.Contains(err.Error(), "record delivery") || !strings.Contains(err.Error(), "spec.comment") {
			t.Errorf("Record = %v, %v; want false and an error naming spec.comment", created, err)
		}
	})

	t.Run("unsigned", func(t *testing.T) {
		unsigned := ev
		unsigned.DeliveryID, unsigned.Unsigned = "unsigned-1", true
		if created, err := in.Record(t.Context(), unsigned); err != nil || !created {
			t.Fatalf("Record = %v, %v; want true, nil", created, err)
		}
		var list v1alpha1.DeliveryList
		if err := c.List(t.Context(), &list, client.InNamespace(ns), client.MatchingLabels{v1alpha1.LabelUnsigned: "true"}); err != nil {
			t.Fatal(err)
		}
		if len(list.Items) != 1 || list.Items[0].Spec.DeliveryID != "unsigned-1" {
			t.Errorf("deliveries labelled unsigned = %d, want unsigned-1 alone", len(list.Items))
		}
	})
}

// TestRecordByDedupKey proves that for a provider without a stable delivery id the Delivery is
// named after the change: a replay under a new delivery id is a duplicate, the first delivery
// id stays on record, and another change of the same delivery is recorded on its own.
func TestRecordByDedupKey(t *testing.T) {
	c, ns := testNamespace(t)
	in := &inbox.Inbox{Writer: c, Reader: c, Namespace: ns}
	ev := event.Event{
		Provider: event.Gitea, Kind: event.Push, DeliveryID: "6b2c7e07-1c1e-4c3a-9a1e-5a0a4e5e2f01",
		RepoURL: "https://gitea.example.com/acme/hello.git", RepoFullName: "acme/hello", Ref: "refs/heads/main",
		Before: "9049f1265b7d61be4a8904a9a27120d2064dab3b", After: "0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c",
		ReceivedAt: time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC), BodySHA256: event.BodyDigest([]byte("{}")),
	}
	ev.DedupKey = ev.ChangeKey("")
	if created, err := in.Record(t.Context(), ev); err != nil || !created {
		t.Fatalf("Record = %v, %v; want true, nil", created, err)
	}
	replay := ev
	replay.DeliveryID = "0f4d1e2a-7c55-4a1e-8d0b-2b7f0d2b9c11"
	if created, err := in.Record(t.Context(), replay); err != nil || created {
		t.Fatalf("Record of a replay under a new delivery id = %v, %v; want false, nil", created, err)
	}
	tag := ev
	tag.Kind, tag.Ref, tag.Before = event.Tag, "refs/tags/v1", ""
	tag.DedupKey = tag.ChangeKey("")
	if created, err := in.Record(t.Context(), tag); err != nil || !created {
		t.Fatalf("Record of another change of the delivery = %v, %v; want true, nil", created, err)
	}
	var list v1alpha1.DeliveryList
	if err := c.List(t.Context(), &list, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, d := range list.Items {
		got[d.Name] = d.Spec.Event + " " + d.Spec.DeliveryID
	}
	want := map[string]string{
		inbox.DeliveryName(event.Gitea, ev.DedupKey):  "push " + ev.DeliveryID,
		inbox.DeliveryName(event.Gitea, tag.DedupKey): "tag " + ev.DeliveryID,
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("deliveries = %v, want %v", got, want)
	}
}

func TestSecrets(t *testing.T) {
	c, ns := testNamespace(t)
	secrets := map[string]map[string]string{
		"hello-current":  {"secret": "s-current"},
		"hello-previous": {"token": "s-previous"},
		"hello-mirror":   {"secret": "s-mirror"},
		"hello-empty":    {"secret": ""},
		"hello-wrongkey": {"other": "s-wrongkey"},
		"other":          {"secret": "s-other"},
		"gitlab":         {"secret": "s-gitlab"},
	}
	for name, data := range secrets {
		s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, StringData: data}
		if err := c.Create(t.Context(), s); err != nil {
			t.Fatal(err)
		}
	}
	apps := []struct {
		name, provider, repo string
		refs                 []v1alpha1.SecretKeyRef
		allowUnsigned        bool
	}{
		{ // two secrets while one is rotated out
			name: "hello", provider: "github", repo: "https://github.com/acme/hello.git",
			refs: []v1alpha1.SecretKeyRef{{Name: "hello-current"}, {Name: "hello-previous", Key: "token"}},
		},
		{ // the same repository spelled differently; one Secret is missing, two hold nothing usable
			name: "hello-worker", provider: "github", repo: "http://GitHub.com/Acme/Hello/",
			refs: []v1alpha1.SecretKeyRef{{Name: "hello-mirror"}, {Name: "not-created-yet"}, {Name: "hello-empty"}, {Name: "hello-wrongkey"}},
		},
		{
			name: "other", provider: "github", repo: "https://github.com/acme/other",
			refs: []v1alpha1.SecretKeyRef{{Name: "other"}},
		},
		{
			name: "hello-on-gitlab", provider: "gitlab", repo: "https://github.com/acme/hello.git",
			refs: []v1alpha1.SecretKeyRef{{Name: "gitlab"}},
		},
		{
			name: "unsigned", provider: "gitea", repo: "https://gitea.example.com/acme/open.git", allowUnsigned: true,
		},
	}
	for _, a := range apps {
		app := &v1alpha1.Application{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: a.name},
			Spec: v1alpha1.ApplicationSpec{
				Source: v1alpha1.SourceSpec{Provider: a.provider, RepoURL: a.repo, WebhookSecrets: a.refs,
					AllowUnsignedWebhooks: a.allowUnsigned},
				Environments: []v1alpha1.Environment{{Name: "staging"}},
			},
		}
		if err := c.Create(t.Context(), app); err != nil {
			t.Fatal(err)
		}
	}
	// An Application elsewhere is never consulted.
	c2, otherNS := testNamespace(t)
	elsewhere := &v1alpha1.Application{
		ObjectMeta: metav1.ObjectMeta{Namespace: otherNS, Name: "hello"},
		Spec: v1alpha1.ApplicationSpec{
			Source:       v1alpha1.SourceSpec{Provider: "github", RepoURL: "https://github.com/acme/hello.git", AllowUnsignedWebhooks: true},
			Environments: []v1alpha1.Environment{{Name: "staging"}},
		},
	}
	if err := c2.Create(t.Context(), elsewhere); err != nil {
		t.Fatal(err)
	}

	in := &inbox.Inbox{Writer: c, Reader: c, Namespace: ns}
	tests := []struct {
		name              string
		provider          event.Provider
		repo              string
		want              []string
		wantAllowUnsigned bool
	}{
		{
			name: "https with .git", provider: event.GitHub, repo: "https://github.com/acme/hello.git",
			want: []string{"s-current", "s-mirror", "s-previous"},
		},
		{
			name: "http, upper case, no .git", provider: event.GitHub, repo: "http://github.com/ACME/hello",
			want: []string{"s-current", "s-mirror", "s-previous"},
		},
		{
			name: "trailing slash", provider: event.GitHub, repo: "https://github.com/acme/hello/",
			want: []string{"s-current", "s-mirror", "s-previous"},
		},
		{
			name: "other repository", provider: event.GitHub, repo: "https://github.com/acme/other.git",
			want: []string{"s-other"},
		},
		{
			name: "same URL, other provider", provider: event.GitLab, repo: "https://github.com/acme/hello.git",
			want: []string{"s-gitlab"},
		},
		{
			name: "unsigned allowed", provider: event.Gitea, repo: "https://gitea.example.com/acme/open",
			wantAllowUnsigned: true,
		},
		{
			name: "unknown repository", provider: event.GitHub, repo: "https://github.com/acme/unknown.git",
		},
		{
			name: "repository with a common prefix", provider: event.GitHub, repo: "https://github.com/acme/hello-world.git",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, allowUnsigned, err := in.Secrets(t.Context(), tt.provider, event.Repo{URL: tt.repo})
			if err != nil {
				t.Fatal(err)
			}
			var gotS []string
			for _, s := range got {
				gotS = append(gotS, string(s))
			}
			slices.Sort(gotS)
			if !slices.Equal(gotS, tt.want) {
				t.Errorf("secrets = %q, want %q", gotS, tt.want)
			}
			if allowUnsigned != tt.wantAllowUnsigned {
				t.Errorf("allowUnsigned = %v, want %v", allowUnsigned, tt.wantAllowUnsigned)
			}
		})
	}
}

func toYAML(t *testing.T, v any) []byte {
	t.Helper()
	b, err := yaml.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// apiServer is this package's one local API server, shared by its tests.
var apiServer = kubetest.New("inbox")

func TestMain(m *testing.M) { os.Exit(apiServer.Run(m)) }

// testNamespace returns a client of the shared API server and a new namespace for the test.
func testNamespace(t *testing.T) (client.Client, string) { return apiServer.Namespace(t) }
