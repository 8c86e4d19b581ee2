package localkube

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"
)

// prober runs the readiness probes. It owns its HTTP transports; close releases their idle
// connections.
type prober struct {
	plain, apiserver, selfSigned *http.Client
	token                        string
}

func newProber(cr credentials) *prober {
	pool := x509.NewCertPool()
	if ca, err := os.ReadFile(cr.path("ca.crt")); err == nil {
		pool.AppendCertsFromPEM(ca) // a failure here shows up as a TLS error in the probe
	}
	client := func(tc *tls.Config) *http.Client {
		return &http.Client{
			Timeout:   5 * time.Second,
			Transport: &http.Transport{TLSClientConfig: tc, DisableKeepAlives: true, Proxy: nil},
		}
	}
	return &prober{
		plain:     client(nil),
		apiserver: client(&tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}),
		// kube-controller-manager and kube-scheduler serve /healthz with a certificate they
		// generate at start-up, so there is nothing to verify it against; the probe only reads
		// "ok" from a loopback port we chose.
		selfSigned: client(&tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12}), //nolint:gosec // see above
		token:      cr.token,
	}
}

func (p *prober) close() {
	for _, c := range []*http.Client{p.plain, p.apiserver, p.selfSigned} {
		c.CloseIdleConnections()
	}
}

// etcdHealthy expects {"health":"true"} from etcd's /health.
func (p *prober) etcdHealthy(ctx context.Context, port int) error {
	body, err := p.get(ctx, p.plain, "http://"+loopback(port)+"/health", "")
	if err != nil {
		return err
	}
	var h struct {
		Health string `json:"health"`
	}
	if err := json.Unmarshal(body, &h); err != nil {
		return fmt.Errorf("decode etcd health: %w", err)
	}
	if h.Health != "true" {
		return fmt.Errorf("etcd health: %s", strings.TrimSpace(string(body)))
	}
	return nil
}

// apiserverReady expects exactly "ok" from /readyz, as the token-file user (RBAC is not
// bootstrapped yet when the server starts answering).
func (p *prober) apiserverReady(ctx context.Context, port int) error {
	return p.expectOK(ctx, p.apiserver, "https://"+loopback(port)+"/readyz", p.token)
}

func (p *prober) selfSignedHealthz(ctx context.Context, port int) error {
	return p.expectOK(ctx, p.selfSigned, "https://"+loopback(port)+"/healthz", "")
}

// plainHealthz probes kwok's server, which answers plain HTTP when it has no certificate.
func (p *prober) plainHealthz(ctx context.Context, port int) error {
	return p.expectOK(ctx, p.plain, "http://"+loopback(port)+"/healthz", "")
}

func (p *prober) expectOK(ctx context.Context, c *http.Client, url, token string) error {
	body, err := p.get(ctx, c, url, token)
	if err != nil {
		return err
	}
	if got := strings.TrimSpace(string(body)); got != "ok" {
		return fmt.Errorf("GET %s: %.200q", url, got)
	}
	return nil
}

func (p *prober) get(ctx context.Context, c *http.Client, url, token string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", url, err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, err // already names the method and URL
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: status %d: %.300s", url, resp.StatusCode, body)
	}
	return body, nil
}
