package configcommit_test

import (
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"slipway.dev/slipway/engine/configcommit"
	"slipway.dev/slipway/engine/configrepo"
	"slipway.dev/slipway/engine/deploy"
	"slipway.dev/slipway/engine/gitserver"
	"slipway.dev/slipway/engine/manifest"
)

func git(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL="+os.DevNull)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// trailer is the value git itself parses for key from the commit's trailer block.
func trailer(t *testing.T, bare, rev, key string) string {
	t.Helper()
	return git(t, bare, "log", "-1", "--format=%(trailers:key="+key+",valueonly,separator=%x2C)", rev)
}

// TestCommitTrailers commits what the deploy step commits, through a real Writer to the Git
// server, and checks the trailers Git reads back: every one of the deploy step's, with the
// delivery and release a commit is traced back by.
func TestCommitTrailers(t *testing.T) {
	root := t.TempDir()
	s := gitserver.New(root)
	if err := s.Init("config", "main"); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	bare := filepath.Join(root, "config.git")
	w, err := configrepo.New(srv.URL+"/config.git", t.TempDir(), configrepo.Author{Name: "Slipway", Email: "slipway@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	c := configcommit.New(w, "main")

	const (
		source   = "9fceb02d0ae598e95dc970b74767f19372d61af8"
		image    = "registry.example.com/apps/hello@sha256:4a1c3e0d9b2f8c7e6a5d4c3b2a190817263544536271809a8b7c6d5e4f3a2b1c"
		delivery = "github-72d3162e-cc78-11e3-81ab-4c9367dc0958"
		release  = "hello-9fceb02d0ae5"
	)
	commit := deploy.Commit{
		Dir:     deploy.Dir("staging", "hello"),
		Files:   []manifest.File{{Path: "manifests.yaml", Data: []byte("kind: Deployment\nimage: " + image + "\n")}},
		Subject: "Deploy hello 9fceb02d0ae5 to staging",
		Trailers: [][2]string{
			{"Source-Commit", source}, {"Image-Digest", image}, {"Slipway-Delivery", delivery}, {"Slipway-Release", release},
		},
	}
	rev, err := c.Commit(t.Context(), commit)
	if err != nil {
		t.Fatal(err)
	}
	if got := git(t, bare, "rev-parse", "main"); got != rev {
		t.Fatalf("main = %s, Commit returned %s", got, rev)
	}
	for key, want := range map[string]string{
		"Source-Commit": source, "Image-Digest": image, "Slipway-Delivery": delivery, "Slipway-Release": release,
	} {
		if got := trailer(t, bare, rev, key); got != want {
			t.Errorf("trailer %s = %q, want %q", key, got, want)
		}
	}
	if got := git(t, bare, "show", rev+":environments/staging/hello/manifests.yaml"); !strings.Contains(got, image) {
		t.Errorf("committed manifests = %q, want the image by digest", got)
	}

	// The same content again (a redo after a crash) returns the commit that holds it.
	again, err := c.Commit(t.Context(), commit)
	if err != nil || again != rev {
		t.Errorf("redo = %s, %v; want %s and no new commit", again, err, rev)
	}

	// A trailer without a value (a Release that names no Delivery) is left out rather
	// than written empty.
	commit.Files[0].Data = []byte("kind: Deployment\nreplicas: 2\n")
	commit.Trailers[2][1] = ""
	rev2, err := c.Commit(t.Context(), commit)
	if err != nil || rev2 == rev {
		t.Fatalf("second Commit = %s, %v; want a new commit", rev2, err)
	}
	if got := trailer(t, bare, rev2, "Slipway-Delivery"); got != "" {
		t.Errorf("Slipway-Delivery = %q for a release without a delivery, want no trailer", got)
	}
	if got := trailer(t, bare, rev2, "Slipway-Release"); got != release {
		t.Errorf("Slipway-Release = %q, want %q", got, release)
	}
}
