// Package webhooks receives Git providers' webhook deliveries at /hooks/<provider>, verifies their
// signatures on the raw body and records each one durably before acknowledging it.
package webhooks

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"slipway.dev/slipway/webhooks/event"
)

// Parser reads one provider's deliveries. Each provider is one package that implements it.
type Parser interface {
	// Identify returns the delivery id (for logs; "" when absent) and the repository a delivery
	// is about, so that its secrets can be looked up. It reads as little as it can, and nothing
	// it returns is acted on before Verify succeeds. Errors wrap event.ErrContentType or
	// event.ErrMalformed, or are an *event.IgnoredError for event types that are never used.
	Identify(header http.Header, body []byte) (deliveryID string, repo event.Repo, err error)
	// Verify checks the delivery's signature (or token) over the raw body against each secret
	// in constant time. Errors wrap event.ErrNoSignature or event.ErrBadSignature.
	Verify(header http.Header, body []byte, secrets [][]byte) error
	// Parse normalizes a verified delivery into the events it reports, leaving ReceivedAt and
	// BodySHA256 unset: one event, or several when one delivery reports several changes (a
	// Bitbucket push of several refs), each with its own Key. Without an error it returns at
	// least one event. Errors wrap event.ErrMalformed or event.ErrContentType, or are an
	// *event.IgnoredError.
	Parse(header http.Header, body []byte) ([]event.Event, error)
}

// Sink durably records an accepted event. Record must be idempotent per provider and event Key
// (the delivery id, or the DedupKey of providers without a stable one): it returns
// created=false, and no error, for an event it already holds.
type Sink interface {
	Record(ctx context.Context, ev event.Event) (created bool, err error)
}

// SecretSource returns the webhook secrets that may sign deliveries about repo (several while a
// secret is being rotated). allowUnsigned lets a repository's deliveries through without a signature; a
// delivery that does carry one must still match when secrets are configured. A repository Slipway
// does not know returns no secrets and allowUnsigned=false, not an error: errors mean the lookup
// itself failed and the provider should retry.
type SecretSource interface {
	Secrets(ctx context.Context, provider event.Provider, repo event.Repo) (secrets [][]byte, allowUnsigned bool, err error)
}

// Defaults of the Receiver's options.
const (
	// DefaultMaxBodyBytes is GitHub's own payload cap, 25 MiB.
	DefaultMaxBodyBytes = 25 << 20
	// DefaultTimeout bounds the secret lookup and the Record call together; providers give up
	// on a delivery after about 10 s.
	DefaultTimeout = 8 * time.Second
	// DefaultMaxInFlight caps concurrent deliveries; beyond it the receiver answers 503.
	DefaultMaxInFlight = 512
)

// Receiver is the http.Handler for /hooks/<provider>.
type Receiver struct {
	sink     Sink
	secrets  SecretSource
	parsers  map[event.Provider]Parser
	log      *slog.Logger
	now      func() time.Time
	maxBody  int64
	timeout  time.Duration
	inFlight chan struct{}
	metrics  *metrics
}

// Option configures a Receiver.
type Option func(*options)

type options struct {
	log         *slog.Logger
	reg         prometheus.Registerer
	now         func() time.Time
	maxBody     int64
	timeout     time.Duration
	maxInFlight int
}

// WithLogger logs through l instead of discarding logs.
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.log = l } }

// WithRegisterer registers the receiver's metrics on reg; without it they are kept but not
// exported.
func WithRegisterer(reg prometheus.Registerer) Option { return func(o *options) { o.reg = reg } }

// WithClock stamps ReceivedAt and measures latency with now instead of time.Now.
func WithClock(now func() time.Time) Option { return func(o *options) { o.now = now } }

// WithMaxBodyBytes caps request bodies at n bytes instead of DefaultMaxBodyBytes.
func WithMaxBodyBytes(n int64) Option { return func(o *options) { o.maxBody = n } }

// WithTimeout bounds the secret lookup and the Record call together instead of DefaultTimeout.
func WithTimeout(d time.Duration) Option { return func(o *options) { o.timeout = d } }

// WithMaxInFlight caps concurrent deliveries at n instead of DefaultMaxInFlight.
func WithMaxInFlight(n int) Option { return func(o *options) { o.maxInFlight = n } }

// New returns a Receiver that verifies deliveries with parsers (keyed by the provider in the URL
// path), secrets looked up from secrets, and records them in sink.
func New(sink Sink, secrets SecretSource, parsers map[event.Provider]Parser, opts ...Option) (*Receiver, error) {
	o := options{
		log:         slog.New(slog.DiscardHandler),
		now:         time.Now,
		maxBody:     DefaultMaxBodyBytes,
		timeout:     DefaultTimeout,
		maxInFlight: DefaultMaxInFlight,
	}
	for _, opt := range opts {
		opt(&o)
	}
	switch {
	case sink == nil:
		return nil, errors.New("webhooks: nil Sink")
	case secrets == nil:
		return nil, errors.New("webhooks: nil SecretSource")
	case len(parsers) == 0:
		return nil, errors.New("webhooks: no parsers")
	case o.maxBody <= 0 || o.timeout <= 0 || o.maxInFlight <= 0:
		return nil, errors.New("webhooks: body cap, timeout and in-flight cap must be positive")
	}
	ps := make(map[event.Provider]Parser, len(parsers))
	for p, parser := range parsers {
		if !p.Valid() || parser == nil {
			return nil, fmt.Errorf("webhooks: bad parser for provider %q", p)
		}
		ps[p] = parser
	}
	m, err := newMetrics(o.reg)
	if err != nil {
		return nil, err
	}
	return &Receiver{
		sink:     sink,
		secrets:  secrets,
		parsers:  ps,
		log:      o.log,
		now:      o.now,
		maxBody:  o.maxBody,
		timeout:  o.timeout,
		inFlight: make(chan struct{}, o.maxInFlight),
		metrics:  m,
	}, nil
}
