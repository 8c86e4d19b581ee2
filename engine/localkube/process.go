package localkube

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// process is one running component. Its owner goroutine (started by startProcess) waits for the
// exit, closes the log file and then closes done; stop and waitReady read the outcome from there.
type process struct {
	name    string
	exe     string
	logPath string
	cmd     *exec.Cmd
	done    chan struct{}
	waitErr error // valid once done is closed
}

// startProcess starts exe with args, appending its output to logPath, and calls onExit once the
// process has exited and been reaped, before stop returns. The process is not tied to a context: it runs until stop,
// or until the parent dies (see sysProcAttr).
func startProcess(name, exe string, args []string, logPath string, onExit func(*process)) (*process, error) {
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open %s log: %w", name, err)
	}
	fmt.Fprintf(logFile, "==== %s: starting %s %s\n", time.Now().Format(time.RFC3339), exe, strings.Join(args, " "))
	cmd := exec.Command(exe, args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &process{name: name, exe: exe, logPath: logPath, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		fmt.Fprintf(logFile, "==== %s: %s exited: %v\n", time.Now().Format(time.RFC3339), name, cmd.ProcessState)
		logFile.Close()
		onExit(p) // before done, so that stop returning implies onExit has run
		close(p.done)
	}()
	return p, nil
}

func (p *process) pid() int { return p.cmd.Process.Pid }

// waitReady polls probe until it succeeds, the process exits or ctx ends. Failures carry the
// last probe error and the tail of the component's log.
func (p *process) waitReady(ctx context.Context, probe func(context.Context) error) error {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	var last error
	for {
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		last = probe(pctx)
		cancel()
		if last == nil {
			return nil
		}
		select {
		case <-p.done:
			return fmt.Errorf("%s exited (%v) before it became ready; log %s:\n%s",
				p.name, p.waitErr, p.logPath, logTail(p.logPath, 20))
		case <-ctx.Done():
			return fmt.Errorf("%w (last probe: %v); log %s:\n%s",
				context.Cause(ctx), last, p.logPath, logTail(p.logPath, 20))
		case <-tick.C:
		}
	}
}

// stop sends SIGTERM, then SIGKILL after timeout, and waits for the owner goroutine to reap the
// process. An exit caused by our signal is not an error.
func (p *process) stop(timeout time.Duration) error {
	select {
	case <-p.done:
		return nil // exited on its own earlier; nothing to stop
	default:
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("signal %s: %w", p.name, err)
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-p.done:
		return nil
	case <-t.C:
	}
	if err := p.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("kill %s: %w", p.name, err)
	}
	<-p.done
	return nil
}

// logTail returns the last n lines of the file at path, for error messages.
func logTail(path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Sprintf("(read log: %v)", err)
	}
	defer f.Close()
	const maxTail = 8 << 10
	if fi, err := f.Stat(); err == nil && fi.Size() > maxTail {
		if _, err := f.Seek(fi.Size()-maxTail, io.SeekStart); err != nil {
			return fmt.Sprintf("(read log: %v)", err)
		}
	}
	b, err := io.ReadAll(f)
	if err != nil {
		return fmt.Sprintf("(read log: %v)", err)
	}
	lines := bytes.Split(bytes.TrimRight(b, "\n"), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}
