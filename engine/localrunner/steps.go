package localrunner

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"

	"slipway.dev/slipway/engine/sandbox"
)

// SlipwayStepsImage is the image of Slipway's own step binary; HostSteps runs it as the
// configured SlipwayBinary.
const SlipwayStepsImage = "slipway.dev/steps"

// ErrUnknownImage is returned for a step whose image has no local mapping while host steps
// are not allowed.
var ErrUnknownImage = errors.New("step image is not known to the local runner")

// StepExec is one step, fully substituted, ready to run on the host.
type StepExec struct {
	TaskRun, Name string
	Image         string
	Command, Args []string
	Script        string
	// Dir is the working directory; Env the step's own variables (KEY=VALUE), nothing else.
	Dir  string
	Env  []string
	Home string
	// ScriptDir is a private directory where a script may be written.
	ScriptDir string
	// Mounts are the host directories the step works in (the TaskRun's own directory, with
	// results, home and scripts, and its workspaces); a sandboxed step sees them at the same
	// paths, and nothing else of the host.
	Mounts []string
	// Log receives stdout and stderr.
	Log io.Writer
}

// StepRunner runs one step as a local process and reports its exit code. An error means the
// step could not be run at all. RunStep must return promptly once ctx is done, having stopped
// everything it started.
type StepRunner interface {
	RunStep(ctx context.Context, s StepExec) (exitCode int, err error)
}

// HostSteps runs steps as host processes, mapping images to local binaries.
type HostSteps struct {
	// Images maps an image (tag and digest are ignored) to a local binary that stands in for
	// the image's entrypoint. An empty binary marks an image whose scripts and commands may
	// run with the host's tools (for example a shell image).
	Images map[string]string
	// SlipwayBinary runs steps of SlipwayStepsImage: the step's command[0] is replaced by it.
	SlipwayBinary string
	// AllowHostSteps lets steps of unknown images run their script with /bin/sh, or their
	// command from PATH, directly on the host.
	AllowHostSteps bool
	// Path is the PATH steps get; default the runner's own PATH.
	Path string
	// KillGrace is how long a step's process group gets between SIGTERM and SIGKILL (default 2s).
	KillGrace time.Duration
	// Reaper is a binary that serves sandbox.ExecCommand (the slipway binary, or a test
	// binary whose TestMain calls sandbox.Child). When set, it is started once as a
	// sandbox.Reaper that guards every host step's process group: if the runner dies, even by
	// SIGKILL, every process of a running step dies with it. Without it only the step's own
	// process does (Pdeathsig), and processes it started may outlive the runner.
	Reaper string

	reaperMu sync.Mutex
	reaper   *sandbox.Reaper
	// Sandboxes maps an image (tag and digest are ignored) to a binary that runs in a fresh
	// sandbox root per step, as an unprivileged host uid range (see SandboxImage). Such steps
	// need a runner that is real root and a binary that serves sandbox.ExecCommand.
	Sandboxes map[string]SandboxImage
	// SandboxDir is where sandbox roots are made; default the system's temporary directory.
	SandboxDir string
	// SandboxBase is the host uid of a sandbox's root; default sandbox.DefaultBase.
	SandboxBase int
	// SandboxExecutable is the binary re-executed to enter a sandbox (it must call
	// sandbox.Child for sandbox.ExecCommand); default the running binary.
	SandboxExecutable string
}

// ImageRepository reduces an image reference to its repository, dropping tag and digest and
// spelling out Docker Hub defaults, so that "alpine:3.20" and "docker.io/library/alpine@sha256:..."
// compare equal.
func ImageRepository(image string) string {
	if i := strings.Index(image, "@"); i >= 0 {
		image = image[:i]
	}
	if i := strings.LastIndex(image, ":"); i > strings.LastIndex(image, "/") {
		image = image[:i]
	}
	first, rest, ok := strings.Cut(image, "/")
	switch {
	case !ok:
		return "docker.io/library/" + image
	case first == "index.docker.io":
		return ImageRepository("docker.io/" + rest)
	case first == "docker.io" && !strings.Contains(rest, "/"):
		return "docker.io/library/" + rest
	case !strings.ContainsAny(first, ".:") && first != "localhost":
		return "docker.io/" + image
	}
	return image
}

// lookup returns the binary mapped to image and whether the image is known at all.
func (h *HostSteps) lookup(image string) (string, bool) {
	repo := ImageRepository(image)
	if repo == SlipwayStepsImage && h.SlipwayBinary != "" {
		return h.SlipwayBinary, true
	}
	for k, bin := range h.Images {
		if ImageRepository(k) == repo {
			return bin, true
		}
	}
	return "", false
}

// argv decides what to execute for s.
func (h *HostSteps) argv(s StepExec) (argv []string, binDir string, err error) {
	bin, known := h.lookup(s.Image)
	if !known && !h.AllowHostSteps {
		return nil, "", fmt.Errorf("%w: step %q uses image %q, which has no local binary; map the image in the local runner's image table, or allow host steps (`slipway dev --allow-host-steps`, HostSteps.AllowHostSteps) to run its script with /bin/sh on this machine",
			ErrUnknownImage, s.Name, s.Image)
	}
	if bin != "" {
		binDir = filepath.Dir(bin)
	}
	switch {
	case s.Script != "":
		argv, err = writeScript(s)
		return argv, binDir, err
	case bin != "":
		rest := s.Command
		if len(rest) > 0 {
			rest = rest[1:]
		}
		return append(append([]string{bin}, rest...), s.Args...), binDir, nil
	case len(s.Command) > 0:
		return append(append([]string{}, s.Command...), s.Args...), "", nil
	}
	return nil, "", fmt.Errorf("step %q (image %q) has neither script nor command, and the image's entrypoint is not known locally", s.Name, s.Image)
}

// writeScript stores the script and returns how to run it, as Tekton does: a script without
// a shebang runs under "/bin/sh" with "set -e".
func writeScript(s StepExec) ([]string, error) {
	body := s.Script
	interp := []string{"/bin/sh"}
	if strings.HasPrefix(body, "#!") {
		line, _, _ := strings.Cut(body[2:], "\n")
		interp = strings.Fields(line)
		if len(interp) == 0 {
			return nil, fmt.Errorf("step %q: empty shebang", s.Name)
		}
	} else {
		body = "set -e\n" + body
	}
	path := filepath.Join(s.ScriptDir, "step-"+s.Name)
	if err := os.WriteFile(path, []byte(body), 0o700); err != nil {
		return nil, fmt.Errorf("write script: %w", err)
	}
	return append(append(interp, path), s.Args...), nil
}

// startReaper starts the reaper on the first step, and again after one died.
func (h *HostSteps) startReaper() (*sandbox.Reaper, error) {
	if h.Reaper == "" {
		return nil, nil
	}
	h.reaperMu.Lock()
	defer h.reaperMu.Unlock()
	if h.reaper == nil || h.reaper.Err() != nil {
		r, err := sandbox.StartReaper(h.Reaper)
		if err != nil {
			return nil, err
		}
		h.reaper = r
	}
	return h.reaper, nil
}

// guard registers a step's process group with the reaper, starting a new reaper if the last
// one died.
func (h *HostSteps) guard(pgid int) (*sandbox.Reaper, error) {
	for range 2 {
		r, err := h.startReaper()
		if r == nil || err != nil {
			return nil, err
		}
		if err = r.Guard(pgid); err == nil {
			return r, nil
		}
	}
	return nil, errors.New("the reaper of host steps keeps dying")
}

// RunStep implements StepRunner.
func (h *HostSteps) RunStep(ctx context.Context, s StepExec) (int, error) {
	if img, ok := h.sandboxFor(s.Image); ok {
		return h.runSandboxed(ctx, s, img)
	}
	argv, binDir, err := h.argv(s)
	if err != nil {
		return 1, err
	}
	path := h.Path
	if path == "" {
		path = os.Getenv("PATH")
	}
	if binDir != "" {
		path = binDir + string(os.PathListSeparator) + path
	}
	grace := h.KillGrace
	if grace == 0 {
		grace = 2 * time.Second
	}
	if _, err := h.startReaper(); err != nil {
		return 1, fmt.Errorf("step %q: %w", s.Name, err)
	}
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Dir = s.Dir
	// A clean environment: build steps must not inherit the runner's credentials. Later
	// entries win, so a step may set its own HOME or PATH.
	cmd.Env = append([]string{"PATH=" + path, "HOME=" + s.Home}, s.Env...)
	cmd.Stdout, cmd.Stderr = s.Log, s.Log
	cmd.Stdin = nil
	// Cancelling or timing out ends the whole process group: SIGTERM, then SIGKILL after grace.
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM) }
	cmd.WaitDelay = grace
	// Pdeathsig fires when the thread that started the process ends; this goroutine keeps the
	// thread to itself until the step has been waited for, so it fires only when the runner dies.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if err := cmd.Start(); err != nil {
		return 1, fmt.Errorf("start step %q: %w", s.Name, err)
	}
	pgid := cmd.Process.Pid
	reaper, err := h.guard(pgid)
	if err != nil {
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		_ = cmd.Wait()
		return 1, fmt.Errorf("step %q: %w", s.Name, err)
	}
	werr := cmd.Wait()
	// Like a container, a step ends with everything it started.
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	if reaper != nil {
		_ = reaper.Release(pgid)
	}
	if code, ok := sandbox.ExitStatus(ctx, werr); ok {
		return code, nil
	}
	return 1, fmt.Errorf("wait for step %q: %w", s.Name, werr)
}
