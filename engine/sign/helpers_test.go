package sign_test

import (
	"context"
	"io"
	"log"
	"net"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"slipway.dev/slipway/engine/registry"
	"slipway.dev/slipway/engine/sign"
)

const password = "correct horse battery staple"

// keys are generated once per test binary: scrypt makes generation slow on purpose.
var (
	keysOnce         sync.Once
	trusted, foreign *sign.KeyPair
	keysErr          error
)

func testKeys(t testing.TB) (trustedKeys, foreignKeys *sign.KeyPair) {
	t.Helper()
	keysOnce.Do(func() {
		if trusted, keysErr = sign.GenerateKeyPair([]byte(password)); keysErr != nil {
			return
		}
		foreign, keysErr = sign.GenerateKeyPair([]byte("another password"))
	})
	if keysErr != nil {
		t.Fatal(keysErr)
	}
	return trusted, foreign
}

// testRegistry is one kind of real registry the tests run against.
type testRegistry struct {
	name  string
	start func(t testing.TB) string // returns host:port
}

var registries = []testRegistry{
	{"ggcr-referrers-api", startGGCR},
	{"distribution-tag-fallback", startDistribution},
}

// startGGCR serves go-containerregistry's in-memory registry, which has the referrers API.
func startGGCR(t testing.TB) string {
	t.Helper()
	srv := httptest.NewServer(ggcrregistry.New(ggcrregistry.WithReferrersSupport(true),
		ggcrregistry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

// startDistribution runs the embedded distribution registry of `slipway dev`, which has no
// referrers API: signatures go to the sha256-<digest> fallback tag.
func startDistribution(t testing.TB) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r, err := registry.Start(ctx, registry.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = r.Close(ctx)
	})
	return r.Host()
}

// pushImage pushes a random image and returns it by digest.
func pushImage(t testing.TB, host, repo string) string {
	t.Helper()
	img, err := random.Image(1024, 1)
	if err != nil {
		t.Fatal(err)
	}
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	tag, err := name.NewTag(host + "/" + repo + ":latest")
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(tag, img); err != nil {
		t.Fatalf("push %s: %v", tag, err)
	}
	return tag.Context().Digest(d.String()).String()
}

func newSigner(t testing.TB, kp *sign.KeyPair) *sign.Signer {
	t.Helper()
	s, err := sign.NewSigner(kp.PrivateKey, kp.Password)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func newVerifier(t testing.TB, keys ...*sign.KeyPair) *sign.Verifier {
	t.Helper()
	var pems [][]byte
	for _, k := range keys {
		pems = append(pems, k.PublicKey)
	}
	v, err := sign.NewVerifier(pems)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// closedAddr is a loopback address nothing listens on.
func closedAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}
