package sandbox

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"syscall"
)

// superviseMode is the argument after ExecCommand that makes Child supervise a host command
// instead of setting up a sandbox.
const superviseMode = "supervise"

// supervisorDeathSignal is what the supervisor gets when the process that started it dies.
// SIGKILL would end the supervisor before it could end the command's process group.
const supervisorDeathSignal = syscall.SIGHUP

// Supervised returns a command that runs argv on the host, outside any sandbox, under a
// supervisor: exe, a binary that serves ExecCommand (see Child), re-executed as the leader of a
// new process group that argv joins. When the calling process dies, even by SIGKILL, the
// supervisor kills the whole group, so nothing the command started keeps running; the
// kernel's parent-death signal reaches only a direct child, never the processes it started.
//
// argv[0] is looked up in the PATH of the command's environment. The caller sets Env, Dir and
// output, and must start and wait for the command from one goroutine locked to its OS thread
// (runtime.LockOSThread): the parent-death signal fires when the thread that started the
// process ends, which the Go runtime may otherwise do while the command still runs. SIGTERM
// sent to the group reaches the command; the supervisor outlives it and exits with the
// command's exit code, or 128 plus the number of the signal that ended it.
func Supervised(ctx context.Context, exe string, argv []string) *exec.Cmd {
	args := append([]string{ExecCommand, superviseMode, strconv.Itoa(os.Getpid()), "--"}, argv...)
	cmd := exec.CommandContext(ctx, exe, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: supervisorDeathSignal}
	return cmd
}

// supervise is the supervisor's side: args are the parent's pid, "--" and the command.
func supervise(args []string) int {
	if len(args) < 3 || args[1] != "--" {
		fmt.Fprintln(os.Stderr, "slipway: supervise: want PARENT-PID -- COMMAND [ARG...]")
		return setupFailed
	}
	parent, err := strconv.Atoi(args[0])
	if err != nil {
		fmt.Fprintf(os.Stderr, "slipway: supervise: parent pid %q: %v\n", args[0], err)
		return setupFailed
	}
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, supervisorDeathSignal, syscall.SIGTERM, syscall.SIGINT)
	// The parent may have died before the handler was in place; then nothing may start.
	if os.Getppid() != parent {
		return setupFailed
	}
	env := os.Environ()
	path, err := lookPath(args[2], env)
	if err != nil {
		fmt.Fprintf(os.Stderr, "slipway: %v\n", err)
		return 127
	}
	// The command joins this process's group and inherits only its standard descriptors;
	// signal handlers are reset by exec.
	pid, err := syscall.ForkExec(path, args[2:], &syscall.ProcAttr{Env: env, Files: []uintptr{0, 1, 2}})
	if err != nil {
		fmt.Fprintf(os.Stderr, "slipway: start %s: %v\n", args[2], err)
		return 126
	}
	go func() {
		for s := range sigs {
			// A death signal from a living parent is a command signalling its own group.
			if s == supervisorDeathSignal && os.Getppid() != parent {
				_ = syscall.Kill(0, syscall.SIGKILL) // the group, this process included
			}
			// SIGTERM and SIGINT were sent to the group and reach the command themselves.
		}
	}()
	return reap(pid)
}
