package configrepo

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// signer signs commits with an OpenPGP key, as `git commit -S` does: an ASCII-armored
// detached signature over the commit object without its signature header.
type signer struct {
	key *openpgp.Entity
	now func() time.Time
}

// newSigner reads an armored OpenPGP private key and decrypts it with passphrase when it is
// encrypted. Every problem is reported now, when the Writer is made, rather than on the first
// commit; no error includes the passphrase or key material.
func newSigner(armored, passphrase []byte, now func() time.Time) (*signer, error) {
	keys, err := openpgp.ReadArmoredKeyRing(bytes.NewReader(armored))
	if err != nil {
		return nil, fmt.Errorf("commit signing key: not an ASCII-armored OpenPGP key: %w", err)
	}
	var key *openpgp.Entity
	for _, e := range keys {
		if e.PrivateKey != nil {
			if key != nil {
				return nil, fmt.Errorf("commit signing key: holds %d private keys, want one", countPrivate(keys))
			}
			key = e
		}
	}
	if key == nil {
		return nil, fmt.Errorf("commit signing key: holds no private key (is it the public key?)")
	}
	id := fingerprint(key)
	if encrypted(key) {
		if len(passphrase) == 0 {
			return nil, fmt.Errorf("commit signing key %s: it is encrypted and no passphrase was given", id)
		}
		if err := key.DecryptPrivateKeys(passphrase); err != nil {
			return nil, fmt.Errorf("commit signing key %s: the passphrase does not decrypt it (wrong passphrase?)", id)
		}
	}
	s := &signer{key: key, now: now}
	// Sign once now, so that a key that cannot sign (expired, revoked, encryption-only)
	// stops the Writer from being made instead of every commit.
	if _, err := s.sign(strings.NewReader("probe")); err != nil {
		return nil, fmt.Errorf("commit signing key %s: cannot sign: %w", id, err)
	}
	return s, nil
}

func countPrivate(keys openpgp.EntityList) int {
	n := 0
	for _, e := range keys {
		if e.PrivateKey != nil {
			n++
		}
	}
	return n
}

func encrypted(e *openpgp.Entity) bool {
	if e.PrivateKey.Encrypted {
		return true
	}
	for _, sub := range e.Subkeys {
		if sub.PrivateKey != nil && sub.PrivateKey.Encrypted {
			return true
		}
	}
	return false
}

// fingerprint names a key in messages the way gpg does.
func fingerprint(e *openpgp.Entity) string {
	return strings.ToUpper(fmt.Sprintf("%x", e.PrimaryKey.Fingerprint))
}

func (s *signer) sign(payload io.Reader) ([]byte, error) {
	var b bytes.Buffer
	if err := openpgp.ArmoredDetachSign(&b, s.key, payload, &packet.Config{Time: s.now}); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// signCommit sets c's signature. It must be the last change to c before it is encoded: the
// signature covers every other header and the message.
func (s *signer) signCommit(c *object.Commit) error {
	o := &plumbing.MemoryObject{}
	if err := c.EncodeWithoutSignature(o); err != nil {
		return fmt.Errorf("sign commit: %w", err)
	}
	r, err := o.Reader()
	if err != nil {
		return fmt.Errorf("sign commit: %w", err)
	}
	sig, err := s.sign(r)
	if err != nil {
		return fmt.Errorf("sign commit: %w", err)
	}
	c.PGPSignature = string(sig)
	return nil
}
