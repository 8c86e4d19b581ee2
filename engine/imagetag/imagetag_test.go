package imagetag_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"slipway.dev/slipway/engine/imagetag"
)

// serve starts an in-process registry; puts counts the manifest writes it receives.
func serve(t *testing.T) (host string, puts *atomic.Int32) {
	t.Helper()
	puts = &atomic.Int32{}
	reg := registry.New()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/manifests/") {
			puts.Add(1)
		}
		reg.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://"), puts
}

// pushByDigest pushes a random image to repo by digest only and returns repo@digest.
func pushByDigest(t *testing.T, repo string) string {
	t.Helper()
	img, err := random.Image(256, 1)
	if err != nil {
		t.Fatal(err)
	}
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	ref, err := name.NewDigest(repo + "@" + d.String())
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img); err != nil {
		t.Fatal(err)
	}
	return ref.String()
}

func TestLookupAndTag(t *testing.T) {
	host, puts := serve(t)
	repo := host + "/apps/ns/hello"
	r := imagetag.New(imagetag.Insecure(true))
	ctx := t.Context()
	const tag = "src-0123456789abcdef0123456789abcdef"

	// No repository yet: the application's first build.
	if _, err := r.Lookup(ctx, host+"/apps/ns/never", tag); !errors.Is(err, imagetag.ErrNotFound) {
		t.Fatalf("lookup in a missing repository: err = %v, want ErrNotFound", err)
	}
	image := pushByDigest(t, repo)
	if _, err := r.Lookup(ctx, repo, tag); !errors.Is(err, imagetag.ErrNotFound) {
		t.Fatalf("lookup of a missing tag: err = %v, want ErrNotFound", err)
	}

	before := puts.Load()
	if err := r.Tag(ctx, image, tag); err != nil {
		t.Fatal(err)
	}
	if n := puts.Load() - before; n != 1 {
		t.Fatalf("tagging wrote %d manifests, want 1", n)
	}
	got, err := r.Lookup(ctx, repo, tag)
	if err != nil || got != image {
		t.Fatalf("Lookup = %q, %v; want %s", got, err, image)
	}

	t.Run("tagging again writes nothing", func(t *testing.T) {
		before := puts.Load()
		if err := r.Tag(ctx, image, tag); err != nil {
			t.Fatal(err)
		}
		if n := puts.Load() - before; n != 0 {
			t.Errorf("tagging an image that has the tag wrote %d manifests", n)
		}
	})

	t.Run("the tag moves to a newer image", func(t *testing.T) {
		other := pushByDigest(t, repo)
		if err := r.Tag(ctx, other, tag); err != nil {
			t.Fatal(err)
		}
		if got, err := r.Lookup(ctx, repo, tag); err != nil || got != other {
			t.Errorf("Lookup = %q, %v; want %s", got, err, other)
		}
	})
}

func TestErrors(t *testing.T) {
	ctx := t.Context()
	r := imagetag.New(imagetag.Insecure(true))

	// A registry that refuses with a server error is not "not found": the caller must not
	// mistake an outage for a cache miss.
	broken := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "down", http.StatusServiceUnavailable)
	}))
	defer broken.Close()
	host := strings.TrimPrefix(broken.URL, "http://")
	if _, err := r.Lookup(ctx, host+"/app", "src-x"); err == nil || errors.Is(err, imagetag.ErrNotFound) {
		t.Errorf("lookup against a failing registry: err = %v, want an error that is not ErrNotFound", err)
	}
	closed := httptest.NewServer(http.NotFoundHandler())
	closedHost := strings.TrimPrefix(closed.URL, "http://")
	closed.Close()
	if _, err := r.Lookup(ctx, closedHost+"/app", "src-x"); err == nil || errors.Is(err, imagetag.ErrNotFound) || !strings.Contains(err.Error(), closedHost) {
		t.Errorf("lookup against an unreachable registry: err = %v, want one naming the registry", err)
	}

	for _, tc := range []struct{ name, image, tag, want string }{
		{name: "image not by digest", image: host + "/app:latest", tag: "src-x", want: "repository@sha256"},
		{name: "bad tag", image: host + "/app@sha256:" + strings.Repeat("a", 64), tag: "bad tag", want: "bad tag"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := r.Tag(ctx, tc.image, tc.tag); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one containing %q", err, tc.want)
			}
		})
	}
}
