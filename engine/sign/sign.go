// Package sign signs container images and attaches attestations to them with cosign v3, and
// verifies them before anything runs them.
//
// A signature is a Sigstore bundle (v0.3, a DSSE envelope over an in-toto statement whose
// predicate type is cosign's "https://sigstore.dev/cosign/sign/v1") stored as an OCI 1.1
// referrer of the image digest; on registries without the referrers API it is listed in the
// fallback index tagged sha256-<digest>. This is the format cosign v3 writes by default.
// Attestations (a CycloneDX SBOM, a scan report) use the same format with their own predicate
// type.
//
// Two ways to sign. With a key pair (offline: an encrypted cosign key, no transparency log, no
// certificate) the bundle names the key, and `cosign verify --key cosign.pub
// --insecure-ignore-tlog=true` accepts it. Keyless (connected clusters), the signer presents
// the workload's OIDC identity token to Fulcio, which certifies an ephemeral key for that
// identity for ten minutes; the bundle carries the certificate and, when configured, a Rekor
// log entry and an RFC 3161 timestamp, which show that the certificate was valid at signing
// long after it expired. A Verifier trusts keys, keyless identities under Fulcio roots, or
// both, and names why it refuses an image: no signature, an untrusted key, an untrusted
// certificate chain (or no trusted time), an identity or issuer mismatch, a tampered digest.
package sign

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	intotov1 "github.com/in-toto/attestation/go/v1"
	ociremote "github.com/sigstore/cosign/v3/pkg/oci/remote"
	"github.com/sigstore/cosign/v3/pkg/types"
	sgbundle "github.com/sigstore/sigstore-go/pkg/bundle"
	sgsign "github.com/sigstore/sigstore-go/pkg/sign"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/structpb"
)

// Predicate types of what Slipway signs and attests.
const (
	// PredicateSignature is cosign's predicate type for an image signature.
	PredicateSignature = types.CosignSignPredicateType
	// PredicateCycloneDX is the predicate type of a CycloneDX SBOM attestation.
	PredicateCycloneDX = "https://cyclonedx.org/bom"
	// PredicateScan is the predicate type of Slipway's vulnerability scan report attestation.
	PredicateScan = "https://slipway.dev/attestation/scan/v1"
)

const inTotoPayloadType = "application/vnd.in-toto+json"

// Signer signs image digests and attaches attestations, with one private key or keyless.
type Signer struct {
	material material
	opts     options
}

// material is what a Signer signs with: a key pair, or an ephemeral key certified by Fulcio.
type material interface {
	// bundleOptions returns the key to sign with and how the bundle names it (a public key
	// hint, or a certificate with log entries and timestamps).
	bundleOptions(ctx context.Context) (sgsign.Keypair, sgsign.BundleOptions, error)
}

// keyPairMaterial signs with a long-lived key; the bundle carries its hint.
type keyPairMaterial struct{ kp *keypair }

func (m keyPairMaterial) bundleOptions(context.Context) (sgsign.Keypair, sgsign.BundleOptions, error) {
	return m.kp, sgsign.BundleOptions{}, nil
}

// Result names what a Sign or Attest call stored.
type Result struct {
	// Image is the subject, REPOSITORY@sha256:DIGEST.
	Image string
	// PredicateType is what was signed (PredicateSignature for a signature).
	PredicateType string
	// Bundle is the digest of the Sigstore bundle.
	Bundle string
	// Referrer is the manifest holding the bundle, REPOSITORY@sha256:DIGEST.
	Referrer string
}

// NewSigner decrypts a cosign private key (PEM) with password. A wrong password gives
// ErrWrongPassword; the key and password appear in no error.
func NewSigner(privateKeyPEM, password []byte, opts ...Option) (*Signer, error) {
	sv, err := loadPrivateKey(privateKeyPEM, password)
	if err != nil {
		return nil, fmt.Errorf("load signing key: %w", err)
	}
	kp, err := newKeypair(sv)
	if err != nil {
		return nil, fmt.Errorf("load signing key: %w", err)
	}
	return &Signer{material: keyPairMaterial{kp}, opts: newOptions(opts)}, nil
}

// PublicKey returns the signer's public key in PEM. A keyless signer has none: its keys live
// for one certificate.
func (s *Signer) PublicKey() ([]byte, error) {
	m, ok := s.material.(keyPairMaterial)
	if !ok {
		return nil, errors.New("a keyless signer has no long-lived public key")
	}
	p, err := m.kp.GetPublicKeyPem()
	return []byte(p), err
}

// Sign signs the image's digest and stores the signature next to it in the registry.
func (s *Signer) Sign(ctx context.Context, image string) (*Result, error) {
	return s.attest(ctx, image, PredicateSignature, &structpb.Struct{})
}

// Attest signs an in-toto statement about the image's digest with the given predicate (a JSON
// object, for example a CycloneDX SBOM) and stores it next to the image.
func (s *Signer) Attest(ctx context.Context, image, predicateType string, predicate []byte) (*Result, error) {
	if predicateType == "" || predicateType == PredicateSignature {
		return nil, fmt.Errorf("attest %s: predicate type %q is not an attestation type", image, predicateType)
	}
	var p structpb.Struct
	if err := protojson.Unmarshal(predicate, &p); err != nil {
		return nil, fmt.Errorf("attest %s: predicate %s is not a JSON object: %w", image, predicateType, err)
	}
	return s.attest(ctx, image, predicateType, &p)
}

func (s *Signer) attest(ctx context.Context, image, predicateType string, predicate *structpb.Struct) (*Result, error) {
	d, err := s.opts.pinned(image)
	if err != nil {
		return nil, err
	}
	algo, hexDigest, _ := strings.Cut(d.DigestStr(), ":")
	statement := &intotov1.Statement{
		Type:          intotov1.StatementTypeUri,
		Subject:       []*intotov1.ResourceDescriptor{{Digest: map[string]string{algo: hexDigest}}},
		PredicateType: predicateType,
		Predicate:     predicate,
	}
	payload, err := protojson.Marshal(statement)
	if err != nil {
		return nil, fmt.Errorf("sign %s: encode statement: %w", image, err)
	}
	ctx, cancel := context.WithTimeout(ctx, s.opts.timeout)
	defer cancel()
	kp, bopts, err := s.material.bundleOptions(ctx)
	if err != nil {
		return nil, fmt.Errorf("sign %s: %w", image, err)
	}
	bopts.Context = ctx
	pb, err := sgsign.Bundle(&sgsign.DSSEData{Data: payload, PayloadType: inTotoPayloadType}, kp, bopts)
	if err != nil {
		return nil, fmt.Errorf("sign %s: %w", image, err)
	}
	bundleBytes, err := protojson.Marshal(pb)
	if err != nil {
		return nil, fmt.Errorf("sign %s: encode bundle: %w", image, err)
	}
	if err := ociremote.WriteAttestationNewBundleFormat(d, bundleBytes, predicateType, s.opts.ociOptions(ctx)...); err != nil {
		return nil, registryError(image, "store signature", err)
	}
	sum := sha256.Sum256(bundleBytes)
	res := &Result{Image: d.String(), PredicateType: predicateType, Bundle: "sha256:" + hex.EncodeToString(sum[:])}
	if res.Referrer, err = s.findReferrer(ctx, d, predicateType, res.Bundle); err != nil {
		return nil, err
	}
	s.opts.logger.InfoContext(ctx, "signed", "image", res.Image, "predicateType", predicateType, "referrer", res.Referrer)
	return res, nil
}

// findReferrer returns the referrer manifest of d whose layer is the bundle with digest
// bundleDigest.
func (s *Signer) findReferrer(ctx context.Context, d name.Digest, predicateType, bundleDigest string) (string, error) {
	idx, err := ociremote.Referrers(d, "", s.opts.ociOptions(ctx)...)
	if err != nil {
		return "", registryError(d.String(), "list referrers", err)
	}
	for _, desc := range idx.Manifests {
		// Skip other kinds of bundles without fetching them when the registry reports
		// the annotation cosign writes.
		if pt, ok := desc.Annotations[ociremote.BundlePredicateType]; ok && pt != predicateType {
			continue
		}
		ref := d.Context().Digest(desc.Digest.String())
		img, err := remote.Image(ref, s.opts.remoteOptions(ctx)...)
		if err != nil {
			return "", registryError(d.String(), "read referrer", err)
		}
		m, err := img.Manifest()
		if err != nil {
			return "", registryError(d.String(), "read referrer", err)
		}
		if len(m.Layers) == 1 && m.Layers[0].Digest.String() == bundleDigest {
			return ref.String(), nil
		}
	}
	return "", fmt.Errorf("image %s: the signature was stored but is not listed among its referrers", d)
}

// unverifiedPredicateType reads a bundle's predicate type without checking its signature, to
// pick which bundles to verify.
func unverifiedPredicateType(b *sgbundle.Bundle) string {
	env, err := b.Envelope()
	if err != nil {
		return ""
	}
	st, err := env.Statement()
	if err != nil {
		return ""
	}
	return st.GetPredicateType()
}
