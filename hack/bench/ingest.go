package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	tektonv1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"slipway.dev/slipway/e2e/scenario"
	"slipway.dev/slipway/engine/api/v1alpha1"
)

// ingestRepo is the repository the burst is about. An Application tracks its main branch, so
// the receiver knows the secret, while the burst pushes other branches, so nothing is built.
const ingestRepo = "bench.git"

// requestTimeout is how long GitHub waits for an answer before it counts a delivery as failed.
const requestTimeout = 10 * time.Second

// ingestResult is one burst of signed deliveries at a fixed concurrency.
type ingestResult struct {
	Concurrency int
	Sent        int             // requests that got an answer or failed; < N if the time limit hit
	Status      map[int]int     // answers by status code
	Failed      int             // requests without an answer (transport error or timeout)
	Latency     []time.Duration // every answered request's latency, sorted
	Wall        time.Duration
	Recorded    int           // Delivery resources of this burst found afterwards
	Lost        int           // answered 202 but no Delivery resource
	Drained     time.Duration // from the burst's start until the trigger had handled all of it; 0 if it did not within the limit
	Runs        int           // PipelineRuns the burst caused (want 0)
}

// accepted is the number of 202 answers.
func (r ingestResult) accepted() int { return r.Status[http.StatusAccepted] }

// nonAccepted is every request that did not get a 202.
func (r ingestResult) nonAccepted() int { return r.Sent - r.accepted() }

// perSecond is the rate of durably accepted deliveries.
func (r ingestResult) perSecond() float64 {
	if r.Wall <= 0 {
		return 0
	}
	return float64(r.accepted()) / r.Wall.Seconds()
}

// quantile returns the q-quantile (nearest rank) of the sorted latencies.
func (r ingestResult) quantile(q float64) time.Duration {
	if len(r.Latency) == 0 {
		return 0
	}
	i := int(q*float64(len(r.Latency))+0.999999) - 1
	return r.Latency[max(0, min(i, len(r.Latency)-1))]
}

// signedDelivery is one prepared request.
type signedDelivery struct {
	id      string
	body    []byte
	headers map[string]string
}

// ingestBench sends bursts of signed push deliveries to a `slipway dev`'s receiver.
type ingestBench struct {
	dev      *scenario.Dev
	root     string
	secret   []byte
	repoURL  string
	progress func(format string, args ...any)
}

// setup creates the Application that makes the receiver know ingestRepo's secret.
func (b *ingestBench) setup(ctx context.Context) error {
	if err := loopbackOnly(b.dev.WebhookURL); err != nil {
		return err
	}
	b.repoURL = b.dev.GitURL + "/" + ingestRepo
	app := scenario.Application(b.dev.Namespace, "bench-ingest", b.repoURL, "bench-ingest-webhook")
	if err := scenario.CreateApp(ctx, b.dev.Client, app, b.secret); err != nil {
		return err
	}
	// The receiver reads Applications from a cache; wait until a signed delivery verifies.
	return scenario.Until(ctx, "the receiver to know the bench repository's secret", func(ctx context.Context) (bool, error) {
		d, err := b.prepare(1, "warmup")
		if err != nil {
			return false, err
		}
		status, _, err := scenario.Post(ctx, b.dev.WebhookURL+"/hooks/github", d[0].headers, d[0].body)
		return err == nil && status == http.StatusAccepted, nil
	})
}

// loopbackOnly refuses to send a burst anywhere but this machine.
func loopbackOnly(rawURL string) error {
	u, err := url.Parse(rawURL)
	if err != nil {
		return err
	}
	if ip := net.ParseIP(u.Hostname()); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("webhook URL %s is not a loopback address; the burst only targets 127.0.0.1", rawURL)
	}
	return nil
}

// prepare builds n signed push deliveries with distinct delivery ids, each pushing its own
// untracked branch refs/heads/<tag>-<i>.
func (b *ingestBench) prepare(n int, tag string) ([]signedDelivery, error) {
	base, err := scenario.PushPayload(filepath.Join(b.root, pushTemplate), b.repoURL, "local/bench",
		"9049f1265b7d61be4a8904a9a27120d2064dab3b", "0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c")
	if err != nil {
		return nil, err
	}
	var p map[string]any
	if err := json.Unmarshal(base, &p); err != nil {
		return nil, err
	}
	out := make([]signedDelivery, n)
	for i := range out {
		p["ref"] = fmt.Sprintf("refs/heads/%s-%d", tag, i)
		body, err := json.Marshal(p)
		if err != nil {
			return nil, err
		}
		id := scenario.NewDeliveryID()
		out[i] = signedDelivery{id: id, body: body, headers: scenario.GitHubHeaders(id, b.secret, body)}
	}
	return out, nil
}

// burst posts n deliveries from concurrency workers, each waiting for its answer before it
// sends the next, and stops early at limit. It then checks that every 202 left a Delivery and
// waits (again at most limit) until the trigger has handled them all.
func (b *ingestBench) burst(ctx context.Context, n, concurrency int, limit time.Duration) (ingestResult, error) {
	r := ingestResult{Concurrency: concurrency, Status: map[int]int{}}
	ds, err := b.prepare(n, fmt.Sprintf("bench-c%d", concurrency))
	if err != nil {
		return r, err
	}
	runsBefore, err := b.countRuns(ctx)
	if err != nil {
		return r, err
	}
	start := time.Now()
	status, lat := b.send(ctx, ds, concurrency, limit)
	r.Wall = time.Since(start)
	for i := range ds {
		switch {
		case status[i] > 0:
			r.Sent++
			r.Status[status[i]]++
			r.Latency = append(r.Latency, lat[i])
		case status[i] < 0:
			r.Sent++
			r.Failed++
		}
	}
	slices.Sort(r.Latency)
	ids, err := b.deliveries(ctx)
	if err != nil {
		return r, err
	}
	for i, d := range ds {
		_, ok := ids[d.id]
		switch {
		case ok:
			r.Recorded++
		case status[i] == http.StatusAccepted:
			r.Lost++
		}
	}
	if err := b.drain(ctx, ds, limit); err == nil {
		r.Drained = time.Since(start)
	} else {
		b.progress("burst c=%d: %v", concurrency, err)
	}
	runsAfter, err := b.countRuns(ctx)
	r.Runs = runsAfter - runsBefore
	return r, err
}

// drain waits until the trigger has marked every recorded Delivery of ds as handled.
func (b *ingestBench) drain(ctx context.Context, ds []signedDelivery, limit time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	return scenario.Until(ctx, "the trigger to handle the burst", func(ctx context.Context) (bool, error) {
		ids, err := b.deliveries(ctx)
		if err != nil {
			return false, err
		}
		for _, d := range ds {
			if handled, ok := ids[d.id]; ok && !handled {
				return false, nil
			}
		}
		return true, nil
	})
}

// send runs the workers. status[i] is the answer to ds[i], -1 if none came, 0 if never sent.
func (b *ingestBench) send(ctx context.Context, ds []signedDelivery, concurrency int, limit time.Duration) ([]int, []time.Duration) {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	// Keep one connection per worker: the default transport keeps two idle connections per host
	// and would measure TCP connection churn instead of the receiver.
	tr := &http.Transport{Proxy: nil, MaxIdleConns: concurrency, MaxIdleConnsPerHost: concurrency, MaxConnsPerHost: concurrency}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: requestTimeout}
	status, lat := make([]int, len(ds)), make([]time.Duration, len(ds))
	var next atomic.Int64
	var wg sync.WaitGroup
	for range concurrency {
		wg.Go(func() {
			for ctx.Err() == nil {
				i := int(next.Add(1)) - 1
				if i >= len(ds) {
					return
				}
				status[i], lat[i] = post(ctx, hc, b.dev.WebhookURL+"/hooks/github", ds[i])
			}
		})
	}
	wg.Wait()
	return status, lat
}

// post sends one delivery and returns its status (-1 without an answer) and latency. It is
// scenario.Post with a client of our own, for the connection pool above.
func post(ctx context.Context, hc *http.Client, url string, d signedDelivery) (int, time.Duration) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(d.body))
	if err != nil {
		return -1, 0
	}
	for k, v := range d.headers {
		req.Header.Set(k, v)
	}
	start := time.Now()
	resp, err := hc.Do(req)
	if err != nil {
		return -1, time.Since(start)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
	_ = resp.Body.Close()
	return resp.StatusCode, time.Since(start)
}

// deliveries returns the provider delivery id of every Delivery in the namespace, mapped to
// whether the trigger has handled it (its Ready condition is set).
func (b *ingestBench) deliveries(ctx context.Context) (map[string]bool, error) {
	ids := map[string]bool{}
	cont := ""
	for {
		var list v1alpha1.DeliveryList
		opts := []client.ListOption{client.InNamespace(b.dev.Namespace), client.Limit(1000)}
		if cont != "" {
			opts = append(opts, client.Continue(cont))
		}
		if err := b.dev.Client.List(ctx, &list, opts...); err != nil {
			return nil, fmt.Errorf("list deliveries: %w", err)
		}
		for _, d := range list.Items {
			ids[d.Spec.DeliveryID] = meta.FindStatusCondition(d.Status.Conditions, v1alpha1.ConditionReady) != nil
		}
		if cont = list.Continue; cont == "" {
			return ids, nil
		}
	}
}

func (b *ingestBench) countRuns(ctx context.Context) (int, error) {
	var list tektonv1.PipelineRunList
	if err := b.dev.Client.List(ctx, &list, client.InNamespace(b.dev.Namespace)); err != nil {
		return 0, fmt.Errorf("list pipeline runs: %w", err)
	}
	return len(list.Items), nil
}

// check is one edge case of the receiver and its answer.
type check struct {
	What, Want, Got string
	OK              bool
}

// checks sends a redelivery of an accepted delivery and a delivery with a wrong signature, and
// reports their answers and whether either created a Delivery.
func (b *ingestBench) checks(ctx context.Context) ([]check, error) {
	ds, err := b.prepare(2, "bench-check")
	if err != nil {
		return nil, err
	}
	url := b.dev.WebhookURL + "/hooks/github"
	first, _, err := scenario.Post(ctx, url, ds[0].headers, ds[0].body)
	if err != nil {
		return nil, err
	}
	before, err := b.deliveries(ctx)
	if err != nil {
		return nil, err
	}
	again, _, err := scenario.Post(ctx, url, ds[0].headers, ds[0].body)
	if err != nil {
		return nil, err
	}
	bad := scenario.GitHubHeaders(ds[1].id, []byte("not-the-secret"), ds[1].body)
	forged, _, err := scenario.Post(ctx, url, bad, ds[1].body)
	if err != nil {
		return nil, err
	}
	after, err := b.deliveries(ctx)
	if err != nil {
		return nil, err
	}
	_, forgedRecorded := after[ds[1].id]
	return []check{
		{What: "redelivery of an accepted delivery", Want: "202 then 200, one Delivery",
			Got: fmt.Sprintf("%d then %d; the redelivery added %d Deliveries", first, again, len(after)-len(before)),
			OK:  first == http.StatusAccepted && again == http.StatusOK && len(after) == len(before)},
		{What: "delivery signed with a wrong secret", Want: "401, no Delivery",
			Got: fmt.Sprintf("%d, recorded: %t", forged, forgedRecorded),
			OK:  forged == http.StatusUnauthorized && !forgedRecorded},
	}, nil
}

// ingestOnly runs the webhook bursts alone, against a fresh `slipway dev` started without the
// supply chain (nothing in the bursts builds), for profiling and tuning the accept path.
func ingestOnly(ctx context.Context, root string, c config, rep *report) (err error) {
	dir := c.dir
	if dir == "" {
		if dir, err = os.MkdirTemp("", "slipway-bench-ingest-"); err != nil {
			return err
		}
	}
	bin, err := filepath.Abs(c.bin)
	if err != nil {
		return err
	}
	logf, err := os.Create(filepath.Join(os.TempDir(), "slipway-bench-ingest-dev.out"))
	if err != nil {
		return err
	}
	defer logf.Close()
	progress("starting slipway dev in %s (output in %s)", dir, logf.Name())
	start := time.Now()
	dev, err := scenario.StartDev(ctx, bin, dir, logf)
	if err != nil {
		return err
	}
	rep.DevReady = time.Since(start)
	defer func() {
		if stopErr := dev.Stop(); stopErr != nil {
			progress("stop slipway dev: %v", stopErr)
		}
		if err == nil && !c.keep && c.dir == "" {
			err = os.RemoveAll(dir)
		} else {
			progress("state kept in %s", dir)
		}
	}()
	rep.IngestErr = ingestSection(ctx, dev, root, c, rep)
	return rep.IngestErr
}
