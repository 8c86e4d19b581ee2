package sandbox

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// devices are the host device nodes bound into the sandbox's /dev, a fresh tmpfs.
var devices = []string{"null", "zero", "full", "random", "urandom", "tty"}

// Child is the inside half of Run: it runs as the sandbox's pid 1, reads the spec Run sends,
// builds the root (binds, /proc, a minimal /dev, /dev/shm), pivots into it and runs the
// command, reaping every process that ends up orphaned in the sandbox. It returns the exit code
// the process should exit with; errors before the command starts are reported to Run. Started
// by StartReaper, it is a Reaper's process instead.
func Child() int {
	if len(os.Args) > 2 && os.Args[2] == reapMode {
		return runReaper()
	}
	specFile, errFile := os.NewFile(specFD, "spec"), os.NewFile(errFD, "errors")
	// The executable stays mapped; its descriptor must not reach the command.
	_ = syscall.Close(exeFD)
	fail := func(err error) int {
		fmt.Fprintf(errFile, "%v", err)
		errFile.Close()
		return setupFailed
	}
	var sp spec
	if err := json.NewDecoder(specFile).Decode(&sp); err != nil {
		return fail(fmt.Errorf("read spec: %w", err))
	}
	specFile.Close()
	err := setupRoot(sp)
	for _, fd := range append([]int{sp.RootFD}, sp.SrcFDs...) {
		_ = syscall.Close(fd)
	}
	if err != nil {
		return fail(err)
	}
	// Descriptors inherited from whoever started the runner must not reach the command either.
	if err := unix.CloseRange(3, ^uint(0), unix.CLOSE_RANGE_CLOEXEC); err != nil {
		return fail(fmt.Errorf("mark descriptors close-on-exec: %w", err))
	}
	path, err := lookPath(sp.Args[0], sp.Env)
	if err != nil {
		return fail(err)
	}
	// The command must not inherit the signals this process catches.
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	pid, err := syscall.ForkExec(path, sp.Args, &syscall.ProcAttr{
		Dir:   sp.Dir,
		Env:   sp.Env,
		Files: []uintptr{0, 1, 2},
		Sys:   &syscall.SysProcAttr{Setsid: true, Pdeathsig: syscall.SIGKILL, Credential: credential(sp)},
	})
	if err != nil {
		return fail(fmt.Errorf("start %s: %w", sp.Args[0], err))
	}
	errFile.Close()
	go func() {
		for s := range sigs {
			_ = syscall.Kill(pid, s.(syscall.Signal))
		}
	}()
	return reap(pid)
}

// credential is the command's user: nil keeps the sandbox's root, otherwise sp.UID and sp.GID
// with no supplementary groups.
func credential(sp spec) *syscall.Credential {
	if sp.UID == 0 && sp.GID == 0 {
		return nil
	}
	return &syscall.Credential{Uid: uint32(sp.UID), Gid: uint32(sp.GID)}
}

// reap waits for every child until pid ends and returns pid's exit code.
func reap(pid int) int {
	for {
		var ws syscall.WaitStatus
		got, err := syscall.Wait4(-1, &ws, 0, nil)
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		if err != nil {
			return 1
		}
		if got != pid {
			continue
		}
		if ws.Signaled() {
			return 128 + int(ws.Signal())
		}
		return ws.ExitStatus()
	}
}

// setupRoot runs in the new namespaces, as the sandbox's root with full capabilities there.
func setupRoot(sp spec) error {
	if err := unix.Sethostname([]byte(sp.Hostname)); err != nil {
		return fmt.Errorf("set hostname: %w", err)
	}
	// Nothing mounted here may propagate back to the host.
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("make / private: %w", err)
	}
	stage := sp.Stage
	if err := attach(sp.RootFD, stage); err != nil {
		return fmt.Errorf("attach root: %w", err)
	}
	for i, b := range sp.Binds {
		if err := attach(sp.SrcFDs[i], filepath.Join(stage, b.Target)); err != nil {
			return fmt.Errorf("bind %s at %s: %w", b.Source, b.Target, err)
		}
	}
	if err := mountProc(stage); err != nil {
		return err
	}
	if err := mountDev(stage); err != nil {
		return err
	}
	// A world-writable, sticky /tmp, as images have it: os.MkdirAll takes only permission
	// bits (and the umask), so the mode is set afterwards.
	tmp := filepath.Join(stage, "tmp")
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		return fmt.Errorf("create /tmp: %w", err)
	}
	if err := os.Chmod(tmp, 0o777|fs.ModeSticky); err != nil {
		return fmt.Errorf("create /tmp: %w", err)
	}
	// pivot_root with the old root stacked on the new one, then detach it: unlike a bare
	// chroot, nothing of the host's tree stays reachable.
	if err := unix.Chdir(stage); err != nil {
		return fmt.Errorf("enter root: %w", err)
	}
	if err := unix.PivotRoot(".", "."); err != nil {
		return fmt.Errorf("pivot_root: %w", err)
	}
	if err := unix.Unmount(".", unix.MNT_DETACH); err != nil {
		return fmt.Errorf("detach old root: %w", err)
	}
	if err := unix.Chdir("/"); err != nil {
		return fmt.Errorf("enter root: %w", err)
	}
	return nil
}

// attach mounts a tree cloned by the parent (open_tree) at dest, without following a symbolic
// link at dest.
func attach(fd int, dest string) error {
	return unix.MoveMount(fd, "", unix.AT_FDCWD, dest, unix.MOVE_MOUNT_F_EMPTY_PATH)
}

func mountProc(root string) error {
	p := filepath.Join(root, "proc")
	if err := os.MkdirAll(p, 0o555); err != nil {
		return fmt.Errorf("create /proc: %w", err)
	}
	if err := unix.Mount("proc", p, "proc", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		return fmt.Errorf("mount /proc: %w", err)
	}
	return nil
}

// mountDev makes /dev a tmpfs with the few device nodes a build needs, bound from the host,
// and a private /dev/shm.
func mountDev(root string) error {
	dev := filepath.Join(root, "dev")
	if err := os.MkdirAll(dev, 0o755); err != nil {
		return fmt.Errorf("create /dev: %w", err)
	}
	if err := unix.Mount("tmpfs", dev, "tmpfs", unix.MS_NOSUID|unix.MS_NOEXEC, "mode=755,size=65536k"); err != nil {
		return fmt.Errorf("mount /dev: %w", err)
	}
	for _, d := range devices {
		target := filepath.Join(dev, d)
		if err := os.WriteFile(target, nil, 0o666); err != nil {
			return fmt.Errorf("create /dev/%s: %w", d, err)
		}
		if err := unix.Mount("/dev/"+d, target, "", unix.MS_BIND, ""); err != nil {
			return fmt.Errorf("bind /dev/%s: %w", d, err)
		}
	}
	shm := filepath.Join(dev, "shm")
	if err := os.Mkdir(shm, 0o1777); err != nil {
		return fmt.Errorf("create /dev/shm: %w", err)
	}
	if err := unix.Mount("shm", shm, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "mode=1777,size=65536k"); err != nil {
		return fmt.Errorf("mount /dev/shm: %w", err)
	}
	for name, target := range map[string]string{
		"fd": "/proc/self/fd", "stdin": "/proc/self/fd/0", "stdout": "/proc/self/fd/1", "stderr": "/proc/self/fd/2",
	} {
		if err := os.Symlink(target, filepath.Join(dev, name)); err != nil {
			return fmt.Errorf("create /dev/%s: %w", name, err)
		}
	}
	return nil
}

// lookPath finds name in the PATH of env, inside the new root.
func lookPath(name string, env []string) (string, error) {
	if strings.Contains(name, "/") {
		if _, err := os.Stat(name); err != nil {
			return "", fmt.Errorf("command %s: %w", name, err)
		}
		return name, nil
	}
	path := ""
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			path = v
		}
	}
	for _, dir := range filepath.SplitList(path) {
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("command %q not found in PATH %q", name, path)
}
