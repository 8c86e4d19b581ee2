// Package kubetest shares one local kube-apiserver, with Slipway's and Tekton's CRDs installed,
// among the tests of a package; each test gets a namespace of its own. Starting a server costs
// seconds, so a package starts one, on first use, and stops it from TestMain.
package kubetest

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	tektonv1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"slipway.dev/slipway/engine/api/v1alpha1"
	"slipway.dev/slipway/engine/crds"
	"slipway.dev/slipway/engine/localkube"
)

// Server is a package's shared API server.
type Server struct {
	prefix  string
	once    sync.Once
	cluster *localkube.Cluster
	dir     string
	cfg     *rest.Config
	err     error
}

// New returns a Server whose namespaces and state directory are named after prefix.
func New(prefix string) *Server { return &Server{prefix: prefix} }

// Run runs the package's tests, then stops the server if one was started. Call it from
// TestMain: os.Exit(srv.Run(m)).
func (s *Server) Run(m *testing.M) int {
	code := m.Run()
	if s.cluster != nil {
		if err := s.cluster.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			code = 1
		}
	}
	if s.dir != "" {
		os.RemoveAll(s.dir)
	}
	return code
}

// Namespace starts the server on first use and returns a client for it and a new namespace.
// Under -short it skips the test.
func (s *Server) Namespace(t testing.TB) (client.Client, string) {
	t.Helper()
	if testing.Short() {
		t.Skip("starts a local kube-apiserver; skipped with -short")
	}
	s.once.Do(s.start)
	if s.err != nil {
		t.Fatalf("local kube-apiserver: %v", s.err)
	}
	c, err := client.New(s.cfg, client.Options{Scheme: Scheme(t)})
	if err != nil {
		t.Fatal(err)
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: s.prefix + "-"}}
	if err := c.Create(t.Context(), ns); err != nil {
		t.Fatal(err)
	}
	return c, ns.Name
}

// Config returns the server's admin rest.Config; call it after Namespace.
func (s *Server) Config(t testing.TB) *rest.Config {
	t.Helper()
	if s.cfg == nil {
		t.Fatal("kubetest: Config called before Namespace started the server")
	}
	return rest.CopyConfig(s.cfg)
}

// Scheme returns a scheme with Kubernetes', Tekton's and Slipway's types.
func Scheme(t testing.TB) *runtime.Scheme {
	t.Helper()
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{clientgoscheme.AddToScheme, tektonv1.AddToScheme, v1alpha1.AddToScheme} {
		if err := add(scheme); err != nil {
			t.Fatal(err)
		}
	}
	return scheme
}

// Logger writes logs to the test's output, shown with -v or on failure.
func Logger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), nil))
}

func (s *Server) start() {
	bin, err := localkube.BinDir()
	if err != nil {
		s.err = err
		return
	}
	if s.dir, err = os.MkdirTemp("", "slipway-"+s.prefix+"-test-"); err != nil {
		s.err = err
		return
	}
	// Tests have no context before the first one asks for the server.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s.cluster, err = localkube.Start(ctx, localkube.Options{
		BinDir: bin, StateDir: s.dir, Components: localkube.APIServerOnly, NoFsync: true,
	})
	if err != nil {
		s.err = err
		return
	}
	s.cfg = s.cluster.Config()
	var docs [][]byte
	for _, set := range []func() ([][]byte, error){crds.Slipway, crds.Tekton} {
		d, err := set()
		if err != nil {
			s.err = err
			return
		}
		docs = append(docs, d...)
	}
	s.err = localkube.InstallCRDs(ctx, s.cfg, docs...)
}
