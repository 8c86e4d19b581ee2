package keylesstest

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1" //nolint:gosec // RFC 5280's subject key identifier method
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
)

// Fulcio's certificate extensions for the OIDC issuer: the deprecated raw form and the DER
// UTF8String form that replaced it. Fulcio writes both.
var (
	oidIssuer   = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 57264, 1, 1}
	oidIssuerV2 = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 57264, 1, 8}
)

// CertLifetime is how long a Fulcio code-signing certificate is valid.
const CertLifetime = 10 * time.Minute

// Messages Fulcio answers refused requests with (pkg/api of Fulcio).
const (
	msgInvalidCredentials = "There was an error processing the identity token"
	msgInvalidPublicKey   = "The public key supplied in the request could not be parsed"
	msgInsecurePublicKey  = "The public key supplied in the request is insecure"
	msgInvalidSignature   = "The signature supplied in the request could not be verified"
)

// Fulcio is a certificate authority with Fulcio's REST API (POST /api/v2/signingCert,
// GET /api/v2/trustBundle): it verifies the identity token against its issuer's discovery
// document and keys, checks the proof of possession and issues a ten-minute code-signing
// certificate from an intermediate CA under a root. Without a certificate transparency log it
// answers, as Fulcio does, with signedCertificateDetachedSct and no SCT.
type Fulcio struct {
	URL                string
	Root, Intermediate *x509.Certificate
	intermediateKey    crypto.Signer
	issuers            map[string]*Issuer
	// Lifetime of issued certificates (default CertLifetime); set before signing.
	Lifetime time.Duration

	mu        sync.Mutex
	verifiers map[string]*oidc.IDTokenVerifier
	issued    atomic.Int64
}

// NewFulcio starts a certificate authority that accepts tokens from the given issuers; it
// stops when the test ends.
func NewFulcio(t testing.TB, issuers ...*Issuer) *Fulcio {
	t.Helper()
	root, rootKey := NewCA(t, "fulcio-root", nil, nil)
	inter, interKey := NewCA(t, "fulcio-intermediate", root, rootKey, x509.ExtKeyUsageCodeSigning)
	f := &Fulcio{
		Root: root, Intermediate: inter, intermediateKey: interKey, Lifetime: CertLifetime,
		issuers: map[string]*Issuer{}, verifiers: map[string]*oidc.IDTokenVerifier{},
	}
	for _, iss := range issuers {
		f.issuers[iss.URL] = iss
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/v2/signingCert", f.signingCert)
	mux.HandleFunc("GET /api/v2/trustBundle", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"chains": []map[string]any{{
			"certificates": []string{string(PEM(inter)), string(PEM(root))},
		}}})
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	f.URL = srv.URL
	return f
}

// TrustBundle is the PEM bundle a verifier trusts: the intermediate and the root.
func (f *Fulcio) TrustBundle() []byte { return append(PEM(f.Intermediate), PEM(f.Root)...) }

// Issued is how many certificates the CA has issued.
func (f *Fulcio) Issued() int { return int(f.issued.Load()) }

// signingCertRequest is CreateSigningCertificateRequest of fulcio.proto in its JSON mapping.
type signingCertRequest struct {
	Credentials struct {
		OIDCIdentityToken string `json:"oidcIdentityToken"`
	} `json:"credentials"`
	PublicKeyRequest *struct {
		PublicKey struct {
			Algorithm string `json:"algorithm"`
			Content   string `json:"content"`
		} `json:"publicKey"`
		ProofOfPossession []byte `json:"proofOfPossession"`
	} `json:"publicKeyRequest"`
	CertificateSigningRequest []byte `json:"certificateSigningRequest"`
}

func (f *Fulcio) signingCert(w http.ResponseWriter, r *http.Request) {
	var req signingCertRequest
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&req); err != nil {
		grpcError(w, http.StatusBadRequest, 3, "malformed request")
		return
	}
	// The token comes in the body or, as cosign and sigstore-go send it, as a bearer token
	// that the gateway maps to the same field.
	token := req.Credentials.OIDCIdentityToken
	if token == "" {
		token, _ = strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	}
	p, err := f.authorize(r.Context(), token)
	if err != nil {
		grpcError(w, http.StatusUnauthorized, 16, msgInvalidCredentials)
		return
	}
	if req.PublicKeyRequest == nil {
		grpcError(w, http.StatusBadRequest, 3, msgInvalidPublicKey)
		return
	}
	pub, err := parsePublicKey(req.PublicKeyRequest.PublicKey.Content)
	if err != nil {
		grpcError(w, http.StatusBadRequest, 3, msgInvalidPublicKey)
		return
	}
	if err := checkKeyStrength(pub); err != nil {
		grpcError(w, http.StatusBadRequest, 3, msgInsecurePublicKey)
		return
	}
	if !proofOfPossession(pub, p.name, req.PublicKeyRequest.ProofOfPossession) {
		grpcError(w, http.StatusBadRequest, 3, msgInvalidSignature)
		return
	}
	leaf, err := f.issue(pub, p)
	if err != nil {
		grpcError(w, http.StatusInternalServerError, 13, "Error creating certificate")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"signedCertificateDetachedSct": map[string]any{
		"chain": map[string]any{"certificates": []string{
			string(PEM(leaf)), string(PEM(f.Intermediate)), string(PEM(f.Root)),
		}},
	}})
}

// principal is who a verified token names: name is what the proof of possession signs, the
// issuer and the SAN go into the certificate.
type principal struct {
	name, issuer string
	uri          *url.URL
	email        string
}

func (f *Fulcio) authorize(ctx context.Context, token string) (principal, error) {
	iss, err := unverifiedIssuer(token)
	if err != nil {
		return principal{}, err
	}
	issuer, ok := f.issuers[iss]
	if !ok {
		return principal{}, fmt.Errorf("unsupported issuer %s", iss)
	}
	v, err := f.verifier(ctx, iss)
	if err != nil {
		return principal{}, err
	}
	idt, err := v.Verify(ctx, token)
	if err != nil {
		return principal{}, err
	}
	switch issuer.Kind {
	case Email:
		var c struct {
			Email    string `json:"email"`
			Verified bool   `json:"email_verified"`
		}
		if err := idt.Claims(&c); err != nil || c.Email == "" || !c.Verified {
			return principal{}, errors.New("email missing or not verified")
		}
		return principal{name: c.Email, issuer: idt.Issuer, email: c.Email}, nil
	default:
		var c struct {
			K8s struct {
				Namespace      string `json:"namespace"`
				ServiceAccount struct {
					Name string `json:"name"`
				} `json:"serviceaccount"`
			} `json:"kubernetes.io"`
		}
		if err := idt.Claims(&c); err != nil || c.K8s.Namespace == "" || c.K8s.ServiceAccount.Name == "" {
			return principal{}, errors.New("not a ServiceAccount token")
		}
		u, err := url.Parse("https://kubernetes.io/namespaces/" + c.K8s.Namespace + "/serviceaccounts/" + c.K8s.ServiceAccount.Name)
		if err != nil {
			return principal{}, err
		}
		return principal{name: idt.Subject, issuer: idt.Issuer, uri: u}, nil
	}
}

// verifier discovers an issuer once, as Fulcio caches its issuers' keys.
func (f *Fulcio) verifier(ctx context.Context, iss string) (*oidc.IDTokenVerifier, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if v, ok := f.verifiers[iss]; ok {
		return v, nil
	}
	p, err := oidc.NewProvider(ctx, iss)
	if err != nil {
		return nil, err
	}
	v := p.Verifier(&oidc.Config{ClientID: Audience})
	f.verifiers[iss] = v
	return v, nil
}

func (f *Fulcio) issue(pub crypto.PublicKey, p principal) (*x509.Certificate, error) {
	issuerV2, err := asn1.MarshalWithParams(p.issuer, "utf8")
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, err
	}
	ski := sha1.Sum(der) //nolint:gosec
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		NotBefore:    now,
		NotAfter:     now.Add(f.Lifetime),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning},
		SubjectKeyId: ski[:],
		ExtraExtensions: []pkix.Extension{
			{Id: oidIssuer, Value: []byte(p.issuer)},
			{Id: oidIssuerV2, Value: issuerV2},
		},
	}
	if p.uri != nil {
		tmpl.URIs = []*url.URL{p.uri}
	}
	if p.email != "" {
		tmpl.EmailAddresses = []string{p.email}
	}
	raw, err := x509.CreateCertificate(rand.Reader, tmpl, f.Intermediate, pub, f.intermediateKey)
	if err != nil {
		return nil, err
	}
	f.issued.Add(1)
	return x509.ParseCertificate(raw)
}

func unverifiedIssuer(token string) (string, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return "", errors.New("malformed token")
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return "", err
	}
	var c struct {
		Issuer string `json:"iss"`
	}
	if err := json.Unmarshal(raw, &c); err != nil {
		return "", err
	}
	return c.Issuer, nil
}

// parsePublicKey reads a PEM public key or, as Fulcio also accepts, DER.
func parsePublicKey(content string) (crypto.PublicKey, error) {
	if block, _ := pem.Decode([]byte(content)); block != nil {
		return x509.ParsePKIXPublicKey(block.Bytes)
	}
	return x509.ParsePKIXPublicKey([]byte(content))
}

func checkKeyStrength(pub crypto.PublicKey) error {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		if k.Curve == elliptic.P224() {
			return errors.New("weak curve")
		}
	case *rsa.PublicKey:
		if k.N.BitLen() < 2048 {
			return errors.New("weak RSA key")
		}
	case ed25519.PublicKey:
	default:
		return errors.New("unsupported key type")
	}
	return nil
}

// proofOfPossession checks the signature over the principal's name (the token's email or
// subject) with the key to be certified.
func proofOfPossession(pub crypto.PublicKey, name string, sig []byte) bool {
	sum := sha256.Sum256([]byte(name))
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		return ecdsa.VerifyASN1(k, sum[:], sig)
	case *rsa.PublicKey:
		return rsa.VerifyPKCS1v15(k, crypto.SHA256, sum[:], sig) == nil
	case ed25519.PublicKey:
		return ed25519.Verify(k, []byte(name), sig)
	}
	return false
}

// grpcError answers the way Fulcio's gRPC gateway does: a google.rpc.Status in JSON.
func grpcError(w http.ResponseWriter, status, code int, msg string) {
	writeJSON(w, status, map[string]any{"code": code, "message": msg, "details": []any{}})
}

// NewCA makes a CA certificate named cn, self-signed when parent is nil, restricted to the
// extended key usages given (none: unrestricted).
func NewCA(t testing.TB, cn string, parent *x509.Certificate, parentKey crypto.Signer, eku ...x509.ExtKeyUsage) (*x509.Certificate, crypto.Signer) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: cn, Organization: []string{"slipway.dev"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		ExtKeyUsage:           eku,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLen:            1,
	}
	if parent == nil {
		parent, parentKey = tmpl, key
	} else {
		tmpl.MaxPathLenZero, tmpl.MaxPathLen = true, 0
	}
	raw, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(raw)
	if err != nil {
		t.Fatal(err)
	}
	return cert, key
}

// PEM encodes a certificate.
func PEM(c *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
}

func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 159))
	return n
}

func randomHex(t testing.TB, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}
