// Package gobuild is the Go fast path: it builds a Go app and appends it to a base image with
// go-containerregistry.
package gobuild

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"slipway.dev/slipway/engine/baseimage"
)

// ErrNoGoMod is returned when the source directory has no go.mod.
var ErrNoGoMod = errors.New("no go.mod in source directory")

// CompileError is returned when `go build` fails. Output holds what the go command printed,
// trimmed to its last lines, so that a user can see why.
type CompileError struct {
	Dir     string
	Package string
	Output  string
	Err     error
}

func (e *CompileError) Error() string {
	return fmt.Sprintf("go build %s in %s: %v\n%s", e.Package, e.Dir, e.Err, e.Output)
}

func (e *CompileError) Unwrap() error { return e.Err }

// Annotation keys set on every image Build pushes (OCI image-spec, annotations.md).
const (
	AnnotationSource     = "org.opencontainers.image.source"
	AnnotationRevision   = "org.opencontainers.image.revision"
	AnnotationBaseName   = "org.opencontainers.image.base.name"
	AnnotationBaseDigest = "org.opencontainers.image.base.digest"
)

const (
	defaultPlatform = "linux/amd64"
	appDir          = "app"
	// maxOutputLines bounds the compiler output kept in a CompileError.
	maxOutputLines = 60
)

// Options describes one build.
type Options struct {
	// SourceDir is the directory holding the app's go.mod.
	SourceDir string
	// Package is the main package to build, relative to SourceDir; "." if empty.
	Package string
	// BaseImage is the reference of the image the binary is appended to, by tag or by digest.
	BaseImage string
	// Repository is the target repository, such as 127.0.0.1:5000/apps/hello.
	Repository string
	// Tag, if set, is pushed in addition to the digest.
	Tag string
	// Insecure talks plain HTTP to the registries, for loopback registries.
	Insecure bool
	// GoEnv holds extra KEY=VALUE entries for the go command; they override Build's defaults.
	GoEnv []string
	// Platform is os/arch[/variant] of the image and the binary; linux/amd64 if empty.
	Platform string
	// Source and Revision, if set, become the image's source and revision annotations.
	Source   string
	Revision string
	// Created stamps the image config, its history and the layer's files, in the manner of
	// SOURCE_DATE_EPOCH; the Unix epoch if zero, so that the same inputs give the same digest.
	Created time.Time
	// Keychain resolves registry credentials; authn.DefaultKeychain if nil.
	Keychain authn.Keychain
}

// Result describes a pushed image.
type Result struct {
	// Image is the pushed image pinned by digest: repository@sha256:….
	Image string
	// Digest is the manifest digest, sha256:….
	Digest string
	// Binary is the binary's path inside the image, which is also the entrypoint.
	Binary string
	// BinarySize is the binary's size in bytes.
	BinarySize int64
	// Compile and Push are how long `go build` and assembling plus pushing the image took.
	Compile time.Duration
	Push    time.Duration
}

// Build compiles opts.Package with `go build`, appends the binary as /app/<name> to
// opts.BaseImage and pushes the result to opts.Repository by digest. The same source, base and
// options always give the same digest.
func Build(ctx context.Context, opts Options) (Result, error) {
	if err := opts.setDefaults(); err != nil {
		return Result{}, fmt.Errorf("go build: %w", err)
	}
	platform, err := v1.ParsePlatform(opts.Platform)
	if err != nil {
		return Result{}, fmt.Errorf("go build: platform %q: %w", opts.Platform, err)
	}
	nameOpts := nameOptions(opts.Insecure)
	baseRef, err := name.ParseReference(opts.BaseImage, nameOpts...)
	if err != nil {
		return Result{}, fmt.Errorf("go build: base image: %w", err)
	}
	repo, err := name.NewRepository(opts.Repository, nameOpts...)
	if err != nil {
		return Result{}, fmt.Errorf("go build: target repository: %w", err)
	}

	tmp, err := os.MkdirTemp("", "slipway-gobuild-")
	if err != nil {
		return Result{}, fmt.Errorf("go build: %w", err)
	}
	defer os.RemoveAll(tmp)

	start := time.Now()
	bin, err := compile(ctx, opts, *platform, tmp)
	if err != nil {
		return Result{}, err
	}
	res := Result{Compile: time.Since(start)}

	start = time.Now()
	ropts := remoteOptions(ctx, opts.Keychain, *platform)
	img, err := appendBinary(baseRef, bin, opts, *platform, ropts)
	if err != nil {
		return Result{}, fmt.Errorf("go build: %w", err)
	}
	digest, err := push(repo, opts.Tag, img, ropts)
	if err != nil {
		return Result{}, fmt.Errorf("go build: %w", err)
	}
	res.Push = time.Since(start)
	res.Image = repo.Name() + "@" + digest.String()
	res.Digest = digest.String()
	res.Binary = "/" + appDir + "/" + filepath.Base(bin)
	if fi, err := os.Stat(bin); err == nil {
		res.BinarySize = fi.Size()
	}
	return res, nil
}

func (o *Options) setDefaults() error {
	if o.SourceDir == "" {
		return errors.New("source directory is required")
	}
	if o.BaseImage == "" {
		return errors.New("base image is required")
	}
	if o.Repository == "" {
		return errors.New("target repository is required")
	}
	if o.Package == "" {
		o.Package = "."
	}
	if o.Platform == "" {
		o.Platform = defaultPlatform
	}
	if o.Created.IsZero() {
		o.Created = time.Unix(0, 0)
	}
	o.Created = o.Created.UTC().Truncate(time.Second)
	if o.Keychain == nil {
		o.Keychain = authn.DefaultKeychain
	}
	return nil
}

// compile runs `go build` for one platform and returns the binary's path. The go command names
// the binary after the package's import path, as `go install` would.
func compile(ctx context.Context, opts Options, platform v1.Platform, tmp string) (string, error) {
	if _, err := os.Stat(filepath.Join(opts.SourceDir, "go.mod")); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return "", fmt.Errorf("go build %s: %w", opts.SourceDir, ErrNoGoMod)
		}
		return "", fmt.Errorf("go build: %w", err)
	}
	outDir := filepath.Join(tmp, "bin") + string(filepath.Separator)
	// -trimpath and an empty build ID keep paths and build IDs out of the binary, and
	// -buildvcs=false keeps it from depending on the state of any enclosing Git checkout,
	// so the same source gives the same bytes wherever it is checked out.
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-buildvcs=false",
		"-ldflags=-s -w -buildid=", "-o", outDir, opts.Package)
	cmd.Dir = opts.SourceDir
	cmd.Env = goEnv(platform, opts.GoEnv)
	cmd.WaitDelay = 5 * time.Second
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	if err := cmd.Run(); err != nil {
		return "", &CompileError{Dir: opts.SourceDir, Package: opts.Package, Output: trimOutput(out.String()), Err: err}
	}
	bins, err := os.ReadDir(outDir)
	if err != nil {
		return "", fmt.Errorf("go build %s: read output: %w", opts.Package, err)
	}
	if len(bins) != 1 || !bins[0].Type().IsRegular() {
		return "", fmt.Errorf("go build %s: want one binary, got %d files", opts.Package, len(bins))
	}
	return filepath.Join(outDir, bins[0].Name()), nil
}

// goEnv is the go command's environment: the process's own (GOPROXY, GOCACHE, HOME and so on),
// then a static, local-toolchain build for platform, then the caller's extras, which win
// because exec uses the last value of a duplicated key.
func goEnv(platform v1.Platform, extra []string) []string {
	env := append(os.Environ(),
		"CGO_ENABLED=0",
		"GOTOOLCHAIN=local",
		"GOOS="+platform.OS,
		"GOARCH="+platform.Architecture,
	)
	if platform.Architecture == "arm" && strings.HasPrefix(platform.Variant, "v") {
		env = append(env, "GOARM="+strings.TrimPrefix(platform.Variant, "v"))
	}
	return append(env, extra...)
}

// trimOutput keeps the last maxOutputLines lines: the go command prints the first errors of
// each package, and a long dependency download log above them is noise.
func trimOutput(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > maxOutputLines {
		lines = append([]string{fmt.Sprintf("[%d lines omitted]", len(lines)-maxOutputLines)},
			lines[len(lines)-maxOutputLines:]...)
	}
	return strings.Join(lines, "\n")
}

// appendBinary reads the base image for platform and returns it with one more layer holding the
// binary, the binary as entrypoint, a fixed creation time and the OCI annotations.
func appendBinary(baseRef name.Reference, bin string, opts Options, platform v1.Platform, ropts []remote.Option) (v1.Image, error) {
	base, err := remote.Image(baseRef, ropts...)
	if err != nil {
		return nil, fmt.Errorf("read base image %s: %w", baseRef, err)
	}
	baseCfg, err := base.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("read base image config: %w", err)
	}
	if baseCfg.OS != "" && (baseCfg.OS != platform.OS || baseCfg.Architecture != platform.Architecture) {
		return nil, fmt.Errorf("base image %s is %s/%s, want %s", baseRef, baseCfg.OS, baseCfg.Architecture, platform)
	}
	baseDigest, err := base.Digest()
	if err != nil {
		return nil, fmt.Errorf("read base image digest: %w", err)
	}
	data, err := os.ReadFile(bin)
	if err != nil {
		return nil, fmt.Errorf("read binary: %w", err)
	}
	mt, err := layerMediaType(base)
	if err != nil {
		return nil, err
	}
	binPath := path.Join(appDir, filepath.Base(bin))
	layer, err := baseimage.Layer([]baseimage.Entry{
		{Path: appDir, Dir: true, Mode: 0o755},
		{Path: binPath, Mode: 0o755, Data: data},
	}, opts.Created, mt)
	if err != nil {
		return nil, err
	}
	created := v1.Time{Time: opts.Created}
	img, err := mutate.Append(base, mutate.Addendum{
		Layer:     layer,
		MediaType: mt,
		History: v1.History{
			Created:   created,
			CreatedBy: "slipway gobuild " + opts.Package,
			Comment:   "Go binary /" + binPath,
		},
	})
	if err != nil {
		return nil, fmt.Errorf("append binary layer: %w", err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("read image config: %w", err)
	}
	cfg = cfg.DeepCopy()
	cfg.Created = created
	cfg.Config.Entrypoint = []string{"/" + binPath}
	cfg.Config.Cmd = nil
	if img, err = mutate.ConfigFile(img, cfg); err != nil {
		return nil, fmt.Errorf("set image config: %w", err)
	}

	annotations := map[string]string{
		AnnotationBaseName:   baseRef.String(),
		AnnotationBaseDigest: baseDigest.String(),
	}
	if opts.Source != "" {
		annotations[AnnotationSource] = opts.Source
	}
	if opts.Revision != "" {
		annotations[AnnotationRevision] = opts.Revision
	}
	// mutate.Annotations returns an image when given one.
	return mutate.Annotations(img, annotations).(v1.Image), nil
}
