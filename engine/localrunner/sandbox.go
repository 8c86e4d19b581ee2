package localrunner

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"slipway.dev/slipway/engine/sandbox"
)

// KanikoImage is the repository of the Kaniko executor image (a build of the maintained
// chainguard-dev fork); KanikoSandbox stands in for it under the local runner.
const KanikoImage = "ghcr.io/kaniko-build/dist/chainguard-dev-kaniko/executor"

// SandboxImage describes an image whose steps run in a fresh sandbox root of their own
// (engine/sandbox): the build's uid 0 is an unprivileged host uid, the step sees only the root,
// its TaskRun directory and workspaces, and the root is removed when the step ends.
type SandboxImage struct {
	// Binary is the host binary (statically linked) copied into each root at Path; it is the
	// image's entrypoint.
	Binary string
	// Path is where Binary goes inside the root, for example /kaniko/executor.
	Path string
	// Env is the image's environment; the step's own variables win.
	Env []string
	// Files maps paths inside the root to host files copied there (a CA bundle).
	Files map[string]string
	// Data maps paths inside the root to their contents.
	Data map[string]string
	// ReadOnly are host files or directories bound read-only at the same path (resolv.conf).
	ReadOnly []string
}

// KanikoSandbox runs Kaniko's executor image as its images do: the executor at /kaniko/executor,
// the host's CA bundle at /kaniko/ssl/certs, an empty Docker config in /kaniko/.docker and the
// host's resolv.conf. Registry credentials are not part of it.
func KanikoSandbox(executor string) SandboxImage {
	img := SandboxImage{
		Binary: executor,
		Path:   "/kaniko/executor",
		Env: []string{
			"PATH=/usr/local/bin:/kaniko:/usr/bin:/bin",
			"SSL_CERT_DIR=/kaniko/ssl/certs",
			"DOCKER_CONFIG=/kaniko/.docker/",
			"DOCKER_CREDENTIAL_GCR_CONFIG=/kaniko/.config/gcloud/docker_credential_gcr_config.json",
			"container=docker",
		},
		Data: map[string]string{"/kaniko/.docker/config.json": "{}\n"},
	}
	if _, err := os.Stat(hostCABundle); err == nil {
		img.Files = map[string]string{"/kaniko/ssl/certs/ca-certificates.crt": hostCABundle}
	}
	if _, err := os.Stat("/etc/resolv.conf"); err == nil {
		img.ReadOnly = []string{"/etc/resolv.conf"}
	}
	return img
}

const hostCABundle = "/etc/ssl/certs/ca-certificates.crt"

// sandboxFor returns the sandbox image of image, if it has one.
func (h *HostSteps) sandboxFor(image string) (SandboxImage, bool) {
	repo := ImageRepository(image)
	for k, img := range h.Sandboxes {
		if ImageRepository(k) == repo {
			return img, true
		}
	}
	return SandboxImage{}, false
}

// runSandboxed runs s in a fresh root made for img.
func (h *HostSteps) runSandboxed(ctx context.Context, s StepExec, img SandboxImage) (int, error) {
	if s.Script != "" {
		return 1, fmt.Errorf("step %q: image %q runs in a sandbox that has only %s, no shell for a script; use command and args", s.Name, s.Image, img.Path)
	}
	argv := []string{img.Path}
	if len(s.Command) > 1 {
		argv = append(argv, s.Command[1:]...)
	}
	argv = append(argv, s.Args...)

	parent := h.SandboxDir
	if parent == "" {
		parent = os.TempDir()
	}
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return 1, fmt.Errorf("step %q: create sandbox directory: %w", s.Name, err)
	}
	root, err := os.MkdirTemp(parent, "root-")
	if err != nil {
		return 1, fmt.Errorf("step %q: create sandbox root: %w", s.Name, err)
	}
	// The root's files end up owned by the sandbox's ids; the runner is root and removes them.
	defer os.RemoveAll(root)
	if err := os.Chmod(root, 0o755); err != nil {
		return 1, fmt.Errorf("step %q: %w", s.Name, err)
	}
	if err := populate(root, img); err != nil {
		return 1, fmt.Errorf("step %q: prepare sandbox root for %s: %w", s.Name, s.Image, err)
	}
	binds := make([]sandbox.Bind, 0, len(s.Mounts)+len(img.ReadOnly))
	for _, m := range outermost(s.Mounts) {
		binds = append(binds, sandbox.Bind{Source: m})
	}
	for _, p := range img.ReadOnly {
		binds = append(binds, sandbox.Bind{Source: p, ReadOnly: true})
	}
	env := append(append(slices.Clone(img.Env), "HOME="+s.Home), s.Env...)
	code, err := sandbox.Run(ctx, sandbox.Config{
		Root: root, Binds: binds, Args: argv, Env: env, Dir: s.Dir,
		Stdout: s.Log, Stderr: s.Log, Base: h.SandboxBase, Shift: true,
		Executable: h.SandboxExecutable, KillGrace: h.KillGrace,
	})
	if err != nil {
		return code, fmt.Errorf("step %q: %w", s.Name, err)
	}
	return code, nil
}

// populate puts the image's binary, files and data into root.
func populate(root string, img SandboxImage) error {
	if img.Binary == "" || !filepath.IsAbs(img.Path) {
		return fmt.Errorf("sandbox image needs a binary and an absolute path for it (have %q at %q)", img.Binary, img.Path)
	}
	if err := copyFile(img.Binary, filepath.Join(root, img.Path), 0o755); err != nil {
		return err
	}
	for in, host := range img.Files {
		if err := copyFile(host, filepath.Join(root, in), 0o644); err != nil {
			return err
		}
	}
	for in, data := range img.Data {
		p := filepath.Join(root, in)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			return err
		}
	}
	return nil
}

func copyFile(src, dst string, mode os.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	_, err = io.Copy(out, in)
	return errors.Join(err, out.Close())
}

// outermost drops directories that lie inside another listed one: binding the outer one
// brings them along.
func outermost(dirs []string) []string {
	sorted := slices.Clone(dirs)
	for i := range sorted {
		sorted[i] = filepath.Clean(sorted[i])
	}
	slices.Sort(sorted)
	var out []string
	for _, d := range sorted {
		if n := len(out); n > 0 && (d == out[n-1] || strings.HasPrefix(d, out[n-1]+"/")) {
			continue
		}
		out = append(out, d)
	}
	return out
}
