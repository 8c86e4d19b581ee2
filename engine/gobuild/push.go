package gobuild

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

const userAgent = "slipway-gobuild"

// responseHeaderTimeout bounds the wait for a registry's answer once a request is sent.
// go-containerregistry's transport already bounds dialing and TLS handshakes.
const responseHeaderTimeout = 2 * time.Minute

func nameOptions(insecure bool) []name.Option {
	if insecure {
		return []name.Option{name.Insecure}
	}
	return nil
}

func remoteOptions(ctx context.Context, keychain authn.Keychain, platform v1.Platform) []remote.Option {
	t := http.DefaultTransport
	if dt, ok := remote.DefaultTransport.(*http.Transport); ok {
		ct := dt.Clone()
		ct.ResponseHeaderTimeout = responseHeaderTimeout
		t = ct
	}
	return []remote.Option{
		remote.WithContext(ctx),
		remote.WithAuthFromKeychain(keychain),
		remote.WithPlatform(platform),
		remote.WithTransport(t),
		remote.WithUserAgent(userAgent),
	}
}

// push writes img to repo by digest and, if tag is set, tags it. Blobs already in the
// registry, such as the base image's layers, are not uploaded again.
func push(repo name.Repository, tag string, img v1.Image, ropts []remote.Option) (v1.Hash, error) {
	digest, err := img.Digest()
	if err != nil {
		return v1.Hash{}, fmt.Errorf("compute image digest: %w", err)
	}
	ref := repo.Digest(digest.String())
	if err := remote.Write(ref, img, ropts...); err != nil {
		return v1.Hash{}, fmt.Errorf("push %s: %w", ref, err)
	}
	if tag != "" {
		if err := remote.Tag(repo.Tag(tag), img, ropts...); err != nil {
			return v1.Hash{}, fmt.Errorf("tag %s: %w", repo.Tag(tag), err)
		}
	}
	return digest, nil
}
