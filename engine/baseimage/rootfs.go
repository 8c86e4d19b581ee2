package baseimage

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// skipContents are directories of a root filesystem whose contents are the runtime's business,
// not the image's: the directories themselves are kept, empty.
var skipContents = map[string]bool{"dev": true, "proc": true, "sys": true}

// PushRootfs makes a one-layer image of the root filesystem in dir (for example a
// `debootstrap --variant=minbase` tree) and pushes it to ref (a tag reference). Numeric owners,
// modes, symbolic and hard links are kept; timestamps are set to the Unix epoch, extended
// attributes and device nodes are left out, and so are the contents of dev, proc and sys. With
// no Config.Env the image gets PATH=DefaultPath.
func PushRootfs(ctx context.Context, ref, dir string, opts Options) (Image, error) {
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return Image{}, fmt.Errorf("rootfs base image: %s is not a directory", dir)
	}
	tmp, err := os.CreateTemp("", "slipway-rootfs-*.tar")
	if err != nil {
		return Image{}, fmt.Errorf("rootfs base image: %w", err)
	}
	defer os.Remove(tmp.Name())
	werr := writeTree(ctx, tmp, dir)
	if cerr := tmp.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		return Image{}, fmt.Errorf("rootfs base image: tar %s: %w", dir, werr)
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return os.Open(tmp.Name()) },
		tarball.WithMediaType(types.OCILayer), tarball.WithCompressedCaching)
	if err != nil {
		return Image{}, fmt.Errorf("rootfs base image: %w", err)
	}
	cfg := opts.Config.withDefaults(Config{Env: []string{DefaultPath}})
	img, err := NewImage(layer, "slipway baseimage rootfs", cfg)
	if err != nil {
		return Image{}, fmt.Errorf("rootfs base image: %w", err)
	}
	out, err := push(ctx, ref, img, opts)
	if err != nil {
		return Image{}, fmt.Errorf("rootfs base image: %w", err)
	}
	return out, nil
}

// writeTree writes the tree under root as a tar stream in lexical order.
func writeTree(ctx context.Context, w io.Writer, root string) error {
	tw := tar.NewWriter(w)
	inodes := map[[2]uint64]string{} // device and inode of regular files already written
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil || rel == "." {
			return err
		}
		rel = filepath.ToSlash(rel)
		if skipContents[filepath.ToSlash(filepath.Dir(rel))] {
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		return writeEntry(tw, p, rel, fi, inodes)
	})
	if err != nil {
		return err
	}
	return tw.Close()
}

// writeEntry writes one file of the tree; device nodes, sockets and pipes are skipped.
func writeEntry(tw *tar.Writer, p, rel string, fi fs.FileInfo, inodes map[[2]uint64]string) error {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fmt.Errorf("%s: no ownership information", p)
	}
	hdr := &tar.Header{
		Name: rel, Mode: int64(fi.Mode().Perm()), Uid: int(st.Uid), Gid: int(st.Gid),
		ModTime: epoch, Format: tar.FormatPAX,
	}
	if fi.Mode()&fs.ModeSetuid != 0 {
		hdr.Mode |= 0o4000
	}
	if fi.Mode()&fs.ModeSetgid != 0 {
		hdr.Mode |= 0o2000
	}
	if fi.Mode()&fs.ModeSticky != 0 {
		hdr.Mode |= 0o1000
	}
	switch {
	case fi.IsDir():
		hdr.Typeflag, hdr.Name = tar.TypeDir, rel+"/"
	case fi.Mode()&fs.ModeSymlink != 0:
		target, err := os.Readlink(p)
		if err != nil {
			return err
		}
		hdr.Typeflag, hdr.Linkname = tar.TypeSymlink, target
	case fi.Mode().IsRegular():
		key := [2]uint64{uint64(st.Dev), st.Ino}
		if first, seen := inodes[key]; seen && st.Nlink > 1 {
			hdr.Typeflag, hdr.Linkname = tar.TypeLink, first
			break
		}
		inodes[key] = rel
		hdr.Typeflag, hdr.Size = tar.TypeReg, fi.Size()
	default:
		return nil
	}
	if err := tw.WriteHeader(hdr); err != nil {
		return err
	}
	if hdr.Typeflag != tar.TypeReg {
		return nil
	}
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	n, err := io.Copy(tw, f)
	if err == nil && n != hdr.Size {
		err = errors.New("file changed while it was read")
	}
	if err != nil {
		return fmt.Errorf("%s: %w", p, err)
	}
	return nil
}
