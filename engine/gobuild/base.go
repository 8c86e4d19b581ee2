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
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Paths and identities of Slipway's base image. The nonroot user matches distroless's, so
// manifests written for those images run unchanged.
const (
	hostCABundle = "/etc/ssl/certs/ca-certificates.crt"
	caBundlePath = "etc/ssl/certs/ca-certificates.crt"
	nonrootID    = 65532
	defaultPath  = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
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
	epoch := time.Unix(0, 0).UTC()
	entries := []entry{
		{path: "etc", dir: true, mode: 0o755},
		{path: "etc/group", mode: 0o644, data: []byte(group)},
		{path: "etc/nsswitch.conf", mode: 0o644, data: []byte(nsswitchConf)},
		{path: "etc/passwd", mode: 0o644, data: []byte(passwd)},
	}
	env := []string{defaultPath}
	if len(ca) > 0 {
		entries = append(entries,
			entry{path: "etc/ssl", dir: true, mode: 0o755},
			entry{path: "etc/ssl/certs", dir: true, mode: 0o755},
			entry{path: caBundlePath, mode: 0o644, data: ca},
		)
		env = append(env, "SSL_CERT_FILE=/"+caBundlePath)
	}
	entries = append(entries,
		entry{path: "home", dir: true, mode: 0o755},
		entry{path: "home/nonroot", dir: true, mode: 0o700, uid: nonrootID, gid: nonrootID},
		entry{path: "root", dir: true, mode: 0o700},
		entry{path: "tmp", dir: true, mode: 0o1777},
	)
	layer, err := newLayer(entries, epoch, types.OCILayer)
	if err != nil {
		return nil, err
	}

	img := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	created := v1.Time{Time: epoch}
	img, err = mutate.Append(img, mutate.Addendum{
		Layer:     layer,
		MediaType: types.OCILayer,
		History:   v1.History{Created: created, CreatedBy: "slipway gobuild base"},
	})
	if err != nil {
		return nil, fmt.Errorf("append base layer: %w", err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("read base config: %w", err)
	}
	cfg = cfg.DeepCopy()
	cfg.OS = "linux"
	cfg.Architecture = "amd64"
	cfg.Created = created
	cfg.Config = v1.Config{
		User:       fmt.Sprint(nonrootID),
		Env:        env,
		WorkingDir: "/",
	}
	img, err = mutate.ConfigFile(img, cfg)
	if err != nil {
		return nil, fmt.Errorf("set base config: %w", err)
	}
	return img, nil
}
