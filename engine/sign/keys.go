package sign

import (
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"

	"github.com/sigstore/cosign/v3/pkg/cosign"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature"
)

// Keys of the Kubernetes Secret that holds a signing key pair, the names cosign uses.
const (
	SecretPrivateKey = "cosign.key"
	SecretPublicKey  = "cosign.pub"
	SecretPassword   = "cosign.password"
)

// KeyPair is a cosign key pair: an encrypted PEM private key, its PEM public key and the
// password that decrypts the private key. It never prints its private key or password.
type KeyPair struct {
	PrivateKey []byte
	PublicKey  []byte
	Password   []byte
}

// GenerateKeyPair creates an ECDSA P-256 key pair with cosign and encrypts the private key
// with password, which must not be empty.
func GenerateKeyPair(password []byte) (*KeyPair, error) {
	if len(password) == 0 {
		return nil, fmt.Errorf("generate key pair: %w: empty password", ErrInvalidKey)
	}
	pw := append([]byte(nil), password...)
	kb, err := cosign.GenerateKeyPair(func(bool) ([]byte, error) { return pw, nil })
	if err != nil {
		return nil, fmt.Errorf("generate key pair: %w", err)
	}
	return &KeyPair{PrivateKey: kb.PrivateBytes, PublicKey: kb.PublicBytes, Password: pw}, nil
}

// SecretData is the key pair as the data of a Kubernetes Secret (cosign.key, cosign.pub,
// cosign.password).
func (k *KeyPair) SecretData() map[string][]byte {
	return map[string][]byte{
		SecretPrivateKey: k.PrivateKey,
		SecretPublicKey:  k.PublicKey,
		SecretPassword:   k.Password,
	}
}

// KeyPairFromSecretData reads a key pair from a Secret's data; every key must be present.
func KeyPairFromSecretData(data map[string][]byte) (*KeyPair, error) {
	for _, k := range []string{SecretPrivateKey, SecretPublicKey, SecretPassword} {
		if len(data[k]) == 0 {
			return nil, fmt.Errorf("signing key secret: %w: %s missing or empty", ErrInvalidKey, k)
		}
	}
	return &KeyPair{PrivateKey: data[SecretPrivateKey], PublicKey: data[SecretPublicKey], Password: data[SecretPassword]}, nil
}

// String hides the key material.
func (k *KeyPair) String() string { return "sign.KeyPair{redacted}" }

// GoString hides the key material from %#v.
func (k *KeyPair) GoString() string { return k.String() }

// LogValue hides the key material from slog.
func (k *KeyPair) LogValue() slog.Value { return slog.StringValue(k.String()) }

// loadPrivateKey decrypts a cosign private key. Errors never contain the key or password.
func loadPrivateKey(privatePEM, password []byte) (signature.SignerVerifier, error) {
	block, _ := pem.Decode(privatePEM)
	if block == nil {
		return nil, fmt.Errorf("%w: private key is not PEM", ErrInvalidKey)
	}
	if block.Type != cosign.SigstorePrivateKeyPemType && block.Type != cosign.CosignPrivateKeyPemType {
		return nil, fmt.Errorf("%w: private key PEM block is %q, want %q", ErrInvalidKey, block.Type, cosign.SigstorePrivateKeyPemType)
	}
	sv, err := cosign.LoadPrivateKey(privatePEM, password, nil)
	if err != nil {
		// The PEM block is a well-formed encrypted key, so a failure here is the password
		// (secretbox authentication) or a corrupted key. The cause never holds the password.
		return nil, fmt.Errorf("%w (or the key is corrupted): %v", ErrWrongPassword, err)
	}
	return sv, nil
}

// publicKey is a trusted public key with its cosign hint.
type publicKey struct {
	verifier signature.Verifier
	hint     string
}

// parsePublicKey reads one PEM public key.
func parsePublicKey(pemBytes []byte) (publicKey, error) {
	pub, err := cryptoutils.UnmarshalPEMToPublicKey(pemBytes)
	if err != nil {
		return publicKey{}, fmt.Errorf("%w: public key: %v", ErrInvalidKey, err)
	}
	v, err := signature.LoadDefaultVerifier(pub)
	if err != nil {
		return publicKey{}, fmt.Errorf("%w: public key: %v", ErrInvalidKey, err)
	}
	hint, err := keyHint(pub)
	if err != nil {
		return publicKey{}, err
	}
	return publicKey{verifier: v, hint: hint}, nil
}

// keyHint is the hint cosign and sigstore-go record in a bundle for a public key: the base64
// SHA-256 of its PKIX encoding.
func keyHint(pub crypto.PublicKey) (string, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return "", fmt.Errorf("%w: marshal public key: %v", ErrInvalidKey, err)
	}
	sum := sha256.Sum256(der)
	return base64.StdEncoding.EncodeToString(sum[:]), nil
}

var errNoKeys = errors.New("no trusted public keys")
