package configrepo

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// pgpKey is a generated OpenPGP key: the armored private key (encrypted when a passphrase was
// given), the armored public key and the fingerprint.
type pgpKey struct {
	private, public []byte
	fingerprint     string
}

func newPGPKey(t testing.TB, passphrase string) pgpKey {
	t.Helper()
	cfg := &packet.Config{Algorithm: packet.PubKeyAlgoEdDSA}
	e, err := openpgp.NewEntity("Slipway", "config repo", "slipway@example.com", cfg)
	if err != nil {
		t.Fatal(err)
	}
	var pub bytes.Buffer
	aw, err := armor.Encode(&pub, openpgp.PublicKeyType, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Serialize(aw); err != nil {
		t.Fatal(err)
	}
	aw.Close()
	if passphrase != "" {
		if err := e.EncryptPrivateKeys([]byte(passphrase), nil); err != nil {
			t.Fatal(err)
		}
	}
	var priv bytes.Buffer
	aw, err = armor.Encode(&priv, openpgp.PrivateKeyType, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.SerializePrivateWithoutSigning(aw, nil); err != nil {
		t.Fatal(err)
	}
	aw.Close()
	return pgpKey{private: priv.Bytes(), public: pub.Bytes(), fingerprint: fingerprint(e)}
}

// verifyHistory checks the OpenPGP signature of every commit on branch of the bare repository
// against the public key, and returns how many there are.
func verifyHistory(t *testing.T, bare, branch string, key pgpKey) int {
	t.Helper()
	repo, err := git.PlainOpen(bare)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := repo.Reference(plumbing.NewBranchReferenceName(branch), true)
	if err != nil {
		t.Fatal(err)
	}
	iter, err := repo.Log(&git.LogOptions{From: ref.Hash()})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	err = iter.ForEach(func(c *object.Commit) error {
		n++
		if c.PGPSignature == "" {
			t.Errorf("commit %s (%q) is not signed", c.Hash, c.Message)
			return nil
		}
		signer, err := c.Verify(string(key.public))
		if err != nil {
			t.Errorf("commit %s: signature does not verify: %v", c.Hash, err)
			return nil
		}
		if got := fingerprint(signer); got != key.fingerprint {
			t.Errorf("commit %s signed by %s, want %s", c.Hash, got, key.fingerprint)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	verifyWithGPG(t, bare, branch, key, n)
	return n
}

// verifyWithGPG has git itself check every signature with gpg, as `git log --show-signature`
// or a Git host would.
func verifyWithGPG(t *testing.T, bare, branch string, key pgpKey, want int) {
	t.Helper()
	gpg, err := exec.LookPath("gpg")
	if err != nil {
		t.Log("gpg is not installed: signatures checked with go-git only")
		return
	}
	home, err := os.MkdirTemp("", "gpg") // short: gpg's socket paths are limited
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = exec.Command("gpgconf", "--homedir", home, "--kill", "all").Run()
		os.RemoveAll(home)
	})
	env := append(os.Environ(), "GNUPGHOME="+home, "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL="+os.DevNull)
	imp := exec.Command(gpg, "--batch", "--quiet", "--import")
	imp.Env, imp.Stdin = env, bytes.NewReader(key.public)
	if out, err := imp.CombinedOutput(); err != nil {
		t.Fatalf("gpg --import: %v\n%s", err, out)
	}
	cmd := exec.Command("git", "-C", bare, "log", "--format=%H %G? %GF", branch)
	cmd.Env = env
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("git log: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != want {
		t.Errorf("git log lists %d commits, want %d", len(lines), want)
	}
	for _, l := range lines {
		// G: good; U: good, by a key gpg has no trust set for (it was only imported).
		f := strings.Fields(l)
		if len(f) != 3 || (f[1] != "G" && f[1] != "U") || f[2] != key.fingerprint {
			t.Errorf("git verifies %q, want a good signature by %s", l, key.fingerprint)
		}
	}
}

// TestSignedCommits checks the signature of every commit signing writers make, including
// commits rebuilt on a new tip after a rejected push, with the public key.
func TestSignedCommits(t *testing.T) {
	const passphrase = "correct horse battery staple"
	key := newPGPKey(t, passphrase)
	r := httpRemote(t)
	signing := WithSigningKey(key.private, []byte(passphrase))

	// One push rejected for certain: a rival commits between this writer's fetch and push (w.now
	// runs in between), so the landed commit is the second one built, on the rival's commit.
	w := r.writer(t, signing, WithRetry(3, time.Millisecond, time.Millisecond))
	rival := r.writer(t, signing)
	var rivalCommit string
	w.now = func() time.Time {
		if rivalCommit == "" {
			res, err := rival.Commit(t.Context(), Change{Branch: "main", Dir: "apps/rival", Files: files("r", "r"), Subject: "rival"})
			if err != nil {
				t.Errorf("rival commit: %v", err)
			}
			rivalCommit = res.Commit
		}
		return time.Now()
	}
	res, err := w.Commit(t.Context(), Change{Branch: "main", Dir: "apps/hello", Files: files("a", "a"), Subject: "Deploy hello"})
	if err != nil {
		t.Fatal(err)
	}
	if parent := gitCLI(t, r.bare, "rev-parse", res.Commit+"^"); parent != rivalCommit {
		t.Fatalf("landed commit's parent = %s, want the rival's %s: the push was not retried", parent, rivalCommit)
	}

	// Concurrent writers in separate caches, whose pushes really race.
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		w := r.writer(t, signing)
		wg.Go(func() {
			_, errs[i] = w.Commit(t.Context(), Change{Branch: "main", Dir: fmt.Sprintf("apps/app-%d", i),
				Files: files("f", fmt.Sprint(i)), Subject: fmt.Sprintf("Deploy app-%d", i)})
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("writer %d: %v", i, err)
		}
	}
	if n := verifyHistory(t, r.bare, "main", key); n != 2+len(errs) {
		t.Errorf("verified %d commits, want %d", n, 2+len(errs))
	}
}

// twoKeys is one armored block holding two private keys.
func twoKeys(t *testing.T) []byte {
	var b bytes.Buffer
	aw, err := armor.Encode(&b, openpgp.PrivateKeyType, nil)
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		e, err := openpgp.NewEntity("Slipway", "", "slipway@example.com", &packet.Config{Algorithm: packet.PubKeyAlgoEdDSA})
		if err != nil {
			t.Fatal(err)
		}
		if err := e.SerializePrivateWithoutSigning(aw, nil); err != nil {
			t.Fatal(err)
		}
	}
	aw.Close()
	return b.Bytes()
}

func TestSigningKeyRefusedAtNew(t *testing.T) {
	const passphrase = "s3cret-passphrase"
	encrypted := newPGPKey(t, passphrase)
	plain := newPGPKey(t, "")
	dir := t.TempDir()
	for _, tc := range []struct {
		name      string
		key, pass []byte
		naming    string
	}{
		{name: "wrong passphrase", key: encrypted.private, pass: []byte("wrong"), naming: "passphrase does not decrypt it"},
		{name: "no passphrase", key: encrypted.private, naming: "encrypted and no passphrase"},
		{name: "public key only", key: encrypted.public, pass: []byte(passphrase), naming: "holds no private key"},
		{name: "not a key", key: []byte("hunter2"), naming: "not an ASCII-armored OpenPGP key"},
		{name: "two keys", key: twoKeys(t), naming: "holds 2 private keys"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New("file://"+filepath.Join(dir, "config.git"), t.TempDir(), testAuthor, WithSigningKey(tc.key, tc.pass))
			if err == nil {
				t.Fatal("New succeeded, want an error")
			}
			t.Logf("refused: %v", err)
			if !strings.Contains(err.Error(), tc.naming) {
				t.Errorf("error %q does not say %q", err, tc.naming)
			}
			if strings.Contains(err.Error(), passphrase) || strings.Contains(err.Error(), "PRIVATE KEY") {
				t.Errorf("error %q shows secret material", err)
			}
		})
	}
	// An unencrypted key needs no passphrase.
	if _, err := New("file://"+filepath.Join(dir, "config.git"), t.TempDir(), testAuthor, WithSigningKey(plain.private, nil)); err != nil {
		t.Errorf("New with an unencrypted key: %v", err)
	}
}
