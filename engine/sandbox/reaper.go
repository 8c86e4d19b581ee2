package sandbox

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// reapMode is the argument after ExecCommand that makes Child a reaper instead of a sandbox.
const reapMode = "reap"

// reaperFD is the descriptor on which a reaper reads registrations.
const reaperFD = 3

// Reaper is a helper process that kills the process groups registered with it once the process
// that started it has died, whatever killed it (SIGKILL included). It reads the registrations
// from a pipe whose other end only the starting process holds, so the pipe's end is that
// process's death: no signal, thread or polling is involved. The kernel's parent-death signal
// would reach only a direct child, never the processes it started.
type Reaper struct {
	mu  sync.Mutex
	w   *os.File
	err error
}

// StartReaper starts exe, a binary that serves ExecCommand (see Child), as a reaper. It runs in
// a process group of its own, ignores the signals a terminal or a shutdown sends, and exits
// after it has done its work or once every registered group was released and the caller died.
func StartReaper(exe string) (*Reaper, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("start reaper: %w", err)
	}
	defer r.Close()
	cmd := exec.Command(exe, ExecCommand, reapMode)
	cmd.Env = []string{}
	cmd.Dir = "/"
	cmd.ExtraFiles = []*os.File{r}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		w.Close()
		return nil, fmt.Errorf("start reaper %s: %w", exe, err)
	}
	// The reaper lives as long as the caller; this wait only collects its exit status.
	go func() { _ = cmd.Wait() }()
	return &Reaper{w: w}, nil
}

// Guard registers process group pgid: if the caller dies before Release, the group is killed.
func (r *Reaper) Guard(pgid int) error { return r.send('+', pgid) }

// Release forgets process group pgid; call it once the group has ended.
func (r *Reaper) Release(pgid int) error { return r.send('-', pgid) }

// Err reports why the reaper can no longer guard groups (it died), or nil.
func (r *Reaper) Err() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.err
}

func (r *Reaper) send(op byte, pgid int) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err != nil {
		return r.err
	}
	if _, err := fmt.Fprintf(r.w, "%c%d\n", op, pgid); err != nil {
		r.err = fmt.Errorf("reaper is gone: %w", err)
	}
	return r.err
}

// runReaper is the reaper's side: it keeps the registered groups until its input ends, then kills
// those still registered.
func runReaper() int {
	signal.Ignore(syscall.SIGHUP, syscall.SIGINT, syscall.SIGTERM, syscall.SIGQUIT)
	groups := map[int]bool{}
	sc := bufio.NewScanner(os.NewFile(reaperFD, "registrations"))
	for sc.Scan() {
		line := sc.Text()
		pgid, err := strconv.Atoi(strings.TrimLeft(line, "+-"))
		if err != nil || pgid <= 1 {
			continue
		}
		if strings.HasPrefix(line, "+") {
			groups[pgid] = true
		} else {
			delete(groups, pgid)
		}
	}
	for pgid := range groups {
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
	}
	return 0
}
