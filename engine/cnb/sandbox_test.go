package cnb_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"

	"slipway.dev/slipway/engine/cnb"
)

// The tests' sandbox: the test binary re-executes itself in new user, mount, pid, ipc and uts
// namespaces, with sandbox ids 0-65535 mapped to host ids from hostBase, and the child enters the
// root. It follows the same recipe as the engine's sandbox so that engine/cnb can be tested on
// its own.
const (
	hostBase   = 100000
	childEnv   = "CNB_TEST_SANDBOX_CHILD"
	idRangeLen = 65536
)

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		os.Exit(sandboxChild(os.Args[1:]))
	}
	code := m.Run()
	if reexecPath != "" {
		os.RemoveAll(filepath.Dir(reexecPath))
	}
	os.Exit(code)
}

type testSandbox struct{}

func (testSandbox) HostID(id int) int { return hostBase + id }

func (testSandbox) Run(ctx context.Context, c cnb.Command) (int, error) {
	self, err := reexecBinary()
	if err != nil {
		return 0, err
	}
	args := append([]string{c.Root, c.Dir, strconv.Itoa(c.UID), strconv.Itoa(c.GID)}, c.Argv...)
	cmd := exec.CommandContext(ctx, self, args...)
	cmd.Env = append([]string{childEnv + "=1"}, c.Env...)
	cmd.Stdout, cmd.Stderr = c.Stdout, c.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags: syscall.CLONE_NEWUSER | syscall.CLONE_NEWNS | syscall.CLONE_NEWPID |
			syscall.CLONE_NEWIPC | syscall.CLONE_NEWUTS,
		UidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: hostBase, Size: idRangeLen}},
		GidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: hostBase, Size: idRangeLen}},
		Credential:  &syscall.Credential{Uid: 0, Gid: 0, NoSetGroups: true},
		Pdeathsig:   syscall.SIGKILL,
	}
	err = cmd.Run()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return exit.ExitCode(), nil
	}
	if err != nil {
		return 0, err
	}
	return 0, nil
}

var (
	reexecOnce sync.Once
	reexecPath string
	reexecErr  error
)

// reexecBinary is a copy of the test binary that the sandbox's unprivileged root can execute
// (go test keeps its binary in a directory only the host user may enter).
func reexecBinary() (string, error) {
	reexecOnce.Do(func() {
		self, err := os.Executable()
		if err != nil {
			reexecErr = err
			return
		}
		dir, err := os.MkdirTemp("", "cnb-test-sandbox-")
		if err == nil {
			err = os.Chmod(dir, 0o755)
		}
		if err != nil {
			reexecErr = err
			return
		}
		data, err := os.ReadFile(self)
		if err != nil {
			reexecErr = err
			return
		}
		reexecPath = filepath.Join(dir, "sandbox")
		reexecErr = os.WriteFile(reexecPath, data, 0o755)
	})
	return reexecPath, reexecErr
}

// sandboxChild runs as root of the new namespaces: it mounts proc and /dev in the root, enters
// it, becomes the requested user and executes the command.
func sandboxChild(args []string) int {
	fail := func(err error) int {
		fmt.Fprintln(os.Stderr, "test sandbox:", err)
		return 127
	}
	if len(args) < 5 {
		return fail(errors.New("usage: root dir uid gid argv..."))
	}
	root, dir := args[0], args[1]
	uid, _ := strconv.Atoi(args[2])
	gid, _ := strconv.Atoi(args[3])
	if err := syscall.Mount("", "/", "", syscall.MS_REC|syscall.MS_PRIVATE, ""); err != nil {
		return fail(fmt.Errorf("make / private: %w", err))
	}
	if err := syscall.Mount("proc", filepath.Join(root, "proc"), "proc", 0, ""); err != nil {
		return fail(fmt.Errorf("mount proc: %w", err))
	}
	if err := syscall.Mount("/dev", filepath.Join(root, "dev"), "", syscall.MS_BIND|syscall.MS_REC, ""); err != nil {
		return fail(fmt.Errorf("bind /dev: %w", err))
	}
	if err := syscall.Chroot(root); err != nil {
		return fail(fmt.Errorf("chroot: %w", err))
	}
	if err := syscall.Chdir(dir); err != nil {
		return fail(fmt.Errorf("chdir: %w", err))
	}
	if err := syscall.Setgid(gid); err != nil {
		return fail(fmt.Errorf("setgid: %w", err))
	}
	if err := syscall.Setuid(uid); err != nil {
		return fail(fmt.Errorf("setuid: %w", err))
	}
	var env []string
	for _, kv := range os.Environ() {
		if kv != childEnv+"=1" {
			env = append(env, kv)
		}
	}
	return fail(syscall.Exec(args[4], args[4:], env))
}
