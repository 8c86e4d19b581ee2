// Package scenario drives a running `slipway dev` the way a user and a Git provider would: it
// starts and kills the process, pushes an application's source to the embedded Git server,
// sends signed GitHub push webhooks and waits for each stage of a delivery. The end-to-end tests,
// `make demo` and `make bench` share it.
package scenario

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"slipway.dev/slipway/engine/devenv"
	"slipway.dev/slipway/engine/gitserver"
)

// Dev is a `slipway dev` process.
type Dev struct {
	devenv.Endpoints
	Dir    string
	Client client.Client
	cmd    *exec.Cmd
	done   chan error
}

// StartDev runs `bin dev --dir dir` and returns once it serves. Its output goes to out.
func StartDev(ctx context.Context, bin, dir string, out io.Writer, extraArgs ...string) (*Dev, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	_ = os.Remove(devenv.EndpointsFile(dir))
	args := append([]string{"dev", "--dir", dir, "--sync-interval", "5s"}, extraArgs...)
	// The process must outlive a test's context only until we stop it; ctx bounds the wait.
	cmd := exec.Command(bin, args...) //nolint:gosec // the test's own binary
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start slipway dev: %w", err)
	}
	d := &Dev{Dir: dir, cmd: cmd, done: make(chan error, 1)}
	go func() { d.done <- cmd.Wait() }()
	for {
		if ep, err := devenv.ReadEndpoints(dir); err == nil && ep.PID == cmd.Process.Pid {
			d.Endpoints = ep
			break
		}
		select {
		case err := <-d.done:
			return nil, fmt.Errorf("slipway dev exited before it was ready: %v (see %s)", err, filepath.Join(dir, "slipway.log"))
		case <-ctx.Done():
			d.Kill()
			return nil, fmt.Errorf("slipway dev did not become ready: %w", ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", d.Kubeconfig)
	if err != nil {
		d.Kill()
		return nil, err
	}
	cfg.QPS, cfg.Burst = 50, 100
	scheme, err := devenv.Scheme()
	if err != nil {
		d.Kill()
		return nil, err
	}
	if d.Client, err = client.New(cfg, client.Options{Scheme: scheme}); err != nil {
		d.Kill()
		return nil, err
	}
	return d, nil
}

// Stop interrupts the process as Ctrl-C would and waits for it to exit.
func (d *Dev) Stop() error {
	_ = d.cmd.Process.Signal(os.Interrupt)
	select {
	case err := <-d.done:
		return err
	case <-time.After(60 * time.Second):
		d.Kill()
		return errors.New("slipway dev did not stop within 60s of an interrupt")
	}
}

// Kill sends SIGKILL to the process, as a crash would, and waits for it. Its children (the
// control plane) die with it.
func (d *Dev) Kill() {
	_ = d.cmd.Process.Signal(syscall.SIGKILL)
	<-d.done
	// Wait for the children to go too, so a restart can reuse the ports.
	_ = syscall.Kill(-d.cmd.Process.Pid, syscall.SIGKILL)
	time.Sleep(500 * time.Millisecond)
}

// Git runs git in dir and returns its trimmed output.
func Git(ctx context.Context, dir string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=Dev", "GIT_AUTHOR_EMAIL=dev@example.com",
		"GIT_COMMITTER_NAME=Dev", "GIT_COMMITTER_EMAIL=dev@example.com", "GIT_TERMINAL_PROMPT=0")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("git %s: %w: %s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out)), nil
}

// PushSource copies srcDir into a working copy of repoURL (cloned into work), commits it with
// message and pushes branch main. It returns the commit pushed and the one it replaced (zeros
// for the first push).
func PushSource(ctx context.Context, repoURL, srcDir, work, message string) (before, after string, err error) {
	if _, err := os.Stat(filepath.Join(work, ".git")); err != nil {
		if err := os.MkdirAll(filepath.Dir(work), 0o755); err != nil {
			return "", "", err
		}
		if _, err := Git(ctx, filepath.Dir(work), "clone", "-q", repoURL, work); err != nil {
			return "", "", err
		}
		if _, err := Git(ctx, work, "checkout", "-q", "-B", "main"); err != nil {
			return "", "", err
		}
	}
	before = strings.Repeat("0", 40)
	if head, err := Git(ctx, work, "rev-parse", "--verify", "-q", "HEAD"); err == nil {
		before = head
	}
	if err := copyTree(srcDir, work); err != nil {
		return "", "", err
	}
	if _, err := Git(ctx, work, "add", "-A"); err != nil {
		return "", "", err
	}
	if _, err := Git(ctx, work, "commit", "-q", "--allow-empty", "-m", message); err != nil {
		return "", "", err
	}
	if _, err := Git(ctx, work, "push", "-q", "origin", "main"); err != nil {
		return "", "", err
	}
	after, err = Git(ctx, work, "rev-parse", "HEAD")
	return before, after, err
}

func copyTree(src, dst string) error {
	return filepath.Walk(src, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		if info.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(target, b, info.Mode().Perm())
	})
}

// Post sends body to url with headers and returns the status code and response body.
func Post(ctx context.Context, url string, headers map[string]string, body []byte) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	return resp.StatusCode, string(b), nil
}

// CreateRepo creates (if missing) a source repository on the dev environment's Git server, the
// same way the server creates the config repo, and returns its clone URL.
func (d *Dev) CreateRepo(name string) (string, error) {
	if err := gitserver.New(filepath.Join(d.Dir, "git")).Init(name, "main"); err != nil {
		return "", fmt.Errorf("create repository %s: %w", name, err)
	}
	return d.GitURL + "/" + name + ".git", nil
}
