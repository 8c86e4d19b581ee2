package localkube

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// ErrStateDirInUse means another live Cluster (in this or another process) holds the state
// directory.
var ErrStateDirInUse = errors.New("state dir is in use by another running cluster")

// pidRecord identifies a component process started from a state directory. A recorded PID is
// only acted on while the live process still runs Exe and names Marker (the state directory) in
// one of its arguments, so a PID the kernel has since reused is left alone.
type pidRecord struct {
	Component string `json:"component"`
	PID       int    `json:"pid"`
	Exe       string `json:"exe"`
	Marker    string `json:"marker"`
}

// writePIDs replaces the pid file atomically, so a crash never leaves half a record.
func writePIDs(path string, recs []pidRecord) error {
	b, err := json.MarshalIndent(recs, "", "  ")
	if err != nil {
		return fmt.Errorf("encode pid file: %w", err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("write pid file: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write pid file: %w", err)
	}
	return nil
}

// matches reports whether rec's PID is alive and still the process that was recorded.
func (rec pidRecord) matches() (bool, error) {
	if rec.PID <= 1 || rec.Exe == "" || rec.Marker == "" {
		return false, nil
	}
	argv, ok, err := procCmdline(rec.PID)
	if err != nil || !ok {
		return false, err
	}
	if argv[0] != rec.Exe {
		return false, nil
	}
	for _, a := range argv[1:] {
		if strings.Contains(a, rec.Marker) {
			return true, nil
		}
	}
	return false, nil
}

// reapStale ends the processes recorded in pidFile by an earlier run whose parent died without
// calling Stop: SIGTERM in reverse start order, SIGKILL after timeout. It then removes pidFile.
func reapStale(ctx context.Context, pidFile string, timeout time.Duration, log *slog.Logger) error {
	b, err := os.ReadFile(pidFile)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read pid file: %w", err)
	}
	var recs []pidRecord
	if err := json.Unmarshal(b, &recs); err != nil {
		// A corrupt file names nothing we could safely kill.
		log.Warn("ignoring unreadable pid file", "path", pidFile, "err", err)
		return removePIDFile(pidFile)
	}
	for i := len(recs) - 1; i >= 0; i-- {
		rec := recs[i]
		ours, err := rec.matches()
		if err != nil {
			return fmt.Errorf("reap stale %s: %w", rec.Component, err)
		}
		if !ours {
			continue
		}
		log.Warn("stopping stale component from an earlier run", "component", rec.Component, "pid", rec.PID)
		if err := killAndWait(ctx, rec, timeout); err != nil {
			return fmt.Errorf("reap stale %s (pid %d): %w", rec.Component, rec.PID, err)
		}
	}
	return removePIDFile(pidFile)
}

func removePIDFile(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove pid file: %w", err)
	}
	return nil
}

// killAndWait signals a process that is not our child, so it cannot be waited for: it polls until
// the PID no longer matches the record.
func killAndWait(ctx context.Context, rec pidRecord, timeout time.Duration) error {
	gone := func(deadline time.Time) (bool, error) {
		for time.Now().Before(deadline) {
			ours, err := rec.matches()
			if err != nil || !ours {
				return !ours, err
			}
			select {
			case <-ctx.Done():
				return false, context.Cause(ctx)
			case <-time.After(50 * time.Millisecond):
			}
		}
		return false, nil
	}
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGKILL} {
		if err := syscall.Kill(rec.PID, sig); err != nil {
			if errors.Is(err, syscall.ESRCH) {
				return nil
			}
			return fmt.Errorf("send %v: %w", sig, err)
		}
		wait := timeout
		if sig == syscall.SIGKILL {
			wait = 10 * time.Second
		}
		done, err := gone(time.Now().Add(wait))
		if err != nil || done {
			return err
		}
	}
	return errors.New("still running after SIGKILL")
}

// lockStateDir takes an exclusive flock on path and returns its release function. The kernel
// drops the lock when the holder dies, so a crashed run never blocks the next one; the lock file
// is opened close-on-exec, so components do not inherit it.
func lockStateDir(path string) (func() error, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock state dir: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("lock %s: %w", filepath.Dir(path), ErrStateDirInUse)
		}
		return nil, fmt.Errorf("lock state dir: %w", err)
	}
	return func() error {
		if err := f.Close(); err != nil { // closing releases the flock
			return fmt.Errorf("unlock state dir: %w", err)
		}
		return nil
	}, nil
}
