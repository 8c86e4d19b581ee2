// Package baseimage makes small base images without pulling anything (busybox from the host's
// static binary, or any root filesystem directory) and pushes them to a registry by digest.
package baseimage

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// DefaultPath is the PATH base images get unless Config.Env sets one.
const DefaultPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// Image is a base image that was pushed.
type Image struct {
	// Ref is the image pinned by digest: "registry/repository@sha256:...".
	Ref string
	// Digest is the manifest digest, "sha256:...".
	Digest string
}

// Config is the runtime configuration written into a base image. Zero fields get the image
// kind's defaults (for busybox: PATH=DefaultPath and Cmd ["/bin/sh"]).
type Config struct {
	Env        []string
	Entrypoint []string
	Cmd        []string
	User       string
	WorkingDir string
}

// Options says how a base image is made and pushed.
type Options struct {
	// Insecure talks plain HTTP to the registry (a loopback registry in development and tests).
	Insecure bool
	// Config overrides the image's runtime configuration.
	Config Config
	// BusyboxBinary is the static busybox binary PushBusybox puts in the image; default
	// DefaultBusybox (Debian's busybox-static package).
	BusyboxBinary string
	// Keychain resolves registry credentials; default the Docker config keychain.
	Keychain authn.Keychain
}

// epoch is the timestamp of every file and of the image itself, so that the same input always
// gives the same digest.
var epoch = time.Unix(0, 0).UTC()

// platform is the only platform base images are made for.
var platform = v1.Platform{OS: "linux", Architecture: "amd64"}

// responseHeaderTimeout bounds the wait for a registry's answer once a request is sent.
const responseHeaderTimeout = 2 * time.Minute

// NewImage assembles a one-layer linux/amd64 OCI image from layer, with cfg as its runtime
// configuration, createdBy in its history and every timestamp at the Unix epoch.
func NewImage(layer v1.Layer, createdBy string, cfg Config) (v1.Image, error) {
	img := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	created := v1.Time{Time: epoch}
	img, err := mutate.Append(img, mutate.Addendum{
		Layer:     layer,
		MediaType: types.OCILayer,
		History:   v1.History{Created: created, CreatedBy: createdBy},
	})
	if err != nil {
		return nil, fmt.Errorf("append layer: %w", err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("read image config: %w", err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = platform.OS, platform.Architecture
	cf.Created = created
	cf.Config = v1.Config{
		Env:        cfg.Env,
		Entrypoint: cfg.Entrypoint,
		Cmd:        cfg.Cmd,
		User:       cfg.User,
		WorkingDir: cfg.WorkingDir,
	}
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		return nil, fmt.Errorf("set image config: %w", err)
	}
	return img, nil
}

// withDefaults fills the zero fields of c from d.
func (c Config) withDefaults(d Config) Config {
	if len(c.Env) == 0 {
		c.Env = d.Env
	}
	if len(c.Entrypoint) == 0 && len(c.Cmd) == 0 {
		c.Entrypoint, c.Cmd = d.Entrypoint, d.Cmd
	}
	if c.User == "" {
		c.User = d.User
	}
	if c.WorkingDir == "" {
		c.WorkingDir = d.WorkingDir
	}
	return c
}

// push writes img to the repository of ref by digest, tags it with ref's tag and returns it
// pinned by digest.
func push(ctx context.Context, ref string, img v1.Image, opts Options) (Image, error) {
	var nopts []name.Option
	if opts.Insecure {
		nopts = append(nopts, name.Insecure)
	}
	tag, err := name.NewTag(ref, nopts...)
	if err != nil {
		return Image{}, fmt.Errorf("parse image reference %q: %w", ref, err)
	}
	keychain := opts.Keychain
	if keychain == nil {
		keychain = authn.DefaultKeychain
	}
	t := http.DefaultTransport
	if dt, ok := remote.DefaultTransport.(*http.Transport); ok {
		ct := dt.Clone()
		ct.ResponseHeaderTimeout = responseHeaderTimeout
		t = ct
	}
	ropts := []remote.Option{
		remote.WithContext(ctx),
		remote.WithAuthFromKeychain(keychain),
		remote.WithPlatform(platform),
		remote.WithTransport(t),
		remote.WithUserAgent("slipway-baseimage"),
	}
	digest, err := img.Digest()
	if err != nil {
		return Image{}, fmt.Errorf("compute image digest: %w", err)
	}
	byDigest := tag.Context().Digest(digest.String())
	if err := remote.Write(byDigest, img, ropts...); err != nil {
		return Image{}, fmt.Errorf("push %s: %w", byDigest, err)
	}
	if err := remote.Tag(tag, img, ropts...); err != nil {
		return Image{}, fmt.Errorf("tag %s: %w", tag, err)
	}
	return Image{Ref: byDigest.String(), Digest: digest.String()}, nil
}
