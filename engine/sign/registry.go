package sign

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"syscall"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	ociremote "github.com/sigstore/cosign/v3/pkg/oci/remote"
)

// Option configures a Signer or a Verifier.
type Option func(*options)

type options struct {
	keychain  authn.Keychain
	insecure  bool
	transport http.RoundTripper
	timeout   time.Duration
	logger    *slog.Logger
}

func newOptions(opts []Option) options {
	o := options{
		keychain:  authn.DefaultKeychain,
		transport: remote.DefaultTransport,
		timeout:   30 * time.Second,
		logger:    slog.New(slog.DiscardHandler),
	}
	for _, opt := range opts {
		opt(&o)
	}
	return o
}

// WithKeychain sets the registry credentials (default: the Docker config of $HOME).
func WithKeychain(kc authn.Keychain) Option { return func(o *options) { o.keychain = kc } }

// WithInsecureRegistry allows plain HTTP to every registry. Loopback registries are reached over
// HTTP without it.
func WithInsecureRegistry() Option { return func(o *options) { o.insecure = true } }

// WithTransport sets the HTTP transport for registry requests.
func WithTransport(rt http.RoundTripper) Option { return func(o *options) { o.transport = rt } }

// WithTimeout bounds the registry work for one image (default 30s).
func WithTimeout(d time.Duration) Option { return func(o *options) { o.timeout = d } }

// WithLogger sets the logger (default: discard). Key material is never logged.
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

func (o options) nameOptions() []name.Option {
	if o.insecure {
		return []name.Option{name.Insecure}
	}
	return nil
}

func (o options) remoteOptions(ctx context.Context) []remote.Option {
	return []remote.Option{
		remote.WithContext(ctx),
		remote.WithAuthFromKeychain(o.keychain),
		remote.WithTransport(o.transport),
	}
}

func (o options) ociOptions(ctx context.Context) []ociremote.Option {
	return []ociremote.Option{
		ociremote.WithRemoteOptions(o.remoteOptions(ctx)...),
		ociremote.WithNameOptions(o.nameOptions()...),
	}
}

// pinned parses image and insists on a digest reference.
func (o options) pinned(image string) (name.Digest, error) {
	d, err := name.NewDigest(image, o.nameOptions()...)
	if err != nil {
		return name.Digest{}, imageErr(image, ErrNotPinned, "want REPOSITORY@sha256:DIGEST (%v)", err)
	}
	return d, nil
}

// registryError classifies an error from talking to the registry about image while doing what.
func registryError(image, what string, err error) error {
	var terr *transport.Error
	if errors.As(err, &terr) {
		switch {
		case terr.StatusCode == http.StatusNotFound && what == "read image":
			return imageErr(image, ErrImageNotFound, "%s: HTTP %d", what, terr.StatusCode)
		case terr.StatusCode >= 500, terr.StatusCode == http.StatusUnauthorized,
			terr.StatusCode == http.StatusForbidden, terr.StatusCode == http.StatusTooManyRequests:
			return imageErr(image, ErrRegistryUnreachable, "%s: HTTP %d", what, terr.StatusCode)
		}
		return fmt.Errorf("image %s: %s: %w", image, what, err)
	}
	var nerr net.Error
	var uerr *url.Error
	if errors.As(err, &nerr) || errors.As(err, &uerr) || errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, context.DeadlineExceeded) {
		return imageErr(image, ErrRegistryUnreachable, "%s: %v", what, err)
	}
	return fmt.Errorf("image %s: %s: %w", image, what, err)
}
