package localrunner

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	"sigs.k8s.io/yaml"
)

// noopSteps completes every step at once, so a benchmark measures the runner alone: DAG
// scheduling, substitution, workspaces, results and status, without process start-up.
type noopSteps struct{}

func (noopSteps) RunStep(context.Context, StepExec) (int, error) { return 0, nil }

// dagRun returns a PipelineRun of n tasks in layers of width: each task runs after every task
// of the layer before and passes a param along, as a wide build pipeline does.
func dagRun(b *testing.B, n, width int) Run {
	b.Helper()
	var sb strings.Builder
	sb.WriteString("metadata: {name: dag, namespace: default}\nspec:\n  pipelineSpec:\n    tasks:\n")
	for i := range n {
		fmt.Fprintf(&sb, "      - name: t%d\n", i)
		if layer := i / width; layer > 0 {
			sb.WriteString("        runAfter: [")
			for j := (layer - 1) * width; j < layer*width; j++ {
				if j > (layer-1)*width {
					sb.WriteString(", ")
				}
				fmt.Fprintf(&sb, "t%d", j)
			}
			sb.WriteString("]\n")
		}
		fmt.Fprintf(&sb, "        params: [{name: idx, value: \"%d\"}]\n", i)
		sb.WriteString("        taskSpec:\n          params: [{name: idx}]\n          results: [{name: out}]\n")
		sb.WriteString("          steps: [{name: s, image: busybox, script: 'echo $(params.idx) > $(results.out.path)'}]\n")
	}
	pr := &v1.PipelineRun{}
	if err := yaml.UnmarshalStrict([]byte(sb.String()), pr); err != nil {
		b.Fatal(err)
	}
	run, err := Resolve(b.Context(), nil, pr)
	if err != nil {
		b.Fatal(err)
	}
	return run
}

func benchOptions(b *testing.B, steps StepRunner) Options {
	dir := b.TempDir()
	return Options{WorkRoot: filepath.Join(dir, "work"), LogRoot: filepath.Join(dir, "logs"), Steps: steps,
		Logger: slog.New(slog.DiscardHandler)}
}

func benchExecute(b *testing.B, n, width int, steps StepRunner) {
	run := dagRun(b, n, width)
	opts := benchOptions(b, steps)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		r := run
		r.PipelineRun = run.PipelineRun.DeepCopy()
		r.PipelineRun.Name = fmt.Sprintf("dag-%d", i)
		if out := Execute(b.Context(), r, opts); !out.Succeeded {
			b.Fatalf("run failed: %s: %s", out.Reason, out.Message)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/task")
}

// BenchmarkRunnerOverheadPerTask is the local runner's own cost per task (a one-task pipeline
// whose step does nothing).
func BenchmarkRunnerOverheadPerTask(b *testing.B) { benchExecute(b, 1, 1, noopSteps{}) }

// BenchmarkRunnerHostStepPerTask adds starting a real process for the step (/bin/sh running
// the script).
func BenchmarkRunnerHostStepPerTask(b *testing.B) {
	benchExecute(b, 1, 1, &HostSteps{Images: map[string]string{"busybox": ""}})
}

// BenchmarkRunnerReapedStepPerTask guards the step's process group with the reaper, as
// slipway dev does, so that the step dies with the runner: two more writes to a pipe per step
// (the reaper process is started once).
func BenchmarkRunnerReapedStepPerTask(b *testing.B) {
	steps := &HostSteps{Images: map[string]string{"busybox": ""}, Reaper: "/proc/self/exe"}
	if _, err := steps.startReaper(); err != nil { // once per runner, not per step
		b.Fatal(err)
	}
	benchExecute(b, 1, 1, steps)
}

// BenchmarkDAG50 schedules and runs a 50-task DAG (10 layers of 5) whose steps do nothing: the
// time to schedule a 50-task pipeline.
func BenchmarkDAG50(b *testing.B) { benchExecute(b, 50, 5, noopSteps{}) }
