package localkube

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"syscall"
)

// sysProcAttr puts each component in its own process group, so a terminal's Ctrl-C reaches only
// the parent (which then stops the components in order), and asks the kernel to SIGKILL the
// component when the parent dies. Pdeathsig fires when the forking OS thread exits; the Go
// runtime only retires threads that a goroutine locked and left locked, which this package never
// does.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// procCmdline returns the argument vector of a live process; ok is false if the process is gone
// or is a zombie (exited, not yet reaped: it holds no ports or files any more).
func procCmdline(pid int) (argv []string, ok bool, err error) {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		if os.IsNotExist(err) || os.IsPermission(err) {
			return nil, false, nil
		}
		return nil, false, fmt.Errorf("read process %d stat: %w", pid, err)
	}
	// The state follows the command name, which is in parentheses and may itself hold ") ".
	if i := bytes.LastIndexByte(stat, ')'); i >= 0 && i+2 < len(stat) && (stat[i+2] == 'Z' || stat[i+2] == 'X') {
		return nil, false, nil
	}
	raw, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	if err != nil {
		if os.IsNotExist(err) {
			return nil, false, nil
		}
		return nil, false, fmt.Errorf("read process %d cmdline: %w", pid, err)
	}
	raw = bytes.TrimRight(raw, "\x00")
	if len(raw) == 0 {
		// A process that has released its memory on the way out (or a kernel thread) has no
		// arguments; it is not a component we started.
		return nil, false, nil
	}
	for _, a := range bytes.Split(raw, []byte{0}) {
		argv = append(argv, string(a))
	}
	return argv, len(argv) > 0, nil
}
