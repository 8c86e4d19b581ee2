package localrunner

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestStepsDieWithTheirRunner kills a runner with SIGKILL while a step runs and checks that the
// step does not keep running beside a runner that may be resumed.
func TestStepsDieWithTheirRunner(t *testing.T) {
	tests := []struct {
		name   string
		reaped bool
		// step is the step's body; %[1]d is a number unique to the test, found in the
		// command lines of the step's processes.
		step  string
		procs int
	}{
		{"reaped: every process of the step", true, `script: "sleep %[1]d1 & sleep %[1]d2; wait"`, 2},
		{"reaped: a command", true, `command: [sleep, "%[1]d3"]`, 1},
		{"without a reaper: the step's own process", false, `command: [sleep, "%[1]d4"]`, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			marker := 800000000 + rand.IntN(100000000)
			doc := fmt.Sprintf(`
metadata: {name: orphans, namespace: default}
spec:
  pipelineSpec:
    tasks:
    - name: t
      taskSpec: {steps: [{name: s, image: alpine, `+tt.step+`}]}
`, marker)
			runner := startHelper(t, helperConfig{Run: doc, Dir: t.TempDir(), Reaped: tt.reaped})
			mark := fmt.Sprint(marker)
			var pids []string
			for deadline := time.Now().Add(30 * time.Second); len(pids) < tt.procs; pids = processesWith(mark) {
				if time.Now().After(deadline) {
					t.Fatalf("the step's %d processes did not start (found %v)", tt.procs, pids)
				}
				time.Sleep(50 * time.Millisecond)
			}
			// The runner dies without a chance to clean up.
			if err := runner.Process.Kill(); err != nil {
				t.Fatal(err)
			}
			_ = runner.Wait()
			for deadline := time.Now().Add(30 * time.Second); ; {
				left := processesWith(mark)
				if len(left) == 0 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("step processes %v outlived their runner (started: %v)", left, pids)
				}
				time.Sleep(50 * time.Millisecond)
			}
		})
	}
}

// TestUnknownImages runs a step whose image the runner has no binary for: it fails with a
// message naming the image and the way out, unless host steps are allowed.
func TestUnknownImages(t *testing.T) {
	tests := []struct {
		name      string
		allow     bool
		wantState TaskState
	}{
		{"rejected by default", false, TaskFailed},
		{"run on the host when allowed", true, TaskSucceeded},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			marker := filepath.Join(t.TempDir(), "ran")
			f.opts.Steps = &HostSteps{Images: map[string]string{"alpine": ""}, AllowHostSteps: tt.allow, Reaper: "/proc/self/exe"}
			out := f.execute(t, t.Context(), `
metadata: {name: unknown}
spec:
  pipelineSpec:
    tasks:
    - name: build
      taskSpec: {steps: [{name: kaniko, image: "gcr.io/kaniko-project/executor:v1.23.0", script: "touch `+marker+`"}]}
`)
			build := task(t, out, "build")
			if build.State != tt.wantState {
				t.Fatalf("build = %s (%s), want %s", build.State, build.Message, tt.wantState)
			}
			_, err := os.Stat(marker)
			if ran := err == nil; ran != tt.allow {
				t.Errorf("the step ran = %v, want %v", ran, tt.allow)
			}
			if tt.allow {
				return
			}
			for _, want := range []string{`"gcr.io/kaniko-project/executor:v1.23.0"`, "allow host steps", "slipway dev --allow-host-steps"} {
				if !strings.Contains(build.Message, want) {
					t.Errorf("message %q lacks %q", build.Message, want)
				}
			}
		})
	}
}
