package sign

import (
	"context"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/sigstore/cosign/v3/pkg/cosign"
	sgbundle "github.com/sigstore/sigstore-go/pkg/bundle"
	"github.com/sigstore/sigstore-go/pkg/fulcio/certificate"
	"github.com/sigstore/sigstore-go/pkg/verify"
)

// verifyBundle checks a bundle signed with a certificate. It accepts the bundle if, for one
// trusted identity, cosign verifies it in full: the chain to a Fulcio root at a trusted time,
// the identity, the signature and the digest. Otherwise it finds the first of these that fails,
// checking each on its own, so that the refusal names it.
func (k *keylessTrust) verifyBundle(ctx context.Context, b *sgbundle.Bundle, algo string, digest []byte, predicateType string) (*statement, refusal) {
	var fullErr error
	for _, id := range k.identities {
		res, err := cosign.VerifyNewBundle(ctx, id.co, verify.WithArtifactDigest(algo, digest), b)
		if err == nil && res.Statement != nil && res.Statement.GetPredicateType() == predicateType {
			return &statement{PredicateType: res.Statement.GetPredicateType(), Predicate: res.Statement.GetPredicate()}, refusal{verdict: bundleOK}
		}
		if fullErr == nil {
			fullErr = err
		}
	}
	vc, err := b.VerificationContent()
	if err != nil || vc.Certificate() == nil {
		return nil, refusal{bundleUntrustedCert, "the signature carries no certificate"}
	}
	leaf := vc.Certificate()

	// The chain, as it was when the certificate was issued; whether it was still valid when
	// the signature was made is checked last.
	if _, err := verify.VerifyLeafCertificate(leaf.NotBefore, leaf, k.material); err != nil {
		return nil, refusal{bundleUntrustedCert, fmt.Sprintf("the certificate (issuer %q) does not chain to a trusted Fulcio root", leaf.Issuer.String())}
	}

	sum, err := certificate.SummarizeCertificate(leaf)
	if err != nil {
		return nil, refusal{bundleUntrustedCert, fmt.Sprintf("the certificate names no identity: %v", err)}
	}
	issuerOK, identityOK := false, false
	for _, id := range k.identities {
		if id.issuer.Verify(sum) == nil {
			issuerOK = true
			identityOK = identityOK || id.san.Verify(sum) == nil
		}
	}
	who := fmt.Sprintf("the certificate names %s from OIDC issuer %s", sum.SubjectAlternativeName, sum.Issuer)
	switch {
	case !issuerOK:
		return nil, refusal{bundleIssuerMismatch, who}
	case !identityOK:
		return nil, refusal{bundleIdentityMismatch, who}
	}

	sc, err := b.SignatureContent()
	if err != nil {
		return nil, refusal{bundleTampered, fmt.Sprintf("unreadable signature: %v", err)}
	}
	if err := verify.VerifySignature(sc, vc, k.material); err != nil {
		return nil, refusal{bundleTampered, "the signed payload was altered (its signature does not verify with the certificate's key)"}
	}
	if subjects := statementDigests(b, algo); !slices.Contains(subjects, hex.EncodeToString(digest)) {
		return nil, refusal{bundleTampered, fmt.Sprintf("the signature was made for %s:%s (copied from another image)", algo, strings.Join(subjects, ","))}
	}
	return nil, refusal{bundleUntrustedCert, k.timeProblem(leaf, fullErr)}
}

// timeProblem explains why a certificate that chains, names a trusted identity and signed the
// right digest is still refused: nothing trusted shows it was valid at signing.
func (k *keylessTrust) timeProblem(leaf *x509.Certificate, err error) string {
	validity := fmt.Sprintf("valid %s to %s", leaf.NotBefore.UTC().Format(time.RFC3339), leaf.NotAfter.UTC().Format(time.RFC3339))
	if !k.tlog && !k.tsa {
		if time.Now().After(leaf.NotAfter) {
			return fmt.Sprintf("the certificate (%s) has expired, and no transparency log or timestamp authority is trusted to show the signature was made while it was valid", validity)
		}
		return fmt.Sprintf("the certificate (%s) does not verify now: %v", validity, err)
	}
	var want string
	switch {
	case k.tlog && k.tsa:
		want = "a trusted transparency log entry and a trusted signed timestamp"
	case k.tlog:
		want = "a trusted transparency log entry"
	default:
		want = "a trusted signed timestamp"
	}
	return fmt.Sprintf("the signature lacks %s inside the certificate's validity (%s): %v", want, validity, err)
}

// statementDigests are the (unverified) subject digests of a bundle's statement for algo.
func statementDigests(b *sgbundle.Bundle, algo string) []string {
	env, err := b.Envelope()
	if err != nil {
		return nil
	}
	st, err := env.Statement()
	if err != nil {
		return nil
	}
	var out []string
	for _, s := range st.GetSubject() {
		if d, ok := s.GetDigest()[algo]; ok {
			out = append(out, d)
		}
	}
	return out
}
