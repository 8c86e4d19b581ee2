package gitserver

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"
)

// sshHandshakeTimeout bounds the SSH handshake and login of one connection.
const sshHandshakeTimeout = 30 * time.Second

// SSHServer serves a Server's repositories over SSH, as a Git host does: clients log in with a
// public key, then an exec request for git-upload-pack or git-receive-pack runs that git
// command on the repository with the channel as its standard input and output. Nothing else
// is served: no shell, no pty, no port forwarding.
type SSHServer struct {
	git    *Server
	config *ssh.ServerConfig
}

// NewSSH returns an SSHServer for s's repositories that identifies itself with hostKey and
// admits the clients holding the private key of one of authorized.
func (s *Server) NewSSH(hostKey ssh.Signer, authorized ...ssh.PublicKey) *SSHServer {
	allowed := make([][]byte, len(authorized))
	for i, k := range authorized {
		allowed[i] = k.Marshal()
	}
	cfg := &ssh.ServerConfig{
		PublicKeyCallback: func(meta ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
			got := key.Marshal()
			for _, a := range allowed {
				if bytes.Equal(a, got) {
					return &ssh.Permissions{Extensions: map[string]string{"pubkey-fp": ssh.FingerprintSHA256(key)}}, nil
				}
			}
			return nil, fmt.Errorf("public key %s is not authorized", ssh.FingerprintSHA256(key))
		},
		MaxAuthTries: 6,
	}
	cfg.AddHostKey(hostKey)
	return &SSHServer{git: s, config: cfg}
}

// Serve accepts connections on l until ctx ends, then closes l and every connection and
// returns once all of them are done. It returns nil when ctx ended it.
func (ss *SSHServer) Serve(ctx context.Context, l net.Listener) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	defer wg.Wait()
	stop := context.AfterFunc(ctx, func() { l.Close() })
	defer stop()
	for {
		nc, err := l.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return fmt.Errorf("ssh accept: %w", err)
		}
		wg.Go(func() { ss.serveConn(ctx, nc) })
	}
}

// serveConn runs one SSH connection: handshake, then one goroutine per session channel.
func (ss *SSHServer) serveConn(ctx context.Context, nc net.Conn) {
	defer nc.Close()
	stop := context.AfterFunc(ctx, func() { nc.Close() })
	defer stop()
	_ = nc.SetDeadline(time.Now().Add(sshHandshakeTimeout))
	conn, chans, reqs, err := ssh.NewServerConn(nc, ss.config)
	if err != nil {
		ss.git.log.Debug("ssh handshake failed", "remote", nc.RemoteAddr().String(), "error", err)
		return
	}
	_ = nc.SetDeadline(time.Time{})
	defer conn.Close()
	log := ss.git.log.With("remote", nc.RemoteAddr().String(), "user", conn.User(), "key", conn.Permissions.Extensions["pubkey-fp"])

	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() { ssh.DiscardRequests(reqs) })
	for nch := range chans {
		if nch.ChannelType() != "session" {
			_ = nch.Reject(ssh.UnknownChannelType, "only session channels are served")
			continue
		}
		ch, chReqs, err := nch.Accept()
		if err != nil {
			log.Debug("ssh channel not accepted", "error", err)
			continue
		}
		wg.Go(func() { ss.session(ctx, log, ch, chReqs) })
	}
}

// session serves one session channel: env requests for GIT_PROTOCOL, then one exec request.
// It returns when the channel's requests end, that is once the client closed it too.
func (ss *SSHServer) session(ctx context.Context, log *slog.Logger, ch ssh.Channel, reqs <-chan *ssh.Request) {
	defer ch.Close()
	var protocol string
	executed := false
	for req := range reqs {
		if executed {
			_ = req.Reply(false, nil)
			continue
		}
		switch req.Type {
		case "env":
			var kv struct{ Name, Value string }
			ok := ssh.Unmarshal(req.Payload, &kv) == nil && kv.Name == "GIT_PROTOCOL" && gitProtocol.MatchString(kv.Value)
			if ok {
				protocol = kv.Value
			}
			_ = req.Reply(ok, nil)
		case "exec":
			var cmd struct{ Command string }
			if err := ssh.Unmarshal(req.Payload, &cmd); err != nil {
				_ = req.Reply(false, nil)
				continue
			}
			_ = req.Reply(true, nil)
			executed = true
			ss.exec(ctx, log, ch, cmd.Command, protocol)
		default:
			_ = req.Reply(false, nil) // shell, pty-req, subsystem, ...
		}
	}
}

// exec runs one git service on the channel, sends its exit status and closes the channel.
func (ss *SSHServer) exec(ctx context.Context, log *slog.Logger, ch ssh.Channel, command, protocol string) {
	// The copy from the channel to git's standard input ends when the channel is closed.
	var copying sync.WaitGroup
	defer copying.Wait()
	defer ch.Close()
	status := ss.run(ctx, log, ch, &copying, command, protocol)
	_, _ = ch.SendRequest("exit-status", false, ssh.Marshal(struct{ Status uint32 }{status}))
}

// run runs one git service with the channel as its standard input and output and returns its
// exit status. The copy to the standard input runs in copying.
func (ss *SSHServer) run(ctx context.Context, log *slog.Logger, ch ssh.Channel, copying *sync.WaitGroup, command, protocol string) uint32 {
	service, name, err := parseSSHCommand(command)
	if err != nil {
		fmt.Fprintf(ch.Stderr(), "fatal: %v\n", err)
		return 128
	}
	dir, repo, err := ss.git.repoDir(name)
	if err != nil || !isBareRepo(dir) {
		// The same answer for a bad name and a missing repository: names are not probed.
		fmt.Fprintf(ch.Stderr(), "fatal: repository %q not found\n", name)
		return 128
	}
	cmd := exec.CommandContext(ctx, ss.git.gitPath, strings.TrimPrefix(service, "git-"), dir)
	cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL="+os.DevNull)
	if protocol != "" {
		cmd.Env = append(cmd.Env, "GIT_PROTOCOL="+protocol)
	}
	cmd.Stdout, cmd.Stderr = ch, ch.Stderr()
	// The copy from the channel is not left to os/exec: its Wait would wait for a client that
	// never closes its side, while the client waits for the exit status.
	stdin, err := cmd.StdinPipe()
	if err != nil {
		fmt.Fprintf(ch.Stderr(), "fatal: %v\n", err)
		return 128
	}
	if err := cmd.Start(); err != nil {
		log.Warn("git over ssh did not start", "repo", repo, "service", service, "error", err)
		fmt.Fprintln(ch.Stderr(), "fatal: internal server error")
		return 128
	}
	copying.Go(func() {
		_, _ = io.Copy(stdin, ch)
		_ = stdin.Close()
	})
	if err := cmd.Wait(); err != nil {
		var exit *exec.ExitError
		if errors.As(err, &exit) && exit.ExitCode() > 0 {
			return uint32(exit.ExitCode())
		}
		return 1
	}
	if service == serviceReceivePack && ss.git.pushHook != nil {
		ss.git.pushHook(repo)
	}
	return 0
}

// parseSSHCommand reads the command a Git client sends in an SSH exec request, such as
// git-upload-pack '/team/config.git', with the path single-quoted as by a POSIX shell, and
// returns the service and the repository name without its leading slash.
func parseSSHCommand(command string) (service, name string, err error) {
	prog, arg, ok := strings.Cut(command, " ")
	switch prog {
	case serviceUploadPack, serviceReceivePack:
	case "git":
		// "git upload-pack '...'" is the same request.
		sub, rest, _ := strings.Cut(arg, " ")
		prog, arg = "git-"+sub, rest
		if prog != serviceUploadPack && prog != serviceReceivePack {
			return "", "", fmt.Errorf("only git-upload-pack and git-receive-pack are served")
		}
	default:
		return "", "", fmt.Errorf("only git-upload-pack and git-receive-pack are served")
	}
	if !ok || arg == "" {
		return "", "", fmt.Errorf("%s: no repository given", prog)
	}
	path, err := shellUnquote(arg)
	if err != nil {
		return "", "", fmt.Errorf("%s: repository path: %w", prog, err)
	}
	path = strings.TrimPrefix(path, "/")
	if path == "" {
		return "", "", fmt.Errorf("%s: no repository given", prog)
	}
	return prog, path, nil
}

// shellUnquote undoes POSIX quoting: single-quoted runs and backslash escapes (a quote inside
// a quoted path arrives as quote, backslash, quote, quote). An unquoted character must be one
// that needs no quoting.
func shellUnquote(s string) (string, error) {
	var b strings.Builder
	for len(s) > 0 {
		switch s[0] {
		case '\'':
			end := strings.IndexByte(s[1:], '\'')
			if end < 0 {
				return "", fmt.Errorf("unterminated quote")
			}
			b.WriteString(s[1 : 1+end])
			s = s[2+end:]
		case '\\':
			if len(s) < 2 {
				return "", fmt.Errorf("trailing backslash")
			}
			b.WriteByte(s[1])
			s = s[2:]
		default:
			if strings.ContainsRune(" \t\n\"$`;&|<>(){}*?[]~#", rune(s[0])) {
				return "", fmt.Errorf("unquoted %q", s[0])
			}
			b.WriteByte(s[0])
			s = s[1:]
		}
	}
	return b.String(), nil
}
