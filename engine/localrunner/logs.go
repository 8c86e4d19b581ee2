package localrunner

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"
)

// doneSuffix marks a finished step log: <step>.log.done exists once nothing more is written.
const doneSuffix = ".done"

// followPoll is how often Follow looks for new output.
const followPoll = 100 * time.Millisecond

// LogPath is where the local runner writes a step's combined stdout and stderr:
// <root>/<namespace>/<pipelineRun>/<taskRun>/<step>.log for a TaskRun's first attempt, and
// <step>.retry-<n>.log for its retry n, so that every attempt keeps its own log.
func LogPath(root, namespace, pipelineRun, taskRun, step string, attempt int) string {
	name := step + ".log"
	if attempt > 0 {
		name = fmt.Sprintf("%s.retry-%d.log", step, attempt)
	}
	return filepath.Join(root, namespace, pipelineRun, taskRun, name)
}

// withLog opens the log at path afresh (a retry starts a new log), hands it to fn, and marks
// the log done afterwards.
func withLog(path string, fn func(w io.Writer)) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("create log dir: %w", err)
	}
	_ = os.Remove(path + doneSuffix)
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("create step log: %w", err)
	}
	fn(f)
	cerr := f.Close()
	if err := os.WriteFile(path+doneSuffix, nil, 0o644); err != nil {
		return fmt.Errorf("mark step log done: %w", err)
	}
	return cerr
}

// writeLog writes a complete log at once (for steps that never ran).
func writeLog(path string, b []byte) error {
	return withLog(path, func(w io.Writer) { _, _ = w.Write(b) })
}

// Follow copies the log at path to w as it grows and returns once the step has finished and
// everything is copied, or when ctx is done. A log that does not exist yet is waited for.
func Follow(ctx context.Context, path string, w io.Writer) error {
	var f *os.File
	for f == nil {
		var err error
		f, err = os.Open(path)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("open step log: %w", err)
		}
		if f == nil {
			if err := sleep(ctx, followPoll); err != nil {
				return err
			}
		}
	}
	defer f.Close()
	for {
		// Check for the marker before copying: whatever was written before it appeared is
		// then guaranteed to be copied by this round.
		_, derr := os.Stat(path + doneSuffix)
		if _, err := io.Copy(w, f); err != nil {
			return fmt.Errorf("copy step log: %w", err)
		}
		if derr == nil {
			return nil
		}
		if err := sleep(ctx, followPoll); err != nil {
			return err
		}
	}
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
