package gitserver

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// sshKey is a key pair with its private key in an OpenSSH key file, as ssh -i reads it.
type sshKey struct {
	signer ssh.Signer
	file   string
}

func newSSHKey(t *testing.T) sshKey {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "id_ed25519")
	if err := os.WriteFile(file, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	return sshKey{signer: signer, file: file}
}

// serveSSH serves s over SSH on a loopback port until the test ends and returns the address.
func serveSSH(t *testing.T, s *Server, host sshKey, clients ...sshKey) string {
	t.Helper()
	var keys []ssh.PublicKey
	for _, c := range clients {
		keys = append(keys, c.signer.PublicKey())
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- s.NewSSH(host.signer, keys...).Serve(ctx, l) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return l.Addr().String()
}

// sshGit runs the git CLI with OpenSSH as its transport, logging in with key and trusting
// only the host key in knownHosts.
func sshGit(t *testing.T, dir string, key sshKey, knownHosts string, args ...string) (string, error) {
	t.Helper()
	t.Setenv("GIT_SSH_COMMAND", strings.Join([]string{"ssh", "-F", os.DevNull, "-i", key.file,
		"-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes",
		"-o", "UserKnownHostsFile=" + knownHosts, "-o", "GlobalKnownHostsFile=" + os.DevNull}, " "))
	return runGit(t, dir, args...)
}

func knownHostsFile(t *testing.T, addr string, key ssh.PublicKey) string {
	t.Helper()
	file := filepath.Join(t.TempDir(), "known_hosts")
	if err := os.WriteFile(file, []byte(knownhosts.Line([]string{knownhosts.Normalize(addr)}, key)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return file
}

// TestSSHCloneAndPush drives the server with OpenSSH and the git CLI, as a developer would.
func TestSSHCloneAndPush(t *testing.T) {
	root := t.TempDir()
	var seen pushes
	s := New(root, WithPushHook(seen.hook))
	if err := s.Init("team/config", "main"); err != nil {
		t.Fatal(err)
	}
	host, client, stranger := newSSHKey(t), newSSHKey(t), newSSHKey(t)
	addr := serveSSH(t, s, host, client)
	_, port, _ := net.SplitHostPort(addr)
	remote := "ssh://git@127.0.0.1:" + port + "/team/config.git"
	trusted := knownHostsFile(t, addr, host.signer.PublicKey())

	work := t.TempDir()
	if out, err := sshGit(t, work, client, trusted, "clone", "--quiet", remote, "a"); err != nil {
		t.Fatalf("clone: %v\n%s", err, out)
	}
	a := filepath.Join(work, "a")
	if err := os.WriteFile(filepath.Join(a, "app.yaml"), []byte("kind: Deployment\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	gitCmd(t, a, "add", ".")
	gitCmd(t, a, "commit", "--quiet", "-m", "first")
	if out, err := sshGit(t, a, client, trusted, "push", "--quiet", "origin", "HEAD:main"); err != nil {
		t.Fatalf("push: %v\n%s", err, out)
	}
	want := gitCmd(t, a, "rev-parse", "HEAD")
	if got := gitCmd(t, filepath.Join(root, "team", "config.git"), "rev-parse", "main"); got != want {
		t.Errorf("server main = %s, want the pushed %s", got, want)
	}
	for _, proto := range []string{"0", "2"} {
		dst := "b" + proto
		if out, err := sshGit(t, work, client, trusted, "-c", "protocol.version="+proto, "clone", "--quiet", remote, dst); err != nil {
			t.Fatalf("protocol v%s clone: %v\n%s", proto, err, out)
		}
		if got := gitCmd(t, filepath.Join(work, dst), "rev-parse", "HEAD"); got != want {
			t.Errorf("protocol v%s clone HEAD = %s, want %s", proto, got, want)
		}
	}
	if got := seen.list(); len(got) != 1 || got[0] != "team/config" {
		t.Errorf("push hook calls = %v, want [team/config] (one per push, none per clone)", got)
	}

	// The history cannot be rewritten over SSH either.
	gitCmd(t, a, "commit", "--quiet", "--amend", "-m", "rewritten")
	if out, err := sshGit(t, a, client, trusted, "push", "--force", "origin", "HEAD:main"); err == nil {
		t.Errorf("force push succeeded, want it refused:\n%s", out)
	}

	for _, tc := range []struct {
		name       string
		key        sshKey
		knownHosts string
		url        string
		naming     string // the client's error must say this
	}{
		{name: "unknown client key", key: stranger, knownHosts: trusted, url: remote, naming: "Permission denied"},
		{name: "other host key", key: client, knownHosts: knownHostsFile(t, addr, stranger.signer.PublicKey()), url: remote,
			naming: "HOST IDENTIFICATION HAS CHANGED"},
		{name: "missing repository", key: client, knownHosts: trusted, url: "ssh://git@127.0.0.1:" + port + "/absent.git",
			naming: `repository "absent.git" not found`},
		{name: "traversal", key: client, knownHosts: trusted, url: "ssh://git@127.0.0.1:" + port + "/../" + filepath.Base(root) + "/team/config.git",
			naming: "not found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := sshGit(t, t.TempDir(), tc.key, tc.knownHosts, "ls-remote", tc.url)
			if err == nil {
				t.Fatalf("ls-remote succeeded:\n%s", out)
			}
			if !strings.Contains(out, tc.naming) {
				t.Errorf("ls-remote output does not say %q:\n%s", tc.naming, out)
			}
		})
	}
}

func TestParseSSHCommand(t *testing.T) {
	for _, tc := range []struct {
		command, service, name string
		bad                    bool
	}{
		{command: "git-upload-pack '/team/config.git'", service: serviceUploadPack, name: "team/config.git"},
		{command: "git-receive-pack 'config.git'", service: serviceReceivePack, name: "config.git"},
		{command: "git upload-pack '/config.git'", service: serviceUploadPack, name: "config.git"},
		{command: "git-upload-pack /config.git", service: serviceUploadPack, name: "config.git"},
		{command: `git-upload-pack '/it'\''s.git'`, service: serviceUploadPack, name: "it's.git"},
		{command: "git-upload-archive '/config.git'", bad: true},
		{command: "sh -c 'id'", bad: true},
		{command: "git-upload-pack", bad: true},
		{command: "git-upload-pack ''", bad: true},
		{command: "git-upload-pack '/config.git", bad: true},
		{command: "git-upload-pack /config.git;id", bad: true},
		{command: "git-upload-pack '/a' '/b'", bad: true},
	} {
		t.Run(tc.command, func(t *testing.T) {
			service, name, err := parseSSHCommand(tc.command)
			if tc.bad {
				if err == nil {
					t.Errorf("parsed as %s %q, want an error", service, name)
				}
				return
			}
			if err != nil || service != tc.service || name != tc.name {
				t.Errorf("= %s %q, %v; want %s %q", service, name, err, tc.service, tc.name)
			}
		})
	}
}

// FuzzParseSSHCommand feeds the exec request parser what any authenticated client may send:
// it must not panic, and what it accepts must be a served service and a name without quotes
// left in it that repoDir then checks.
func FuzzParseSSHCommand(f *testing.F) {
	for _, s := range []string{"git-upload-pack '/team/config.git'", `git-receive-pack '/a'\''b'`, "git upload-pack x", "git-upload-pack '"} {
		f.Add(s)
	}
	s := New(f.TempDir())
	f.Fuzz(func(t *testing.T, command string) {
		service, name, err := parseSSHCommand(command)
		if err != nil {
			return
		}
		if service != serviceUploadPack && service != serviceReceivePack {
			t.Fatalf("accepted service %q", service)
		}
		if dir, _, err := s.repoDir(name); err == nil && !strings.HasPrefix(dir, s.root+string(filepath.Separator)) {
			t.Fatalf("%q resolves outside the root: %s", command, dir)
		}
	})
}
