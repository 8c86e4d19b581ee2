// Package sandbox runs a command in a fresh root as an unprivileged range of host user ids:
// user, mount, pid, ipc and uts namespaces, chosen host directories bound in, a cleared
// environment and the host network.
//
// The sandbox's uid and gid 0 to 65535 map to host ids Base to Base+65535 (100000 by default),
// so a build's "root" is an unprivileged user on the host. The calling process must be real root
// (it writes the id maps itself, so no /etc/subuid or newuidmap is needed). The inside half is a
// re-execution of the current binary with the ExecCommand argument: a program that uses Run must
// call Child when it is started that way (`slipway sandbox-exec`, or a test's TestMain).
//
// It needs Linux 5.12 or later (open_tree, move_mount, mount_setattr, close_range).
package sandbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// ExecCommand is the first argument with which Run re-executes the current binary; such a
// process must call Child.
const ExecCommand = "sandbox-exec"

// DefaultBase is the host uid and gid that the sandbox's uid and gid 0 map to.
const DefaultBase = 100000

// Size is the number of uids and gids mapped into a sandbox.
const Size = 65536

// Descriptors the child inherits (ExtraFiles[i] is descriptor 3+i): the spec pipe, the error
// pipe, the executable, then the cloned mount trees.
const (
	specFD  = 3
	errFD   = 4
	exeFD   = 5
	firstFD = 6
)

// setupFailed is the exit code of a sandbox that could not be set up (as runc and docker use).
const setupFailed = 125

// ErrSetup is wrapped by errors that happened while the sandbox was being set up, before the
// command ran.
var ErrSetup = errors.New("set up sandbox")

// Bind is a host directory or file made visible inside the sandbox.
type Bind struct {
	// Source is the host path; it must exist.
	Source string `json:"source"`
	// Target is the path inside the sandbox; default Source, so that paths written into
	// arguments mean the same inside and out.
	Target string `json:"target,omitempty"`
	// ReadOnly binds it read-only.
	ReadOnly bool `json:"readOnly,omitempty"`
}

// Config is one command to run in a sandbox.
type Config struct {
	// Root is the host directory that becomes the sandbox's /. It should be owned by the
	// mapped range (see Shift); the sandbox can write to it.
	Root string
	// Binds are mounted into the root before the command starts.
	Binds []Bind
	// Args is the command; Args[0] is a path inside the root, or a name looked up in the PATH
	// given in Env.
	Args []string
	// Env is the command's whole environment (KEY=VALUE); nothing is inherited.
	Env []string
	// Dir is the working directory inside the sandbox; default /.
	Dir string
	// Stdout and Stderr receive the command's output; nil discards it.
	Stdout, Stderr io.Writer
	// Base is the host uid and gid of the sandbox's root; default DefaultBase.
	Base int
	// Shift, when set, changes the owners of the root's files and of every read-write bind
	// source into the mapped range before the command starts (see Shift).
	Shift bool
	// Hostname is the sandbox's host name; default "sandbox".
	Hostname string
	// UID and GID are the user and group the command runs as inside the sandbox (0 to Size-1);
	// default 0, the sandbox's root.
	UID, GID int
	// Executable is the binary re-executed with ExecCommand; default the running binary.
	Executable string
	// KillGrace is how long the command gets between SIGTERM and SIGKILL once ctx is done
	// (default 2s). SIGKILL ends every process in the sandbox.
	KillGrace time.Duration
}

// spec is what the parent hands the child over a pipe.
type spec struct {
	Binds    []Bind   `json:"binds"`
	Args     []string `json:"args"`
	Env      []string `json:"env"`
	Dir      string   `json:"dir"`
	Hostname string   `json:"hostname"`
	Stage    string   `json:"stage"`
	UID      int      `json:"uid,omitempty"`
	GID      int      `json:"gid,omitempty"`
	// RootFD and SrcFDs are descriptors the child inherits, opened by the parent so that the
	// child never has to traverse host directories its unprivileged ids may not enter.
	RootFD int   `json:"rootFD"`
	SrcFDs []int `json:"srcFDs"`
}

// Run runs c.Args in a fresh sandbox and returns its exit code (128+n for a command killed by
// signal n). An error means the sandbox could not be set up or the command not started; it
// wraps ErrSetup when the sandbox side failed. Once ctx is done the command gets SIGTERM, and
// after KillGrace every process in the sandbox is killed; Run returns when all have ended.
func Run(ctx context.Context, c Config) (int, error) {
	if c.Base == 0 {
		c.Base = DefaultBase
	}
	if err := c.validate(); err != nil {
		return 1, err
	}
	if c.Shift {
		if err := Shift(c.Root, c.Base); err != nil {
			return 1, err
		}
		for _, b := range c.Binds {
			if !b.ReadOnly {
				if err := Shift(b.Source, c.Base); err != nil {
					return 1, err
				}
			}
		}
	}
	stage, err := os.MkdirTemp("", "slipway-sandbox-")
	if err != nil {
		return 1, fmt.Errorf("%w: %v", ErrSetup, err)
	}
	defer os.Remove(stage)
	// MkdirTemp makes 0700 directories; the sandbox's root must be able to reach the stage.
	if err := os.Chmod(stage, 0o755); err != nil {
		return 1, fmt.Errorf("%w: %v", ErrSetup, err)
	}
	files, sp, err := c.openFiles()
	defer closeAll(files)
	if err != nil {
		return 1, fmt.Errorf("%w: %v", ErrSetup, err)
	}
	sp.Stage = stage
	return c.start(ctx, files, sp)
}

func (c *Config) validate() error {
	switch {
	case os.Geteuid() != 0:
		return fmt.Errorf("%w: mapping host ids %d-%d needs a runner that is real root (running as uid %d)", ErrSetup, c.Base, c.Base+Size-1, os.Geteuid())
	case c.Base < Size:
		return fmt.Errorf("%w: base id %d overlaps the %d ids it maps; use %d or more", ErrSetup, c.Base, Size, Size)
	case !filepath.IsAbs(c.Root):
		return fmt.Errorf("%w: root %q is not an absolute path", ErrSetup, c.Root)
	case len(c.Args) == 0:
		return fmt.Errorf("%w: no command", ErrSetup)
	case c.Dir != "" && !filepath.IsAbs(c.Dir):
		return fmt.Errorf("%w: working directory %q is not an absolute path", ErrSetup, c.Dir)
	case c.UID < 0 || c.UID >= Size || c.GID < 0 || c.GID >= Size:
		return fmt.Errorf("%w: user %d:%d is outside the sandbox's ids 0-%d", ErrSetup, c.UID, c.GID, Size-1)
	}
	if fi, err := os.Stat(c.Root); err != nil || !fi.IsDir() {
		return fmt.Errorf("%w: root %s is not a directory", ErrSetup, c.Root)
	}
	for i := range c.Binds {
		b := &c.Binds[i]
		if b.Target == "" {
			b.Target = b.Source
		}
		if !filepath.IsAbs(b.Source) || !filepath.IsAbs(b.Target) {
			return fmt.Errorf("%w: bind %s -> %s: paths must be absolute", ErrSetup, b.Source, b.Target)
		}
		b.Target = filepath.Clean(b.Target)
		if b.Target == "/" {
			return fmt.Errorf("%w: bind %s: cannot bind over the root", ErrSetup, b.Source)
		}
		if _, err := os.Stat(b.Source); err != nil {
			return fmt.Errorf("%w: bind source: %v", ErrSetup, err)
		}
	}
	return nil
}

// openFiles clones the mount trees of the root and of each bind source (open_tree), made
// read-only where asked, as descriptors numbered from firstFD in the child, and creates each bind's
// mount point inside the root. The child attaches the clones in its own mount namespace, so it
// never has to traverse host directories its unprivileged ids may not enter.
func (c *Config) openFiles() ([]*os.File, spec, error) {
	sp := spec{Args: c.Args, Env: c.Env, Dir: c.Dir, Hostname: c.Hostname, Binds: c.Binds, UID: c.UID, GID: c.GID}
	if sp.Dir == "" {
		sp.Dir = "/"
	}
	if sp.Hostname == "" {
		sp.Hostname = "sandbox"
	}
	var files []*os.File
	clone := func(path string, readOnly bool) (int, error) {
		fd, err := unix.OpenTree(unix.AT_FDCWD, path, unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC|unix.AT_RECURSIVE)
		if err != nil {
			return 0, fmt.Errorf("clone mount tree of %s: %w", path, err)
		}
		files = append(files, os.NewFile(uintptr(fd), path))
		if readOnly {
			attr := unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY}
			if err := unix.MountSetattr(fd, "", unix.AT_EMPTY_PATH|unix.AT_RECURSIVE, &attr); err != nil {
				return 0, fmt.Errorf("make %s read-only: %w", path, err)
			}
		}
		return firstFD + len(files) - 1, nil
	}
	for _, b := range c.Binds {
		if err := c.mountPoint(b); err != nil {
			return files, sp, err
		}
	}
	var err error
	if sp.RootFD, err = clone(c.Root, false); err != nil {
		return files, sp, err
	}
	for _, b := range c.Binds {
		fd, err := clone(b.Source, b.ReadOnly)
		if err != nil {
			return files, sp, err
		}
		sp.SrcFDs = append(sp.SrcFDs, fd)
	}
	return files, sp, nil
}

// mountPoint creates the target of b inside the root (a directory, or an empty file for a file
// source) without following symbolic links out of the root.
func (c *Config) mountPoint(b Bind) error {
	fi, err := os.Stat(b.Source)
	if err != nil {
		return err
	}
	dest := filepath.Join(c.Root, b.Target)
	parent := filepath.Dir(dest)
	for p := parent; p != c.Root && strings.HasPrefix(p, c.Root); p = filepath.Dir(p) {
		if li, err := os.Lstat(p); err == nil && li.Mode()&os.ModeSymlink != 0 {
			return fmt.Errorf("bind target %s: %s is a symbolic link inside the root", b.Target, p)
		}
	}
	if err := mkdirOwned(c.Root, parent, c.Base); err != nil {
		return fmt.Errorf("bind target %s: %w", b.Target, err)
	}
	if li, err := os.Lstat(dest); err == nil && li.Mode()&os.ModeSymlink != 0 {
		return fmt.Errorf("bind target %s is a symbolic link inside the root", b.Target)
	}
	if fi.IsDir() {
		err = mkdirOwned(c.Root, dest, c.Base)
	} else {
		var f *os.File
		f, err = os.OpenFile(dest, os.O_CREATE|os.O_WRONLY, 0o644)
		if err == nil {
			err = errors.Join(f.Close(), os.Lchown(dest, c.Base, c.Base))
		}
	}
	if err != nil {
		return fmt.Errorf("bind target %s: %w", b.Target, err)
	}
	return nil
}

// mkdirOwned is os.MkdirAll for dir under root, giving the directories it creates to the
// sandbox's root.
func mkdirOwned(root, dir string, base int) error {
	if _, err := os.Lstat(dir); err == nil || dir == root {
		return nil
	}
	if err := mkdirOwned(root, filepath.Dir(dir), base); err != nil {
		return err
	}
	if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
		return err
	}
	return os.Lchown(dir, base, base)
}

func closeAll(files []*os.File) {
	for _, f := range files {
		f.Close()
	}
}

// start re-executes the binary in new namespaces, hands it the spec and waits for it.
func (c *Config) start(ctx context.Context, files []*os.File, sp spec) (int, error) {
	// The child's Pdeathsig fires when the thread that started it ends, not the process: this
	// goroutine keeps that thread to itself until the child has been waited for.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	exe := c.Executable
	if exe == "" {
		exe = "/proc/self/exe"
	}
	// The child starts as the sandbox's root, an unprivileged host uid that may not be able
	// to reach exe's directory; it executes the file this process opened instead.
	exeFile, err := os.Open(exe)
	if err != nil {
		return 1, fmt.Errorf("%w: open executable: %v", ErrSetup, err)
	}
	defer exeFile.Close()
	specR, specW, err := os.Pipe()
	if err != nil {
		return 1, fmt.Errorf("%w: %v", ErrSetup, err)
	}
	defer specR.Close()
	defer specW.Close()
	errR, errW, err := os.Pipe()
	if err != nil {
		return 1, fmt.Errorf("%w: %v", ErrSetup, err)
	}
	defer errR.Close()
	defer errW.Close()

	grace := c.KillGrace
	if grace == 0 {
		grace = 2 * time.Second
	}
	cmd := exec.CommandContext(ctx, fmt.Sprintf("/proc/self/fd/%d", exeFD), ExecCommand)
	cmd.Args[0] = "slipway-sandbox" // what process listings show for the sandbox's init
	cmd.Env = []string{}
	cmd.Dir = "/"
	cmd.Stdout, cmd.Stderr = orDiscard(c.Stdout), orDiscard(c.Stderr)
	cmd.ExtraFiles = append([]*os.File{specR, errW, exeFile}, files...)
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags: syscall.CLONE_NEWUSER | syscall.CLONE_NEWNS | syscall.CLONE_NEWPID |
			syscall.CLONE_NEWIPC | syscall.CLONE_NEWUTS,
		UidMappings:                []syscall.SysProcIDMap{{ContainerID: 0, HostID: c.Base, Size: Size}},
		GidMappings:                []syscall.SysProcIDMap{{ContainerID: 0, HostID: c.Base, Size: Size}},
		GidMappingsEnableSetgroups: true,
		Credential:                 &syscall.Credential{Uid: 0, Gid: 0},
		Pdeathsig:                  syscall.SIGKILL,
	}
	// The child is the sandbox's pid 1: SIGTERM reaches the command through it, and SIGKILL
	// (WaitDelay) takes the whole pid namespace down with it.
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = grace
	if err := cmd.Start(); err != nil {
		return 1, fmt.Errorf("%w: start %s %s: %v", ErrSetup, exe, ExecCommand, err)
	}
	specR.Close()
	errW.Close()
	werr := json.NewEncoder(specW).Encode(sp)
	specW.Close()
	msg, _ := io.ReadAll(io.LimitReader(errR, 64<<10))
	err = cmd.Wait()
	if len(msg) > 0 {
		return setupFailed, fmt.Errorf("%w: %s", ErrSetup, strings.TrimSpace(string(msg)))
	}
	if werr != nil && err == nil {
		return 1, fmt.Errorf("%w: send spec: %v", ErrSetup, werr)
	}
	if code, ok := ExitStatus(ctx, err); ok {
		return code, nil
	}
	return 1, fmt.Errorf("wait for sandbox: %w", err)
}

func orDiscard(w io.Writer) io.Writer {
	if w == nil {
		return io.Discard
	}
	return w
}
