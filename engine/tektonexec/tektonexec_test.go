package tektonexec_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	v1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"knative.dev/pkg/apis"
	duckv1 "knative.dev/pkg/apis/duck/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"slipway.dev/slipway/engine/tektonexec"
	"slipway.dev/slipway/internal/kubetest"
)

var apiServer = kubetest.New("tektonexec")

func TestMain(m *testing.M) { os.Exit(apiServer.Run(m)) }

func run(ns, name string) *v1.PipelineRun {
	return &v1.PipelineRun{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: map[string]string{"slipway.dev/application": "hello"}},
		Spec: v1.PipelineRunSpec{PipelineRef: &v1.PipelineRef{Name: "slipway-deploy"},
			Params: v1.Params{{Name: "revision", Value: *v1.NewStructuredValues("0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c")}}},
	}
}

// tekton plays Tekton's controller: it writes the status transitions Tekton would.
type tekton struct {
	t *testing.T
	c client.Client
}

func (tk tekton) set(pr *v1.PipelineRun, status corev1.ConditionStatus, reason, msg string, results map[string]string) {
	tk.t.Helper()
	if err := tk.c.Get(tk.t.Context(), client.ObjectKeyFromObject(pr), pr); err != nil {
		tk.t.Fatal(err)
	}
	now := metav1.Now()
	pr.Status.StartTime = &now
	pr.Status.Conditions = duckv1.Conditions{{Type: apis.ConditionSucceeded, Status: status, Reason: reason, Message: msg}}
	pr.Status.Results = nil
	for k, v := range results {
		pr.Status.Results = append(pr.Status.Results, v1.PipelineRunResult{Name: k, Value: *v1.NewStructuredValues(v + "\n")})
	}
	if status != corev1.ConditionUnknown {
		pr.Status.CompletionTime = &now
	}
	if err := tk.c.Status().Update(tk.t.Context(), pr); err != nil {
		tk.t.Fatal(err)
	}
}

func TestLifecycle(t *testing.T) {
	c, ns := apiServer.Namespace(t)
	ex, err := tektonexec.New(apiServer.Config(t))
	if err != nil {
		t.Fatal(err)
	}
	tk := tekton{t: t, c: c}
	for _, tc := range []struct {
		name      string
		reason    string
		status    corev1.ConditionStatus
		results   map[string]string
		wantPhase tektonexec.Phase
	}{
		{name: "success", status: corev1.ConditionTrue, reason: "Succeeded", results: map[string]string{"IMAGE_URL": "r/app@sha256:abc"}, wantPhase: tektonexec.Succeeded},
		{name: "completed with skipped tasks", status: corev1.ConditionTrue, reason: "Completed", wantPhase: tektonexec.Succeeded},
		{name: "failure", status: corev1.ConditionFalse, reason: "Failed", wantPhase: tektonexec.Failed},
		{name: "cancelled", status: corev1.ConditionFalse, reason: "Cancelled", wantPhase: tektonexec.Cancelled},
		{name: "timeout", status: corev1.ConditionFalse, reason: "PipelineRunTimeout", wantPhase: tektonexec.TimedOut},
		{name: "could not start", status: corev1.ConditionFalse, reason: "CouldntGetPipeline", wantPhase: tektonexec.Failed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pr, err := ex.Submit(t.Context(), run(ns, "run-"+strings.ReplaceAll(tc.name, " ", "-")))
			if err != nil {
				t.Fatal(err)
			}
			var mu sync.Mutex
			var seen []tektonexec.Phase
			done := make(chan tektonexec.Outcome, 1)
			errs := make(chan error, 1)
			ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
			defer cancel()
			go func() {
				o, err := ex.Wait(ctx, ns, pr.Name, func(o tektonexec.Outcome) {
					mu.Lock()
					seen = append(seen, o.Phase)
					mu.Unlock()
				})
				errs <- err
				done <- o
			}()
			tk.set(pr, corev1.ConditionUnknown, "Running", "Tasks Completed: 0 (Failed: 0, Cancelled 0), Incomplete: 2", nil)
			tk.set(pr, tc.status, tc.reason, "the end", tc.results)
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
			o := <-done
			if o.Phase != tc.wantPhase || o.Reason != tc.reason || o.Message != "the end" {
				t.Errorf("outcome = %+v, want phase %s reason %s", o, tc.wantPhase, tc.reason)
			}
			for k, v := range tc.results {
				if o.Results[k] != v {
					t.Errorf("result %s = %q, want %q (trimmed)", k, o.Results[k], v)
				}
			}
			mu.Lock()
			defer mu.Unlock()
			if len(seen) < 2 || seen[0] != tektonexec.Running {
				t.Errorf("progress saw %v, want Running first and then the end", seen)
			}
		})
	}
}

func TestSubmitIsIdempotent(t *testing.T) {
	_, ns := apiServer.Namespace(t)
	ex, err := tektonexec.New(apiServer.Config(t))
	if err != nil {
		t.Fatal(err)
	}
	first, err := ex.Submit(t.Context(), run(ns, "once"))
	if err != nil {
		t.Fatal(err)
	}
	again, err := ex.Submit(t.Context(), run(ns, "once"))
	if err != nil || again.UID != first.UID {
		t.Fatalf("second Submit = %v, %v; want the first run back", again.UID, err)
	}
	other := run(ns, "once")
	other.Labels["slipway.dev/application"] = "another"
	if _, err := ex.Submit(t.Context(), other); !errors.Is(err, tektonexec.ErrNotOurs) {
		t.Fatalf("Submit of a different run under the same name: %v, want ErrNotOurs", err)
	}
}

func TestCancelAndStart(t *testing.T) {
	c, ns := apiServer.Namespace(t)
	ex, err := tektonexec.New(apiServer.Config(t))
	if err != nil {
		t.Fatal(err)
	}
	get := func(name string) *v1.PipelineRun {
		t.Helper()
		var pr v1.PipelineRun
		if err := c.Get(t.Context(), client.ObjectKey{Namespace: ns, Name: name}, &pr); err != nil {
			t.Fatal(err)
		}
		return &pr
	}
	for _, tc := range []struct {
		name       string
		pending    bool
		runFinally bool
		want       v1.PipelineRunSpecStatus
	}{
		{name: "cancel", want: v1.PipelineRunSpecStatusCancelled},
		{name: "cancel-run-finally", runFinally: true, want: v1.PipelineRunSpecStatusCancelledRunFinally},
		// A queued run never started: it has nothing for its finally tasks to report on.
		{name: "cancel-pending-run-finally", pending: true, runFinally: true, want: v1.PipelineRunSpecStatusCancelled},
	} {
		pr := run(ns, tc.name)
		pr.Annotations = map[string]string{"kept": "yes"}
		if tc.pending {
			pr.Spec.Status = v1.PipelineRunSpecStatusPending
		}
		if _, err := ex.Submit(t.Context(), pr); err != nil {
			t.Fatal(err)
		}
		if err := ex.Cancel(t.Context(), ns, tc.name, tc.runFinally, map[string]string{"slipway.dev/cancel-reason": "superseded"}); err != nil {
			t.Fatal(err)
		}
		got := get(tc.name)
		if got.Spec.Status != tc.want {
			t.Errorf("%s: spec.status = %q, want %q", tc.name, got.Spec.Status, tc.want)
		}
		if got.Annotations["slipway.dev/cancel-reason"] != "superseded" || got.Annotations["kept"] != "yes" {
			t.Errorf("%s: annotations = %v, want the reason added and the others kept", tc.name, got.Annotations)
		}
		// Cancelling again keeps the first request.
		if err := ex.Cancel(t.Context(), ns, tc.name, !tc.runFinally, map[string]string{"slipway.dev/cancel-reason": "again"}); err != nil ||
			get(tc.name).Spec.Status != tc.want || get(tc.name).Annotations["slipway.dev/cancel-reason"] != "superseded" {
			t.Errorf("%s: second cancel changed the run to %q, %v (err %v)", tc.name, get(tc.name).Spec.Status, get(tc.name).Annotations, err)
		}
	}
	if err := ex.Cancel(t.Context(), ns, "missing", true, nil); !apierrors.IsNotFound(err) {
		t.Errorf("Cancel of a missing run: %v, want NotFound", err)
	}

	// A finished run is not touched.
	done, err := ex.Submit(t.Context(), run(ns, "finished"))
	if err != nil {
		t.Fatal(err)
	}
	tekton{t: t, c: c}.set(done, corev1.ConditionTrue, "Succeeded", "", nil)
	if err := ex.Cancel(t.Context(), ns, "finished", false, nil); err != nil || get("finished").Spec.Status != "" {
		t.Errorf("cancel of a finished run: spec.status %q, err %v; want untouched", get("finished").Spec.Status, err)
	}

	// A queued run starts once, and starting a running one is a no-op.
	queued := run(ns, "queued")
	queued.Spec.Status = v1.PipelineRunSpecStatusPending
	if _, err := ex.Submit(t.Context(), queued); err != nil {
		t.Fatal(err)
	}
	for i, want := range []bool{true, false} {
		started, err := ex.Start(t.Context(), ns, "queued")
		if err != nil {
			t.Fatal(err)
		}
		if started != want {
			t.Errorf("Start #%d reported started=%v, want %v", i+1, started, want)
		}
		if got := get("queued").Spec.Status; got != "" {
			t.Fatalf("after Start: spec.status = %q, want cleared", got)
		}
	}
	// A cancelled run is not pending any more: Start leaves it cancelled.
	if started, err := ex.Start(t.Context(), ns, "cancel"); err != nil || started || get("cancel").Spec.Status != v1.PipelineRunSpecStatusCancelled {
		t.Errorf("Start of a cancelled run: started=%v err=%v spec.status=%q", started, err, get("cancel").Spec.Status)
	}
	if _, err := ex.Start(t.Context(), ns, "missing"); !apierrors.IsNotFound(err) {
		t.Errorf("Start of a missing run: %v, want NotFound", err)
	}
}

func TestWaitDeleted(t *testing.T) {
	c, ns := apiServer.Namespace(t)
	ex, err := tektonexec.New(apiServer.Config(t))
	if err != nil {
		t.Fatal(err)
	}
	pr, err := ex.Submit(t.Context(), run(ns, "deleted"))
	if err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 1)
	started := make(chan struct{})
	var once sync.Once
	go func() {
		_, err := ex.Wait(t.Context(), ns, pr.Name, func(tektonexec.Outcome) { once.Do(func() { close(started) }) })
		errs <- err
	}()
	<-started
	if err := c.Delete(t.Context(), pr); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-errs:
		if err == nil || !strings.Contains(err.Error(), "deleted") {
			t.Fatalf("Wait = %v, want an error saying the run was deleted", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("Wait did not return after the run was deleted")
	}
}

// BenchmarkSubmit is the PipelineRun creation rate through Tekton's clientset against a real
// API server with Tekton's CRDs, from 8 concurrent submitters.
func BenchmarkSubmit(b *testing.B) {
	_, ns := apiServer.Namespace(b)
	cfg := apiServer.Config(b)
	cfg.QPS, cfg.Burst = 1000, 1000
	ex, err := tektonexec.New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	// The first run waits for the API server to serve Tekton's kinds and for the client's
	// discovery; the figure is the steady rate after it.
	if _, err := ex.Submit(b.Context(), run(ns, "bench-warmup")); err != nil {
		b.Fatal(err)
	}
	var next atomic.Int64
	b.SetParallelism(4) // 4 x GOMAXPROCS(2) submitters
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := ex.Submit(b.Context(), run(ns, fmt.Sprintf("bench-%d", next.Add(1)))); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "runs/s")
}
