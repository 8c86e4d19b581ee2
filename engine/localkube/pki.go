package localkube

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Keys are ECDSA P-256 rather than RSA 2048: generating one takes microseconds instead of tens to
// hundreds of milliseconds, which matters because every test that starts a cluster in a fresh
// t.TempDir() makes seven keys on a small shared machine. etcd is not given TLS, and
// kube-apiserver, kube-controller-manager, kube-scheduler, kwok and client-go all accept ECDSA
// certificates and ECDSA service-account keys (tokens are then signed ES256).
const (
	certValidity = 365 * 24 * time.Hour
	// renewBefore regenerates the whole PKI once a certificate is this close to expiry.
	renewBefore = 7 * 24 * time.Hour
)

// apiserverSANs cover every name a client may dial: loopback, the first service address and the
// in-cluster names.
var (
	apiserverIPs = []net.IP{net.IPv4(127, 0, 0, 1), net.IPv4(10, 96, 0, 1)}
	apiserverDNS = []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc",
		"kubernetes.default.svc.cluster.local"}
)

// leafSpec is one certificate signed by the local CA.
type leafSpec struct {
	name   string // file stem in pki/
	cn     string
	orgs   []string
	server bool
}

var leafSpecs = []leafSpec{
	{name: "apiserver", cn: "kube-apiserver", server: true},
	{name: "admin", cn: "local-admin", orgs: []string{"system:masters"}},
	// Matches the built-in RBAC bindings for the controller manager.
	{name: "kcm", cn: "system:kube-controller-manager", orgs: []string{"system:kube-controller-manager"}},
	{name: "kwok", cn: "local-kwok", orgs: []string{"system:masters"}},
}

// credentials points at the PKI files and holds the bearer token of the token-file user.
type credentials struct {
	dir   string
	token string
}

func (cr credentials) path(file string) string { return filepath.Join(cr.dir, file) }

// ensurePKI reuses the PKI in dir when it is complete, consistent and not close to expiry, and
// otherwise generates a new one in a sibling directory and swaps it in, so a crash mid-way never
// leaves a mix of old and new files.
func ensurePKI(dir string, now time.Time) (credentials, error) {
	cr := credentials{dir: dir}
	if err := checkPKI(dir, now); err == nil {
		tok, err := os.ReadFile(cr.path("token"))
		if err == nil && len(strings.TrimSpace(string(tok))) > 0 {
			cr.token = strings.TrimSpace(string(tok))
			return cr, nil
		}
	}
	tmp := dir + ".new"
	if err := os.RemoveAll(tmp); err != nil {
		return cr, fmt.Errorf("generate pki: %w", err)
	}
	if err := os.MkdirAll(tmp, 0o700); err != nil {
		return cr, fmt.Errorf("generate pki: %w", err)
	}
	token, err := generatePKI(tmp, now)
	if err != nil {
		return cr, fmt.Errorf("generate pki: %w", err)
	}
	if err := os.RemoveAll(dir); err != nil {
		return cr, fmt.Errorf("replace pki: %w", err)
	}
	if err := os.Rename(tmp, dir); err != nil {
		return cr, fmt.Errorf("replace pki: %w", err)
	}
	cr.token = token
	return cr, nil
}

// checkPKI reports why the PKI in dir cannot be reused, or nil.
func checkPKI(dir string, now time.Time) error {
	ca, err := tls.LoadX509KeyPair(filepath.Join(dir, "ca.crt"), filepath.Join(dir, "ca.key"))
	if err != nil {
		return err
	}
	if now.Add(renewBefore).After(ca.Leaf.NotAfter) {
		return errors.New("ca certificate expires soon")
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca.Leaf)
	for _, s := range leafSpecs {
		kp, err := tls.LoadX509KeyPair(filepath.Join(dir, s.name+".crt"), filepath.Join(dir, s.name+".key"))
		if err != nil {
			return err
		}
		usage := x509.ExtKeyUsageClientAuth
		if s.server {
			usage = x509.ExtKeyUsageServerAuth
		}
		opts := x509.VerifyOptions{Roots: roots, CurrentTime: now.Add(renewBefore), KeyUsages: []x509.ExtKeyUsage{usage}}
		if _, err := kp.Leaf.Verify(opts); err != nil {
			return fmt.Errorf("%s certificate: %w", s.name, err)
		}
	}
	for _, f := range []string{"sa.key", "sa.pub", "tokens.csv"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			return err
		}
	}
	return nil
}

// generatePKI writes a CA, the leaf certificates, the service-account key pair and the token
// file into dir, and returns the token.
func generatePKI(dir string, now time.Time) (string, error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", fmt.Errorf("ca key: %w", err)
	}
	caTmpl := &x509.Certificate{
		Subject:               pkix.Name{CommonName: "slipway-local-ca"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(certValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	caDER, err := signCert(caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return "", fmt.Errorf("ca certificate: %w", err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return "", fmt.Errorf("ca certificate: %w", err)
	}
	if err := writeKeyPair(dir, "ca", caDER, caKey); err != nil {
		return "", err
	}
	for _, s := range leafSpecs {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return "", fmt.Errorf("%s key: %w", s.name, err)
		}
		tmpl := &x509.Certificate{
			Subject:     pkix.Name{CommonName: s.cn, Organization: s.orgs},
			NotBefore:   now.Add(-time.Hour),
			NotAfter:    now.Add(certValidity),
			KeyUsage:    x509.KeyUsageDigitalSignature,
			ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		}
		if s.server {
			tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
			tmpl.IPAddresses, tmpl.DNSNames = apiserverIPs, apiserverDNS
		}
		der, err := signCert(tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			return "", fmt.Errorf("%s certificate: %w", s.name, err)
		}
		if err := writeKeyPair(dir, s.name, der, key); err != nil {
			return "", err
		}
	}
	if err := writeServiceAccountKeys(dir); err != nil {
		return "", err
	}
	return writeTokenFile(dir)
}

func signCert(tmpl, parent *x509.Certificate, pub crypto.PublicKey, signer crypto.Signer) ([]byte, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("serial: %w", err)
	}
	tmpl.SerialNumber = serial
	return x509.CreateCertificate(rand.Reader, tmpl, parent, pub, signer)
}

func writeKeyPair(dir, name string, certDER []byte, key *ecdsa.PrivateKey) error {
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return fmt.Errorf("encode %s key: %w", name, err)
	}
	if err := writePEM(filepath.Join(dir, name+".key"), "PRIVATE KEY", keyDER); err != nil {
		return err
	}
	return writePEM(filepath.Join(dir, name+".crt"), "CERTIFICATE", certDER)
}

func writeServiceAccountKeys(dir string) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("service-account key: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return fmt.Errorf("encode service-account key: %w", err)
	}
	pubDER, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return fmt.Errorf("encode service-account public key: %w", err)
	}
	if err := writePEM(filepath.Join(dir, "sa.key"), "PRIVATE KEY", keyDER); err != nil {
		return err
	}
	return writePEM(filepath.Join(dir, "sa.pub"), "PUBLIC KEY", pubDER)
}

// writeTokenFile writes the apiserver's static token file (one system:masters user, used by the
// readiness probe) and the bare token next to it.
func writeTokenFile(dir string) (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("token: %w", err)
	}
	token := hex.EncodeToString(b)
	line := token + ",local-token-user,1001,system:masters\n"
	if err := os.WriteFile(filepath.Join(dir, "tokens.csv"), []byte(line), 0o600); err != nil {
		return "", fmt.Errorf("write token file: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "token"), []byte(token+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("write token: %w", err)
	}
	return token, nil
}

func writePEM(path, blockType string, der []byte) error {
	data := pem.EncodeToMemory(&pem.Block{Type: blockType, Bytes: der})
	if err := os.WriteFile(path, data, 0o600); err != nil {
		return fmt.Errorf("write %s: %w", filepath.Base(path), err)
	}
	return nil
}
