package main

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseBenchOutput(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []goBench
	}{
		{name: "two packages, MB/s column", in: `goos: linux
pkg: slipway.dev/slipway/webhooks
cpu: Some CPU
BenchmarkReceiverGitHubPush-2   	     200	    208989 ns/op	  40.94 MB/s	   20795 B/op	     115 allocs/op
PASS
ok  	slipway.dev/slipway/webhooks	0.085s
pkg: slipway.dev/slipway/engine/trigger
BenchmarkDeployRun-2   	     200	    299584 ns/op	  113173 B/op	    1914 allocs/op
`, want: []goBench{
			{Pkg: "slipway.dev/slipway/webhooks", Name: "BenchmarkReceiverGitHubPush-2", Iterations: 200, NsPerOp: 208989, BytesPerOp: 20795, AllocsPerOp: 115,
				Metrics: []benchMetric{{40.94, "MB/s"}}},
			{Pkg: "slipway.dev/slipway/engine/trigger", Name: "BenchmarkDeployRun-2", Iterations: 200, NsPerOp: 299584, BytesPerOp: 113173, AllocsPerOp: 1914},
		}},
		{name: "without -benchmem", in: "pkg: p\nBenchmarkA 10 5.5 ns/op\n",
			want: []goBench{{Pkg: "p", Name: "BenchmarkA", Iterations: 10, NsPerOp: 5.5, BytesPerOp: -1, AllocsPerOp: -1}}},
		{name: "metrics from b.ReportMetric, in the order reported", in: "pkg: slipway.dev/slipway/engine/localrunner\n" +
			"BenchmarkDAG50-2   	      38	  31234567 ns/op	    624691 ns/task	  2314567 B/op	   30123 allocs/op\n" +
			"BenchmarkSubmit-2  	     100	   2345678 ns/op	       426.3 runs/s	   0.0023 s/run	   51234 B/op	     678 allocs/op\n",
			want: []goBench{
				{Pkg: "slipway.dev/slipway/engine/localrunner", Name: "BenchmarkDAG50-2", Iterations: 38, NsPerOp: 31234567, BytesPerOp: 2314567, AllocsPerOp: 30123,
					Metrics: []benchMetric{{624691, "ns/task"}}},
				{Pkg: "slipway.dev/slipway/engine/localrunner", Name: "BenchmarkSubmit-2", Iterations: 100, NsPerOp: 2345678, BytesPerOp: 51234, AllocsPerOp: 678,
					Metrics: []benchMetric{{426.3, "runs/s"}, {0.0023, "s/run"}}},
			}},
		{name: "a benchmark's log line is not a result", in: "pkg: p\nBenchmarkA is slow because of x\n--- FAIL: BenchmarkB\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseBenchOutput(strings.NewReader(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %d results %+v, want %d", len(got), got, len(tt.want))
			}
			for i := range got {
				if !reflect.DeepEqual(got[i], tt.want[i]) {
					t.Errorf("result %d = %+v, want %+v", i, got[i], tt.want[i])
				}
			}
		})
	}
}

func TestGoTableShowsReportedMetrics(t *testing.T) {
	results, err := parseBenchOutput(strings.NewReader("pkg: slipway.dev/slipway/engine/tektonexec\n" +
		"BenchmarkSubmit-2   100   2345678 ns/op   426.3 runs/s   0.0023 s/run   51234 B/op   678 allocs/op\n" +
		"pkg: slipway.dev/slipway/webhooks\n" +
		"BenchmarkParse-2   1000   5.5 ns/op\n"))
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	writeGoTable(&b, results)
	want := "| package | benchmark | ns/op | B/op | allocs/op | other metrics |\n" +
		"|---|---|---:|---:|---:|---|\n" +
		"| `engine/tektonexec` | BenchmarkSubmit-2 | 2,345,678 | 51,234 | 678 | 426 runs/s, 0.0023 s/run |\n" +
		"| `webhooks` | BenchmarkParse-2 | 5.50 | - | - |  |\n"
	if got := b.String(); got != want {
		t.Errorf("table:\n%s\nwant:\n%s", got, want)
	}
}
