// Package keylesstest runs the services keyless signing talks to in the test process: an
// OpenID Connect issuer, a certificate authority that speaks Fulcio's REST API and an RFC 3161
// timestamp authority. Each is a real HTTP server with real keys, so a test exercises the same
// identity flow as a cluster does: a signed identity token, Fulcio's proof of possession and
// certificate chain, and a signed timestamp.
package keylesstest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// Audience is the audience Fulcio requires of identity tokens (its default client ID).
const Audience = "sigstore"

// IssuerKind is how Fulcio turns an issuer's token into a certificate identity.
type IssuerKind int

const (
	// Kubernetes issuers sign ServiceAccount tokens; the certificate names
	// https://kubernetes.io/namespaces/<namespace>/serviceaccounts/<name>.
	Kubernetes IssuerKind = iota
	// Email issuers sign tokens with a verified email claim; the certificate names the address.
	Email
)

// Issuer is an OpenID Connect issuer: it serves a discovery document and its signing keys
// (JWKS) and signs identity tokens.
type Issuer struct {
	// URL is the issuer (the iss claim) and the base of its discovery document.
	URL  string
	Kind IssuerKind
	key  *ecdsa.PrivateKey
	kid  string
}

// NewIssuer starts an OIDC issuer of the given kind; it stops when the test ends.
func NewIssuer(t testing.TB, kind IssuerKind) *Issuer {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	iss := &Issuer{Kind: kind, key: key, kid: randomHex(t, 8)}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{
			"issuer":                                iss.URL,
			"jwks_uri":                              iss.URL + "/openid/v1/jwks",
			"response_types_supported":              []string{"id_token"},
			"subject_types_supported":               []string{"public"},
			"id_token_signing_alg_values_supported": []string{string(jose.ES256)},
		})
	})
	mux.HandleFunc("GET /openid/v1/jwks", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{
			Key: &key.PublicKey, KeyID: iss.kid, Algorithm: string(jose.ES256), Use: "sig",
		}}})
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	iss.URL = srv.URL
	return iss
}

// Claims are the claims of one identity token. Zero times get defaults: issued now, expiring in
// ten minutes.
type Claims struct {
	Subject   string
	Audience  []string
	IssuedAt  time.Time
	Expiry    time.Time
	Email     string
	Verified  bool
	Namespace string // kubernetes.io namespace
	Account   string // kubernetes.io serviceaccount name
}

// ServiceAccount returns the claims of a projected ServiceAccount token for namespace/name with
// Fulcio's audience, the way the kubelet writes them.
func ServiceAccount(namespace, name string) Claims {
	return Claims{
		Subject:   "system:serviceaccount:" + namespace + ":" + name,
		Audience:  []string{Audience},
		Namespace: namespace,
		Account:   name,
	}
}

// Token signs an identity token with the issuer's key.
func (i *Issuer) Token(t testing.TB, c Claims) string {
	t.Helper()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: i.key},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", i.kid))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	if c.IssuedAt.IsZero() {
		c.IssuedAt = now
	}
	if c.Expiry.IsZero() {
		c.Expiry = c.IssuedAt.Add(10 * time.Minute)
	}
	std := jwt.Claims{
		Issuer: i.URL, Subject: c.Subject, Audience: jwt.Audience(c.Audience),
		IssuedAt: jwt.NewNumericDate(c.IssuedAt), NotBefore: jwt.NewNumericDate(c.IssuedAt),
		Expiry: jwt.NewNumericDate(c.Expiry),
	}
	extra := map[string]any{}
	if c.Email != "" {
		extra["email"] = c.Email
		extra["email_verified"] = c.Verified
	}
	if c.Namespace != "" {
		extra["kubernetes.io"] = map[string]any{
			"namespace":      c.Namespace,
			"serviceaccount": map[string]string{"name": c.Account, "uid": randomHex(t, 16)},
			"pod":            map[string]string{"name": c.Account + "-pod", "uid": randomHex(t, 16)},
		}
	}
	tok, err := jwt.Signed(signer).Claims(std).Claims(extra).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
