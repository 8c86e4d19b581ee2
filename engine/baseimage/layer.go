package baseimage

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Entry is one file, directory or symbolic link in a layer made by Layer. Paths are relative
// to / and use slashes.
type Entry struct {
	Path     string
	Dir      bool
	Link     string // symbolic link target
	Mode     int64  // permission bits plus setuid, setgid and sticky (tar's 04000, 02000, 01000)
	UID, GID int
	Data     []byte
}

// Layer writes entries, in the order given, into an uncompressed tar with every timestamp set
// to mtime (to the second) and no user or group names, so the same entries always give the
// same digest. The layer has media type mt.
func Layer(entries []Entry, mtime time.Time, mt types.MediaType) (v1.Layer, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		hdr := &tar.Header{Name: e.Path, Mode: e.Mode, Uid: e.UID, Gid: e.GID, ModTime: mtime}
		switch {
		case e.Dir:
			hdr.Typeflag, hdr.Name = tar.TypeDir, e.Path+"/"
		case e.Link != "":
			hdr.Typeflag, hdr.Linkname = tar.TypeSymlink, e.Link
		default:
			hdr.Typeflag, hdr.Size = tar.TypeReg, int64(len(e.Data))
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, fmt.Errorf("write layer entry %s: %w", e.Path, err)
		}
		if _, err := tw.Write(e.Data); err != nil {
			return nil, fmt.Errorf("write layer entry %s: %w", e.Path, err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("write layer: %w", err)
	}
	data := buf.Bytes()
	// Compressed caching keeps the gzip stream from being computed twice: once for the digest
	// and once for the upload.
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(data)), nil
	}, tarball.WithMediaType(mt), tarball.WithCompressedCaching)
}
