//go:build unix && !linux

package localkube

import "syscall"

// sysProcAttr puts each component in its own process group, so a terminal's Ctrl-C reaches only
// the parent, which then stops the components in order. Only Linux can also tie the component's
// life to the parent's (Pdeathsig).
func sysProcAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }

// procCmdline cannot identify a process without /proc. It reports every process as not ours, so
// stale components are never killed here (a PID may have been reused by an unrelated process).
func procCmdline(pid int) ([]string, bool, error) { return nil, false, nil }
