package cluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"slipway.dev/slipway/engine/api/v1alpha1"
	"slipway.dev/slipway/engine/gitserver"
	"slipway.dev/slipway/internal/kubetest"
)

// apiServer is this package's one local API server, shared by its tests.
var apiServer = kubetest.New("cluster")

func TestMain(m *testing.M) { os.Exit(apiServer.Run(m)) }

// freeAddr returns a loopback address nothing listens on right now.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// commonFor is the configuration every component of a test shares: its namespace only.
func commonFor(t *testing.T, ns string) Common {
	t.Helper()
	return Common{
		Namespace: ns, ApplicationNamespaces: []string{ns}, HealthAddr: freeAddr(t), MetricsAddr: "0",
		Kube: apiServer.Config(t), Logger: kubetest.Logger(t),
	}
}

// start runs a component until the test ends and waits until its /readyz answers 200.
func start(t *testing.T, c Common, run func(context.Context) error) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	var runErr error
	go func() {
		defer close(done)
		runErr = run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		if runErr != nil && !errors.Is(runErr, context.Canceled) {
			t.Errorf("component stopped with: %v", runErr)
		}
	})
	eventually(t, "component ready", func() error {
		select {
		case <-done:
			t.Fatalf("component stopped before it was ready: %v", runErr)
		default:
		}
		for _, path := range []string{"/healthz", "/readyz"} {
			resp, err := http.Get("http://" + c.HealthAddr + path)
			if err != nil {
				return err
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("%s: %s", path, resp.Status)
			}
		}
		return nil
	})
}

// eventually retries f until it succeeds or a minute has passed.
func eventually(t *testing.T, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// startGit serves a Git server holding an empty config repo and returns the repo's URL.
func startGit(t *testing.T) string {
	t.Helper()
	g := gitserver.New(t.TempDir())
	if err := g.Init("config", "main"); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(g)
	t.Cleanup(srv.Close)
	return srv.URL + "/config.git"
}

// startRegistry serves go-containerregistry's in-memory registry and returns host:port.
func startRegistry(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(ggcrregistry.New(ggcrregistry.WithReferrersSupport(true),
		ggcrregistry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

// pushImage pushes a random image and returns it by digest.
func pushImage(t *testing.T, host, repo string) string {
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

// newApp is an Application with one service and one environment, dev.
func newApp(ns, name string) *v1alpha1.Application {
	return &v1alpha1.Application{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: v1alpha1.ApplicationSpec{
			Source:       v1alpha1.SourceSpec{Provider: "github", RepoURL: "https://github.com/Codertocat/Hello-World.git", Branch: "master"},
			Services:     []v1alpha1.Service{{Name: "web", Port: 8080}},
			Environments: []v1alpha1.Environment{{Name: "dev"}},
		},
	}
}

func createSecret(t *testing.T, c client.Client, ns, name string, data map[string]string) {
	t.Helper()
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, StringData: data}
	if err := c.Create(t.Context(), s); err != nil {
		t.Fatal(err)
	}
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Clean(path))
	if err != nil {
		t.Fatal(err)
	}
	return b
}
