package sign

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/sigstore/cosign/v3/pkg/cosign"
	ociremote "github.com/sigstore/cosign/v3/pkg/oci/remote"
	sgbundle "github.com/sigstore/sigstore-go/pkg/bundle"
	"github.com/sigstore/sigstore-go/pkg/verify"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/structpb"
)

// Verifier checks that images carry a signature it trusts: by one of its public keys, or
// keyless, with a Fulcio certificate for one of its identities. It is safe for concurrent use.
type Verifier struct {
	keys    []publicKey
	keyless *keylessTrust
	opts    options
}

// Attestation is the verified predicate of one attestation.
type Attestation struct {
	PredicateType string
	// Predicate is the predicate as JSON.
	Predicate []byte
}

// Trust is what a Verifier accepts: signatures by any of PublicKeys (PEM, cosign.pub) and, when
// Keyless is set, keyless signatures it allows. At least one of the two must be given.
type Trust struct {
	PublicKeys [][]byte
	Keyless    *KeylessTrust
}

// NewVerifier trusts the given PEM public keys (cosign.pub); a signature by any of them is
// accepted.
func NewVerifier(publicKeysPEM [][]byte, opts ...Option) (*Verifier, error) {
	if len(publicKeysPEM) == 0 {
		return nil, fmt.Errorf("new verifier: %w", errNoKeys)
	}
	return NewTrustVerifier(Trust{PublicKeys: publicKeysPEM}, opts...)
}

// NewTrustVerifier accepts the signatures t allows. Malformed trust material gives
// ErrInvalidKey or ErrInvalidTrust.
func NewTrustVerifier(t Trust, opts ...Option) (*Verifier, error) {
	if len(t.PublicKeys) == 0 && t.Keyless == nil {
		return nil, fmt.Errorf("new verifier: %w and no keyless trust", errNoKeys)
	}
	v := &Verifier{opts: newOptions(opts)}
	for i, p := range t.PublicKeys {
		k, err := parsePublicKey(p)
		if err != nil {
			return nil, fmt.Errorf("new verifier: trusted key %d: %w", i+1, err)
		}
		v.keys = append(v.keys, k)
	}
	if t.Keyless != nil {
		k, err := parseKeylessTrust(*t.Keyless)
		if err != nil {
			return nil, fmt.Errorf("new verifier: %w", err)
		}
		v.keyless = k
	}
	return v, nil
}

// VerifyImages checks every image (each at most once) and returns nil only if all carry a
// valid signature by a trusted key. Otherwise it returns one *ImageError per refused image,
// joined; errors.Is matches ErrNotPinned, ErrNoSignature, ErrUntrustedKey, ErrTampered,
// ErrImageNotFound or ErrRegistryUnreachable.
func (v *Verifier) VerifyImages(ctx context.Context, images []string) error {
	seen := map[string]bool{}
	var errs []error
	for _, img := range images {
		if seen[img] {
			continue
		}
		seen[img] = true
		if err := v.VerifyImage(ctx, img); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// VerifyImage checks that one image, pinned by digest, carries a valid signature by a trusted
// key.
func (v *Verifier) VerifyImage(ctx context.Context, image string) error {
	_, err := v.verified(ctx, image, PredicateSignature)
	if err == nil {
		v.opts.logger.DebugContext(ctx, "image signature verified", "image", image)
	}
	return err
}

// VerifyAttestations returns the predicates of the attestations of the given type that a
// trusted key made for the image's digest. It fails with the same reasons as VerifyImage
// (ErrNoSignature when there is no attestation of that type).
func (v *Verifier) VerifyAttestations(ctx context.Context, image, predicateType string) ([]Attestation, error) {
	statements, err := v.verified(ctx, image, predicateType)
	if err != nil {
		return nil, err
	}
	out := make([]Attestation, 0, len(statements))
	for _, st := range statements {
		p, err := protojson.Marshal(st.Predicate)
		if err != nil {
			return nil, fmt.Errorf("image %s: encode %s predicate: %w", image, predicateType, err)
		}
		out = append(out, Attestation{PredicateType: st.PredicateType, Predicate: p})
	}
	return out, nil
}

// verified returns the statements of the given predicate type that a trusted key signed for
// the image's digest.
func (v *Verifier) verified(ctx context.Context, image, predicateType string) ([]*statement, error) {
	d, err := v.opts.pinned(image)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, v.opts.timeout)
	defer cancel()
	if _, err := remote.Head(d, v.opts.remoteOptions(ctx)...); err != nil {
		return nil, registryError(image, "read image", err)
	}
	bundles, err := v.bundles(ctx, d, image, predicateType)
	if err != nil {
		return nil, err
	}
	what := "signature"
	if predicateType != PredicateSignature {
		what = predicateType + " attestation"
	}
	if len(bundles) == 0 {
		return nil, imageErr(image, ErrNoSignature, "no %s is attached to %s", what, d.DigestStr())
	}
	algo, hexDigest, _ := strings.Cut(d.DigestStr(), ":")
	digest, err := hex.DecodeString(hexDigest)
	if err != nil {
		return nil, imageErr(image, ErrNotPinned, "digest is not hex")
	}
	var out []*statement
	var refusals refusals
	for _, b := range bundles {
		st, r := v.verifyBundle(ctx, b, algo, digest, predicateType)
		if r.verdict == bundleOK {
			out = append(out, st)
			continue
		}
		refusals.add(r)
	}
	if len(out) > 0 {
		return out, nil
	}
	return nil, refusals.err(image, what, d.DigestStr(), len(v.keys), v.keyless)
}

// statement is the verified content of an in-toto statement.
type statement struct {
	PredicateType string
	Predicate     *structpb.Struct
}

// bundleVerdict is what one bundle is. The refusals are ordered from the least to the most
// telling: an image's error names the most telling one found.
type bundleVerdict int

const (
	bundleUntrusted bundleVerdict = iota
	bundleUntrustedCert
	bundleIdentityMismatch
	bundleIssuerMismatch
	bundleTampered
	bundleOK
)

// refusal is a refused bundle and, for keyless ones, why.
type refusal struct {
	verdict bundleVerdict
	detail  string
}

// refusals counts refused bundles by verdict and keeps the first detail of each.
type refusals struct {
	count  [bundleOK]int
	detail [bundleOK]string
}

func (r *refusals) add(x refusal) {
	if r.count[x.verdict] == 0 {
		r.detail[x.verdict] = x.detail
	}
	r.count[x.verdict]++
}

func (r *refusals) err(image, what, digest string, keys int, keyless *keylessTrust) error {
	for v := bundleTampered; v >= bundleUntrustedCert; v-- {
		if r.count[v] == 0 {
			continue
		}
		switch v {
		case bundleTampered:
			if r.detail[v] != "" {
				return imageErr(image, ErrTampered, "%d trusted %s(s) do not verify for %s: %s", r.count[v], what, digest, r.detail[v])
			}
			return imageErr(image, ErrTampered,
				"%d %s(s) by a trusted key do not verify for %s (made for another digest, or altered)", r.count[v], what, digest)
		case bundleIssuerMismatch:
			return imageErr(image, ErrIssuerMismatch, "%s; trusted identities: %s", r.detail[v], keyless.describeIdentities())
		case bundleIdentityMismatch:
			return imageErr(image, ErrIdentityMismatch, "%s; trusted identities: %s", r.detail[v], keyless.describeIdentities())
		default:
			return imageErr(image, ErrUntrustedCertificate, "%s", r.detail[v])
		}
	}
	if keys == 0 {
		return imageErr(image, ErrUntrustedKey, "%d %s(s) found, signed with keys; only keyless signatures are trusted", r.count[bundleUntrusted], what)
	}
	return imageErr(image, ErrUntrustedKey, "%d %s(s) found, none by the %d trusted key(s)", r.count[bundleUntrusted], what, keys)
}

// verifyBundle checks one bundle: one with a certificate against the keyless trust, one with
// a key hint against the trusted keys.
func (v *Verifier) verifyBundle(ctx context.Context, b *sgbundle.Bundle, algo string, digest []byte, predicateType string) (*statement, refusal) {
	if vc, err := b.VerificationContent(); err == nil && vc.Certificate() != nil {
		if v.keyless == nil {
			return nil, refusal{verdict: bundleUntrusted}
		}
		return v.keyless.verifyBundle(ctx, b, algo, digest, predicateType)
	}
	st, verdict := v.verifyKeyBundle(ctx, b, algo, digest, predicateType)
	return st, refusal{verdict: verdict}
}

// verifyKeyBundle checks one bundle against every trusted key. A bundle that verifies with a
// key but names another digest or predicate type is tampered; so is one whose (unsigned) key
// hint names a trusted key but whose signature fails. Both are refusals; the split only makes
// the reason clearer.
func (v *Verifier) verifyKeyBundle(ctx context.Context, b *sgbundle.Bundle, algo string, digest []byte, predicateType string) (*statement, bundleVerdict) {
	hint := b.GetVerificationMaterial().GetPublicKey().GetHint()
	verdict := bundleUntrusted
	for _, k := range v.keys {
		co := &cosign.CheckOpts{SigVerifier: k.verifier, IgnoreTlog: true, IgnoreSCT: true, NewBundleFormat: true}
		res, err := cosign.VerifyNewBundle(ctx, co, verify.WithArtifactDigest(algo, digest), b)
		if err == nil && res.Statement != nil && res.Statement.GetPredicateType() == predicateType {
			return &statement{PredicateType: res.Statement.GetPredicateType(), Predicate: res.Statement.GetPredicate()}, bundleOK
		}
		if _, err := cosign.VerifyNewBundle(ctx, co, verify.WithoutArtifactUnsafe(), b); err == nil {
			// Signed by this trusted key, but not for this digest (or not this kind of statement).
			return nil, bundleTampered
		}
		if hint != "" && hint == k.hint {
			verdict = bundleTampered
		}
	}
	return nil, verdict
}

// bundles lists the Sigstore bundles attached to d whose (unverified) predicate type is
// predicateType.
func (v *Verifier) bundles(ctx context.Context, d name.Digest, image, predicateType string) ([]*sgbundle.Bundle, error) {
	ropts := v.opts.ociOptions(ctx)
	idx, err := ociremote.Referrers(d, "", ropts...)
	if err != nil {
		return nil, registryError(image, "list signatures", err)
	}
	var out []*sgbundle.Bundle
	for _, desc := range idx.Manifests {
		// No filter on desc.ArtifactType: registries disagree on what they report there (the
		// config media type or the manifest's artifactType), and Bundle rejects non-bundles.
		b, err := ociremote.Bundle(d.Context().Digest(desc.Digest.String()), ropts...)
		if err != nil {
			if rerr := registryError(image, "read signature", err); errors.Is(rerr, ErrRegistryUnreachable) {
				return nil, rerr
			}
			v.opts.logger.DebugContext(ctx, "skipping referrer that is not a bundle", "image", image,
				"referrer", desc.Digest.String(), "error", err)
			continue
		}
		if unverifiedPredicateType(b) == predicateType {
			out = append(out, b)
		}
	}
	return out, nil
}
