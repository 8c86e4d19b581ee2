package deprules

import (
	"bytes"
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
)

const module = "slipway.dev/slipway/"

// owners maps a heavy dependency (module path prefix) to the only packages that may import it
// directly.
var owners = map[string][]string{
	"github.com/go-git/go-git/":                   {"engine/configrepo"},
	"helm.sh/helm/":                               {"engine/render"},
	"github.com/argoproj/argo-cd/gitops-engine/":  {"engine/syncer"},
	"github.com/distribution/distribution/":       {"engine/registry"},
	"github.com/google/go-containerregistry/":     {"engine/gobuild", "engine/baseimage", "engine/sign", "engine/cnb", "engine/imagetag"},
	"github.com/sigstore/":                        {"engine/sign"},
	"k8s.io/kubernetes/":                          {},
	"sigs.k8s.io/controller-runtime/pkg/envtest/": {},
}

// leaves may import only the standard library (and, for the listed ones, other leaves).
var leaves = map[string][]string{
	"webhooks/event":     nil,
	"engine/manifest":    nil,
	"webhooks/hmacsig":   {"webhooks/event"},
	"webhooks/github":    {"webhooks/event", "webhooks/hmacsig"},
	"webhooks/gitea":     {"webhooks/event", "webhooks/hmacsig"},
	"webhooks/bitbucket": {"webhooks/event", "webhooks/hmacsig"},
	"webhooks/gitlab":    {"webhooks/event"},
	"webhooks/webhooktest": {"webhooks/event", "webhooks/hmacsig", "webhooks/github", "webhooks/gitea",
		"webhooks/bitbucket", "webhooks/gitlab"},
}

// forbidden lists module prefixes a package must not depend on, even indirectly.
var forbidden = map[string][]string{
	"webhooks":           {"k8s.io/", "sigs.k8s.io/"},
	"engine/render":      {"github.com/argoproj/", "sigs.k8s.io/controller-runtime", "github.com/go-git/", "github.com/sigstore/", "github.com/tektoncd/"},
	"engine/syncer":      {"helm.sh/", "sigs.k8s.io/controller-runtime", "github.com/go-git/", "github.com/sigstore/", "github.com/tektoncd/"},
	"engine/gobuild":     {"github.com/distribution/"},
	"engine/registry":    {"github.com/google/go-containerregistry/"},
	"engine/gitserver":   {"github.com/go-git/"},
	"engine/localkube":   {"k8s.io/kubernetes", "sigs.k8s.io/controller-runtime", "go.etcd.io/etcd/server", "sigs.k8s.io/kwok"},
	"engine/localrunner": {"helm.sh/", "github.com/argoproj/", "github.com/go-git/", "github.com/sigstore/"},
	"engine/trigger":     {"helm.sh/", "github.com/argoproj/", "github.com/go-git/"},
	"engine/scan":        {"github.com/aquasecurity/", "github.com/google/go-containerregistry/", "k8s.io/", "sigs.k8s.io/controller-runtime"},
}

type pkg struct {
	ImportPath string
	Imports    []string
	Deps       []string
	Standard   bool
}

func listPackages(t *testing.T) map[string]pkg {
	t.Helper()
	if testing.Short() {
		t.Skip("runs go list over the module")
	}
	cmd := exec.Command("go", "list", "-json", "slipway.dev/slipway/...")
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.String())
	}
	pkgs := map[string]pkg{}
	dec := json.NewDecoder(&out)
	for dec.More() {
		var p pkg
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		pkgs[strings.TrimPrefix(p.ImportPath, module)] = p
	}
	return pkgs
}

func isStd(path string) bool {
	first, _, _ := strings.Cut(path, "/")
	return !strings.Contains(first, ".")
}

func TestHeavyDependenciesHaveOneOwner(t *testing.T) {
	for name, p := range listPackages(t) {
		for _, imp := range p.Imports {
			for prefix, allowed := range owners {
				if !strings.HasPrefix(imp, prefix) {
					continue
				}
				ok := false
				for _, a := range allowed {
					ok = ok || a == name
				}
				if !ok {
					t.Errorf("%s imports %s; only %v may import %s", name, imp, allowed, prefix)
				}
			}
		}
	}
}

func TestLeavesImportOnlyTheStandardLibrary(t *testing.T) {
	pkgs := listPackages(t)
	for leaf, allowed := range leaves {
		p, ok := pkgs[leaf]
		if !ok {
			t.Errorf("leaf package %s not found", leaf)
			continue
		}
		for _, dep := range p.Deps {
			if isStd(dep) {
				continue
			}
			ok := false
			for _, a := range allowed {
				ok = ok || dep == module+a
			}
			if !ok {
				t.Errorf("%s depends on %s; it may use the standard library and %v only", leaf, dep, allowed)
			}
		}
	}
}

func TestForbiddenDependencies(t *testing.T) {
	pkgs := listPackages(t)
	for name, banned := range forbidden {
		p, ok := pkgs[name]
		if !ok {
			t.Errorf("package %s not found", name)
			continue
		}
		for _, dep := range p.Deps {
			for _, b := range banned {
				if strings.HasPrefix(dep, b) {
					t.Errorf("%s depends on %s (nothing under %s is allowed there)", name, dep, b)
				}
			}
		}
	}
}
