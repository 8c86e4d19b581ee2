package main

import (
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
			{Pkg: "slipway.dev/slipway/webhooks", Name: "BenchmarkReceiverGitHubPush-2", Iterations: 200, NsPerOp: 208989, BytesPerOp: 20795, AllocsPerOp: 115},
			{Pkg: "slipway.dev/slipway/engine/trigger", Name: "BenchmarkDeployRun-2", Iterations: 200, NsPerOp: 299584, BytesPerOp: 113173, AllocsPerOp: 1914},
		}},
		{name: "without -benchmem", in: "pkg: p\nBenchmarkA 10 5.5 ns/op\n",
			want: []goBench{{Pkg: "p", Name: "BenchmarkA", Iterations: 10, NsPerOp: 5.5, BytesPerOp: -1, AllocsPerOp: -1}}},
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
				if got[i] != tt.want[i] {
					t.Errorf("result %d = %+v, want %+v", i, got[i], tt.want[i])
				}
			}
		})
	}
}
