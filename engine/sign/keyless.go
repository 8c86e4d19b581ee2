package sign

import (
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/sigstore/sigstore-go/pkg/fulcio/certificate"
	sgsign "github.com/sigstore/sigstore-go/pkg/sign"
)

// renewBefore is how long before its certificate expires a keyless signer gets a new one: a
// signature's log entry or timestamp must fall inside the certificate's validity.
const renewBefore = time.Minute

// TokenSource returns the OIDC identity token to present to Fulcio. It is called for every
// certificate, so a rotating token (a projected ServiceAccount token) is read fresh.
type TokenSource func(ctx context.Context) (string, error)

// TokenFile reads the identity token from a file, such as a projected ServiceAccount token with
// Fulcio's audience. The token never appears in an error.
func TokenFile(path string) TokenSource {
	return func(context.Context) (string, error) {
		b, err := os.ReadFile(path)
		if err != nil {
			var perr *os.PathError
			if errors.As(err, &perr) {
				err = perr.Err // the path is named below, the rest is the cause
			}
			return "", fmt.Errorf("%w: read token file %s: %v", ErrNoIdentityToken, path, err)
		}
		tok := string(bytes.TrimSpace(b))
		if tok == "" {
			return "", fmt.Errorf("%w: token file %s is empty", ErrNoIdentityToken, path)
		}
		return tok, nil
	}
}

// Keyless configures keyless signing: every signature is made with an ephemeral key that
// Fulcio certified for the workload's OIDC identity, and the bundle carries that certificate.
type Keyless struct {
	// FulcioURL is the Fulcio instance (https://..., or an in-cluster http:// Service).
	FulcioURL string
	// Token returns the identity token Fulcio verifies (see TokenFile).
	Token TokenSource
	// RekorURL, when set, logs every signature in that Rekor (API v1) transparency log; the
	// entry's time shows the certificate was valid at signing. Empty: no log entry, for
	// clusters that cannot reach one; verification must then not require one.
	RekorURL string
	// TimestampURL, when set, has that RFC 3161 timestamp authority sign the time of every
	// signature (for example Sigstore's timestamp-authority, .../api/v1/timestamp).
	TimestampURL string
}

// NewKeylessSigner returns a Signer that signs keyless. It contacts nothing until the first
// Sign or Attest; then it gets a certificate for a fresh key and reuses it until it is about to
// expire.
func NewKeylessSigner(k Keyless, opts ...Option) (*Signer, error) {
	o := newOptions(opts)
	if k.Token == nil {
		return nil, fmt.Errorf("keyless signer: %w: no token source", ErrNoIdentityToken)
	}
	m := &keylessMaterial{url: k.FulcioURL, token: k.Token, log: o.logger}
	if err := checkServiceURL("Fulcio", k.FulcioURL); err != nil {
		return nil, err
	}
	m.fulcio = sgsign.NewFulcio(&sgsign.FulcioOptions{BaseURL: strings.TrimRight(k.FulcioURL, "/"), Timeout: o.timeout})
	if k.RekorURL != "" {
		if err := checkServiceURL("Rekor", k.RekorURL); err != nil {
			return nil, err
		}
		m.tlogs = []sgsign.Transparency{sgsign.NewRekor(&sgsign.RekorOptions{BaseURL: strings.TrimRight(k.RekorURL, "/"), Timeout: o.timeout})}
	}
	if k.TimestampURL != "" {
		if err := checkServiceURL("timestamp authority", k.TimestampURL); err != nil {
			return nil, err
		}
		m.tsas = []*sgsign.TimestampAuthority{sgsign.NewTimestampAuthority(&sgsign.TimestampAuthorityOptions{URL: k.TimestampURL, Timeout: o.timeout})}
	}
	return &Signer{material: m, opts: o}, nil
}

// checkServiceURL accepts http(s)://host[:port][/path] without credentials.
func checkServiceURL(what, s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil {
		return fmt.Errorf("keyless signer: %s URL %q: want http(s)://host[:port][/path] without credentials", what, redactURL(s))
	}
	return nil
}

// keylessMaterial signs with an ephemeral key certified by Fulcio.
type keylessMaterial struct {
	url    string
	token  TokenSource
	fulcio *sgsign.Fulcio
	tlogs  []sgsign.Transparency
	tsas   []*sgsign.TimestampAuthority
	log    *slog.Logger

	mu   sync.Mutex
	kp   *sgsign.EphemeralKeypair
	cert *x509.Certificate
}

func (m *keylessMaterial) bundleOptions(ctx context.Context) (sgsign.Keypair, sgsign.BundleOptions, error) {
	kp, cert, err := m.certified(ctx)
	if err != nil {
		return nil, sgsign.BundleOptions{}, err
	}
	return kp, sgsign.BundleOptions{
		CertificateProvider:  issuedCertificate(cert.Raw),
		TransparencyLogs:     m.tlogs,
		TimestampAuthorities: m.tsas,
	}, nil
}

// certified returns the current key and its certificate, getting new ones when the certificate
// is missing or about to expire.
func (m *keylessMaterial) certified(ctx context.Context) (*sgsign.EphemeralKeypair, *x509.Certificate, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cert != nil && time.Until(m.cert.NotAfter) > renewBefore {
		return m.kp, m.cert, nil
	}
	tok, err := m.token(ctx)
	if err != nil {
		return nil, nil, err
	}
	kp, err := sgsign.NewEphemeralKeypair(nil)
	if err != nil {
		return nil, nil, fmt.Errorf("keyless: generate ephemeral key: %w", err)
	}
	der, err := m.fulcio.GetCertificate(ctx, kp, &sgsign.CertificateProviderOptions{IDToken: tok})
	if err != nil {
		// The cause is Fulcio's answer or a transport error; neither should hold the token,
		// but a misbehaving server could echo it.
		return nil, nil, fmt.Errorf("keyless: request a signing certificate from Fulcio %s: %s", m.url, redact(err.Error(), tok))
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, fmt.Errorf("keyless: Fulcio %s returned a malformed certificate: %w", m.url, err)
	}
	if !samePublicKey(cert.PublicKey, kp.GetPublicKey()) {
		return nil, nil, fmt.Errorf("keyless: Fulcio %s certified another key than the one presented", m.url)
	}
	m.kp, m.cert = kp, cert
	sum, _ := certificate.SummarizeCertificate(cert)
	m.log.InfoContext(ctx, "signing certificate issued", "fulcio", m.url, "subject", sum.SubjectAlternativeName,
		"issuer", sum.Issuer, "notAfter", cert.NotAfter.UTC().Format(time.RFC3339))
	return kp, cert, nil
}

// issuedCertificate hands sigstore-go's bundle builder a certificate already obtained.
type issuedCertificate []byte

func (c issuedCertificate) GetCertificate(context.Context, sgsign.Keypair, *sgsign.CertificateProviderOptions) ([]byte, error) {
	return c, nil
}

func samePublicKey(a, b crypto.PublicKey) bool {
	type equaler interface{ Equal(x crypto.PublicKey) bool }
	e, ok := a.(equaler)
	return ok && e.Equal(b)
}

func redact(s, secret string) string {
	if secret == "" {
		return s
	}
	return strings.ReplaceAll(s, secret, "[REDACTED]")
}

// redactURL drops user information from a URL, so a mistyped one never shows a password.
func redactURL(s string) string {
	if i := strings.LastIndex(s, "@"); i >= 0 {
		if j := strings.Index(s, "://"); j >= 0 && j < i {
			return s[:j+3] + "REDACTED@" + s[i+1:]
		}
	}
	return s
}
