// Package e2e_test runs Slipway's flows end to end against a real `slipway dev`: a real control
// plane, registry, Git server, local runner and syncer, driven by signed GitHub webhooks.
package e2e_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"slipway.dev/slipway/e2e/scenario"
	"slipway.dev/slipway/engine/api/v1alpha1"
)

const pushTemplate = "../testdata/webhooks/github/thirdparty/push.branch-update.drone-go-scm.json"

func slipwayBinary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end tests need the control plane; skipped with -short")
	}
	bin := os.Getenv("SLIPWAY_BINARY")
	if bin == "" || os.Getenv("SLIPWAY_K8S_BIN") == "" {
		t.Fatal("SLIPWAY_BINARY and SLIPWAY_K8S_BIN must be set: run the end-to-end tests with `make test`")
	}
	return bin
}

type fixture struct {
	dev     *scenario.Dev
	app     *v1alpha1.Application
	repoURL string
	work    string
	secret  []byte
}

// start runs slipway dev in dir, creates the hello Application and its source repository.
func start(ctx context.Context, t *testing.T, dir string) *fixture {
	t.Helper()
	bin := slipwayBinary(t)
	out, err := os.Create(filepath.Join(t.TempDir(), "dev.out"))
	if err != nil {
		t.Fatal(err)
	}
	args, err := scenario.SupplyChainArgs(ctx, "..", filepath.Join(dir, "supply-chain"))
	if err != nil {
		t.Fatal(err)
	}
	dev, err := scenario.StartDev(ctx, bin, dir, out, args...)
	if err != nil {
		t.Fatal(err)
	}
	repoURL, err := dev.CreateRepo("hello")
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{dev: dev, repoURL: repoURL, work: filepath.Join(dir, "work", "hello"), secret: []byte("e2e-secret")}
	f.app = scenario.Application(dev.Namespace, "hello", f.repoURL, "hello-webhook")
	if err := scenario.CreateApp(ctx, dev.Client, f.app, f.secret); err != nil {
		t.Fatal(err)
	}
	return f
}

func TestPushToDeploy(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	dir := t.TempDir()
	f := start(ctx, t, dir)
	defer f.dev.Stop()

	before, after, err := scenario.PushSource(ctx, f.repoURL, "../testdata/apps/hello", f.work, "first")
	if err != nil {
		t.Fatal(err)
	}
	push, err := scenario.SendPush(ctx, f.dev, pushTemplate, f.repoURL, before, after, f.secret)
	if err != nil {
		t.Fatal(err)
	}
	rel, err := scenario.Follow(ctx, f.dev, f.app, "dev", push, func(s string) { t.Logf("stage: %s", s) })
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(rel.Spec.Image, "@sha256:") || rel.Spec.SourceSHA != after {
		t.Errorf("release %s: image %q sha %q, want an image by digest built from %s", rel.Name, rel.Spec.Image, rel.Spec.SourceSHA, after)
	}
	// Scanned against the planted database (one MEDIUM finding in the Go standard library, let
	// through by the default policy) and signed: the syncer verified it before applying.
	if s := rel.Spec.Scan; s == nil || !s.Passed || s.Medium != 1 || rel.Spec.Signature == "" {
		t.Errorf("release %s: scan %+v, signature %q; want a passed scan with the planted finding, and a signature", rel.Name, s, rel.Spec.Signature)
	}

	t.Run("redelivery creates no new work", func(t *testing.T) {
		status, _, err := scenario.Post(ctx, f.dev.WebhookURL+"/hooks/github",
			scenario.GitHubHeaders(push.DeliveryID, f.secret, push.Body), push.Body)
		if err != nil || status != 200 {
			t.Fatalf("redelivery: status %d, err %v; want 200", status, err)
		}
		time.Sleep(time.Second)
		runs, err := scenario.RunsFor(ctx, f.dev.Client, f.dev.Namespace, push.Delivery)
		if err != nil || len(runs) != 1 {
			t.Fatalf("pipeline runs for %s: %d (err %v), want exactly 1", push.Delivery, len(runs), err)
		}
	})

	t.Run("bad and missing signatures get 401 and create nothing", func(t *testing.T) {
		for name, secret := range map[string][]byte{"bad": []byte("wrong"), "missing": nil} {
			id := scenario.NewDeliveryID()
			status, body, err := scenario.Post(ctx, f.dev.WebhookURL+"/hooks/github", scenario.GitHubHeaders(id, secret, push.Body), push.Body)
			if err != nil || status != 401 {
				t.Errorf("%s signature: status %d (%s), err %v; want 401", name, status, body, err)
			}
		}
		var list v1alpha1.DeliveryList
		if err := f.dev.Client.List(ctx, &list); err != nil {
			t.Fatal(err)
		}
		if len(list.Items) != 1 {
			t.Errorf("%d deliveries recorded, want only the signed one", len(list.Items))
		}
	})

	t.Run("config repo holds the commit with trailers", func(t *testing.T) {
		clone := filepath.Join(t.TempDir(), "config")
		if _, err := scenario.Git(ctx, dir, "clone", "-q", f.dev.GitURL+"/config.git", clone); err != nil {
			t.Fatal(err)
		}
		log, err := scenario.Git(ctx, clone, "log", "--format=%B", "--", "environments/dev/hello")
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"Source-Commit: " + after, "Image-Digest: " + rel.Spec.Image, "Slipway-Release: " + rel.Name} {
			if !strings.Contains(log, want) {
				t.Errorf("config repo log lacks %q:\n%s", want, log)
			}
		}
		b, err := os.ReadFile(filepath.Join(clone, "environments/dev/hello/deployment-web.yaml"))
		if err != nil || !strings.Contains(string(b), rel.Spec.Image) {
			t.Errorf("deployment manifest does not pin %s (err %v)", rel.Spec.Image, err)
		}
	})

	t.Run("slipway get shows it", func(t *testing.T) {
		for _, what := range []string{"apps", "deliveries", "releases"} {
			out, err := exec.CommandContext(ctx, slipwayBinary(t), "get", what, "--dir", dir).CombinedOutput()
			if err != nil {
				t.Fatalf("slipway get %s: %v\n%s", what, err, out)
			}
			if !strings.Contains(string(out), "hello") {
				t.Errorf("slipway get %s does not mention hello:\n%s", what, out)
			}
			t.Logf("slipway get %s:\n%s", what, out)
		}
	})

	// Last, since it adds a delivery: a commit that leaves the app's tree as it was deploys the
	// image already built, without building.
	t.Run("an unchanged source tree reuses the image", func(t *testing.T) {
		before2, after2, err := scenario.PushSource(ctx, f.repoURL, t.TempDir(), f.work, "no source change")
		if err != nil {
			t.Fatal(err)
		}
		push2, err := scenario.SendPush(ctx, f.dev, pushTemplate, f.repoURL, before2, after2, f.secret)
		if err != nil {
			t.Fatal(err)
		}
		rel2, err := scenario.Follow(ctx, f.dev, f.app, "dev", push2, func(s string) { t.Logf("stage: %s", s) })
		if err != nil {
			t.Fatal(err)
		}
		if rel2.Spec.SourceSHA != after2 || rel2.Spec.Image != rel.Spec.Image {
			t.Errorf("release %s: sha %s image %s; want sha %s with the first build's image %s", rel2.Name, rel2.Spec.SourceSHA, rel2.Spec.Image, after2, rel.Spec.Image)
		}
		if rel2.Spec.Signature == "" || rel2.Spec.Scan == nil {
			t.Errorf("release %s: a reused image must still be scanned and signed (scan %+v, signature %q)", rel2.Name, rel2.Spec.Scan, rel2.Spec.Signature)
		}
		runs, err := scenario.RunsFor(ctx, f.dev.Client, f.dev.Namespace, push2.Delivery)
		if err != nil || len(runs) != 1 {
			t.Fatalf("runs for %s: %d (err %v)", push2.Delivery, len(runs), err)
		}
		reused := ""
		for _, r := range runs[0].Status.Results {
			if r.Name == "REUSED" {
				reused = r.Value.StringVal
			}
		}
		skipped := map[string]bool{}
		for _, s := range runs[0].Status.SkippedTasks {
			skipped[s.Name] = true
		}
		if reused != "true" || !skipped["build-ko"] {
			t.Errorf("run %s: REUSED %q, skipped tasks %v; want the build reused and build-ko skipped", runs[0].Name, reused, skipped)
		}
	})
}

// TestKillResume kills slipway dev with SIGKILL while the pipeline runs and checks that the
// restarted process completes the delivery exactly once.
func TestKillResume(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	dir := t.TempDir()
	f := start(ctx, t, dir)

	before, after, err := scenario.PushSource(ctx, f.repoURL, "../testdata/apps/hello", f.work, "first")
	if err != nil {
		t.Fatal(err)
	}
	push, err := scenario.SendPush(ctx, f.dev, pushTemplate, f.repoURL, before, after, f.secret)
	if err != nil {
		t.Fatal(err)
	}
	err = scenario.Until(ctx, "a task run to start", func(ctx context.Context) (bool, error) {
		runs, err := scenario.RunsFor(ctx, f.dev.Client, f.dev.Namespace, push.Delivery)
		return err == nil && len(runs) == 1 && len(runs[0].Status.ChildReferences) > 0, err
	})
	if err != nil {
		t.Fatal(err)
	}
	f.dev.Kill()
	t.Log("killed slipway dev mid-pipeline; restarting")

	f = start(ctx, t, dir)
	defer f.dev.Stop()
	rel, err := scenario.Follow(ctx, f.dev, f.app, "dev", push, func(s string) { t.Logf("stage: %s", s) })
	if err != nil {
		t.Fatal(err)
	}
	runs, err := scenario.RunsFor(ctx, f.dev.Client, f.dev.Namespace, push.Delivery)
	if err != nil || len(runs) != 1 {
		t.Errorf("pipeline runs: %d (err %v), want exactly 1", len(runs), err)
	}
	var rels v1alpha1.ReleaseList
	if err := f.dev.Client.List(ctx, &rels); err != nil || len(rels.Items) != 1 {
		t.Errorf("releases: %d (err %v), want exactly 1", len(rels.Items), err)
	}
	clone := filepath.Join(t.TempDir(), "config")
	if _, err := scenario.Git(ctx, dir, "clone", "-q", f.dev.GitURL+"/config.git", clone); err != nil {
		t.Fatal(err)
	}
	n, err := scenario.Git(ctx, clone, "rev-list", "--count", "HEAD", "--", "environments/dev/hello")
	if err != nil || n != "1" {
		t.Errorf("config commits for hello: %s (err %v), want exactly 1", n, err)
	}
	t.Logf("release %s available after the restart", rel.Name)
}
