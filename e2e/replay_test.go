package e2e_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"slipway.dev/slipway/e2e/scenario"
	"slipway.dev/slipway/engine/api/v1alpha1"
	"slipway.dev/slipway/engine/inbox"
	"slipway.dev/slipway/webhooks/event"
	"slipway.dev/slipway/webhooks/providers"
	"slipway.dev/slipway/webhooks/webhooktest"
)

// replayPayload is one real payload of the shared corpus and the provider event it was sent as.
type replayPayload struct {
	provider event.Provider
	event    string
	file     string
	kind     event.Kind
	// vary makes variant i of the payload a different change, for the providers whose
	// deliveries are deduplicated by the change they report (Gitea, Forgejo, Bitbucket): the same
	// body under another delivery id is a redelivery there. nil for providers whose delivery id
	// tells deliveries apart.
	vary func(doc map[string]any, i int)
}

// variantSHA is a commit SHA of its own for variant i.
func variantSHA(i int) string {
	sum := sha256.Sum256(fmt.Appendf(nil, "variant %d", i))
	return hex.EncodeToString(sum[:20])
}

func field(doc map[string]any, path ...string) map[string]any {
	for _, p := range path {
		doc = doc[p].(map[string]any)
	}
	return doc
}

var replayPayloads = []replayPayload{
	{event.GitHub, "push", "github/thirdparty/push.branch-update.drone-go-scm.json", event.Push, nil},
	{event.GitHub, "pull_request", "github/pull_request.opened.json", event.PROpened, nil},
	{event.GitHub, "issue_comment", "github/thirdparty/issue_comment.created-on-pr.drone-go-scm.json", event.PRComment, nil},
	{event.GitLab, "Push Hook", "gitlab/client-go/push.json", event.Push, nil},
	{event.GitLab, "Merge Request Hook", "gitlab/captured/merge_request.open.body.json", event.PROpened, nil},
	{event.GitLab, "Note Hook", "gitlab/client-go/note.merge_request.json", event.PRComment, nil},
	{event.Gitea, "push", "gitea/thirdparty/push.drone-go-scm.json", event.Push,
		func(d map[string]any, i int) { d["after"] = variantSHA(i) }},
	{event.Gitea, "pull_request", "gitea/thirdparty/pull_request.opened.drone-go-scm.json", event.PROpened,
		func(d map[string]any, i int) { field(d, "pull_request", "head")["sha"] = variantSHA(i) }},
	{event.Forgejo, "push", "gitea/thirdparty/push.drone-go-scm.json", event.Push,
		func(d map[string]any, i int) { d["after"] = variantSHA(i) }},
	{event.Bitbucket, "repo:push", "bitbucket/captured/repo_push.branch-update.body.json", event.Push,
		func(d map[string]any, i int) {
			field(d, "push")["changes"].([]any)[0].(map[string]any)["new"].(map[string]any)["target"].(map[string]any)["hash"] = variantSHA(i)
		}},
	{event.Bitbucket, "pullrequest:created", "bitbucket/thirdparty/pullrequest_created.drone-go-scm.json", event.PROpened,
		func(d map[string]any, i int) {
			field(d, "pullrequest", "source", "commit")["hash"] = variantSHA(i)[:12]
		}},
	{event.Bitbucket, "pullrequest:comment_created", "bitbucket/thirdparty/pullrequest_comment_created.drone-go-scm.json", event.PRComment,
		func(d map[string]any, i int) { field(d, "comment")["id"] = 1000 + i }},
}

// replayer sends the corpus's payloads, and variants of them, to a slipway dev.
type replayer struct {
	t      *testing.T
	secret []byte
	bodies map[string][]byte
}

// body returns variant i of p's payload; variant 0 is the payload as recorded.
func (r *replayer) body(p replayPayload, i int) []byte {
	if i == 0 || p.vary == nil {
		return r.bodies[p.file]
	}
	var doc map[string]any
	if err := json.Unmarshal(r.bodies[p.file], &doc); err != nil {
		r.t.Fatal(err)
	}
	p.vary(doc, i)
	b, err := json.Marshal(doc)
	if err != nil {
		r.t.Fatal(err)
	}
	return b
}

func (r *replayer) delivery(p replayPayload, variant int, id string, sig webhooktest.Signature) webhooktest.Delivery {
	return webhooktest.Delivery{Provider: p.provider, Event: p.event, ID: id, Body: r.body(p, variant), Secret: r.secret, Signature: sig}
}

// names returns the Delivery names d's events are recorded under, parsing it with the
// provider's own parser: the receiver's, so that the test and the inbox agree on what a
// redelivery is.
func names(t *testing.T, d webhooktest.Delivery) []string {
	t.Helper()
	h, err := d.Header()
	if err != nil {
		t.Fatal(err)
	}
	evs, err := providers.All()[d.Provider].Parse(h, d.Body)
	if err != nil {
		t.Fatalf("%s %s: %v", d.Provider, d.ID, err)
	}
	var out []string
	for _, ev := range evs {
		out = append(out, inbox.DeliveryName(ev.Provider, ev.Key()))
	}
	return out
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
		evs, err := providers.All()[p.provider].Parse(h, body)
		if err != nil {
			t.Fatalf("%s: %v", p.file, err)
		}
		repoURL := evs[0].RepoURL
		key := string(p.provider) + " " + repoURL
		if seen[key] || repoURL == "" {
			continue
		}
		seen[key] = true
		name := fmt.Sprintf("replay-%s-%d", p.provider, len(seen))
		app := &v1alpha1.Application{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
			Spec: v1alpha1.ApplicationSpec{
				Source: v1alpha1.SourceSpec{Provider: string(p.provider), RepoURL: repoURL, Branch: "replay-only",
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

var replayClient = &http.Client{Timeout: 15 * time.Second}

func send(ctx context.Context, baseURL string, d webhooktest.Delivery) (int, error) {
	req, err := d.Request(ctx, baseURL)
	if err != nil {
		return 0, err
	}
	return do(req)
}

func do(req *http.Request) (int, error) {
	resp, err := replayClient.Do(req)
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
// and missing signatures, redeliveries (for Gitea, Forgejo and Bitbucket also under new delivery
// ids), oversized and mistyped bodies, a delivery the API server refuses to store, and a
// concurrent burst; then it SIGKILLs the process in the middle of a second burst (see
// killDuringBurst).
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
	r := &replayer{t: t, secret: []byte("replay-secret")}
	r.bodies = replayApps(ctx, t, dev.Client, dev.Namespace, r.secret)

	// The receiver reads Applications and Secrets through a cache; the first signed delivery
	// waits until it has seen them (401 until then).
	err = scenario.Until(ctx, "the receiver to know the replay applications", func(ctx context.Context) (bool, error) {
		code, err := send(ctx, dev.WebhookURL, r.delivery(replayPayloads[0], 0, "warm-up", webhooktest.Signed))
		return code == http.StatusAccepted, err
	})
	if err != nil {
		t.Fatal(err)
	}

	for i, p := range replayPayloads {
		t.Run(fmt.Sprintf("%s %s", p.provider, p.event), func(t *testing.T) {
			id := fmt.Sprintf("replay-%02d", i)
			want := names(t, r.delivery(p, 0, id, webhooktest.Signed))
			steps := []struct {
				what string
				sig  webhooktest.Signature
				id   string
				want int
			}{
				{"bad signature", webhooktest.BadSignature, id + "-bad", http.StatusUnauthorized},
				{"missing signature", webhooktest.Unsigned, id + "-unsigned", http.StatusUnauthorized},
				{"signed", webhooktest.Signed, id, http.StatusAccepted},
				{"redelivery", webhooktest.Signed, id, http.StatusOK},
			}
			if p.vary != nil {
				steps = append(steps, struct {
					what string
					sig  webhooktest.Signature
					id   string
					want int
				}{"redelivery under a new delivery id", webhooktest.Signed, id + "-replayed", http.StatusOK})
			}
			for _, step := range steps {
				if step.what == "signed" {
					got := deliveries(ctx, t, dev.Client, dev.Namespace)
					for _, name := range want {
						if _, ok := got[name]; ok {
							t.Fatalf("delivery %s answered 401 was recorded", name)
						}
					}
				}
				code, err := send(ctx, dev.WebhookURL, r.delivery(p, 0, step.id, step.sig))
				if err != nil || code != step.want {
					t.Fatalf("%s: status %d (err %v), want %d", step.what, code, err, step.want)
				}
			}
			got := deliveries(ctx, t, dev.Client, dev.Namespace)
			for _, name := range want {
				d, ok := got[name]
				if !ok || d.Spec.Event != string(p.kind) || d.Spec.DeliveryID != id {
					t.Fatalf("delivery %s: found %v, event %q, id %q; want a %s delivery recorded with id %s", name, ok, d.Spec.Event, d.Spec.DeliveryID, p.kind, id)
				}
			}
		})
	}

	t.Run("status codes", func(t *testing.T) { statusCodes(ctx, t, dev, r) })

	// A burst: every payload in 20 variants, each sent twice at the same time.
	before := len(deliveries(ctx, t, dev.Client, dev.Namespace))
	var ds []webhooktest.Delivery
	for i := range 20 * len(replayPayloads) {
		ds = append(ds, r.delivery(replayPayloads[i%len(replayPayloads)], 1+i/len(replayPayloads), fmt.Sprintf("burst-%04d", i), webhooktest.Signed))
	}
	answered := burst(ctx, t, dev.WebhookURL, ds, 2, 16)
	got := deliveries(ctx, t, dev.Client, dev.Namespace)
	if want := before + len(ds); len(got) != want {
		t.Errorf("after the burst: %d deliveries, want %d (each once)", len(got), want)
	}
	for i, d := range ds {
		for _, name := range names(t, d) {
			if _, ok := got[name]; !ok {
				t.Errorf("%s (%s): no Delivery %s", d.ID, d.Provider, name)
			}
		}
		if codes := answered[i]; codes[http.StatusAccepted] != 1 || codes[http.StatusOK] != 1 {
			t.Errorf("%s answered %v, want one 202 and one 200", d.ID, codes)
		}
	}

	dev = killDuringBurst(ctx, t, dev, bin, dir, out, r)
}

// statusCodes covers, end to end, the answers that need no signature to fail: 413 for a body
// over 25 MiB, 415 for a content type the provider never sends, and 503 while the API server
// refuses to store Deliveries (here, an object-count quota), after which the provider's retry
// is accepted.
func statusCodes(ctx context.Context, t *testing.T, dev *scenario.Dev, r *replayer) {
	p := replayPayloads[0]
	huge := r.delivery(p, 0, "too-large", webhooktest.Signed)
	huge.Body = append(bytes.Repeat([]byte(" "), 25<<20), huge.Body...)
	if code, err := send(ctx, dev.WebhookURL, huge); err != nil || code != http.StatusRequestEntityTooLarge {
		t.Errorf("body over 25 MiB: status %d (err %v), want 413", code, err)
	}
	req, err := r.delivery(p, 0, "text", webhooktest.Signed).Request(ctx, dev.WebhookURL)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "text/plain")
	if code, err := do(req); err != nil || code != http.StatusUnsupportedMediaType {
		t.Errorf("text/plain body: status %d (err %v), want 415", code, err)
	}

	quota := &corev1.ResourceQuota{
		ObjectMeta: metav1.ObjectMeta{Namespace: dev.Namespace, Name: "no-more-deliveries"},
		Spec:       corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{"count/deliveries.slipway.dev": resource.MustParse("0")}},
	}
	if err := dev.Client.Create(ctx, quota); err != nil {
		t.Fatal(err)
	}
	// Quota admission learns of the quota through a watch; until then deliveries still get in.
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	var refused webhooktest.Delivery
	attempt := 0
	err = scenario.Until(ctx, "a delivery the API server refuses to store to be answered 503", func(ctx context.Context) (bool, error) {
		attempt++
		refused = r.delivery(replayPayloads[3], 0, fmt.Sprintf("refused-by-quota-%d", attempt), webhooktest.Signed)
		code, err := send(ctx, dev.WebhookURL, refused)
		if err == nil && code != http.StatusServiceUnavailable && code != http.StatusAccepted {
			return false, fmt.Errorf("status %d, want 503 (or 202 before the quota is seen)", code)
		}
		return code == http.StatusServiceUnavailable, err
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := deliveries(ctx, t, dev.Client, dev.Namespace); len(names(t, refused)) != 1 || got[names(t, refused)[0]].Name != "" {
		t.Errorf("delivery answered 503 was recorded")
	}
	if err := dev.Client.Delete(ctx, quota); err != nil {
		t.Fatal(err)
	}
	// The provider retries a 503; once admission lets go of the quota the retry is accepted.
	err = scenario.Until(ctx, "the retry of the refused delivery to be accepted", func(ctx context.Context) (bool, error) {
		code, err := send(ctx, dev.WebhookURL, refused)
		if err == nil && code != http.StatusServiceUnavailable && code != http.StatusAccepted {
			return false, fmt.Errorf("status %d, want 202 (or 503 while the quota lingers)", code)
		}
		return code == http.StatusAccepted, err
	})
	if err != nil {
		t.Error(err)
	}
}

// burst sends every delivery of ds, copies times at once, with at most conc requests in flight,
// and returns the status codes each got. Transport errors are not answers.
func burst(ctx context.Context, t *testing.T, baseURL string, ds []webhooktest.Delivery, copies, conc int) []map[int]int {
	t.Helper()
	var mu sync.Mutex
	answered := make([]map[int]int, len(ds))
	for i := range answered {
		answered[i] = map[int]int{}
	}
	sem := make(chan struct{}, conc)
	var wg sync.WaitGroup
	for i, d := range ds {
		for range copies {
			sem <- struct{}{}
			wg.Go(func() {
				defer func() { <-sem }()
				code, err := send(ctx, baseURL, d)
				mu.Lock()
				defer mu.Unlock()
				if err == nil {
					answered[i][code]++
				}
				if err == nil && code != http.StatusAccepted && code != http.StatusOK {
					t.Errorf("%s: status %d", d.ID, code)
				}
			})
		}
	}
	wg.Wait()
	return answered
}
