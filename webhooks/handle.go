package webhooks

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"slipway.dev/slipway/webhooks/event"
)

// PathPrefix is where the Receiver expects to be mounted: deliveries arrive at
// PathPrefix + "<provider>".
const PathPrefix = "/hooks/"

// Reasons a delivery is rejected, the values of the rejected counter's reason label.
const (
	reasonMethod          = "method"
	reasonUnknownProvider = "unknown_provider"
	reasonSaturated       = "saturated"
	reasonTooLarge        = "too_large"
	reasonReadBody        = "read_body"
	reasonContentType     = "content_type"
	reasonMalformed       = "malformed"
	reasonInvalid         = "invalid_event"
	reasonNoSecret        = "no_secret"
	reasonNoSignature     = "signature_missing"
	reasonBadSignature    = "signature_invalid"
	reasonSecretsFailed   = "secrets_unavailable"
	reasonRecordFailed    = "record_failed"
)

// maxReasonLen keeps error bodies short whatever a parser put in its error.
const maxReasonLen = 256

// outcome is the answer to one delivery and what the metrics and logs say about it.
type outcome struct {
	status int
	key    string // "error", "ignored", "accepted" or "duplicate"
	msg    string
	reason string // rejected counter label; "" unless rejected
	err    error  // logged, never sent
	// unsigned marks an accepted delivery that carried no signature.
	unsigned bool
}

func reject(status int, reason, msg string, err error) outcome {
	return outcome{status: status, key: "error", msg: msg, reason: reason, err: err}
}

// delivery is one request on its way through the steps of ServeHTTP.
type delivery struct {
	provider event.Provider
	parser   Parser
	header   http.Header
	body     []byte
	id       string
	repo     event.Repo
	log      *slog.Logger
	// unsigned is set when the repository's policy let the delivery in without a signature.
	unsigned bool
}

// ServeHTTP answers one delivery. It never answers 2xx before the Sink has recorded the delivery
// (or reported it as a duplicate), or for a delivery whose signature did not verify, except 200
// "ignored" for event types that are never used, which records nothing and acts on nothing.
func (rc *Receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := rc.now()
	label, log := "unknown", rc.log
	d, out := rc.route(r)
	if d != nil {
		label, log = string(d.provider), d.log
		if out.status == 0 {
			out = rc.serve(w, r, d, start)
		}
	}
	rc.respond(w, out)
	elapsed := rc.now().Sub(start)
	rc.metrics.observe(label, out, elapsed)
	logOutcome(r.Context(), log, out, elapsed)
}

// logOutcome logs what was not logged on the way: rejections and ignored deliveries. Errors from
// parsers and secret sources carry no secret or signature value.
func logOutcome(ctx context.Context, log *slog.Logger, out outcome, elapsed time.Duration) {
	level := slog.LevelWarn
	switch {
	case out.key == "ignored":
		level = slog.LevelInfo
	case out.reason == "":
		return
	case out.status >= 500:
		level = slog.LevelError
	case out.status == http.StatusNotFound || out.status == http.StatusMethodNotAllowed:
		level = slog.LevelDebug
	}
	attrs := []any{"status", out.status, "elapsed", elapsed}
	if out.reason != "" {
		attrs = append(attrs, "reason", out.reason)
	} else {
		attrs = append(attrs, "ignored", out.msg)
	}
	if out.err != nil {
		attrs = append(attrs, "err", out.err)
	}
	log.Log(ctx, level, "delivery not recorded", attrs...)
}

// route finds the provider's parser, and rejects what is not a delivery at all. The delivery is
// nil only for an unknown provider, so that metrics never carry a label taken from a bad path.
func (rc *Receiver) route(r *http.Request) (*delivery, outcome) {
	name, ok := strings.CutPrefix(r.URL.Path, PathPrefix)
	parser := rc.parsers[event.Provider(name)]
	if !ok || parser == nil {
		return nil, reject(http.StatusNotFound, reasonUnknownProvider, "unknown provider", nil)
	}
	p := event.Provider(name)
	d := &delivery{provider: p, parser: parser, header: r.Header, log: rc.log.With("provider", p)}
	if r.Method != http.MethodPost {
		return d, reject(http.StatusMethodNotAllowed, reasonMethod, "method not allowed", nil)
	}
	return d, outcome{}
}

// serve runs the steps in order; the first that does not pass decides the answer.
func (rc *Receiver) serve(w http.ResponseWriter, r *http.Request, d *delivery, start time.Time) outcome {
	select {
	case rc.inFlight <- struct{}{}:
		defer func() { <-rc.inFlight }()
	default:
		return reject(http.StatusServiceUnavailable, reasonSaturated, "too many deliveries in flight", nil)
	}
	if out, ok := rc.readBody(w, r, d); !ok {
		return out
	}
	if out, ok := rc.identify(d); !ok {
		return out
	}
	// The secret lookup and Record share one deadline. They run on a context that the client's
	// disconnect does not cancel: once a delivery is verified, finishing its Record makes the
	// provider's retry a clean duplicate instead of a half-done write.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), rc.timeout)
	defer cancel()
	if out, ok := rc.verify(ctx, d); !ok {
		return out
	}
	evs, out, ok := rc.parse(d, start)
	if !ok {
		return out
	}
	return rc.record(ctx, d, evs)
}

func (rc *Receiver) readBody(w http.ResponseWriter, r *http.Request, d *delivery) (outcome, bool) {
	if r.ContentLength > rc.maxBody {
		return reject(http.StatusRequestEntityTooLarge, reasonTooLarge, "body too large", nil), false
	}
	var buf bytes.Buffer
	if r.ContentLength > 0 {
		buf.Grow(int(r.ContentLength))
	}
	_, err := buf.ReadFrom(http.MaxBytesReader(w, r.Body, rc.maxBody))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return reject(http.StatusRequestEntityTooLarge, reasonTooLarge, "body too large", err), false
		}
		return reject(http.StatusBadRequest, reasonReadBody, "cannot read body", err), false
	}
	d.body = buf.Bytes()
	return outcome{}, true
}

// identify reads the delivery id and repository, the only things read before verification.
func (rc *Receiver) identify(d *delivery) (outcome, bool) {
	id, repo, err := d.parser.Identify(d.header, d.body)
	d.id, d.repo = id, repo
	d.log = d.log.With("delivery", id)
	if err != nil {
		return parserOutcome(err), false
	}
	d.log = d.log.With("repo", repo.FullName)
	return outcome{}, true
}

func (rc *Receiver) verify(ctx context.Context, d *delivery) (outcome, bool) {
	secrets, allowUnsigned, err := rc.secrets.Secrets(ctx, d.provider, d.repo)
	if err != nil {
		return reject(http.StatusServiceUnavailable, reasonSecretsFailed, "secrets unavailable, retry later", err), false
	}
	if len(secrets) == 0 {
		if allowUnsigned {
			d.unsigned = true
			d.log.Warn("accepting a delivery without checking its signature: the repository's Application sets allowUnsignedWebhooks and has no webhook secret")
			return outcome{}, true
		}
		return reject(http.StatusUnauthorized, reasonNoSecret, "signature verification failed",
			errors.New("no webhook secret for repository")), false
	}
	err = d.parser.Verify(d.header, d.body, secrets)
	switch {
	case err == nil:
		return outcome{}, true
	case errors.Is(err, event.ErrNoSignature) && allowUnsigned:
		d.unsigned = true
		d.log.Warn("accepting an unsigned delivery: the repository's Application sets allowUnsignedWebhooks")
		return outcome{}, true
	case errors.Is(err, event.ErrNoSignature):
		return reject(http.StatusUnauthorized, reasonNoSignature, "missing signature", err), false
	default:
		return reject(http.StatusUnauthorized, reasonBadSignature, "signature verification failed", err), false
	}
}

// parse normalizes the delivery into its events, stamps and validates each; one bad event fails
// the whole delivery, so that nothing of it is recorded.
func (rc *Receiver) parse(d *delivery, start time.Time) ([]event.Event, outcome, bool) {
	evs, err := d.parser.Parse(d.header, d.body)
	if err != nil {
		return nil, parserOutcome(err), false
	}
	if len(evs) == 0 {
		return nil, reject(http.StatusBadRequest, reasonMalformed, "delivery reports no event", nil), false
	}
	digest := event.BodyDigest(d.body)
	for i := range evs {
		ev := &evs[i]
		// The secrets were chosen for d.repo; an event about another repository must not ride on them.
		if ev.Repo() != d.repo {
			return nil, reject(http.StatusBadRequest, reasonMalformed, "event repository differs from the verified one", nil), false
		}
		ev.ReceivedAt = start.UTC()
		ev.BodySHA256 = digest
		ev.Unsigned = d.unsigned
		if err := ev.Validate(); err != nil {
			return nil, reject(http.StatusBadRequest, reasonInvalid, err.Error(), err), false
		}
	}
	return evs, outcome{}, true
}

// record hands every event to the Sink before answering: 202 when at least one is new, 200
// when all were recorded before. An error on any of them is a 503, so the provider retries the
// delivery, and the events already recorded come back as duplicates.
func (rc *Receiver) record(ctx context.Context, d *delivery, evs []event.Event) outcome {
	created := 0
	for _, ev := range evs {
		ok, err := rc.sink.Record(ctx, ev)
		if err != nil {
			return reject(http.StatusServiceUnavailable, reasonRecordFailed, "cannot record delivery, retry later", err)
		}
		if !ok {
			d.log.Info("duplicate delivery", "kind", ev.Kind, "ref", ev.Ref, "key", ev.Key())
			continue
		}
		created++
		d.log.Info("delivery recorded", "kind", ev.Kind, "ref", ev.Ref, "after", ev.After, "key", ev.Key())
	}
	id := evs[0].DeliveryID
	if created == 0 {
		return outcome{status: http.StatusOK, key: "duplicate", msg: id}
	}
	return outcome{status: http.StatusAccepted, key: "accepted", msg: id, unsigned: d.unsigned}
}

// parserOutcome maps a parser's error to the answer.
func parserOutcome(err error) outcome {
	if ig, ok := errors.AsType[*event.IgnoredError](err); ok {
		return outcome{status: http.StatusOK, key: "ignored", msg: ig.Reason}
	}
	if errors.Is(err, event.ErrContentType) {
		return reject(http.StatusUnsupportedMediaType, reasonContentType, err.Error(), err)
	}
	return reject(http.StatusBadRequest, reasonMalformed, err.Error(), err)
}

func (rc *Receiver) respond(w http.ResponseWriter, out outcome) {
	msg := out.msg
	if len(msg) > maxReasonLen {
		msg = msg[:maxReasonLen]
	}
	body, err := json.Marshal(map[string]string{out.key: strings.ToValidUTF8(msg, "")})
	if err != nil {
		body = []byte(`{"error":"internal"}`)
	}
	body = append(body, '\n')
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	switch out.status {
	case http.StatusMethodNotAllowed:
		h.Set("Allow", http.MethodPost)
	case http.StatusServiceUnavailable:
		h.Set("Retry-After", "1")
	}
	w.WriteHeader(out.status)
	_, _ = w.Write(body) // the provider may be gone; its retry is the recovery
}
