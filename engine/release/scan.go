package release

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	tektonv1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"slipway.dev/slipway/engine/api/v1alpha1"
)

// ReasonScanFailed marks a Release, and its Application, whose image the vulnerability scan
// stopped.
const ReasonScanFailed = "ScanFailed"

// Pipeline tasks whose results a failed run is read from.
const (
	taskFetch = "fetch"
	taskImage = "image"
	taskScan  = "scan"
)

// summary is the part of the scan task's SCAN_SUMMARY result a Release records.
type summary struct {
	Verdict  string         `json:"verdict"`
	Counts   map[string]int `json:"counts"`
	Blocking []string       `json:"blocking"`
	Count    int            `json:"blockingCount"`
}

func parseSummary(raw string) (summary, bool) {
	var s summary
	if strings.TrimSpace(raw) == "" || json.Unmarshal([]byte(raw), &s) != nil || s.Verdict == "" {
		return s, false
	}
	return s, true
}

// scanSummary turns a SCAN_SUMMARY result into the Release's summary; nil when there is none.
func scanSummary(raw string) *v1alpha1.ScanSummary {
	s, ok := parseSummary(raw)
	if !ok {
		return nil
	}
	count := func(sev string) int32 { return int32(s.Counts[sev] + s.Counts[strings.ToLower(sev)]) }
	return &v1alpha1.ScanSummary{Critical: count("CRITICAL"), High: count("HIGH"), Medium: count("MEDIUM"),
		Low: count("LOW"), Passed: s.Verdict == "pass"}
}

// blockedByScan records a run the scan stopped: a Release of the image that was built, marked
// ScanFailed with the blocking findings, so that `slipway get releases` shows what was stopped
// and why; the deploy step never deploys it. It reports false when the scan did not stop the run.
func (r *Reconciler) blockedByScan(ctx context.Context, app *v1alpha1.Application, pr *tektonv1.PipelineRun) (bool, error) {
	results, err := r.taskResults(ctx, pr, taskScan, taskImage, taskFetch)
	if err != nil {
		return false, err
	}
	s, ok := parseSummary(results[taskScan]["SCAN_SUMMARY"])
	if !ok || s.Verdict != "fail" {
		return false, nil
	}
	image, sha := results[taskImage]["IMAGE_URL"], results[taskFetch]["commit"]
	if !imageByDigest.MatchString(image) || !fullSHA.MatchString(sha) {
		return false, nil
	}
	rel := newRelease(app, pr, sha, image)
	rel.Spec.Scan = scanSummary(results[taskScan]["SCAN_SUMMARY"])
	msg := fmt.Sprintf("the vulnerability scan blocked %s: %d finding(s) at or above the threshold (%s); see `slipway logs %s`",
		image, s.Count, strings.Join(s.Blocking, ", "), pr.Name)
	if _, err := r.create(ctx, app, rel); err != nil {
		return true, err
	}
	if err := r.Client.Get(ctx, client.ObjectKeyFromObject(rel), rel); err != nil {
		return true, fmt.Errorf("read release %s: %w", rel.Name, err)
	}
	if meta.SetStatusCondition(&rel.Status.Conditions, metav1.Condition{Type: v1alpha1.ConditionReady,
		Status: metav1.ConditionFalse, Reason: ReasonScanFailed, Message: msg}) {
		if err := r.Client.Status().Update(ctx, rel); err != nil {
			return true, fmt.Errorf("update release %s status: %w", rel.Name, err)
		}
	}
	return true, r.markApp(ctx, app, metav1.ConditionFalse, ReasonScanFailed, fmt.Sprintf("release %s: %s", rel.Name, msg))
}

// taskResults reads the results of the named pipeline tasks' TaskRuns of pr.
func (r *Reconciler) taskResults(ctx context.Context, pr *tektonv1.PipelineRun, tasks ...string) (map[string]map[string]string, error) {
	out := map[string]map[string]string{}
	for _, ref := range pr.Status.ChildReferences {
		want := false
		for _, t := range tasks {
			want = want || ref.PipelineTaskName == t
		}
		if !want || ref.Kind != "TaskRun" {
			continue
		}
		var tr tektonv1.TaskRun
		if err := r.Client.Get(ctx, client.ObjectKey{Namespace: pr.Namespace, Name: ref.Name}, &tr); err != nil {
			if client.IgnoreNotFound(err) == nil {
				continue
			}
			return nil, fmt.Errorf("read task run %s: %w", ref.Name, err)
		}
		res := map[string]string{}
		for _, r := range tr.Status.Results {
			res[r.Name] = strings.TrimSpace(r.Value.StringVal)
		}
		out[ref.PipelineTaskName] = res
	}
	return out, nil
}
