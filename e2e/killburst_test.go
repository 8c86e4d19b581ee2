package e2e_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"

	"slipway.dev/slipway/e2e/scenario"
	"slipway.dev/slipway/engine/api/v1alpha1"
	"slipway.dev/slipway/webhooks/event"
	"slipway.dev/slipway/webhooks/webhooktest"
)

// The kill-during-burst scenario: how many deliveries, after how many 2xx answers the process
// is killed, how many requests are in flight, and how often a delivery is a push of the one
// branch an Application tracks (so that processing it creates a PipelineRun).
const (
	killBurstSize  = 480
	killAfterAcks  = 120
	killBurstConc  = 16
	killTrackEvery = 8
)

// killDuringBurst sends a burst of deliveries and SIGKILLs slipway dev as soon as killAfterAcks
// of them have been answered 2xx, while the other workers' requests are in flight. It checks:
//   - the kill landed mid-burst: at least killAfterAcks 2xx answers, and requests that were in
//     flight got no answer;
//   - after the restart, every delivery answered 2xx exists, exactly once;
//   - each is processed once: the trigger handles it (Ready), and a push of the tracked branch
//     has exactly one PipelineRun when the trigger says it ran one, none otherwise;
//   - the deliveries left unanswered, sent again as the provider would retry them, are answered
//     2xx and recorded exactly once too.
//
// It returns the restarted slipway dev.
func killDuringBurst(ctx context.Context, t *testing.T, dev *scenario.Dev, bin, dir string, out io.Writer, r *replayer) *scenario.Dev {
	t.Helper()
	repoURL := dev.GitURL + "/kill-burst.git" // never created: its runs fail at the clone, fast
	app := scenario.Application(dev.Namespace, "kill-burst", repoURL, "kill-burst-webhook")
	if err := scenario.CreateApp(ctx, dev.Client, app, r.secret); err != nil {
		t.Fatal(err)
	}
	trackedPush := func(id, before, after, ref string) webhooktest.Delivery {
		body, err := scenario.PushPayload(pushTemplate, repoURL, "local/kill-burst", before, after)
		if err != nil {
			t.Fatal(err)
		}
		if ref != "refs/heads/main" {
			var doc map[string]any
			if err := json.Unmarshal(body, &doc); err != nil {
				t.Fatal(err)
			}
			doc["ref"] = ref
			if body, err = json.Marshal(doc); err != nil {
				t.Fatal(err)
			}
		}
		return webhooktest.Delivery{Provider: event.GitHub, Event: "push", ID: id, Body: body, Secret: r.secret}
	}
	// A push of another branch verifies once the receiver has the new secret, and runs nothing.
	warm := trackedPush("kill-warm-up", variantSHA(-1), variantSHA(-2), "refs/heads/warm-up")
	if err := scenario.Until(ctx, "the receiver to know the kill-burst application", func(ctx context.Context) (bool, error) {
		code, err := send(ctx, dev.WebhookURL, warm)
		return code == http.StatusAccepted || code == http.StatusOK, err
	}); err != nil {
		t.Fatal(err)
	}

	ds := make([]webhooktest.Delivery, killBurstSize)
	tracked := map[int]bool{}
	prev := strings.Repeat("0", 40)
	for i := range ds {
		id := fmt.Sprintf("kill-%04d", i)
		if i%killTrackEvery == 0 {
			after := variantSHA(100000 + i)
			ds[i], tracked[i], prev = trackedPush(id, prev, after, "refs/heads/main"), true, after
			continue
		}
		ds[i] = r.delivery(replayPayloads[i%len(replayPayloads)], 100+i, id, webhooktest.Signed)
	}

	codes, lost := sendUntilKilled(ctx, dev, ds)
	var acked, unanswered []int
	for i, code := range codes {
		switch {
		case code == http.StatusAccepted || code == http.StatusOK:
			acked = append(acked, i)
		case code != 0 || lost[i]:
			unanswered = append(unanswered, i)
		}
	}
	inFlightLost := 0
	for _, l := range lost {
		if l {
			inFlightLost++
		}
	}
	t.Logf("kill during burst: %d answered 2xx, %d in flight got no answer, %d unsent", len(acked), inFlightLost, len(ds)-len(acked)-len(unanswered))
	if len(acked) < killAfterAcks || inFlightLost == 0 || len(acked)+len(unanswered) >= len(ds) {
		t.Fatalf("the kill did not land mid-burst: %d 2xx answers (want >= %d), %d requests in flight lost (want > 0), %d of %d sent",
			len(acked), killAfterAcks, inFlightLost, len(acked)+len(unanswered), len(ds))
	}

	dev, err := scenario.StartDev(ctx, bin, dir, out)
	if err != nil {
		t.Fatal(err)
	}
	got := deliveries(ctx, t, dev.Client, dev.Namespace)
	for _, i := range acked {
		for _, name := range names(t, ds[i]) {
			if d, ok := got[name]; !ok || d.Spec.DeliveryID != ds[i].ID {
				t.Errorf("%s was answered %d before the kill but its Delivery %s is gone after the restart (found %v, id %q)",
					ds[i].ID, codes[i], name, ok, d.Spec.DeliveryID)
			}
		}
	}

	// The provider retries what got no answer; the receiver needs its cache again first.
	if err := scenario.Until(ctx, "the restarted receiver to answer a redelivery", func(ctx context.Context) (bool, error) {
		code, err := send(ctx, dev.WebhookURL, ds[acked[0]])
		return code == http.StatusOK, err
	}); err != nil {
		t.Fatal(err)
	}
	for _, i := range unanswered {
		if code, err := send(ctx, dev.WebhookURL, ds[i]); err != nil || (code != http.StatusAccepted && code != http.StatusOK) {
			t.Errorf("%s, retried after the restart: status %d (err %v), want 202 or 200", ds[i].ID, code, err)
		}
	}

	// Exactly once: one Delivery per delivery sent, and nothing else from the burst.
	var sent []int
	sent = append(append(sent, acked...), unanswered...)
	want := map[string]int{}
	for _, i := range sent {
		for _, name := range names(t, ds[i]) {
			want[name] = i
		}
	}
	if err := scenario.Until(ctx, "the trigger to handle every delivery of the burst", func(ctx context.Context) (bool, error) {
		got = deliveries(ctx, t, dev.Client, dev.Namespace)
		for name := range want {
			if d, ok := got[name]; !ok || meta.FindStatusCondition(d.Status.Conditions, v1alpha1.ConditionReady) == nil {
				return false, nil
			}
		}
		return true, nil
	}); err != nil {
		t.Fatal(err)
	}
	byID := map[string]int{}
	for _, d := range got {
		if strings.HasPrefix(d.Spec.DeliveryID, "kill-") && d.Spec.DeliveryID != warm.ID {
			byID[d.Spec.DeliveryID]++
		}
	}
	for _, i := range sent {
		if n := byID[ds[i].ID]; n != 1 {
			t.Errorf("%s is recorded %d times, want once", ds[i].ID, n)
		}
	}
	if len(byID) != len(sent) {
		t.Errorf("%d deliveries of the burst recorded, %d sent", len(byID), len(sent))
	}

	// Processed once: the tracked pushes' runs.
	ran, pushes := 0, 0
	for name, i := range want {
		if !tracked[i] {
			continue
		}
		pushes++
		d := got[name]
		runs, err := scenario.RunsFor(ctx, dev.Client, dev.Namespace, name)
		if err != nil {
			t.Fatal(err)
		}
		ready := meta.FindStatusCondition(d.Status.Conditions, v1alpha1.ConditionReady)
		wantRuns := 0
		if ready.Reason == v1alpha1.ReasonSucceeded {
			wantRuns = 1
		}
		if len(runs) != wantRuns || len(d.Status.Triggered) != 1 || wantRuns == 1 && d.Status.Triggered[0].PipelineRun != runs[0].Name {
			t.Errorf("%s (Ready %s): %d runs, triggered %+v; want %d run, recorded on the Delivery", name, ready.Reason, len(runs), d.Status.Triggered, wantRuns)
		}
		ran += len(runs)
	}
	t.Logf("after the restart: %d deliveries of the burst, %d pipeline runs for its %d pushes of the tracked branch (the others superseded)", len(byID), ran, pushes)
	if ran == 0 {
		t.Error("no tracked push of the burst ran: processing was not exercised")
	}
	return dev
}

// sendUntilKilled sends ds from killBurstConc workers and SIGKILLs dev right after the
// killAfterAcks-th 2xx answer; workers then stop taking deliveries. codes[i] is the answer to
// ds[i] (0 if none); lost[i] is true for a request sent that got no answer.
func sendUntilKilled(ctx context.Context, dev *scenario.Dev, ds []webhooktest.Delivery) (codes []int, lost []bool) {
	codes, lost = make([]int, len(ds)), make([]bool, len(ds))
	var (
		acks    atomic.Int64
		next    atomic.Int64
		stopped atomic.Bool
		wg      sync.WaitGroup
	)
	for range killBurstConc {
		wg.Go(func() {
			for !stopped.Load() {
				i := int(next.Add(1)) - 1
				if i >= len(ds) {
					return
				}
				// Each index is written by the one worker that took it, and read after Wait.
				code, err := send(ctx, dev.WebhookURL, ds[i])
				if err != nil {
					lost[i] = true
					continue
				}
				codes[i] = code
				if (code == http.StatusAccepted || code == http.StatusOK) && acks.Add(1) == killAfterAcks {
					stopped.Store(true)
					dev.Kill() // the other workers' requests are in flight
				}
			}
		})
	}
	wg.Wait()
	return codes, lost
}
