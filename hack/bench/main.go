// Command bench measures Slipway: it runs the Go benchmarks of every package that has them, then
// times the end-to-end paths against a fresh `slipway dev` (a signed push of the hello app to an
// Available Deployment, and webhook acknowledgement latency and durable acceptance throughput
// under concurrent deliveries), and writes the figures with their targets as Markdown. Progress
// goes to stderr; the report goes to -out and to stdout. `make bench` runs it.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// config is the command line.
type config struct {
	out, bin, dir         string
	keep, coldGoCache     bool
	skipGo, skipE2E       bool
	skipSync              bool
	ingestOnly            bool
	syncApps              []int
	warmPushes            int
	deliveries            int
	concurrency           []int
	burstLimit, timeLimit time.Duration
}

func main() {
	var c config
	var conc string
	flag.StringVar(&c.out, "out", "docs/benchmarks.md", "write the Markdown report here")
	flag.StringVar(&c.bin, "slipway", envOr("SLIPWAY_BINARY", "bin/slipway"), "the slipway binary (default $SLIPWAY_BINARY)")
	flag.StringVar(&c.dir, "dir", "", "state directory of `slipway dev` (default: a new temporary directory)")
	flag.BoolVar(&c.keep, "keep", false, "keep the state directory afterwards (it is always kept after a failure)")
	flag.BoolVar(&c.coldGoCache, "cold-gocache", true, "give `slipway dev` an empty GOCACHE, so the first push builds from a cold cache")
	flag.BoolVar(&c.skipGo, "skip-go", false, "skip the Go benchmarks")
	flag.BoolVar(&c.skipE2E, "skip-e2e", false, "skip the end-to-end timings")
	flag.BoolVar(&c.skipSync, "skip-sync", false, "skip the sync scale benchmark")
	flag.BoolVar(&c.ingestOnly, "ingest-only", false, "run only the webhook bursts, against a `slipway dev` without the supply chain")
	syncApps := flag.String("sync-apps", "100,1000", "comma-separated application counts of the sync scale benchmark")
	flag.IntVar(&c.warmPushes, "pushes", 3, "warm pushes after the first one")
	flag.IntVar(&c.deliveries, "deliveries", 2000, "deliveries per burst")
	flag.StringVar(&conc, "concurrency", "32,8", "comma-separated concurrency of each burst")
	flag.DurationVar(&c.burstLimit, "burst-limit", 3*time.Minute, "stop a burst, and the wait for the trigger to drain it, after this long")
	flag.DurationVar(&c.timeLimit, "timeout", 40*time.Minute, "give up after this long")
	flag.Parse()
	if c.ingestOnly && !flagSet("out") {
		c.out = "" // a partial run does not replace the report
	}
	for f := range strings.SplitSeq(conc, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 || n > 512 {
			fmt.Fprintf(os.Stderr, "bench: bad -concurrency %q\n", conc)
			os.Exit(2)
		}
		c.concurrency = append(c.concurrency, n)
	}
	for f := range strings.SplitSeq(*syncApps, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 || n > 10000 {
			fmt.Fprintf(os.Stderr, "bench: bad -sync-apps %q\n", *syncApps)
			os.Exit(2)
		}
		c.syncApps = append(c.syncApps, n)
	}
	if c.deliveries < 1 || c.deliveries > 100000 {
		fmt.Fprintln(os.Stderr, "bench: -deliveries must be between 1 and 100000")
		os.Exit(2)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, c.timeLimit)
	defer cancel()
	if err := run(ctx, c); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// flagSet reports whether the command line set the flag name.
func flagSet(name string) bool {
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

func progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench %s  %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

// run measures every section, writes the report even when a section failed, and returns the
// sections' errors.
func run(ctx context.Context, c config) error {
	root, err := os.Getwd()
	if err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		return errors.New("run from the repository root (make bench does)")
	}
	rep := report{Started: time.Now(), Machine: describeMachine(ctx)}
	if c.ingestOnly {
		c.skipGo, c.skipE2E, c.skipSync = true, true, true
		rep.E2EErr = ingestOnly(ctx, root, c, &rep)
	}
	if !c.skipGo {
		rep.GoErr = goSection(ctx, root, &rep)
	}
	if !c.skipE2E {
		rep.E2EErr = e2eSection(ctx, root, c, &rep)
	}
	var syncMD string
	var syncErr error
	if !c.skipSync {
		syncMD, syncErr = syncSection(ctx, c.syncApps)
	}
	md := rep.markdown() + syncMD
	fmt.Print(md)
	if c.out == "" {
		return errors.Join(rep.GoErr, rep.E2EErr, syncErr)
	}
	if err := os.WriteFile(c.out, []byte(md), 0o644); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	progress("wrote %s", c.out)
	return errors.Join(rep.GoErr, rep.E2EErr, syncErr)
}

func goSection(ctx context.Context, root string, rep *report) error {
	pkgs, err := benchPackages(root)
	if err != nil {
		return fmt.Errorf("find benchmarks: %w", err)
	}
	progress("go benchmarks in %s", strings.Join(pkgs, " "))
	rep.Go, err = runGoBenchmarks(ctx, root, pkgs, os.Stderr)
	return err
}
