package scan

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// pushDBArtifact publishes db the way Trivy's DB is published: one gzipped tar layer of
// trivy.db and metadata.json, titled db.tar.gz, in an OCI manifest.
func pushDBArtifact(ctx context.Context, db DB, ref string) error {
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for _, n := range []string{"trivy.db", "metadata.json"} {
		data, err := os.ReadFile(filepath.Join(db.Dir, n))
		if err != nil {
			return err
		}
		if err := tw.WriteHeader(&tar.Header{Name: n, Mode: 0o644, Size: int64(len(data))}); err != nil {
			return err
		}
		if _, err := tw.Write(data); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	if err := gz.Close(); err != nil {
		return err
	}
	layer := static.NewLayer(buf.Bytes(), "application/vnd.aquasec.trivy.db.layer.v1.tar+gzip")
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, "application/vnd.aquasec.trivy.config.v1+json")
	img, err := mutate.Append(img, mutate.Addendum{Layer: layer, Annotations: map[string]string{"org.opencontainers.image.title": "db.tar.gz"}})
	if err != nil {
		return err
	}
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		return err
	}
	return remote.Write(r, img, remote.WithContext(ctx))
}

func TestPullDBFromRegistry(t *testing.T) {
	f := setup(t)
	repo := f.reg.Host() + "/mirror/trivy-db"
	// Trivy asks for the schema version's tag when the reference has none.
	if err := pushDBArtifact(t.Context(), f.db, repo+":2"); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "db")
	db, err := PullDB(t.Context(), f.trivy, repo, dir, PullOptions{Insecure: true})
	if err != nil {
		t.Fatal(err)
	}
	if db.Dir != dir || !db.UpdatedAt.Equal(f.db.UpdatedAt) {
		t.Errorf("pulled %+v, want dir %s updated %s", db, dir, f.db.UpdatedAt)
	}
	s, err := New(f.trivy, db, WithInsecureRegistry(true))
	if err != nil {
		t.Fatal(err)
	}
	res, err := s.Scan(t.Context(), f.vulnerable, "")
	if err != nil {
		t.Fatal(err)
	}
	if c := res.Report.Counts(); c["CRITICAL"] != 1 {
		t.Errorf("scan with the pulled database: counts %v, want the planted critical", c)
	}
	if _, err := PullDB(t.Context(), f.trivy, f.reg.Host()+"/mirror/none", t.TempDir(), PullOptions{Insecure: true}); err == nil {
		t.Error("pulling a missing repository succeeded")
	}
}
