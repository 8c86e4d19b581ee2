package inbox

import (
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"time"

	"k8s.io/client-go/rest"
)

// WriterConfig returns a copy of cfg for the client that creates Deliveries, tuned for the
// webhook receiver's accept path, where every delivery waits for its Create:
//   - no client-side rate limit: a receiver queued behind a token bucket answers late or not at
//     all, while the API server's own flow control already protects it;
//   - HTTP/1.1 over a pool of up to maxConns keep-alive connections, instead of the one HTTP/2
//     connection client-go shares among all requests to a host, whose single read and write
//     loops every in-flight delivery would queue behind (and whose framing costs CPU on both
//     ends). maxConns should be the receiver's in-flight cap, so that no connection is closed
//     and reopened (a TLS handshake) under load.
//
// The credentials (client certificate, bearer token or token file) are kept.
func WriterConfig(cfg *rest.Config, maxConns int) (*rest.Config, error) {
	if maxConns < 1 {
		return nil, fmt.Errorf("inbox writer config: maxConns %d: want at least 1", maxConns)
	}
	tlsCfg, err := rest.TLSConfigFor(cfg)
	if err != nil {
		return nil, fmt.Errorf("inbox writer config: %w", err)
	}
	if tlsCfg != nil {
		tlsCfg.NextProtos = []string{"http/1.1"}
	}
	dialer := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}
	tr := &http.Transport{
		Proxy:               http.ProxyFromEnvironment,
		DialContext:         dialer.DialContext,
		TLSClientConfig:     tlsCfg,
		TLSHandshakeTimeout: 10 * time.Second,
		MaxIdleConns:        maxConns,
		MaxIdleConnsPerHost: maxConns,
		IdleConnTimeout:     90 * time.Second,
		// A non-nil, empty map turns HTTP/2 off.
		TLSNextProto: map[string]func(string, *tls.Conn) http.RoundTripper{},
	}
	out := rest.CopyConfig(cfg)
	// A custom transport carries the TLS settings itself; client-go refuses both at once. The
	// authentication wrappers (bearer token, token file) still apply on top of it.
	out.TLSClientConfig = rest.TLSClientConfig{}
	out.Transport = tr
	out.QPS, out.Burst, out.RateLimiter = -1, 0, nil
	return out, nil
}
