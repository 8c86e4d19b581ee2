package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"slipway.dev/slipway/e2e/scenario"
	"slipway.dev/slipway/engine/api/v1alpha1"
)

// builderApps are the sample apps the whole chain (detect, build, scan, sign, verify, deploy)
// is timed with, one per builder.
var builderApps = []struct{ builder, src string }{
	{"Go fast path", "hello"},
	{"Dockerfile (Kaniko, sandboxed)", "dockerfile-hello"},
	{"buildpacks (CNB lifecycle)", "buildpacks-hello"},
}

// builders pushes each sample app twice: a first push (empty layer caches for Kaniko and the
// buildpacks, the Go build cache already warm from the hello pushes) and a second commit
// (warm). Each push is timed from the webhook to the Deployment being Available.
func (b *pushBench) builders(ctx context.Context) ([]pushResult, error) {
	var results []pushResult
	secret := []byte("bench-builders-webhook-secret")
	for i, ba := range builderApps {
		name := fmt.Sprintf("chain-%d", i)
		repoURL, err := b.dev.CreateRepo(name)
		if err != nil {
			return results, err
		}
		app := scenario.Application(b.dev.Namespace, name, repoURL, name+"-webhook")
		app.Spec.Build = v1alpha1.BuildSpec{Strategy: v1alpha1.BuildAuto}
		if err := scenario.CreateApp(ctx, b.dev.Client, app, secret); err != nil {
			return results, err
		}
		work := filepath.Join(b.dev.Dir, "bench-work", name)
		change := filepath.Join(b.dev.Dir, "bench-change-"+name)
		if err := os.MkdirAll(change, 0o755); err != nil {
			return results, err
		}
		empty := filepath.Join(b.dev.Dir, "bench-empty-"+name)
		if err := os.MkdirAll(empty, 0o755); err != nil {
			return results, err
		}
		for j, label := range []string{"first", "second commit", "unchanged tree (build reused)"} {
			src := filepath.Join(b.root, "testdata", "apps", ba.src)
			switch j {
			case 1:
				src = change
				if err := os.WriteFile(filepath.Join(change, "bench-revision.txt"), []byte(time.Now().String()), 0o644); err != nil {
					return results, err
				}
			case 2:
				src = empty
			}
			r, err := b.push(ctx, repoURL, src, work, ba.builder+": "+label, secret, app, 8*time.Minute)
			if err != nil {
				return results, fmt.Errorf("%s %s: %w", ba.builder, label, err)
			}
			r.Reused = j == 2
			results = append(results, r)
			b.progress("%s %s: available %.1fs after the webhook", ba.builder, label, r.Total.Seconds())
		}
	}
	return results, nil
}

func (r *report) buildersTable(b *strings.Builder) {
	section(b, "The whole chain per builder (sample apps, local mode)", r.BuildersErr)
	b.WriteString("Each sample app goes from a signed push webhook through detect, build, push, Trivy scan " +
		"(against the planted test database), cosign signing with SBOM and scan attestations, release, " +
		"config-repo commit, signature verification by the syncer and rollout, to its Deployment being " +
		"Available. The first push of each app starts with empty Kaniko and buildpacks layer caches; the " +
		"second push is a new commit of the same app; the third is a commit that leaves the app's tree " +
		"unchanged, so the build is skipped and the image built from that tree is scanned, signed and deployed.\n\n")
	b.WriteString("| push | ack (ms) |")
	for _, s := range scenario.Stages {
		fmt.Fprintf(b, " %s |", s)
	}
	b.WriteString(" **total (s)** | target |\n|---|---:|")
	b.WriteString(strings.Repeat("---:|", len(scenario.Stages)) + "---:|---|\n")
	for _, p := range r.Builders {
		target := targetAvailable
		if p.Reused {
			target = targetReused
		}
		writePushRow(b, p.Label, p.Ack, stageDeltas(p), p.Total, target)
	}
}
