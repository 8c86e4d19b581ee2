package scan

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"slipway.dev/slipway/engine/registry"
)

// fixture is what the scan tests share: the tools, a database with planted advisories
// (testdata/advisories.yaml), and a registry holding a vulnerable and a clean image.
type fixture struct {
	trivy, mkdb string
	db          DB
	reg         *registry.Registry
	vulnerable  string // bash 5.2.15 (CRITICAL), zlib1g 1.2.13 (LOW), a Go binary (stdlib, HIGH)
	clean       string // bash and zlib1g at their fixed versions, no Go binary
	tmp         string
}

var (
	fixOnce sync.Once
	fix     *fixture
	fixErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if fix != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_ = fix.reg.Close(ctx)
		cancel()
		os.RemoveAll(fix.tmp)
	}
	os.Exit(code)
}

// setup returns the shared fixture, building it on first use. It skips in -short mode: the
// first build of Trivy takes minutes.
func setup(tb testing.TB) *fixture {
	tb.Helper()
	if testing.Short() {
		tb.Skip("needs the trivy binary and a registry")
	}
	fixOnce.Do(func() { fix, fixErr = newFixture() })
	if fixErr != nil {
		tb.Fatal(fixErr)
	}
	return fix
}

func newFixture() (*fixture, error) {
	f := &fixture{}
	var err error
	if f.tmp, err = os.MkdirTemp("", "scan-test-"); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	if f.trivy, err = toolPath(ctx, "SLIPWAY_SCTOOLS", "../../hack/sctools/build.sh", "trivy"); err != nil {
		return nil, err
	}
	if f.mkdb, err = toolPath(ctx, "", "../../hack/trivydb/build.sh", "mkdb"); err != nil {
		return nil, err
	}
	adv, err := os.ReadFile("testdata/advisories.yaml")
	if err != nil {
		return nil, err
	}
	if f.db, err = MakeDB(ctx, f.mkdb, adv, filepath.Join(f.tmp, "db")); err != nil {
		return nil, err
	}
	if f.reg, err = registry.Start(ctx, registry.Options{Dir: filepath.Join(f.tmp, "registry"), Addr: "127.0.0.1:0"}); err != nil {
		return nil, err
	}
	app, err := buildGoBinary(ctx, f.tmp)
	if err != nil {
		return nil, err
	}
	vuln := debianFiles(map[string]string{"bash": "5.2.15-2+b13", "zlib1g": "1:1.2.13.dfsg-1"})
	vuln["usr/local/bin/app"] = app
	if f.vulnerable, err = pushImage(ctx, f.reg.Host()+"/test/vulnerable", vuln); err != nil {
		return nil, err
	}
	clean := debianFiles(map[string]string{"bash": "5.2.99-1", "zlib1g": "1:1.3.99-1"})
	if f.clean, err = pushImage(ctx, f.reg.Host()+"/test/clean", clean); err != nil {
		return nil, err
	}
	return f, nil
}

// toolPath finds a tool: in the directory named by env, else in the directory the build
// script prints (building it on a cold cache).
func toolPath(ctx context.Context, env, script, tool string) (string, error) {
	if dir := os.Getenv(env); env != "" && dir != "" {
		return filepath.Join(dir, tool), nil
	}
	cmd := exec.CommandContext(ctx, script, tool)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("%s: %w\n%s", script, err, stderr.String())
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	return filepath.Join(lines[len(lines)-1], tool), nil
}

// buildGoBinary compiles a tiny program; its build info names the Go release, which Trivy
// reports as the stdlib package.
func buildGoBinary(ctx context.Context, tmp string) (string, error) {
	dir := filepath.Join(tmp, "app")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	files := map[string]string{"go.mod": "module example.com/app\n\ngo 1.22\n", "main.go": "package main\n\nfunc main() { println(\"hello\") }\n"}
	for n, c := range files {
		if err := os.WriteFile(filepath.Join(dir, n), []byte(c), 0o644); err != nil {
			return "", err
		}
	}
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-o", "app", ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOTOOLCHAIN=local", "GOFLAGS=-buildvcs=false", "GOWORK=off")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build: %w\n%s", err, out)
	}
	data, err := os.ReadFile(filepath.Join(dir, "app"))
	return string(data), err
}

// debianFiles is a Debian 12 root with the given packages recorded in dpkg's status file.
func debianFiles(pkgs map[string]string) map[string]string {
	var status strings.Builder
	for _, p := range []string{"bash", "zlib1g"} {
		fmt.Fprintf(&status, "Package: %s\nStatus: install ok installed\nPriority: required\nArchitecture: amd64\n", p)
		if p == "zlib1g" {
			status.WriteString("Source: zlib\n")
		}
		fmt.Fprintf(&status, "Version: %s\nMaintainer: Debian <debian@example.org>\nDescription: %s\n\n", pkgs[p], p)
	}
	return map[string]string{
		"etc/os-release":      "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\nVERSION_ID=\"12\"\nVERSION=\"12 (bookworm)\"\nID=debian\n",
		"etc/debian_version":  "12.15\n",
		"var/lib/dpkg/status": status.String(),
	}
}

// pushImage pushes a one-layer linux/amd64 image holding files and returns it by digest.
func pushImage(ctx context.Context, repo string, files map[string]string) (string, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, n := range slices.Sorted(maps.Keys(files)) {
		mode := int64(0o644)
		if strings.HasPrefix(n, "usr/local/bin/") {
			mode = 0o755
		}
		hdr := &tar.Header{Name: n, Mode: mode, Size: int64(len(files[n])), Typeflag: tar.TypeReg, ModTime: time.Unix(0, 0)}
		if err := tw.WriteHeader(hdr); err != nil {
			return "", err
		}
		if _, err := io.WriteString(tw, files[n]); err != nil {
			return "", err
		}
	}
	if err := tw.Close(); err != nil {
		return "", err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(buf.Bytes())), nil })
	if err != nil {
		return "", err
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		return "", err
	}
	img, err = mutate.ConfigFile(img, &v1.ConfigFile{OS: "linux", Architecture: "amd64", RootFS: v1.RootFS{Type: "layers", DiffIDs: mustDiffIDs(img)}})
	if err != nil {
		return "", err
	}
	ref, err := name.ParseReference(repo+":test", name.Insecure)
	if err != nil {
		return "", err
	}
	if err := remote.Write(ref, img, remote.WithContext(ctx)); err != nil {
		return "", fmt.Errorf("push %s: %w", ref, err)
	}
	d, err := img.Digest()
	if err != nil {
		return "", err
	}
	return repo + "@" + d.String(), nil
}

func mustDiffIDs(img v1.Image) []v1.Hash {
	cf, err := img.ConfigFile()
	if err != nil {
		panic(err)
	}
	return cf.RootFS.DiffIDs
}
