package event

import "errors"

// The outcomes a provider's parser reports, so that the receiver can answer with the right status
// without knowing the provider. Parsers wrap them with what they were reading.
var (
	// ErrMalformed marks a body or header that cannot be read as the provider's delivery.
	ErrMalformed = errors.New("malformed delivery")
	// ErrContentType marks a media type or content encoding the provider's parser does not read.
	ErrContentType = errors.New("unsupported content type")
	// ErrNoSignature marks a delivery that carries no signature (or token) at all.
	ErrNoSignature = errors.New("missing signature")
	// ErrBadSignature marks a signature that matches none of the secrets, or is not well-formed.
	ErrBadSignature = errors.New("bad signature")
	// ErrIgnored marks a well-formed delivery that Slipway does not act on. Parsers return an
	// *IgnoredError, which matches it.
	ErrIgnored = errors.New("ignored")
	// ErrInvalid marks an Event that fails Validate.
	ErrInvalid = errors.New("invalid event")
)

// IgnoredError reports why a well-formed delivery is not acted on, such as an event type or a
// pull request action Slipway has no use for.
type IgnoredError struct {
	// Reason is a short, human-readable reason, returned to the provider.
	Reason string
}

// Ignore returns an *IgnoredError with reason.
func Ignore(reason string) error { return &IgnoredError{Reason: reason} }

// Error implements error.
func (e *IgnoredError) Error() string { return "ignored: " + e.Reason }

// Is makes errors.Is(err, ErrIgnored) true.
func (e *IgnoredError) Is(target error) bool { return target == ErrIgnored }
