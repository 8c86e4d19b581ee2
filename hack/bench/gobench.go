package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
)

// goBench is one line of `go test -bench` output.
type goBench struct {
	Pkg, Name   string
	Iterations  int64
	NsPerOp     float64
	BytesPerOp  float64 // -1 when not reported
	AllocsPerOp float64 // -1 when not reported
	// Metrics are the line's other figures in the order reported: MB/s from b.SetBytes and
	// whatever the benchmark reports with b.ReportMetric (ns/task, runs/s, ...).
	Metrics []benchMetric
}

// benchMetric is one figure of a benchmark line with its unit.
type benchMetric struct {
	Value float64
	Unit  string
}

// benchPackages returns the packages of the module rooted at root ("./engine/render") whose
// tests declare a benchmark. Nested modules (the tool modules under hack/) are not ours to run.
func benchPackages(root string) ([]string, error) {
	seen := map[string]bool{}
	var pkgs []string
	err := filepath.WalkDir(root, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if e.IsDir() {
			name := e.Name()
			if p != root && (name == "testdata" || name == "bin" || strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_")) {
				return filepath.SkipDir
			}
			if _, err := os.Stat(filepath.Join(p, "go.mod")); p != root && err == nil {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(p, "_test.go") || seen[filepath.Dir(p)] {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if strings.Contains(string(b), "\nfunc Benchmark") {
			dir := filepath.Dir(p)
			seen[dir] = true
			rel, err := filepath.Rel(root, dir)
			if err != nil {
				return err
			}
			pkgs = append(pkgs, "./"+filepath.ToSlash(rel))
		}
		return nil
	})
	return pkgs, err
}

// runGoBenchmarks runs every benchmark of pkgs once and returns the parsed results. Each
// benchmark line is echoed to progress as it arrives.
func runGoBenchmarks(ctx context.Context, root string, pkgs []string, progress io.Writer) ([]goBench, error) {
	args := append([]string{"test", "-run", "^$", "-bench", ".", "-benchmem", "-count", "1", "-timeout", "10m"}, pkgs...)
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = root
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start go test: %w", err)
	}
	results, perr := parseBenchOutput(io.TeeReader(out, progress))
	if err := cmd.Wait(); err != nil {
		return results, fmt.Errorf("go test -bench: %w: %s", err, strings.TrimSpace(stderr.String()))
	}
	return results, perr
}

// parseBenchOutput reads the output of `go test -bench` for one or more packages: a "pkg:" line
// names the package of the benchmark lines that follow it.
func parseBenchOutput(r io.Reader) ([]goBench, error) {
	var out []goBench
	pkg := ""
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		if p, ok := strings.CutPrefix(line, "pkg: "); ok {
			pkg = strings.TrimSpace(p)
			continue
		}
		if b, ok := parseBenchLine(line); ok {
			b.Pkg = pkg
			out = append(out, b)
		}
	}
	return out, sc.Err()
}

// parseBenchLine parses "BenchmarkX-2  1234  567 ns/op  8.9 MB/s  10 B/op  2 allocs/op".
func parseBenchLine(line string) (goBench, bool) {
	f := strings.Fields(line)
	if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") || len(f)%2 != 0 {
		return goBench{}, false
	}
	n, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil {
		return goBench{}, false
	}
	b := goBench{Name: f[0], Iterations: n, NsPerOp: -1, BytesPerOp: -1, AllocsPerOp: -1}
	for i := 2; i+1 < len(f); i += 2 {
		v, err := strconv.ParseFloat(f[i], 64)
		if err != nil {
			return goBench{}, false
		}
		switch f[i+1] {
		case "ns/op":
			b.NsPerOp = v
		case "B/op":
			b.BytesPerOp = v
		case "allocs/op":
			b.AllocsPerOp = v
		default:
			b.Metrics = append(b.Metrics, benchMetric{Value: v, Unit: f[i+1]})
		}
	}
	return b, b.NsPerOp >= 0
}

// writeGoTable writes the Go benchmark results as a Markdown table: the standard per-op figures
// in columns of their own, every other figure with its unit in the last column.
func writeGoTable(b *strings.Builder, results []goBench) {
	b.WriteString("| package | benchmark | ns/op | B/op | allocs/op | other metrics |\n|---|---|---:|---:|---:|---|\n")
	for _, g := range results {
		other := make([]string, 0, len(g.Metrics))
		for _, m := range g.Metrics {
			other = append(other, metricNum(m.Value)+" "+m.Unit)
		}
		fmt.Fprintf(b, "| `%s` | %s | %s | %s | %s | %s |\n", strings.TrimPrefix(g.Pkg, "slipway.dev/slipway/"), g.Name,
			num(g.NsPerOp), num(g.BytesPerOp), num(g.AllocsPerOp), strings.Join(other, ", "))
	}
}

// metricNum formats a reported metric: like num from 100 up, else with three significant
// digits, so that 0.0042 s/op or 2.5 runs/s keep their value.
func metricNum(v float64) string {
	switch {
	case v <= -100:
		return "-" + num(-v)
	case v >= 100:
		return num(v)
	}
	return strconv.FormatFloat(v, 'g', 3, 64)
}
