package e2e_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"slipway.dev/slipway/e2e/scenario"
	"slipway.dev/slipway/engine/api/v1alpha1"
	"slipway.dev/slipway/engine/inbox"
	"slipway.dev/slipway/webhooks/bitbucket"
	"slipway.dev/slipway/webhooks/event"
	"slipway.dev/slipway/webhooks/gitea"
	"slipway.dev/slipway/webhooks/github"
	"slipway.dev/slipway/webhooks/gitlab"
	"slipway.dev/slipway/webhooks/webhooktest"
)

// replayPayload is one real payload of the shared corpus and the provider event it was sent as.
type replayPayload struct {
	provider event.Provider
	event    string
	file     string
	kind     event.Kind
}

var replayPayloads = []replayPayload{
	{event.GitHub, "push", "github/thirdparty/push.branch-update.drone-go-scm.json", event.Push},
	{event.GitHub, "pull_request", "github/pull_request.opened.json", event.PROpened},
	{event.GitHub, "issue_comment", "github/thirdparty/issue_comment.created-on-pr.drone-go-scm.json", event.PRComment},
	{event.GitLab, "Push Hook", "gitlab/client-go/push.json", event.Push},
	{event.GitLab, "Merge Request Hook", "gitlab/captured/merge_request.open.body.json", event.PROpened},
	{event.GitLab, "Note Hook", "gitlab/client-go/note.merge_request.json", event.PRComment},
	{event.Gitea, "push", "gitea/thirdparty/push.drone-go-scm.json", event.Push},
	{event.Gitea, "pull_request", "gitea/thirdparty/pull_request.opened.drone-go-scm.json", event.PROpened},
	{event.Forgejo, "push", "gitea/thirdparty/push.drone-go-scm.json", event.Push},
	{event.Bitbucket, "repo:push", "bitbucket/captured/repo_push.branch-update.body.json", event.Push},
	{event.Bitbucket, "pullrequest:created", "bitbucket/thirdparty/pullrequest_created.drone-go-scm.json", event.PROpened},
	{event.Bitbucket, "pullrequest:comment_created", "bitbucket/thirdparty/pullrequest_comment_created.drone-go-scm.json", event.PRComment},
}

type parser interface {
	Parse(header http.Header, body []byte) ([]event.Event, error)
}

var parsers = map[event.Provider]parser{
	event.GitHub: github.New(), event.GitLab: gitlab.New(), event.Gitea: gitea.New(),
	event.Forgejo: gitea.NewForgejo(), event.Bitbucket: bitbucket.New(),
}

// replayApps creates one Application per provider and repository in the payloads, tracking a
// branch no payload pushes to, so that deliveries are recorded and matched but build nothing.
func replayApps(ctx context.Context, t *testing.T, c client.Client, ns string, secret []byte) map[string][]byte {
	t.Helper()
	bodies := map[string][]byte{}
	seen := map[string]bool{}
	for _, p := range replayPayloads {
		body, err := os.ReadFile(filepath.Join("../testdata/webhooks", p.file))
		if err != nil {
			t.Fatal(err)
		}
		bodies[p.file] = body
		h, _ := webhooktest.Delivery{Provider: p.provider, Event: p.event, ID: "probe", Body: body}.Header()
		evs, err := parsers[p.provider].Parse(h, body)
		if err != nil {
			t.Fatalf("%s: %v", p.file, err)
		}
		ev := evs[0]
		key := string(p.provider) + " " + ev.RepoURL
		if seen[key] || ev.RepoURL == "" {
			continue
		}
		seen[key] = true
		name := fmt.Sprintf("replay-%s-%d", p.provider, len(seen))
		app := &v1alpha1.Application{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
			Spec: v1alpha1.ApplicationSpec{
				Source: v1alpha1.SourceSpec{Provider: string(p.provider), RepoURL: ev.RepoURL, Branch: "replay-only",
					WebhookSecrets: []v1alpha1.SecretKeyRef{{Name: name}}},
				Environments: []v1alpha1.Environment{{Name: "dev"}},
			},
		}
		if err := c.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
			Data: map[string][]byte{"secret": secret}}); err != nil {
			t.Fatal(err)
		}
		if err := c.Create(ctx, app); err != nil {
			t.Fatal(err)
		}
	}
	return bodies
}

func send(ctx context.Context, baseURL string, d webhooktest.Delivery) (int, error) {
	req, err := d.Request(ctx, baseURL)
	if err != nil {
		return 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, nil
}

func deliveries(ctx context.Context, t *testing.T, c client.Client, ns string) map[string]v1alpha1.Delivery {
	t.Helper()
	var list v1alpha1.DeliveryList
	if err := c.List(ctx, &list, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	byName := map[string]v1alpha1.Delivery{}
	for _, d := range list.Items {
		byName[d.Name] = d
	}
	return byName
}

// TestWebhookReplay replays real payloads of every provider against slipway dev with good, bad
// and missing signatures, redeliveries and a concurrent burst, then SIGKILLs the process in the
// middle of a second burst: every delivery answered 2xx must exist after the restart, exactly
// once, and none answered 401 may.
func TestWebhookReplay(t *testing.T) {
	bin := slipwayBinary(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	dir := t.TempDir()
	out, err := os.Create(filepath.Join(t.TempDir(), "dev.out"))
	if err != nil {
		t.Fatal(err)
	}
	dev, err := scenario.StartDev(ctx, bin, dir, out)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { dev.Stop() }()
	secret := []byte("replay-secret")
	bodies := replayApps(ctx, t, dev.Client, dev.Namespace, secret)
	delivery := func(p replayPayload, id string, sig webhooktest.Signature) webhooktest.Delivery {
		return webhooktest.Delivery{Provider: p.provider, Event: p.event, ID: id, Body: bodies[p.file], Secret: secret, Signature: sig}
	}

	// The receiver reads Applications and Secrets through a cache; the first signed delivery
	// waits until it has seen them (401 until then).
	err = scenario.Until(ctx, "the receiver to know the replay applications", func(ctx context.Context) (bool, error) {
		code, err := send(ctx, dev.WebhookURL, delivery(replayPayloads[0], "warm-up", webhooktest.Signed))
		return code == http.StatusAccepted, err
	})
	if err != nil {
		t.Fatal(err)
	}

	for i, p := range replayPayloads {
		t.Run(fmt.Sprintf("%s %s", p.provider, p.event), func(t *testing.T) {
			id := fmt.Sprintf("replay-%02d", i)
			for _, step := range []struct {
				what string
				sig  webhooktest.Signature
				id   string
				want int
			}{
				{"bad signature", webhooktest.BadSignature, id + "-bad", http.StatusUnauthorized},
				{"missing signature", webhooktest.Unsigned, id + "-unsigned", http.StatusUnauthorized},
				{"signed", webhooktest.Signed, id, http.StatusAccepted},
				{"redelivery", webhooktest.Signed, id, http.StatusOK},
			} {
				code, err := send(ctx, dev.WebhookURL, delivery(p, step.id, step.sig))
				if err != nil || code != step.want {
					t.Fatalf("%s: status %d (err %v), want %d", step.what, code, err, step.want)
				}
			}
			got := deliveries(ctx, t, dev.Client, dev.Namespace)
			d, ok := got[inbox.DeliveryName(p.provider, id)]
			if !ok || d.Spec.Event != string(p.kind) || d.Spec.DeliveryID != id {
				t.Fatalf("delivery %s: found %v, event %q; want a %s delivery", id, ok, d.Spec.Event, p.kind)
			}
			for _, rejected := range []string{id + "-bad", id + "-unsigned"} {
				if _, ok := got[inbox.DeliveryName(p.provider, rejected)]; ok {
					t.Errorf("delivery %s answered 401 was recorded", rejected)
				}
			}
		})
	}

	// A burst: every payload under 20 ids, each sent twice at the same time.
	before := len(deliveries(ctx, t, dev.Client, dev.Namespace))
	answered := burst(ctx, t, dev.WebhookURL, 20, 2, 16, func(i int) webhooktest.Delivery {
		p := replayPayloads[i%len(replayPayloads)]
		return delivery(p, fmt.Sprintf("burst-%04d", i), webhooktest.Signed)
	})
	got := deliveries(ctx, t, dev.Client, dev.Namespace)
	if want := before + 20*len(replayPayloads); len(got) != want {
		t.Errorf("after the burst: %d deliveries, want %d (each once)", len(got), want)
	}
	for name, codes := range answered {
		if codes[http.StatusAccepted] != 1 || codes[http.StatusOK] != 1 {
			t.Errorf("%s answered %v, want one 202 and one 200", name, codes)
		}
	}

	// SIGKILL in the middle of a burst: what was answered 2xx survives.
	var killed sync.Once
	kill := func() { killed.Do(func() { dev.Kill() }) }
	sent := 0
	answered = burst(ctx, t, dev.WebhookURL, 40, 1, 16, func(i int) webhooktest.Delivery {
		if i == 15*len(replayPayloads) {
			go kill()
		}
		sent++
		p := replayPayloads[i%len(replayPayloads)]
		return delivery(p, fmt.Sprintf("kill-%04d", i), webhooktest.Signed)
	})
	kill()
	var acked []string
	for name, codes := range answered {
		if codes[http.StatusAccepted]+codes[http.StatusOK] > 0 {
			acked = append(acked, name)
		}
	}
	t.Logf("kill during burst: %d deliveries sent, %d answered 2xx before the kill", sent, len(acked))
	if len(acked) == 0 || len(acked) == len(answered) {
		t.Logf("the kill landed at an edge of the burst (%d of %d answered)", len(acked), len(answered))
	}
	dev, err = scenario.StartDev(ctx, bin, dir, out)
	if err != nil {
		t.Fatal(err)
	}
	got = deliveries(ctx, t, dev.Client, dev.Namespace)
	for _, name := range acked {
		if _, ok := got[name]; !ok {
			t.Errorf("delivery %s was answered 2xx before the kill but is gone after the restart", name)
		}
	}
}

// burst sends n rounds of every payload (delivery(i) for i < n*len(payloads)), each delivery
// copies times at once, with at most conc requests in flight, and returns the status codes each
// Delivery name got. Transport errors (a killed server) are not answers.
func burst(ctx context.Context, t *testing.T, baseURL string, n, copies, conc int, delivery func(i int) webhooktest.Delivery) map[string]map[int]int {
	t.Helper()
	var mu sync.Mutex
	answered := map[string]map[int]int{}
	sem := make(chan struct{}, conc)
	var wg sync.WaitGroup
	for i := range n * len(replayPayloads) {
		d := delivery(i)
		name := inbox.DeliveryName(d.Provider, d.ID)
		for range copies {
			sem <- struct{}{}
			wg.Go(func() {
				defer func() { <-sem }()
				code, err := send(ctx, baseURL, d)
				mu.Lock()
				defer mu.Unlock()
				if answered[name] == nil {
					answered[name] = map[int]int{}
				}
				if err == nil {
					answered[name][code]++
				}
				if err == nil && code != http.StatusAccepted && code != http.StatusOK && !strings.HasPrefix(d.ID, "kill-") {
					t.Errorf("%s: status %d", name, code)
				}
			})
		}
	}
	wg.Wait()
	return answered
}
