package configrepo

import (
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"time"

	"github.com/go-git/go-git/v5/plumbing/transport"
	gitssh "github.com/go-git/go-git/v5/plumbing/transport/ssh"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// ErrHostKey reports that an ssh:// remote presented a host key that known_hosts does not
// list for it. It is never retried: the remote may be an impostor.
var ErrHostKey = errors.New("config repo: ssh host key not trusted")

// SSHKey is how a Writer logs in to an ssh:// remote. Host key checking cannot be turned off:
// KnownHostsFile must list the remote's host key.
type SSHKey struct {
	// User is the login name; empty takes the URL's user, or "git".
	User string
	// PrivateKey is the identity: an OpenSSH or PEM private key, optionally encrypted.
	PrivateKey []byte
	// Passphrase decrypts an encrypted PrivateKey.
	Passphrase []byte
	// KnownHostsFile is the path of a known_hosts file (as written by ssh-keyscan).
	KnownHostsFile string
}

// WithSSHKey authenticates to an ssh:// remote with a private key and checks the remote's host
// key against a known_hosts file. New reports a key it cannot read or decrypt.
func WithSSHKey(k SSHKey) Option {
	return func(w *Writer) { w.sshKey = &k }
}

// sshAuth is a go-git SSH auth method: one identity, the known_hosts check and a bound on
// the dial and handshake (go-git's SSH dial does not follow the context).
type sshAuth struct {
	user       string
	signer     ssh.Signer
	checkHost  ssh.HostKeyCallback
	algorithms []string
	timeout    time.Duration
}

var _ gitssh.AuthMethod = (*sshAuth)(nil)

// newSSHAuth checks k against the endpoint it will log in to.
func newSSHAuth(k SSHKey, ep *transport.Endpoint, timeout time.Duration) (*sshAuth, error) {
	if len(k.PrivateKey) == 0 {
		return nil, fmt.Errorf("ssh identity: empty private key")
	}
	signer, err := ssh.ParsePrivateKey(k.PrivateKey)
	var missing *ssh.PassphraseMissingError
	if errors.As(err, &missing) {
		if len(k.Passphrase) == 0 {
			return nil, fmt.Errorf("ssh identity: it is encrypted and no passphrase was given")
		}
		signer, err = ssh.ParsePrivateKeyWithPassphrase(k.PrivateKey, k.Passphrase)
		if errors.Is(err, x509.IncorrectPasswordError) {
			return nil, fmt.Errorf("ssh identity: the passphrase does not decrypt it (wrong passphrase?)")
		}
	}
	if err != nil {
		return nil, fmt.Errorf("ssh identity: not a private key in OpenSSH or PEM format: %w", err)
	}

	if k.KnownHostsFile == "" {
		return nil, fmt.Errorf("ssh known_hosts: not given; host key checking is mandatory")
	}
	if _, err := os.Stat(k.KnownHostsFile); err != nil {
		return nil, fmt.Errorf("ssh known_hosts: %w", err)
	}
	db, err := gitssh.NewKnownHostsDb(k.KnownHostsFile)
	if err != nil {
		return nil, fmt.Errorf("ssh known_hosts %s: %w", k.KnownHostsFile, err)
	}
	port := ep.Port
	if port <= 0 {
		port = gitssh.DefaultPort
	}
	addr := net.JoinHostPort(ep.Host, strconv.Itoa(port))
	// Offer only the host key types known_hosts lists for this host, so that a server with
	// several host keys shows the one that can be checked.
	algorithms := db.HostKeyAlgorithms(addr)
	if len(algorithms) == 0 {
		return nil, fmt.Errorf("ssh known_hosts %s: no key for %s; add the host's key (ssh-keyscan -p %d %s)",
			k.KnownHostsFile, knownhosts.Normalize(addr), port, ep.Host)
	}

	user := k.User
	if user == "" {
		user = ep.User
	}
	if user == "" {
		user = "git"
	}
	check := db.HostKeyCallback()
	return &sshAuth{
		user:   user,
		signer: signer,
		checkHost: func(host string, remote net.Addr, key ssh.PublicKey) error {
			return explainHostKey(check(host, remote, key), host, key)
		},
		algorithms: algorithms,
		timeout:    timeout,
	}, nil
}

// explainHostKey turns the known_hosts check's error into one that says what to do.
func explainHostKey(err error, host string, key ssh.PublicKey) error {
	if err == nil {
		return nil
	}
	got := key.Type() + " " + ssh.FingerprintSHA256(key)
	var keyErr *knownhosts.KeyError
	var revoked *knownhosts.RevokedError
	switch {
	case errors.As(err, &revoked):
		return fmt.Errorf("%w: %s presented %s, which known_hosts marks revoked", ErrHostKey, host, got)
	case errors.As(err, &keyErr) && len(keyErr.Want) > 0:
		return fmt.Errorf("%w: %s presented %s, which is not the key known_hosts lists for it; refusing to connect "+
			"(the host key changed, or someone is intercepting the connection)", ErrHostKey, host, got)
	case errors.As(err, &keyErr):
		return fmt.Errorf("%w: %s is not in known_hosts (it presented %s)", ErrHostKey, host, got)
	}
	return fmt.Errorf("%w: %s: %w", ErrHostKey, host, err)
}

func (a *sshAuth) Name() string { return gitssh.PublicKeysName }

// String never shows the key.
func (a *sshAuth) String() string { return "user: " + a.user + ", name: " + a.Name() }

func (a *sshAuth) ClientConfig() (*ssh.ClientConfig, error) {
	return &ssh.ClientConfig{
		User:              a.user,
		Auth:              []ssh.AuthMethod{ssh.PublicKeys(a.signer)},
		HostKeyCallback:   a.checkHost,
		HostKeyAlgorithms: a.algorithms,
		Timeout:           a.timeout,
	}, nil
}
