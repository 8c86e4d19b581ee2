package e2e_test

import (
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"slipway.dev/slipway/e2e/scenario"
	"slipway.dev/slipway/engine/api/v1alpha1"
)

// TestBuilders pushes one app per builder through slipway dev: a Dockerfile app (Kaniko in a
// sandbox), a static site (Cloud Native Buildpacks with the sample builder) and a Go app (the
// Go fast path) each become a scanned, signed image that the syncer verifies and deploys; the
// Go app again, under a policy that blocks its planted MEDIUM finding, is stopped at the scan
// and shows up in `slipway get releases` as blocked, never deployed.
func TestBuilders(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	dir := t.TempDir()
	f := start(ctx, t, dir)
	defer f.dev.Stop()

	for _, tc := range []struct {
		app, src, strategy string
		port               int32
		params             map[string]string
		blocked            bool
	}{
		{app: "docker", src: "dockerfile-hello", strategy: "dockerfile", port: 8080},
		{app: "static", src: "buildpacks-hello", strategy: "buildpacks", port: 8080},
		{app: "gofast", src: "hello", strategy: "ko", port: 8080},
		{app: "strict", src: "hello", strategy: "ko", port: 8080, params: map[string]string{"severity-threshold": "MEDIUM"}, blocked: true},
	} {
		t.Run(tc.app, func(t *testing.T) {
			repoURL, err := f.dev.CreateRepo(tc.app)
			if err != nil {
				t.Fatal(err)
			}
			app := scenario.Application(f.dev.Namespace, tc.app, repoURL, "hello-webhook")
			app.Spec.Build = v1alpha1.BuildSpec{Strategy: v1alpha1.BuildAuto, Params: tc.params}
			app.Spec.Services[0].Port = tc.port
			if err := scenario.CreateApp(ctx, f.dev.Client, app, f.secret); err != nil {
				t.Fatal(err)
			}
			before, after, err := scenario.PushSource(ctx, repoURL, filepath.Join("../testdata/apps", tc.src), filepath.Join(dir, "work", tc.app), "first")
			if err != nil {
				t.Fatal(err)
			}
			push, err := scenario.SendPush(ctx, f.dev, pushTemplate, repoURL, before, after, f.secret)
			if err != nil {
				t.Fatal(err)
			}
			if tc.blocked {
				rel := waitBlocked(ctx, t, f.dev.Client, app, after)
				out, err := exec.CommandContext(ctx, slipwayBinary(t), "get", "releases", "--dir", dir).CombinedOutput()
				if err != nil || !strings.Contains(string(out), "BLOCKED 0C/0H/1M/0L") {
					t.Errorf("slipway get releases does not show %s blocked (err %v):\n%s", rel.Name, err, out)
				}
				runs, err := scenario.RunsFor(ctx, f.dev.Client, f.dev.Namespace, push.Delivery)
				if err != nil || len(runs) != 1 {
					t.Fatalf("runs for %s: %d (err %v)", push.Delivery, len(runs), err)
				}
				logs, err := exec.CommandContext(ctx, slipwayBinary(t), "logs", runs[0].Name, "--dir", dir).CombinedOutput()
				if err != nil || !strings.Contains(string(logs), "CVE-2099-0002") {
					t.Errorf("slipway logs %s does not show the blocking finding (err %v):\n%s", runs[0].Name, err, logs)
				}
				return
			}
			rel, err := scenario.Follow(ctx, f.dev, app, "dev", push, func(s string) { t.Logf("%s: %s", tc.app, s) })
			if err != nil {
				t.Fatal(err)
			}
			if s := rel.Spec.Scan; s == nil || !s.Passed || rel.Spec.Signature == "" || rel.Spec.SBOM == "" {
				t.Errorf("release %s: scan %+v, signature %q, attestations %q; want scanned, signed and attested", rel.Name, s, rel.Spec.Signature, rel.Spec.SBOM)
			}
			runs, err := scenario.RunsFor(ctx, f.dev.Client, f.dev.Namespace, push.Delivery)
			if err != nil || len(runs) != 1 {
				t.Fatalf("runs for %s: %d (err %v)", push.Delivery, len(runs), err)
			}
			for _, r := range runs[0].Status.Results {
				if r.Name == "STRATEGY" && strings.TrimSpace(r.Value.StringVal) != tc.strategy {
					t.Errorf("detected strategy %q, want %s", r.Value.StringVal, tc.strategy)
				}
			}
		})
	}
}

// waitBlocked waits for the Release the scan blocked and checks it is never deployed.
func waitBlocked(ctx context.Context, t *testing.T, c client.Client, app *v1alpha1.Application, sha string) *v1alpha1.Release {
	t.Helper()
	var rel v1alpha1.Release
	err := scenario.Until(ctx, "the scan to block the release", func(ctx context.Context) (bool, error) {
		var list v1alpha1.ReleaseList
		if err := c.List(ctx, &list, client.InNamespace(app.Namespace), client.MatchingLabels{v1alpha1.LabelSHA: sha, v1alpha1.LabelApplication: app.Name}); err != nil {
			return false, err
		}
		for _, r := range list.Items {
			if ready := meta.FindStatusCondition(r.Status.Conditions, v1alpha1.ConditionReady); ready != nil && ready.Reason == "ScanFailed" {
				rel = r
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if rel.Spec.Scan == nil || rel.Spec.Scan.Passed || rel.Spec.Scan.Medium != 1 {
		t.Errorf("blocked release %s scan = %+v, want one MEDIUM finding, not passed", rel.Name, rel.Spec.Scan)
	}
	// The deploy step saw it and did not commit it.
	time.Sleep(2 * time.Second)
	if err := c.Get(ctx, client.ObjectKeyFromObject(&rel), &rel); err != nil {
		t.Fatal(err)
	}
	if len(rel.Status.Environments) != 0 {
		t.Errorf("blocked release %s reached environments %+v", rel.Name, rel.Status.Environments)
	}
	return &rel
}
