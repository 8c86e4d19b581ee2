package cnb

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// pullTimeout bounds fetching and unpacking a builder image.
const pullTimeout = 10 * time.Minute

// builderUser is the build user a builder image declares in CNB_USER_ID and CNB_GROUP_ID.
type builderUser struct{ uid, gid int }

// unpackBuilder pulls the builder image ref (linux/amd64) and writes its flattened filesystem
// to dir, with owners shifted into the sandbox's ids. It returns the build user the image's
// configuration declares (BuildUID and BuildGID when it declares none).
func unpackBuilder(ctx context.Context, dir, ref string, insecure bool, sb Sandbox) (builderUser, error) {
	ctx, cancel := context.WithTimeout(ctx, pullTimeout)
	defer cancel()
	var opts []name.Option
	if insecure {
		opts = append(opts, name.Insecure)
	}
	r, err := name.ParseReference(ref, opts...)
	if err != nil {
		return builderUser{}, fmt.Errorf("builder image %q: %w", ref, err)
	}
	img, err := remote.Image(r, remote.WithContext(ctx), remote.WithAuthFromKeychain(authn.DefaultKeychain),
		remote.WithPlatform(v1.Platform{OS: "linux", Architecture: "amd64"}),
		remote.WithTransport(&http.Transport{Proxy: http.ProxyFromEnvironment, ResponseHeaderTimeout: time.Minute}))
	if err != nil {
		return builderUser{}, fmt.Errorf("pull builder image %s: %w", ref, err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return builderUser{}, fmt.Errorf("builder image %s config: %w", ref, err)
	}
	user, err := userFromEnv(cfg.Config.Env)
	if err != nil {
		return builderUser{}, fmt.Errorf("builder image %s: %w", ref, err)
	}
	rc := mutate.Extract(img)
	defer rc.Close()
	if err := untar(ctx, rc, dir, sb); err != nil {
		return builderUser{}, fmt.Errorf("unpack builder image %s: %w", ref, err)
	}
	return user, nil
}

// userFromEnv reads CNB_USER_ID and CNB_GROUP_ID from an image's environment.
func userFromEnv(env []string) (builderUser, error) {
	u := builderUser{uid: BuildUID, gid: BuildGID}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		target := map[string]*int{"CNB_USER_ID": &u.uid, "CNB_GROUP_ID": &u.gid}[k]
		if target == nil {
			continue
		}
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 || n >= 65536 {
			return builderUser{}, fmt.Errorf("%s=%q: want a non-root id below 65536", k, v)
		}
		*target = n
	}
	return u, nil
}

// untar writes a flattened image filesystem under dir through an os.Root, so no entry and no
// symbolic link can reach outside dir. Links are written as they are (the sandbox resolves them
// inside its root), device nodes are skipped, and owners are mapped into the sandbox's ids.
func untar(ctx context.Context, r io.Reader, dir string, sb Sandbox) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return err
	}
	defer root.Close()
	tr := tar.NewReader(r)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return adoptImplicit(dir, sb)
		}
		if err != nil {
			return err
		}
		rel := strings.TrimPrefix(path.Clean("/"+h.Name), "/")
		if rel == "" {
			continue
		}
		if err := untarEntry(root, tr, h, rel); err != nil {
			return fmt.Errorf("/%s: %w", rel, err)
		}
		if h.Typeflag != tar.TypeDir && h.Typeflag != tar.TypeReg && h.Typeflag != tar.TypeSymlink && h.Typeflag != tar.TypeLink {
			continue
		}
		if h.Uid < 0 || h.Uid >= 65536 || h.Gid < 0 || h.Gid >= 65536 {
			return fmt.Errorf("/%s: owner %d:%d is outside the sandbox's ids", rel, h.Uid, h.Gid)
		}
		if err := root.Lchown(rel, sb.HostID(h.Uid), sb.HostID(h.Gid)); err != nil {
			return err
		}
	}
}

// adoptImplicit gives the directories the archive did not list (the root itself, parents
// made for entries), still owned by host root, to the sandbox's root.
func adoptImplicit(dir string, sb Sandbox) error {
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Uid == 0 {
			return os.Lchown(p, sb.HostID(0), sb.HostID(0))
		}
		return nil
	})
}

func untarEntry(root *os.Root, r io.Reader, h *tar.Header, rel string) error {
	if dir := path.Dir(rel); dir != "." {
		if err := root.MkdirAll(dir, 0o755); err != nil {
			return err
		}
	}
	mode := fs.FileMode(h.Mode).Perm() | modeBits(h.Mode)
	switch h.Typeflag {
	case tar.TypeDir:
		if err := root.MkdirAll(rel, 0o755); err != nil {
			return err
		}
		return root.Chmod(rel, mode)
	case tar.TypeReg:
		_ = root.Remove(rel)
		f, err := root.OpenFile(rel, os.O_CREATE|os.O_WRONLY|os.O_EXCL, 0o600)
		if err != nil {
			return err
		}
		_, err = io.Copy(f, r)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
		return root.Chmod(rel, mode)
	case tar.TypeSymlink:
		_ = root.Remove(rel)
		return root.Symlink(h.Linkname, rel)
	case tar.TypeLink:
		_ = root.Remove(rel)
		return root.Link(strings.TrimPrefix(path.Clean("/"+h.Linkname), "/"), rel)
	}
	return nil // devices and fifos: the sandbox provides /dev
}

// modeBits turns a tar header's setuid, setgid and sticky bits into FileMode bits.
func modeBits(m int64) fs.FileMode {
	var out fs.FileMode
	if m&0o4000 != 0 {
		out |= fs.ModeSetuid
	}
	if m&0o2000 != 0 {
		out |= fs.ModeSetgid
	}
	if m&0o1000 != 0 {
		out |= fs.ModeSticky
	}
	return out
}
