package localrunner

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"time"

	v1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// runLogPoll is how often WriteLogs looks for new TaskRuns, attempts and steps when following.
const runLogPoll = 250 * time.Millisecond

// WriteLogs writes the step logs of a PipelineRun the local runner runs or ran, TaskRun by
// TaskRun in the order they were created, step by step, every attempt of a retried TaskRun in
// turn, each log under a "[task : step]" header. Without follow it writes what exists now; with
// follow it also waits for the steps, attempts and TaskRuns still to come, copies each log as
// it grows, and returns once the run has finished and everything is written (or ctx is done).
func WriteLogs(ctx context.Context, c client.Reader, namespace, run, logRoot string, follow bool, w io.Writer) error {
	var pr v1.PipelineRun
	if err := c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: run}, &pr); err != nil {
		return fmt.Errorf("get pipeline run %s/%s: %w", namespace, run, err)
	}
	lw := &logWriter{root: logRoot, ns: namespace, run: run, follow: follow, w: w, progress: map[string]*taskRunLog{}}
	for {
		var trs v1.TaskRunList
		if err := c.List(ctx, &trs, client.InNamespace(namespace), client.MatchingLabels{labelPipelineRun: run}); err != nil {
			return fmt.Errorf("list task runs of %s: %w", run, err)
		}
		slices.SortStableFunc(trs.Items, func(a, b v1.TaskRun) int {
			return cmp.Or(a.CreationTimestamp.Compare(b.CreationTimestamp.Time), cmp.Compare(a.Name, b.Name))
		})
		complete := 0
		for i := range trs.Items {
			done, err := lw.taskRun(ctx, &trs.Items[i])
			if err != nil {
				return err
			}
			if done {
				complete++
			}
		}
		if !follow {
			return nil
		}
		// The run's status is read after its TaskRuns: a run seen done has no TaskRun to come.
		if err := c.Get(ctx, client.ObjectKeyFromObject(&pr), &pr); err != nil {
			return fmt.Errorf("get pipeline run %s/%s: %w", namespace, run, err)
		}
		if pr.IsDone() && complete == len(trs.Items) && complete >= len(pr.Status.ChildReferences) {
			return nil
		}
		if err := sleep(ctx, runLogPoll); err != nil {
			return err
		}
	}
}

// logWriter remembers, across rounds, how far each TaskRun's logs are written.
type logWriter struct {
	root, ns, run string
	follow        bool
	w             io.Writer
	progress      map[string]*taskRunLog
}

// taskRunLog is the next attempt and step of a TaskRun to write.
type taskRunLog struct {
	attempt, step int
	complete      bool
}

// taskRun writes what it can of tr's logs and reports whether nothing more will come. A
// TaskRun whose steps are not known yet (created, its first status not yet written) is left
// for a later round, and so is a finished attempt until the TaskRun shows whether it retries.
func (lw *logWriter) taskRun(ctx context.Context, tr *v1.TaskRun) (bool, error) {
	p := lw.progress[tr.Name]
	if p == nil {
		p = &taskRunLog{}
		lw.progress[tr.Name] = p
	}
	task := tr.Labels[labelPipelineTask]
	for !p.complete {
		// The attempt under way is the one after the recorded retries.
		current := len(tr.Status.RetriesStatus)
		steps := attemptSteps(tr, p.attempt)
		if len(steps) == 0 {
			if tr.IsDone() && p.attempt >= current {
				p.complete = true // ended before any step was known
				continue
			}
			if !lw.follow {
				fmt.Fprintf(lw.w, "[%s] (not started yet)\n", task)
			}
			return false, nil
		}
		// A finished TaskRun's logs are complete, or will never be (its runner died): they
		// are copied, not waited for.
		wait := lw.follow && !tr.IsDone()
		for ; p.step < len(steps); p.step++ {
			header := fmt.Sprintf("[%s : %s]", task, steps[p.step])
			if p.attempt > 0 {
				header += fmt.Sprintf(" retry %d", p.attempt)
			}
			fmt.Fprintln(lw.w, header)
			path := LogPath(lw.root, lw.ns, lw.run, tr.Name, steps[p.step], p.attempt)
			if wait {
				if err := Follow(ctx, path, lw.w); err != nil {
					return false, err
				}
				continue
			}
			if err := copyLog(path, lw.w); err != nil {
				fmt.Fprintf(lw.w, "(no log: %v)\n", err)
			}
		}
		switch {
		case p.attempt < current:
			p.attempt, p.step = p.attempt+1, 0
		case tr.IsDone() || !lw.follow:
			p.complete = tr.IsDone()
			return tr.IsDone(), nil
		default:
			return false, nil // a retry may follow; the next round sees it
		}
	}
	return true, nil
}

// attemptSteps names the steps of attempt n of tr: from the status of a finished attempt, or
// from the task spec of the attempt under way (the runner creates a TaskRun with its resolved
// spec, before it writes the first status).
func attemptSteps(tr *v1.TaskRun, n int) []string {
	st := tr.Status.TaskRunStatusFields
	if n < len(tr.Status.RetriesStatus) {
		st = tr.Status.RetriesStatus[n].TaskRunStatusFields
	} else if n > len(tr.Status.RetriesStatus) {
		return nil
	}
	var names []string
	for _, s := range st.Steps {
		names = append(names, s.Name)
	}
	spec := st.TaskSpec
	if spec == nil && n == len(tr.Status.RetriesStatus) {
		spec = tr.Spec.TaskSpec
	}
	if len(names) == 0 && spec != nil {
		for _, s := range spec.Steps {
			names = append(names, s.Name)
		}
	}
	return names
}

func copyLog(path string, w io.Writer) error {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return errors.New("not written yet")
	}
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(w, f)
	return err
}
