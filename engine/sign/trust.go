package sign

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/sigstore/cosign/v3/pkg/cosign"
	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/verify"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
)

// Identity is a certificate identity a keyless signature may carry: the OIDC issuer Fulcio
// verified the token with, and the subject it wrote into the certificate (for a Kubernetes
// ServiceAccount https://kubernetes.io/namespaces/NS/serviceaccounts/NAME, for a person an
// email address). Give exactly one of Issuer and IssuerRegexp and one of Subject and
// SubjectRegexp. A regexp must match the whole value: it is anchored, unlike cosign's
// --certificate-identity-regexp, so that "ns/serviceaccounts/signer" cannot match a longer name.
type Identity struct {
	Issuer        string
	IssuerRegexp  string
	Subject       string
	SubjectRegexp string
}

// String describes the identity for errors and logs.
func (id Identity) String() string {
	subj, iss := id.Subject, id.Issuer
	if id.SubjectRegexp != "" {
		subj = "~" + id.SubjectRegexp
	}
	if id.IssuerRegexp != "" {
		iss = "~" + id.IssuerRegexp
	}
	return fmt.Sprintf("%s from %s", subj, iss)
}

// KeylessTrust is what a keyless signature is checked against.
type KeylessTrust struct {
	// FulcioRoots is a PEM bundle of Fulcio's CA certificates: its roots (self-signed) and any
	// intermediates. The bundle's leaf certificate must chain to one of the roots.
	FulcioRoots []byte
	// Identities are the certificate identities accepted; one must match.
	Identities []Identity
	// RekorPublicKeys are the PEM public keys of trusted Rekor logs. When set, every
	// signature needs an entry in one of them, whose time shows the certificate was valid.
	RekorPublicKeys [][]byte
	// TimestampAuthority is the PEM certificate chain (signing certificate first, root last)
	// of a trusted RFC 3161 timestamp authority. When set, every signature needs a timestamp
	// signed by it inside the certificate's validity.
	TimestampAuthority []byte
}

// TrustError is malformed or incomplete keyless trust. Field names the KeylessTrust field at
// fault (empty when it is the combination). errors.Is(err, ErrInvalidTrust) holds.
type TrustError struct {
	Field  string
	Detail string
}

// Error says what is wrong.
func (e *TrustError) Error() string { return ErrInvalidTrust.Error() + ": " + e.Detail }

// Unwrap returns ErrInvalidTrust.
func (e *TrustError) Unwrap() error { return ErrInvalidTrust }

func trustErr(field, format string, args ...any) *TrustError {
	return &TrustError{Field: field, Detail: fmt.Sprintf(format, args...)}
}

// keylessTrust is KeylessTrust parsed: one cosign check per identity over one trusted root.
type keylessTrust struct {
	material   root.TrustedMaterial
	identities []keylessIdentity
	tlog, tsa  bool
}

type keylessIdentity struct {
	id     Identity
	co     *cosign.CheckOpts
	san    verify.SubjectAlternativeNameMatcher
	issuer verify.IssuerMatcher
}

func parseKeylessTrust(t KeylessTrust) (*keylessTrust, error) {
	cas, err := fulcioAuthorities(t.FulcioRoots)
	if err != nil {
		return nil, err
	}
	logs := map[string]*root.TransparencyLog{}
	for i, p := range t.RekorPublicKeys {
		l, err := rekorLog(p)
		if err != nil {
			return nil, trustErr("RekorPublicKeys", "Rekor public key %d: %v", i+1, err)
		}
		logs[hex.EncodeToString(l.ID)] = l
	}
	var tsas []root.TimestampingAuthority
	if len(t.TimestampAuthority) > 0 {
		tsa, err := timestampAuthority(t.TimestampAuthority)
		if err != nil {
			return nil, err
		}
		tsas = append(tsas, tsa)
	}
	tr, err := root.NewTrustedRoot(root.TrustedRootMediaType01, cas, nil, tsas, logs)
	if err != nil {
		return nil, trustErr("", "%v", err)
	}
	k := &keylessTrust{material: tr, tlog: len(logs) > 0, tsa: len(tsas) > 0}
	if len(t.Identities) == 0 {
		return nil, trustErr("Identities", "no certificate identity (issuer and subject) to accept")
	}
	for i, id := range t.Identities {
		ki, err := k.identity(id)
		if err != nil {
			return nil, trustErr("Identities", "identity %d (%s): %v", i+1, id, err)
		}
		k.identities = append(k.identities, ki)
	}
	return k, nil
}

func (k *keylessTrust) identity(id Identity) (keylessIdentity, error) {
	issuer, issuerRE, err := exactlyOne("issuer", id.Issuer, id.IssuerRegexp)
	if err != nil {
		return keylessIdentity{}, err
	}
	subject, subjectRE, err := exactlyOne("subject", id.Subject, id.SubjectRegexp)
	if err != nil {
		return keylessIdentity{}, err
	}
	san, err := verify.NewSANMatcher(subject, subjectRE)
	if err != nil {
		return keylessIdentity{}, err
	}
	im, err := verify.NewIssuerMatcher(issuer, issuerRE)
	if err != nil {
		return keylessIdentity{}, err
	}
	co := &cosign.CheckOpts{
		TrustedMaterial: k.material,
		Identities:      []cosign.Identity{{Issuer: issuer, IssuerRegExp: issuerRE, Subject: subject, SubjectRegExp: subjectRE}},
		// Certificate transparency is not checked: private Fulcio deployments often run
		// without a CT log, and a trusted root here names none.
		IgnoreSCT:           true,
		IgnoreTlog:          !k.tlog,
		UseSignedTimestamps: k.tsa,
		NewBundleFormat:     true,
	}
	return keylessIdentity{id: id, co: co, san: san, issuer: im}, nil
}

// exactlyOne returns the exact value or the anchored regexp, whichever of the two is set.
func exactlyOne(what, exact, re string) (string, string, error) {
	switch {
	case exact != "" && re != "":
		return "", "", fmt.Errorf("both %s and %s regexp given; give one", what, what)
	case exact == "" && re == "":
		return "", "", fmt.Errorf("no %s given", what)
	case re != "":
		anchored := "^(?:" + re + ")$"
		if _, err := regexp.Compile(anchored); err != nil {
			return "", "", fmt.Errorf("%s regexp %q: %v", what, re, err)
		}
		return "", anchored, nil
	}
	return exact, "", nil
}

// fulcioAuthorities reads a PEM bundle into one certificate authority per root, each with
// every intermediate of the bundle.
func fulcioAuthorities(bundle []byte) ([]root.CertificateAuthority, error) {
	certs, err := parseCertificates(bundle)
	if err != nil {
		return nil, trustErr("FulcioRoots", "Fulcio roots: %v", err)
	}
	var roots, intermediates []*x509.Certificate
	for _, c := range certs {
		if !c.IsCA {
			return nil, trustErr("FulcioRoots", "Fulcio roots: certificate %q is not a CA", c.Subject.String())
		}
		if selfSigned(c) {
			roots = append(roots, c)
		} else {
			intermediates = append(intermediates, c)
		}
	}
	if len(roots) == 0 {
		return nil, trustErr("FulcioRoots", "Fulcio roots: the bundle holds no root (self-signed) certificate")
	}
	cas := make([]root.CertificateAuthority, 0, len(roots))
	for _, r := range roots {
		cas = append(cas, &root.FulcioCertificateAuthority{Root: r, Intermediates: intermediates})
	}
	return cas, nil
}

// timestampAuthority reads a TSA chain: the signing certificate, intermediates, the root.
func timestampAuthority(chain []byte) (root.TimestampingAuthority, error) {
	certs, err := parseCertificates(chain)
	if err != nil {
		return nil, trustErr("TimestampAuthority", "timestamp authority chain: %v", err)
	}
	if len(certs) < 2 || !selfSigned(certs[len(certs)-1]) || certs[0].IsCA {
		return nil, trustErr("TimestampAuthority", "timestamp authority chain: want the signing certificate first and its root last")
	}
	return &root.SigstoreTimestampingAuthority{
		Leaf: certs[0], Intermediates: certs[1 : len(certs)-1], Root: certs[len(certs)-1],
	}, nil
}

func rekorLog(pemKey []byte) (*root.TransparencyLog, error) {
	pub, err := cryptoutils.UnmarshalPEMToPublicKey(pemKey)
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, err
	}
	if _, ok := pub.(*ecdsa.PublicKey); !ok {
		// sigstore-go checks signed entry timestamps with ECDSA only, which is what Rekor uses.
		return nil, fmt.Errorf("a %T key; Rekor's keys are ECDSA", pub)
	}
	id := sha256.Sum256(der)
	return &root.TransparencyLog{
		ID: id[:], PublicKey: pub, HashFunc: crypto.SHA256, SignatureHashFunc: crypto.SHA256,
		// A PEM key has no validity period, but a log entry is only checked inside one.
		ValidityPeriodStart: time.Unix(0, 0),
	}, nil
}

func parseCertificates(b []byte) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	rest := bytes.TrimSpace(b)
	for len(rest) > 0 {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			return nil, fmt.Errorf("not PEM after %d certificate(s)", len(out))
		}
		if block.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("PEM block %d is %q, want CERTIFICATE", len(out)+1, block.Type)
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("certificate %d: %v", len(out)+1, err)
		}
		out = append(out, c)
		rest = bytes.TrimSpace(rest)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no certificate")
	}
	return out, nil
}

func selfSigned(c *x509.Certificate) bool {
	return bytes.Equal(c.RawIssuer, c.RawSubject) && c.CheckSignatureFrom(c) == nil
}

// describeIdentities lists the accepted identities for an error.
func (k *keylessTrust) describeIdentities() string {
	s := make([]string, len(k.identities))
	for i, id := range k.identities {
		s[i] = id.id.String()
	}
	return strings.Join(s, "; ")
}
