package configrepo

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"slipway.dev/slipway/engine/gitserver"
)

// sshKeyPair is a generated ed25519 key: its signer and its private key as an OpenSSH file.
type sshKeyPair struct {
	signer ssh.Signer
	pem    []byte
}

func newSSHKeyPair(t testing.TB, passphrase string) sshKeyPair {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	var block *pem.Block
	if passphrase == "" {
		block, err = ssh.MarshalPrivateKey(priv, "")
	} else {
		block, err = ssh.MarshalPrivateKeyWithPassphrase(priv, "", []byte(passphrase))
	}
	if err != nil {
		t.Fatal(err)
	}
	return sshKeyPair{signer: signer, pem: pem.EncodeToMemory(block)}
}

// writeKnownHosts writes a known_hosts file listing key for the host at addr.
func writeKnownHosts(t testing.TB, addr string, key ssh.PublicKey) string {
	t.Helper()
	file := filepath.Join(t.TempDir(), "known_hosts")
	line := knownhosts.Line([]string{knownhosts.Normalize(addr)}, key) + "\n"
	if err := os.WriteFile(file, []byte(line), 0o600); err != nil {
		t.Fatal(err)
	}
	return file
}

// sshServer is engine/gitserver serving one empty config repository over SSH.
type sshServer struct {
	remote
	addr   string
	host   sshKeyPair
	client sshKeyPair
}

func newSSHServer(t testing.TB, clientPassphrase string) sshServer {
	t.Helper()
	root := t.TempDir()
	s := gitserver.New(root)
	if err := s.Init("config", "main"); err != nil {
		t.Fatal(err)
	}
	srv := sshServer{host: newSSHKeyPair(t, ""), client: newSSHKeyPair(t, clientPassphrase)}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- s.NewSSH(srv.host.signer, srv.client.signer.PublicKey()).Serve(ctx, l) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("ssh server: %v", err)
		}
	})
	srv.addr = l.Addr().String()
	srv.remote = remote{url: "ssh://git@" + srv.addr + "/config.git", bare: filepath.Join(root, "config.git")}
	srv.opts = []Option{WithSSHKey(SSHKey{
		PrivateKey: srv.client.pem, Passphrase: []byte(clientPassphrase),
		KnownHostsFile: writeKnownHosts(t, srv.addr, srv.host.signer.PublicKey()),
	})}
	return srv
}

func sshRemote(t *testing.T) remote { return newSSHServer(t, "").remote }

func TestSSH(t *testing.T) {
	const passphrase = "correct horse battery staple"
	srv := newSSHServer(t, passphrase)
	change := Change{Branch: "main", Dir: "apps/hello", Files: files("a.yaml", "a\n"), Subject: "Deploy hello"}

	// An encrypted identity, decrypted with its passphrase.
	res, err := srv.writer(t).Commit(t.Context(), change)
	if err != nil || !res.Created {
		t.Fatalf("Commit over ssh = %+v, %v", res, err)
	}
	if got := gitCLI(t, srv.bare, "rev-parse", "main"); got != res.Commit {
		t.Errorf("main = %s, want %s", got, res.Commit)
	}

	stranger := newSSHKeyPair(t, "")
	trusted := writeKnownHosts(t, srv.addr, srv.host.signer.PublicKey())
	for _, tc := range []struct {
		name    string
		key     SSHKey
		hostKey bool     // the error must be ErrHostKey
		naming  []string // and say these
	}{
		{name: "other host key", hostKey: true,
			key:    SSHKey{PrivateKey: srv.client.pem, Passphrase: []byte(passphrase), KnownHostsFile: writeKnownHosts(t, srv.addr, stranger.signer.PublicKey())},
			naming: []string{"not the key known_hosts lists", ssh.FingerprintSHA256(srv.host.signer.PublicKey())}},
		{name: "host not in known_hosts",
			key:    SSHKey{PrivateKey: srv.client.pem, Passphrase: []byte(passphrase), KnownHostsFile: writeKnownHosts(t, "127.0.0.1:1", srv.host.signer.PublicKey())},
			naming: []string{"no key for [127.0.0.1]:"}},
		{name: "unauthorized client key",
			key:    SSHKey{PrivateKey: stranger.pem, KnownHostsFile: trusted},
			naming: []string{"unable to authenticate"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w, err := New(srv.url, t.TempDir(), testAuthor, WithSSHKey(tc.key))
			if err == nil {
				_, err = w.Commit(t.Context(), change)
			}
			if err == nil {
				t.Fatal("succeeded, want a refusal")
			}
			t.Logf("refused: %v", err)
			if tc.hostKey != errors.Is(err, ErrHostKey) {
				t.Errorf("errors.Is(%v, ErrHostKey) = %v, want %v", err, !tc.hostKey, tc.hostKey)
			}
			for _, s := range tc.naming {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not say %q", err, s)
				}
			}
		})
	}
	if n := commitCount(t, srv.bare, "main"); n != 1 {
		t.Errorf("commits = %d after the refused writers, want 1", n)
	}
}

func TestSSHKeyRefusedAtNew(t *testing.T) {
	const url = "ssh://git@git.example.com/config.git"
	encrypted := newSSHKeyPair(t, "s3cret-passphrase")
	knownHosts := writeKnownHosts(t, "git.example.com:22", newSSHKeyPair(t, "").signer.PublicKey())
	for _, tc := range []struct {
		name   string
		url    string
		opts   []Option
		naming string
	}{
		{name: "no key for an ssh remote", url: url, naming: "needs an identity and known_hosts"},
		{name: "scp-like address without a key", url: "git@git.example.com:config.git", naming: "needs an identity"},
		{name: "wrong passphrase", url: url, naming: "passphrase does not decrypt",
			opts: []Option{WithSSHKey(SSHKey{PrivateKey: encrypted.pem, Passphrase: []byte("wrong"), KnownHostsFile: knownHosts})}},
		{name: "no passphrase", url: url, naming: "encrypted and no passphrase",
			opts: []Option{WithSSHKey(SSHKey{PrivateKey: encrypted.pem, KnownHostsFile: knownHosts})}},
		{name: "not a key", url: url, naming: "not a private key",
			opts: []Option{WithSSHKey(SSHKey{PrivateKey: []byte("hunter2"), KnownHostsFile: knownHosts})}},
		{name: "no known_hosts", url: url, naming: "host key checking is mandatory",
			opts: []Option{WithSSHKey(SSHKey{PrivateKey: newSSHKeyPair(t, "").pem})}},
		{name: "missing known_hosts", url: url, naming: "no such file",
			opts: []Option{WithSSHKey(SSHKey{PrivateKey: newSSHKeyPair(t, "").pem, KnownHostsFile: "/nonexistent/known_hosts"})}},
		{name: "password for ssh", url: url, naming: "HTTP(S) only",
			opts: []Option{WithBasicAuth("git", "hunter2")}},
		{name: "CA bundle without a certificate", url: "https://git.example.com/config.git", naming: "holds no PEM certificate",
			opts: []Option{WithCABundle([]byte("hunter2"))}},
		{name: "ssh key for https", url: "https://git.example.com/config.git", naming: "ssh:// remotes only",
			opts: []Option{WithSSHKey(SSHKey{PrivateKey: newSSHKeyPair(t, "").pem, KnownHostsFile: knownHosts})}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.url, t.TempDir(), testAuthor, tc.opts...)
			if err == nil {
				t.Fatal("New succeeded, want an error")
			}
			if !strings.Contains(err.Error(), tc.naming) {
				t.Errorf("error %q does not say %q", err, tc.naming)
			}
			t.Logf("refused: %v", err)
			for _, secret := range []string{"s3cret-passphrase", "hunter2", "PRIVATE KEY"} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error %q shows secret material", err)
				}
			}
		})
	}
}

// newCA makes a certificate authority and a server certificate it signs for 127.0.0.1, and
// returns the CA's certificate as PEM and the server's certificate and key.
func newCA(t testing.TB) (caPEM []byte, server tls.Certificate) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Slipway test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	leaf := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "git.test"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		KeyUsage: x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, leaf, caCert, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// TestHTTPS serves engine/gitserver over TLS with a certificate from a CA the system does not
// trust: the Writer pushes and reads with that CA's bundle and refuses the server without it.
func TestHTTPS(t *testing.T) {
	root := t.TempDir()
	s := gitserver.New(root)
	if err := s.Init("config", "main"); err != nil {
		t.Fatal(err)
	}
	ca, cert := newCA(t)
	srv := httptest.NewUnstartedServer(s)
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	url := srv.URL + "/config.git"
	bare := filepath.Join(root, "config.git")
	change := Change{Branch: "main", Dir: "apps/hello", Files: files("a.yaml", "a\n"), Subject: "Deploy hello"}

	w, err := New(url, t.TempDir(), testAuthor, WithCABundle(ca))
	if err != nil {
		t.Fatal(err)
	}
	res, err := w.Commit(t.Context(), change)
	if err != nil || !res.Created {
		t.Fatalf("Commit over https with the CA bundle = %+v, %v", res, err)
	}
	if got := gitCLI(t, bare, "rev-parse", "main"); got != res.Commit {
		t.Errorf("main = %s, want %s", got, res.Commit)
	}
	if head, err := w.Head(t.Context(), "main"); err != nil || head != res.Commit {
		t.Errorf("Head = %s, %v; want %s", head, err, res.Commit)
	}
	reader, err := New(url, t.TempDir(), testAuthor, WithCABundle(ca))
	if err != nil {
		t.Fatal(err)
	}
	if rev, got, err := reader.Read(t.Context(), "main", "apps/hello"); err != nil || rev != res.Commit || len(got) != 1 {
		t.Errorf("Read = %s, %v, %v; want %s and one file", rev, got, err, res.Commit)
	}

	otherCA, _ := newCA(t)
	for _, tc := range []struct {
		name string
		opts []Option
	}{
		{name: "no CA bundle"},
		{name: "another CA", opts: []Option{WithCABundle(otherCA)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w, err := New(url, t.TempDir(), testAuthor, tc.opts...)
			if err != nil {
				t.Fatal(err)
			}
			change := change
			change.Files = files("a.yaml", "changed\n")
			_, err = w.Commit(t.Context(), change)
			if err == nil || !strings.Contains(err.Error(), "certificate") {
				t.Fatalf("Commit = %v, want a certificate verification error", err)
			}
			t.Logf("refused: %v", err)
			if _, err := w.Head(t.Context(), "main"); err == nil || !strings.Contains(err.Error(), "certificate") {
				t.Errorf("Head = %v, want a certificate verification error", err)
			}
		})
	}
	if n := commitCount(t, bare, "main"); n != 1 {
		t.Errorf("commits = %d, want 1", n)
	}
}
