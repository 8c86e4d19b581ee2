package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"slipway.dev/slipway/e2e/scenario"
)

// Targets from DESIGN.md ("Targets").
const (
	targetPerSecond = 500
	targetP99       = 50 * time.Millisecond
	targetAvailable = 15 * time.Second
	targetReused    = 5 * time.Second // a config-only change
)

// report is everything measured, and why a section is missing.
type report struct {
	Started     time.Time
	Machine     string
	Go          []goBench
	DevReady    time.Duration
	ColdGoCache bool
	Pushes      []pushResult
	Builders    []pushResult
	Ingest      []ingestResult
	Checks      []check

	GoErr, E2EErr, PushErr, IngestErr error
	BuildersErr                       error
}

// describeMachine names the CPU count and model, memory, Go version and OS.
func describeMachine(ctx context.Context) string {
	model, mem := "", ""
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() && model == "" {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
			}
		}
		f.Close()
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for line := range strings.Lines(string(b)) {
			if f := strings.Fields(line); len(f) >= 2 && f[0] == "MemTotal:" {
				if kb, err := strconv.ParseFloat(f[1], 64); err == nil {
					mem = fmt.Sprintf("%.1f GiB memory", kb/(1<<20))
				}
			}
		}
	}
	gover := runtime.Version()
	if out, err := exec.CommandContext(ctx, "go", "env", "GOVERSION").Output(); err == nil {
		gover = strings.TrimSpace(string(out))
	}
	parts := []string{fmt.Sprintf("%d CPUs (nproc)", runtime.NumCPU())}
	if model != "" {
		parts[0] += ", " + model
	}
	if mem != "" {
		parts = append(parts, mem)
	}
	parts = append(parts, gover, runtime.GOOS+"/"+runtime.GOARCH)
	return strings.Join(parts, "; ")
}

func (r *report) markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "# Benchmarks\n\nWritten by `make bench` (`hack/bench`) on %s.\n\nMachine: %s.\n",
		r.Started.UTC().Format("2006-01-02 15:04 MST"), r.Machine)
	b.WriteString("\nThe machine is shared, so figures vary between runs; compare runs on the same machine.\n")
	r.goTable(&b)
	r.pushTable(&b)
	r.buildersTable(&b)
	r.ingestTable(&b)
	return b.String()
}

func section(b *strings.Builder, title string, err error) {
	fmt.Fprintf(b, "\n## %s\n\n", title)
	if err != nil {
		fmt.Fprintf(b, "**Incomplete:** %s\n\n", strings.ReplaceAll(err.Error(), "\n", " "))
	}
}

func (r *report) goTable(b *strings.Builder) {
	section(b, "Go benchmarks", r.GoErr)
	b.WriteString("`go test -run '^$' -bench . -benchmem -count 1` over every package with benchmarks.\n\n")
	writeGoTable(b, r.Go)
}

// num formats a per-op figure with thousands separators; "-" when not reported.
func num(v float64) string {
	if v < 0 {
		return "-"
	}
	if v < 100 && v != float64(int64(v)) {
		return strconv.FormatFloat(v, 'f', 2, 64)
	}
	s := strconv.FormatInt(int64(v+0.5), 10)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

func secs(d time.Duration) string { return strconv.FormatFloat(d.Seconds(), 'f', 1, 64) }

func ms(d time.Duration) string {
	return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 1, 64)
}

func met(ok bool) string {
	if ok {
		return "met"
	}
	return "**missed**"
}

func (r *report) pushTable(b *strings.Builder) {
	section(b, "Webhook to Available (hello app, local mode)", r.PushErr)
	if r.DevReady > 0 {
		fmt.Fprintf(b, "A fresh `slipway dev` was ready in %s s. ", secs(r.DevReady))
	}
	cache := "the machine's Go build cache"
	if r.ColdGoCache {
		cache = "an empty GOCACHE"
	}
	fmt.Fprintf(b, "Each push commits to the embedded Git server, then sends a signed GitHub push webhook; "+
		"times run from sending the webhook. The first push builds with %s; each later push changes one Go file, "+
		"so it builds and rolls out a new image; the last push is a commit that leaves the app's tree unchanged, "+
		"so the pipeline reuses the image built from that tree and skips the build (a config-only change). "+
		"Stage columns are the seconds spent in that stage (observed by polling every 100 ms). "+
		"Targets: push to Available <= %s s; a config-only change <= %s s.\n\n", cache, secs(targetAvailable), secs(targetReused))
	b.WriteString("| push | ack (ms) |")
	for _, s := range scenario.Stages {
		fmt.Fprintf(b, " %s |", s)
	}
	b.WriteString(" **total (s)** | target |\n|---|---:|")
	b.WriteString(strings.Repeat("---:|", len(scenario.Stages)) + "---:|---|\n")
	var warm []pushResult
	for i, p := range r.Pushes {
		target := targetAvailable
		if p.Reused {
			target = targetReused
		} else if i > 0 {
			warm = append(warm, p)
		}
		writePushRow(b, p.Label, p.Ack, stageDeltas(p), p.Total, target)
	}
	if len(warm) > 0 {
		ack, total := median(warm, func(p pushResult) time.Duration { return p.Ack }), median(warm, func(p pushResult) time.Duration { return p.Total })
		stages := make([]time.Duration, len(scenario.Stages))
		for i := range stages {
			stages[i] = median(warm, func(p pushResult) time.Duration { return stageDeltas(p)[i] })
		}
		writePushRow(b, fmt.Sprintf("**warm median** (%d)", len(warm)), ack, stages, total, targetAvailable)
	}
}

func writePushRow(b *strings.Builder, label string, ack time.Duration, stages []time.Duration, total, target time.Duration) {
	fmt.Fprintf(b, "| %s | %s |", label, ms(ack))
	for _, d := range stages {
		fmt.Fprintf(b, " %s |", secs(d))
	}
	fmt.Fprintf(b, " **%s** | %s |\n", secs(total), met(total <= target))
}

// stageDeltas turns the times at which each stage was observed into the time spent in each.
func stageDeltas(p pushResult) []time.Duration {
	out := make([]time.Duration, len(scenario.Stages))
	prev := time.Duration(0)
	for i, at := range p.Stages {
		if i < len(out) {
			out[i], prev = at-prev, at
		}
	}
	return out
}

func median(ps []pushResult, f func(pushResult) time.Duration) time.Duration {
	ds := make([]time.Duration, len(ps))
	for i, p := range ps {
		ds[i] = f(p)
	}
	slices.Sort(ds)
	if n := len(ds); n%2 == 0 {
		return (ds[n/2-1] + ds[n/2]) / 2
	}
	return ds[len(ds)/2]
}

func (r *report) ingestTable(b *strings.Builder) {
	section(b, "Webhook acknowledgement and durable acceptance", r.IngestErr)
	fmt.Fprintf(b, "Signed GitHub push deliveries with distinct delivery ids, each for its own branch that no Application "+
		"tracks (so the trigger records them and starts no pipeline run), posted to `/hooks/github` over loopback "+
		"by a fixed number of workers, each sending its next delivery when the previous one is answered "+
		"(keep-alive connections). The receiver answers 202 only after the Delivery resource exists. "+
		"Afterwards every Delivery is listed from the API server. Target: >= %d deliveries/s with p99 < %s ms, none lost.\n\n",
		targetPerSecond, ms(targetP99))
	b.WriteString("| concurrency | sent | non-202 | deliveries/s | p50 (ms) | p90 (ms) | p99 (ms) | max (ms) | " +
		"Delivery resources / 202s | lost | trigger drained (s from start) | runs created | target |\n")
	b.WriteString("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n")
	for _, in := range r.Ingest {
		drained := "not within limit"
		if in.Drained > 0 {
			drained = secs(in.Drained)
		}
		ok := in.perSecond() >= targetPerSecond && in.quantile(0.99) < targetP99 && in.Lost == 0 && in.nonAccepted() == 0
		fmt.Fprintf(b, "| %d | %d | %s | %.0f | %s | %s | %s | %s | %d / %d | %d | %s | %d | %s |\n",
			in.Concurrency, in.Sent, nonAcceptedDetail(in), in.perSecond(), ms(in.quantile(0.5)), ms(in.quantile(0.9)),
			ms(in.quantile(0.99)), ms(in.quantile(1)), in.Recorded, in.accepted(), in.Lost, drained, in.Runs, met(ok))
	}
	if len(r.Checks) > 0 {
		b.WriteString("\n| check | want | got | |\n|---|---|---|---|\n")
		for _, c := range r.Checks {
			fmt.Fprintf(b, "| %s | %s | %s | %s |\n", c.What, c.Want, c.Got, met(c.OK))
		}
	}
}

// nonAcceptedDetail is the count of non-202 answers with their codes, as "3 (503: 2, none: 1)".
func nonAcceptedDetail(in ingestResult) string {
	if in.nonAccepted() == 0 {
		return "0"
	}
	var parts []string
	codes := make([]int, 0, len(in.Status))
	for code := range in.Status {
		codes = append(codes, code)
	}
	slices.Sort(codes)
	for _, code := range codes {
		if code != 202 {
			parts = append(parts, fmt.Sprintf("%d: %d", code, in.Status[code]))
		}
	}
	if in.Failed > 0 {
		parts = append(parts, fmt.Sprintf("no answer: %d", in.Failed))
	}
	return fmt.Sprintf("%d (%s)", in.nonAccepted(), strings.Join(parts, ", "))
}
