package sign

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"fmt"

	"github.com/sigstore/cosign/v3/pkg/cosign"
	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature"
	signatureoptions "github.com/sigstore/sigstore/pkg/signature/options"
)

// keypair adapts a cosign signer to sigstore-go's sign.Keypair, the way cosign's own (internal)
// adapter does, so bundles carry the same hint and algorithms as `cosign sign --key`.
type keypair struct {
	sv     signature.SignerVerifier
	pub    crypto.PublicKey
	hint   string
	keyAlg string
	algo   signature.AlgorithmDetails
}

func newKeypair(sv signature.SignerVerifier) (*keypair, error) {
	pub, err := sv.PublicKey()
	if err != nil {
		return nil, fmt.Errorf("public key of signer: %w", err)
	}
	var keyAlg string
	switch pub.(type) {
	case *ecdsa.PublicKey:
		keyAlg = "ECDSA"
	case *rsa.PublicKey:
		keyAlg = "RSA"
	case ed25519.PublicKey:
		keyAlg = "ED25519"
	default:
		return nil, fmt.Errorf("%w: unsupported key type %T", ErrInvalidKey, pub)
	}
	algo, err := signature.GetDefaultAlgorithmDetails(pub, *cosign.GetDefaultLoadOptions(nil)...)
	if err != nil {
		return nil, fmt.Errorf("%w: signing algorithm: %v", ErrInvalidKey, err)
	}
	hint, err := keyHint(pub)
	if err != nil {
		return nil, err
	}
	return &keypair{sv: sv, pub: pub, hint: hint, keyAlg: keyAlg, algo: algo}, nil
}

func (k *keypair) GetHashAlgorithm() protocommon.HashAlgorithm { return k.algo.GetProtoHashType() }

func (k *keypair) GetSigningAlgorithm() protocommon.PublicKeyDetails {
	return k.algo.GetSignatureAlgorithm()
}

func (k *keypair) GetHint() []byte                { return []byte(k.hint) }
func (k *keypair) GetKeyAlgorithm() string        { return k.keyAlg }
func (k *keypair) GetPublicKey() crypto.PublicKey { return k.pub }

func (k *keypair) GetPublicKeyPem() (string, error) {
	b, err := cryptoutils.MarshalPublicKeyToPEM(k.pub)
	return string(b), err
}

func (k *keypair) SignData(ctx context.Context, data []byte) ([]byte, []byte, error) {
	opts := []signature.SignOption{signatureoptions.WithContext(ctx)}
	var digest []byte
	if h := k.algo.GetHashType(); h != 0 {
		hh := h.New()
		hh.Write(data)
		digest = hh.Sum(nil)
		opts = append(opts, signatureoptions.WithDigest(digest))
	}
	sig, err := k.sv.SignMessage(bytes.NewReader(data), opts...)
	if err != nil {
		return nil, nil, err
	}
	return sig, digest, nil
}
