package sandbox

import (
	"context"
	"errors"
	"os/exec"
	"syscall"
)

// ExitStatus turns what exec.Cmd.Wait returned into a container's exit code: 0 for no error,
// the process's own exit code, 128 plus the number of the signal that ended it, or 137 (as for
// SIGKILL) when ctx is done and the process could not be waited for. ok is false when err says
// nothing about how the process ended.
func ExitStatus(ctx context.Context, err error) (code int, ok bool) {
	if err == nil {
		return 0, true
	}
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) {
		if st, ok := exitErr.Sys().(syscall.WaitStatus); ok && st.Signaled() {
			return 128 + int(st.Signal()), true
		}
		return exitErr.ExitCode(), true
	}
	if ctx.Err() != nil {
		return 137, true
	}
	return 1, false
}
