package cluster

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"slipway.dev/slipway/engine/configrepo"
	"slipway.dev/slipway/engine/gitserver"
	"slipway.dev/slipway/engine/manifest"
)

// testSSHKey is an ed25519 key: its signer and its OpenSSH private key file's content.
func testSSHKey(t *testing.T, passphrase string) (ssh.Signer, string) {
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
	return signer, string(pem.EncodeToMemory(block))
}

// testPGPKey is an armored OpenPGP private key, encrypted with passphrase.
func testPGPKey(t *testing.T, passphrase string) string {
	t.Helper()
	e, err := openpgp.NewEntity("Slipway", "", "slipway@example.com", &packet.Config{Algorithm: packet.PubKeyAlgoEdDSA})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.EncryptPrivateKeys([]byte(passphrase), nil); err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	aw, err := armor.Encode(&b, openpgp.PrivateKeyType, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.SerializePrivateWithoutSigning(aw, nil); err != nil {
		t.Fatal(err)
	}
	aw.Close()
	return b.String()
}

func knownHostsLine(addr string, key ssh.PublicKey) string {
	return knownhosts.Line([]string{knownhosts.Normalize(addr)}, key) + "\n"
}

// testCACert is a self-signed CA certificate as PEM.
func testCACert(t *testing.T) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Slipway test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

// TestLoadConfigRepo covers the config repo's settings: HTTPS with a password and a CA
// bundle, SSH with an identity and known_hosts, and the controller's commit signing key.
func TestLoadConfigRepo(t *testing.T) {
	const sshPass, pgpPass = "ssh-s3cret-passphrase", "pgp-s3cret-passphrase"
	host, _ := testSSHKey(t, "")
	_, identity := testSSHKey(t, "")
	_, encrypted := testSSHKey(t, sshPass)
	trusted := knownHostsLine("git.example.com:22", host.PublicKey())
	signingKey := testPGPKey(t, pgpPass)
	const sshURL = "ssh://git@git.example.com/platform/config.git"
	testCA := testCACert(t)

	https := env{
		EnvConfigRepoURL:         "https://git.example.com/platform/config.git",
		EnvConfigRepoCredentials: writeFiles(t, map[string]string{"username": "slipway", "password": "s3cret-token"}),
	}
	ssh := https.with(EnvConfigRepoURL, sshURL,
		EnvConfigRepoCredentials, writeFiles(t, map[string]string{"identity": identity, "known_hosts": trusted}))
	tests := []struct {
		name  string
		env   env
		want  []string // variables the error must name; none: no error
		check func(t *testing.T, c ConfigRepo)
	}{
		{name: "https with a CA bundle", env: https.with(EnvConfigRepoCredentials,
			writeFiles(t, map[string]string{"username": "slipway", "password": "s3cret-token", "ca.crt": testCA})),
			check: func(t *testing.T, c ConfigRepo) {
				if string(c.CABundle) != testCA || c.Username != "slipway" {
					t.Errorf("CA bundle %q, username %q", c.CABundle, c.Username)
				}
			}},
		{name: "https anonymous with a CA bundle", env: https.with(EnvConfigRepoCredentials, writeFiles(t, map[string]string{"ca.crt": testCA}))},
		{name: "CA bundle without a certificate", env: https.with(EnvConfigRepoCredentials,
			writeFiles(t, map[string]string{"username": "u", "password": "s3cret-token", "ca.crt": "hunter2"})), want: []string{EnvConfigRepoCredentials}},
		{name: "ssh", env: ssh, check: func(t *testing.T, c ConfigRepo) {
			if c.SSHIdentity == nil || filepath.Base(c.KnownHostsFile) != "known_hosts" || c.Username != "" {
				t.Errorf("ssh settings not loaded: %+v", c)
			}
		}},
		{name: "ssh with an encrypted identity", env: ssh.with(EnvConfigRepoCredentials,
			writeFiles(t, map[string]string{"identity": encrypted, "known_hosts": trusted, "passphrase": sshPass + "\n"}))},
		{name: "ssh identity with a wrong passphrase", env: ssh.with(EnvConfigRepoCredentials,
			writeFiles(t, map[string]string{"identity": encrypted, "known_hosts": trusted, "passphrase": "wrong"})),
			want: []string{EnvConfigRepoCredentials}},
		{name: "ssh without known_hosts", env: ssh.with(EnvConfigRepoCredentials,
			writeFiles(t, map[string]string{"identity": identity})), want: []string{EnvConfigRepoCredentials}},
		{name: "ssh host not in known_hosts", env: ssh.with(EnvConfigRepoCredentials,
			writeFiles(t, map[string]string{"identity": identity, "known_hosts": knownHostsLine("other.example.com:22", host.PublicKey())})),
			want: []string{EnvConfigRepoCredentials}},
		{name: "ssh without credentials", env: ssh.with(EnvConfigRepoCredentials, ""), want: []string{EnvConfigRepoCredentials}},
		{name: "ssh with a password", env: ssh.with(EnvConfigRepoCredentials, https[EnvConfigRepoCredentials]), want: []string{EnvConfigRepoCredentials}},
		{name: "ssh with a CA bundle", env: ssh.with(EnvConfigRepoCredentials,
			writeFiles(t, map[string]string{"identity": identity, "known_hosts": trusted, "ca.crt": testCA})), want: []string{EnvConfigRepoCredentials}},
		{name: "ssh URL with a password", env: ssh.with(EnvConfigRepoURL, "ssh://git:hunter2@git.example.com/config.git"), want: []string{EnvConfigRepoURL}},
		{name: "scp-like address", env: ssh.with(EnvConfigRepoURL, "git@git.example.com:platform/config.git"), want: []string{EnvConfigRepoURL}},
		{name: "identity for an https URL", env: ssh.with(EnvConfigRepoURL, https[EnvConfigRepoURL]), want: []string{EnvConfigRepoCredentials}},
		{name: "signed commits", env: ssh.with(EnvConfigRepoSigningKey, writeFiles(t, map[string]string{"signing.key": signingKey, "passphrase": pgpPass + "\n"})),
			check: func(t *testing.T, c ConfigRepo) {
				if string(c.SigningKey) != signingKey || string(c.SigningPassphrase) != pgpPass {
					t.Errorf("signing key not loaded (or its passphrase not trimmed)")
				}
			}},
		{name: "signing key with a wrong passphrase", env: https.with(EnvConfigRepoSigningKey,
			writeFiles(t, map[string]string{"signing.key": signingKey, "passphrase": "wrong"})), want: []string{EnvConfigRepoSigningKey}},
		{name: "signing key without its passphrase", env: https.with(EnvConfigRepoSigningKey,
			writeFiles(t, map[string]string{"signing.key": signingKey})), want: []string{EnvConfigRepoSigningKey}},
		{name: "no signing key file", env: https.with(EnvConfigRepoSigningKey, writeFiles(t, map[string]string{"key.asc": signingKey})),
			want: []string{EnvConfigRepoSigningKey}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := loadControllerConfigRepo(tc.env)
			if err != nil {
				t.Logf("refused: %v", err)
			}
			checkProblems(t, err, tc.want, "s3cret", "hunter2", "PRIVATE KEY")
			if tc.check != nil && err == nil {
				tc.check(t, c)
			}
		})
	}

	// The components load them so: the controller signs, the syncer never commits and does
	// not read the signing key.
	badKey := ssh.with(EnvConfigRepoSigningKey, writeFiles(t, map[string]string{"signing.key": signingKey, "passphrase": "wrong"}))
	if _, err := LoadController(badKey.get); err == nil || !strings.Contains(err.Error(), EnvConfigRepoSigningKey+": ") {
		t.Errorf("LoadController with a wrong signing key passphrase = %v, want a problem with %s", err, EnvConfigRepoSigningKey)
	}
	c, err := LoadSyncer(badKey.get)
	if c.ConfigRepo.SigningKey != nil || (err != nil && strings.Contains(err.Error(), EnvConfigRepoSigningKey)) {
		t.Errorf("LoadSyncer read the signing key: %v", err)
	}
	if c.ConfigRepo.SSHIdentity == nil {
		t.Errorf("LoadSyncer did not load the SSH identity")
	}
}

// loadControllerConfigRepo loads the controller's config-repo settings alone.
func loadControllerConfigRepo(e env) (ConfigRepo, error) {
	var p problems
	c := loadConfigRepo(e.get, &p)
	loadConfigRepoSigningKey(e.get, &p, &c)
	return c, p.err("controller")
}

// TestConfigRepoOverSSH wires the loaded settings into the writer the controller uses and
// commits over SSH to engine/gitserver: the identity logs in, known_hosts is checked and the
// commit is signed.
func TestConfigRepoOverSSH(t *testing.T) {
	root := t.TempDir()
	g := gitserver.New(root)
	if err := g.Init("config", "main"); err != nil {
		t.Fatal(err)
	}
	host, _ := testSSHKey(t, "")
	client, identity := testSSHKey(t, "")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- g.NewSSH(host, client.PublicKey()).Serve(ctx, l) }()
	t.Cleanup(func() { cancel(); <-done })

	const pgpPass = "pgp-s3cret-passphrase"
	c, err := loadControllerConfigRepo(env{
		EnvConfigRepoURL:         "ssh://git@" + l.Addr().String() + "/config.git",
		EnvConfigRepoCredentials: writeFiles(t, map[string]string{"identity": identity, "known_hosts": knownHostsLine(l.Addr().String(), host.PublicKey())}),
		EnvConfigRepoSigningKey:  writeFiles(t, map[string]string{"signing.key": testPGPKey(t, pgpPass), "passphrase": pgpPass}),
		EnvCacheDir:              t.TempDir(),
	})
	if err != nil {
		t.Fatal(err)
	}
	w, err := newWriter(Common{Namespace: "slipway-system"}, c)
	if err != nil {
		t.Fatal(err)
	}
	res, err := w.Commit(t.Context(), configrepo.Change{Branch: "main", Dir: "environments/staging/hello", Subject: "Deploy hello",
		Files: []manifest.File{{Path: "manifests.yaml", Data: []byte("kind: Deployment\n")}}})
	if err != nil || !res.Created {
		t.Fatalf("Commit over ssh = %+v, %v", res, err)
	}
	out, err := exec.Command("git", "-C", filepath.Join(root, "config.git"), "cat-file", "commit", res.Commit).CombinedOutput()
	if err != nil {
		t.Fatalf("git cat-file: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "gpgsig -----BEGIN PGP SIGNATURE-----") {
		t.Errorf("the commit pushed over ssh is not signed:\n%s", out)
	}
}
