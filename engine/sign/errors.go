package sign

import (
	"errors"
	"fmt"
)

// Reasons a key, a signature or an image is refused. Every error this package returns for one of
// them matches the sentinel with errors.Is.
var (
	// ErrNotPinned means an image is not referred to by digest, so there is nothing to sign or
	// to verify: a tag can move after the check.
	ErrNotPinned = errors.New("image is not pinned by digest")
	// ErrNoSignature means the registry holds no signature for the image's digest.
	ErrNoSignature = errors.New("no signature found")
	// ErrUntrustedKey means the image carries signatures, but none was made with a trusted key.
	ErrUntrustedKey = errors.New("signature by an untrusted key")
	// ErrTampered means a signature by a trusted key exists but does not match the image: it was
	// made for another digest and copied over, or its signed payload was altered.
	ErrTampered = errors.New("signature does not match the image digest")
	// ErrImageNotFound means the registry answered but has no image with that digest.
	ErrImageNotFound = errors.New("image not found in registry")
	// ErrRegistryUnreachable means the registry could not be reached or refused to answer.
	ErrRegistryUnreachable = errors.New("registry unreachable")
	// ErrWrongPassword means an encrypted private key could not be decrypted with the password
	// given (or the key is corrupted; the two cannot be told apart).
	ErrWrongPassword = errors.New("wrong password for private key")
	// ErrInvalidKey means key material is not a PEM key of the expected kind.
	ErrInvalidKey = errors.New("invalid key")

	// ErrUntrustedCertificate means a keyless signature's certificate does not chain to a
	// trusted Fulcio root, or nothing trusted (a transparency log entry, a signed timestamp or
	// the current time) shows that it was valid when the signature was made.
	ErrUntrustedCertificate = errors.New("untrusted certificate chain")
	// ErrIdentityMismatch means a keyless signature's certificate is trusted but names a
	// subject (or an OIDC issuer: see ErrIssuerMismatch) that no trusted identity allows.
	ErrIdentityMismatch = errors.New("certificate identity mismatch")
	// ErrIssuerMismatch is the identity mismatch where the certificate's OIDC issuer is not
	// one of the trusted identities' issuers. errors.Is(err, ErrIdentityMismatch) holds too.
	ErrIssuerMismatch = fmt.Errorf("%w: OIDC issuer", ErrIdentityMismatch)
	// ErrNoIdentityToken means keyless signing found no OIDC identity token to present to
	// Fulcio.
	ErrNoIdentityToken = errors.New("no identity token")
	// ErrInvalidTrust means keyless trust material (Fulcio roots, identities, a Rekor key, a
	// timestamp authority chain) is malformed or incomplete.
	ErrInvalidTrust = errors.New("invalid keyless trust")
)

// ImageError is the refusal of one image: Reason is one of the sentinel errors above, Detail says
// more. errors.Is(err, Reason) holds.
type ImageError struct {
	Image  string
	Reason error
	Detail string
}

// Error names the image and the reason.
func (e *ImageError) Error() string {
	if e.Detail == "" {
		return fmt.Sprintf("image %s: %v", e.Image, e.Reason)
	}
	return fmt.Sprintf("image %s: %v: %s", e.Image, e.Reason, e.Detail)
}

// Unwrap returns the reason, so that errors.Is matches the sentinel.
func (e *ImageError) Unwrap() error { return e.Reason }

func imageErr(image string, reason error, format string, args ...any) *ImageError {
	return &ImageError{Image: image, Reason: reason, Detail: fmt.Sprintf(format, args...)}
}
