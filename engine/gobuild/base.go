package gobuild

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"slipway.dev/slipway/engine/baseimage"
)

// Paths and identities of Slipway's base image. The nonroot user matches distroless's, so
// manifests written for those images run unchanged.
const (
	hostCABundle = "/etc/ssl/certs/ca-certificates.crt"
	caBundlePath = "etc/ssl/certs/ca-certificates.crt"
	nonrootID    = 65532
	defaultPath  = baseimage.DefaultPath
)

const (
	passwd = "root:x:0:0:root:/root:/sbin/nologin\n" +
		"nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n"
	group        = "root:x:0:\nnonroot:x:65532:\n"
	nsswitchConf = "hosts: files dns\n"
)

// PushBase builds Slipway's small base image for static Go binaries, pushes it to ref (a tag
// reference) and returns it pinned by digest. The image is linux/amd64, runs as the nonroot
// user 65532, and holds /etc/passwd, /etc/group, /etc/nsswitch.conf, /tmp and, if the host has
// one, the CA bundle. The same host CA bundle always gives the same digest.
func PushBase(ctx context.Context, ref string, insecure bool) (string, error) {
	tag, err := name.NewTag(ref, nameOptions(insecure)...)
	if err != nil {
		return "", fmt.Errorf("push base image: %w", err)
	}
	ca, err := os.ReadFile(hostCABundle)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("push base image: read CA bundle: %w", err)
	}
	img, err := baseImage(ca)
	if err != nil {
		return "", fmt.Errorf("push base image: %w", err)
	}
	platform := v1.Platform{OS: "linux", Architecture: "amd64"}
	digest, err := push(tag.Context(), tag.TagStr(), img, remoteOptions(ctx, authn.DefaultKeychain, platform))
	if err != nil {
		return "", fmt.Errorf("push base image: %w", err)
	}
	return tag.Context().Name() + "@" + digest.String(), nil
}

// baseImage assembles the base image as a one-layer OCI image; ca may be empty.
func baseImage(ca []byte) (v1.Image, error) {
	entries := []baseimage.Entry{
		{Path: "etc", Dir: true, Mode: 0o755},
		{Path: "etc/group", Mode: 0o644, Data: []byte(group)},
		{Path: "etc/nsswitch.conf", Mode: 0o644, Data: []byte(nsswitchConf)},
		{Path: "etc/passwd", Mode: 0o644, Data: []byte(passwd)},
	}
	env := []string{defaultPath}
	if len(ca) > 0 {
		entries = append(entries,
			baseimage.Entry{Path: "etc/ssl", Dir: true, Mode: 0o755},
			baseimage.Entry{Path: "etc/ssl/certs", Dir: true, Mode: 0o755},
			baseimage.Entry{Path: caBundlePath, Mode: 0o644, Data: ca},
		)
		env = append(env, "SSL_CERT_FILE=/"+caBundlePath)
	}
	entries = append(entries,
		baseimage.Entry{Path: "home", Dir: true, Mode: 0o755},
		baseimage.Entry{Path: "home/nonroot", Dir: true, Mode: 0o700, UID: nonrootID, GID: nonrootID},
		baseimage.Entry{Path: "root", Dir: true, Mode: 0o700},
		baseimage.Entry{Path: "tmp", Dir: true, Mode: 0o1777},
	)
	layer, err := baseimage.Layer(entries, time.Unix(0, 0).UTC(), types.OCILayer)
	if err != nil {
		return nil, err
	}
	return baseimage.NewImage(layer, "slipway gobuild base", baseimage.Config{
		User:       fmt.Sprint(nonrootID),
		Env:        env,
		WorkingDir: "/",
	})
}
