package keylesstest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/digitorus/timestamp"
)

var (
	oidExtKeyUsage    = asn1.ObjectIdentifier{2, 5, 29, 37}
	oidTimeStamping   = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 3, 8}
	oidSigstorePolicy = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 57264, 2}
)

// TSA is an RFC 3161 timestamp authority with the REST API of Sigstore's timestamp-authority
// (POST /api/v1/timestamp, application/timestamp-query in, application/timestamp-reply out).
type TSA struct {
	// URL is the timestamp endpoint, the URL a signer is given.
	URL        string
	Root, Leaf *x509.Certificate
	key        crypto.Signer
	stamped    atomic.Int64
}

// NewTSA starts a timestamp authority whose signing certificate chains to its own root; it
// stops when the test ends.
func NewTSA(t testing.TB) *TSA {
	t.Helper()
	root, rootKey := NewCA(t, "tsa-root", nil, nil)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	// RFC 3161 requires the timeStamping extended key usage, marked critical, which Go's
	// ExtKeyUsage field cannot express.
	eku, err := asn1.Marshal([]asn1.ObjectIdentifier{oidTimeStamping})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	raw, err := x509.CreateCertificate(rand.Reader, &x509.Certificate{
		SerialNumber:    serial(),
		Subject:         pkix.Name{CommonName: "tsa-signer", Organization: []string{"slipway.dev"}},
		NotBefore:       now.Add(-time.Hour),
		NotAfter:        now.Add(24 * time.Hour),
		KeyUsage:        x509.KeyUsageDigitalSignature,
		ExtraExtensions: []pkix.Extension{{Id: oidExtKeyUsage, Critical: true, Value: eku}},
	}, root, &key.PublicKey, rootKey)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(raw)
	if err != nil {
		t.Fatal(err)
	}
	tsa := &TSA{Root: root, Leaf: leaf, key: key}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/v1/timestamp", tsa.timestamp)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	tsa.URL = srv.URL + "/api/v1/timestamp"
	return tsa
}

// CertChain is the PEM chain a verifier trusts: the signing certificate, then the root.
func (a *TSA) CertChain() []byte { return append(PEM(a.Leaf), PEM(a.Root)...) }

// Stamped is how many timestamps the authority has signed.
func (a *TSA) Stamped() int { return int(a.stamped.Load()) }

func (a *TSA) timestamp(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<16))
	if err != nil {
		http.Error(w, "request too large", http.StatusRequestEntityTooLarge)
		return
	}
	req, err := timestamp.ParseRequest(body)
	if err != nil {
		http.Error(w, "malformed timestamp request", http.StatusBadRequest)
		return
	}
	resp, err := (&timestamp.Timestamp{
		HashAlgorithm:     req.HashAlgorithm,
		HashedMessage:     req.HashedMessage,
		Time:              time.Now(),
		Nonce:             req.Nonce,
		Policy:            oidSigstorePolicy,
		AddTSACertificate: req.Certificates,
		ExtraExtensions:   req.Extensions,
	}).CreateResponseWithOpts(a.Leaf, a.key, crypto.SHA256)
	if err != nil {
		http.Error(w, "sign timestamp", http.StatusInternalServerError)
		return
	}
	a.stamped.Add(1)
	w.Header().Set("Content-Type", "application/timestamp-reply")
	_, _ = w.Write(resp)
}
