// Package imagetag finds an image in a registry by tag and tags images already pushed by
// digest; the deploy pipeline uses it to find the image a source tree was already built into.
package imagetag

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// timeout bounds each registry operation.
const timeout = 30 * time.Second

const userAgent = "slipway-imagetag"

// ErrNotFound reports that the registry has no image under the tag.
var ErrNotFound = errors.New("no image with that tag")

// Registry talks to one kind of registry: plain HTTP or not, with credentials from a keychain.
type Registry struct {
	insecure bool
	keychain authn.Keychain
	timeout  time.Duration
}

// Option configures a Registry.
type Option func(*Registry)

// Insecure uses plain HTTP, for loopback registries.
func Insecure(on bool) Option { return func(r *Registry) { r.insecure = on } }

// WithKeychain resolves credentials from k instead of the default keychain (the Docker config).
func WithKeychain(k authn.Keychain) Option { return func(r *Registry) { r.keychain = k } }

// New returns a Registry.
func New(opts ...Option) *Registry {
	r := &Registry{keychain: authn.DefaultKeychain, timeout: timeout}
	for _, o := range opts {
		o(r)
	}
	return r
}

func (r *Registry) nameOptions() []name.Option {
	if r.insecure {
		return []name.Option{name.Insecure, name.StrictValidation}
	}
	return []name.Option{name.StrictValidation}
}

func (r *Registry) remoteOptions(ctx context.Context) []remote.Option {
	return []remote.Option{
		remote.WithContext(ctx),
		remote.WithAuthFromKeychain(r.keychain),
		remote.WithUserAgent(userAgent),
	}
}

// Lookup returns the image repository:tag names, as repository@digest. A registry that has no
// such tag, or not even the repository, answers ErrNotFound; any other failure is an error.
func (r *Registry) Lookup(ctx context.Context, repository, tag string) (string, error) {
	repo, err := name.NewRepository(repository, r.nameOptions()...)
	if err != nil {
		return "", fmt.Errorf("image %q: %w", repository, err)
	}
	ref, err := name.NewTag(repo.Name()+":"+tag, r.nameOptions()...)
	if err != nil {
		return "", fmt.Errorf("tag %q: %w", tag, err)
	}
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	desc, err := remote.Head(ref, r.remoteOptions(ctx)...)
	if err != nil {
		if notFound(err) {
			return "", fmt.Errorf("%s: %w", ref, ErrNotFound)
		}
		return "", fmt.Errorf("look up %s: %w", ref, err)
	}
	return repo.Digest(desc.Digest.String()).String(), nil
}

// Tag gives the image image (repository@sha256:...) the tag tag in its repository. When the tag
// already names that image, nothing is written.
func (r *Registry) Tag(ctx context.Context, image, tag string) error {
	d, err := name.NewDigest(image, r.nameOptions()...)
	if err != nil {
		return fmt.Errorf("image %q: must be repository@sha256:<digest>: %w", image, err)
	}
	to, err := name.NewTag(d.Context().Name()+":"+tag, r.nameOptions()...)
	if err != nil {
		return fmt.Errorf("tag %q: %w", tag, err)
	}
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	ropts := r.remoteOptions(ctx)
	switch cur, err := remote.Head(to, ropts...); {
	case err == nil && cur.Digest.String() == d.DigestStr():
		return nil
	case err != nil && !notFound(err):
		return fmt.Errorf("look up %s: %w", to, err)
	}
	// Get fetches the manifest as stored, whatever its media type (image or index), so the tag
	// names exactly the digest.
	desc, err := remote.Get(d, ropts...)
	if err != nil {
		return fmt.Errorf("get %s: %w", d, err)
	}
	if err := remote.Tag(to, desc, ropts...); err != nil {
		return fmt.Errorf("tag %s as %s: %w", d, to.TagStr(), err)
	}
	return nil
}

// notFound reports a registry's 404: no manifest under the tag, or no repository yet (the
// application's first build).
func notFound(err error) bool {
	var te *transport.Error
	if !errors.As(err, &te) {
		return false
	}
	if te.StatusCode == http.StatusNotFound {
		return true
	}
	for _, d := range te.Errors {
		if d.Code == transport.ManifestUnknownErrorCode || d.Code == transport.NameUnknownErrorCode {
			return true
		}
	}
	return false
}
