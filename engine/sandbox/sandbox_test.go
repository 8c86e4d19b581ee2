package sandbox

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == ExecCommand {
		os.Exit(Child())
	}
	if root := os.Getenv("SANDBOX_TEST_RUNNER_ROOT"); root != "" {
		// A runner for TestRunnerDeathKillsSandbox: it starts a sandbox and is killed.
		code, err := Run(context.Background(), Config{Root: root, Args: []string{"/bin/sh", "-c", "sleep 987661"}})
		fmt.Fprintln(os.Stderr, code, err)
		os.Exit(2)
	}
	os.Exit(m.Run())
}

const busybox = "/bin/busybox"

// newRoot makes a sandbox root holding only a static busybox, shifted to the sandbox's ids.
func newRoot(t *testing.T) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("sandboxes need real root to write the id maps")
	}
	data, err := os.ReadFile(busybox)
	if err != nil {
		t.Skipf("no static busybox (apt-get install busybox-static): %v", err)
	}
	root := filepath.Join(t.TempDir(), "root")
	if err := os.MkdirAll(filepath.Join(root, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "bin/busybox"), data, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, applet := range []string{"sh", "id", "ls", "cat", "echo", "sleep", "touch", "env", "hostname", "mount", "chroot", "mkdir", "stat", "wget"} {
		if err := os.Symlink("busybox", filepath.Join(root, "bin", applet)); err != nil {
			t.Fatal(err)
		}
	}
	if err := Shift(root, DefaultBase); err != nil {
		t.Fatal(err)
	}
	return root
}

// sh runs a busybox shell script in a sandbox and returns its exit code and output.
func sh(t *testing.T, ctx context.Context, c Config, script string) (int, string) {
	t.Helper()
	var out bytes.Buffer
	c.Args = []string{"/bin/sh", "-c", script}
	if c.Env == nil {
		c.Env = []string{"PATH=/bin"}
	}
	c.Stdout, c.Stderr = &out, &out
	code, err := Run(ctx, c)
	if err != nil {
		t.Fatalf("run %q: %v\n%s", script, err, out.String())
	}
	return code, out.String()
}

func owner(t *testing.T, path string) (int, int) {
	t.Helper()
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	return int(st.Uid), int(st.Gid)
}

func TestRootInsideUnprivilegedOutside(t *testing.T) {
	root := newRoot(t)
	work := t.TempDir() // 0700 and owned by host root, as the local runner's directories are
	sub := filepath.Join(work, "ws")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	code, out := sh(t, t.Context(), Config{Root: root, Binds: []Bind{{Source: sub}}, Shift: true, Dir: sub},
		`id -u; id -g; touch made-inside; echo hello > `+sub+`/hello`)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, out)
	}
	if strings.Fields(out)[0] != "0" || strings.Fields(out)[1] != "0" {
		t.Errorf("id inside = %q, want uid 0 and gid 0", out)
	}
	for _, f := range []string{"made-inside", "hello"} {
		if uid, gid := owner(t, filepath.Join(sub, f)); uid != DefaultBase || gid != DefaultBase {
			t.Errorf("host sees %s owned by %d:%d, want %d:%d", f, uid, gid, DefaultBase, DefaultBase)
		}
	}
	// The bind target inside the root is an empty mount point, not a copy.
	if entries, _ := os.ReadDir(filepath.Join(root, sub)); len(entries) != 0 {
		t.Errorf("root's mount point %s holds %d files on the host", sub, len(entries))
	}
}

func TestRunsAsChosenUser(t *testing.T) {
	root := newRoot(t)
	work := t.TempDir()
	sub := filepath.Join(work, "ws")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(sub, 1000, 1000); err != nil {
		t.Fatal(err)
	}
	code, out := sh(t, t.Context(), Config{Root: root, Binds: []Bind{{Source: sub}}, Shift: true, Dir: sub, UID: 1000, GID: 1000},
		`id -u; id -g; touch made-by-user`)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, out)
	}
	if f := strings.Fields(out); len(f) < 2 || f[0] != "1000" || f[1] != "1000" {
		t.Errorf("id inside = %q, want uid 1000 and gid 1000", out)
	}
	if uid, gid := owner(t, filepath.Join(sub, "made-by-user")); uid != DefaultBase+1000 || gid != DefaultBase+1000 {
		t.Errorf("host sees the file owned by %d:%d, want %d:%d", uid, gid, DefaultBase+1000, DefaultBase+1000)
	}
	if _, err := Run(t.Context(), Config{Root: root, Args: []string{"/bin/true"}, UID: Size}); err == nil {
		t.Error("a uid outside the mapped range was accepted")
	}
	// /tmp is world-writable and sticky, as in images, so a build user can use it.
	code, out = sh(t, t.Context(), Config{Root: newRoot(t), UID: 1000, GID: 1000}, `stat -c %a /tmp; touch /tmp/mine && echo wrote`)
	if code != 0 || !strings.Contains(out, "1777") || !strings.Contains(out, "wrote") {
		t.Errorf("as uid 1000: exit %d, %q; want /tmp mode 1777 and a file written", code, out)
	}
}

func TestHostRootFilesStayHostRoot(t *testing.T) {
	root := newRoot(t)
	dir := filepath.Join(t.TempDir(), "shared")
	if err := os.Mkdir(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	secret := filepath.Join(dir, "owned-by-host-root")
	if err := os.WriteFile(secret, []byte("original"), 0o644); err != nil {
		t.Fatal(err)
	}
	ro := filepath.Join(t.TempDir(), "ro")
	if err := os.Mkdir(ro, 0o777); err != nil {
		t.Fatal(err)
	}
	outside := filepath.Join(t.TempDir(), "not-bound")
	if err := os.Mkdir(outside, 0o777); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, script string
		check        func(t *testing.T)
	}{
		{"host root's file in a bind", "echo changed > " + secret, func(t *testing.T) {
			if b, _ := os.ReadFile(secret); string(b) != "original" {
				t.Errorf("%s = %q", secret, b)
			}
		}},
		{"read-only bind", "echo x > " + ro + "/new", func(t *testing.T) {
			if _, err := os.Stat(filepath.Join(ro, "new")); err == nil {
				t.Error("file created in a read-only bind")
			}
		}},
		{"host directory not bound", "echo x > " + outside + "/escape", func(t *testing.T) {
			if _, err := os.Stat(filepath.Join(outside, "escape")); err == nil {
				t.Error("file created outside the root")
			}
		}},
		{"host /dev/shm", "echo x > /dev/shm/slipway-sandbox-escape", func(t *testing.T) {
			if _, err := os.Stat("/dev/shm/slipway-sandbox-escape"); err == nil {
				os.Remove("/dev/shm/slipway-sandbox-escape")
				t.Error("file created in the host's /dev/shm")
			}
		}},
		{"chroot escape", "mkdir -p /e && chroot /e /bin/sh -c true 2>/dev/null; cd /../../.. && echo x > " + outside + "/escape2", func(t *testing.T) {
			if _, err := os.Stat(filepath.Join(outside, "escape2")); err == nil {
				t.Error("file created outside the root")
			}
		}},
		{"remount the root's parent", "mount -o remount,rw / && echo x > /proc/sys/kernel/hostname", func(t *testing.T) {
			if h, _ := os.Hostname(); h == "x" {
				t.Error("host name changed")
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, out := sh(t, t.Context(), Config{Root: root, Binds: []Bind{{Source: dir}, {Source: ro, ReadOnly: true}}}, tc.script)
			// Writing /dev/shm and the chroot trick may succeed: inside, they reach only the
			// sandbox's own tmpfs and root.
			if code == 0 && tc.name != "chroot escape" && tc.name != "host /dev/shm" {
				t.Errorf("exit 0, want a failure: %s", out)
			}
			tc.check(t)
		})
	}
}

func TestIsolation(t *testing.T) {
	root := newRoot(t)
	code, out := sh(t, t.Context(), Config{Root: root, Env: []string{"PATH=/bin", "ONLY=this"}},
		`echo pid=$$; echo procs=$(ls /proc | grep -c '^[0-9]'); echo host=$(hostname); env | sort | tr '\n' ' '; echo; ls /dev | tr '\n' ' '`)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, out)
	}
	lines := strings.Split(out, "\n")
	// pid 1 is the sandbox's init, whose threads take the next few ids.
	if pid, _ := strconv.Atoi(strings.TrimPrefix(lines[0], "pid=")); pid < 2 || pid > 32 {
		t.Errorf("%s, want a small pid in the sandbox's own pid namespace", lines[0])
	}
	// init, the shell, ls and grep: host processes are not visible.
	if n, _ := strconv.Atoi(strings.TrimPrefix(lines[1], "procs=")); n < 2 || n > 5 {
		t.Errorf("%s processes visible, want only the sandbox's own", lines[1])
	}
	if lines[2] != "host=sandbox" {
		t.Errorf("%s, want host=sandbox", lines[2])
	}
	for _, v := range strings.Fields(lines[3]) {
		if k, _, _ := strings.Cut(v, "="); k != "PATH" && k != "ONLY" && k != "PWD" && k != "SHLVL" {
			t.Errorf("environment has %s, which was not given", v)
		}
	}
	if got := lines[4]; got != "fd full null random shm stderr stdin stdout tty urandom zero " {
		t.Errorf("/dev = %q", got)
	}

	// The sandbox's own descriptors (spec, errors, executable, mount trees) stay with init:
	// ls sees its standard streams and the directory it reads.
	var fds bytes.Buffer
	code, err := Run(t.Context(), Config{Root: root, Binds: []Bind{{Source: t.TempDir()}}, Args: []string{"/bin/ls", "/proc/self/fd"}, Stdout: &fds, Stderr: &fds})
	if err != nil || code != 0 || strings.Join(strings.Fields(fds.String()), " ") != "0 1 2 3" {
		t.Errorf("the command has descriptors %q (exit %d, %v), want 0 1 2 3", fds.String(), code, err)
	}
}

func TestExitCodesAndErrors(t *testing.T) {
	root := newRoot(t)
	if code, out := sh(t, t.Context(), Config{Root: root}, "exit 7"); code != 7 {
		t.Errorf("exit code = %d (%s), want 7", code, out)
	}
	if code, out := sh(t, t.Context(), Config{Root: root}, "kill -9 $$"); code != 137 {
		t.Errorf("killed: exit code = %d (%s), want 137", code, out)
	}
	_, err := Run(t.Context(), Config{Root: root, Args: []string{"kaniko"}, Env: []string{"PATH=/bin:/kaniko"}})
	if !errors.Is(err, ErrSetup) || !strings.Contains(err.Error(), `"kaniko" not found`) {
		t.Errorf("missing command: err = %v", err)
	}
	_, err = Run(t.Context(), Config{Root: root, Args: []string{"/bin/sh"}, Binds: []Bind{{Source: "/nonexistent/dir"}}})
	if !errors.Is(err, ErrSetup) || !strings.Contains(err.Error(), "/nonexistent/dir") {
		t.Errorf("missing bind: err = %v", err)
	}
	_, err = Run(t.Context(), Config{Root: root, Args: []string{"/bin/sh"}, Base: 1000})
	if !errors.Is(err, ErrSetup) || !strings.Contains(err.Error(), "base id 1000") {
		t.Errorf("low base: err = %v", err)
	}
	_, err = Run(t.Context(), Config{Root: "relative", Args: []string{"/bin/sh"}})
	if !errors.Is(err, ErrSetup) || !strings.Contains(err.Error(), `"relative"`) {
		t.Errorf("relative root: err = %v", err)
	}
}

func TestCancelKillsTheTree(t *testing.T) {
	root := newRoot(t)
	ctx, cancel := context.WithCancel(t.Context())
	started := filepath.Join(t.TempDir(), "started")
	if err := os.Mkdir(started, 0o755); err != nil {
		t.Fatal(err)
	}
	done := make(chan int)
	go func() {
		code, _ := sh(t, ctx, Config{Root: root, Binds: []Bind{{Source: started}}, Shift: true, KillGrace: 200 * time.Millisecond},
			`trap '' TERM; sleep 987651 & sh -c 'trap "" TERM; sleep 987652' & touch `+started+`/ok; wait`)
		done <- code
	}()
	for i := 0; ; i++ {
		if _, err := os.Stat(filepath.Join(started, "ok")); err == nil {
			break
		}
		if i > 600 {
			t.Fatal("sandbox did not start")
		}
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	if code := <-done; code == 0 {
		t.Errorf("cancelled sandbox exited 0")
	}
	// Run has returned: nothing of the sandbox may still run on the host.
	if left := sandboxProcs("98765"); len(left) > 0 {
		t.Errorf("still running: %v", left)
	}
}

// BenchmarkStart measures entering a sandbox and running /bin/true in it.
func BenchmarkStart(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("sandboxes need real root")
	}
	data, err := os.ReadFile(busybox)
	if err != nil {
		b.Skipf("no static busybox: %v", err)
	}
	root := filepath.Join(b.TempDir(), "root")
	if err := os.MkdirAll(filepath.Join(root, "bin"), 0o755); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "bin/busybox"), data, 0o755); err != nil {
		b.Fatal(err)
	}
	if err := Shift(root, DefaultBase); err != nil {
		b.Fatal(err)
	}
	work := b.TempDir()
	for b.Loop() {
		code, err := Run(b.Context(), Config{Root: root, Binds: []Bind{{Source: work}}, Args: []string{"/bin/busybox", "true"}})
		if err != nil || code != 0 {
			b.Fatalf("exit %d: %v", code, err)
		}
	}
}

// sandboxProcs lists host processes whose command line holds marker.
func sandboxProcs(marker string) []string {
	var found []string
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		if b, err := os.ReadFile(p); err == nil && bytes.Contains(b, []byte(marker)) {
			found = append(found, p)
		}
	}
	return found
}

func TestRunnerDeathKillsSandbox(t *testing.T) {
	root := newRoot(t)
	runner := exec.Command("/proc/self/exe", "-test.run=^$")
	runner.Env = append(os.Environ(), "SANDBOX_TEST_RUNNER_ROOT="+root)
	if err := runner.Start(); err != nil {
		t.Fatal(err)
	}
	defer runner.Wait()
	for i := 0; len(sandboxProcs("987661")) == 0; i++ {
		if i > 600 {
			runner.Process.Kill()
			t.Fatal("the sandbox did not start")
		}
		time.Sleep(50 * time.Millisecond)
	}
	// The runner dies without a chance to clean up; Pdeathsig takes the sandbox with it.
	if err := runner.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	for i := 0; len(sandboxProcs("987661")) > 0; i++ {
		if i > 600 {
			t.Fatalf("sandbox processes outlived their runner: %v", sandboxProcs("987661"))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestHostNetwork(t *testing.T) {
	root := newRoot(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprint(w, "reached the host")
	}))
	defer srv.Close()
	code, out := sh(t, t.Context(), Config{Root: root}, "wget -q -O - "+srv.URL)
	if code != 0 || out != "reached the host" {
		t.Fatalf("exit %d, output %q: the sandbox does not share the host's network", code, out)
	}
}
