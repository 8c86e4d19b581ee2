// Package cnb builds application images with Cloud Native Buildpacks: it assembles a build root
// holding a builder (lifecycle, buildpacks, detection order) and runs the lifecycle's creator in
// a sandbox as an unprivileged user, which pushes the image and a cache image to a registry.
package cnb

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Fixed paths inside the build root, as the lifecycle's platform specification names them.
const (
	appPath       = "/workspace"
	layersPath    = "/layers"
	platformPath  = "/platform"
	lifecyclePath = "/cnb/lifecycle"
	homePath      = "/home/cnb"
)

// Identity and platform settings of every build.
const (
	// BuildUID and BuildGID are the build user inside the sandbox (the "cnb" user of a root made
	// from a builder directory, and the default for builder images).
	BuildUID = 1000
	BuildGID = 1000
	// PlatformAPI is the Platform API version the creator is driven with; lifecycle v0.21
	// supports 0.7 to 0.15.
	PlatformAPI = "0.14"
	// exitFailedDetect and exitFailedDetectWithErrors are the creator's exit codes when no
	// buildpack group passes detection, without and with a buildpack's detect erroring.
	exitFailedDetect           = 20
	exitFailedDetectWithErrors = 21
	// maxLogTail bounds the creator output kept in errors.
	maxLogTail = 40
)

// Command is one program to run in a fresh root.
type Command struct {
	// Root is the host directory that becomes "/".
	Root string
	// Argv is the program (a path inside Root) and its arguments.
	Argv []string
	// Env is the whole environment (KEY=VALUE); nothing is inherited.
	Env []string
	// Dir is the working directory inside Root.
	Dir string
	// UID and GID are the user the program runs as inside the sandbox.
	UID, GID int
	// Stdout and Stderr receive the program's output.
	Stdout, Stderr io.Writer
}

// Sandbox runs a command in its own root as an unprivileged host user, with the host's network.
// IDs inside map to host IDs starting at HostID(0). An error means the command could not be run;
// otherwise its exit code is returned.
type Sandbox interface {
	Run(ctx context.Context, c Command) (exitCode int, err error)
	// HostID returns the host uid (or gid) that id inside the sandbox maps to.
	HostID(id int) int
}

// Options describes one build.
type Options struct {
	// AppDir is the application source on the host. It is copied, never changed.
	AppDir string
	// BuilderDir is a host directory laid out like a builder's /cnb: order.toml and
	// buildpacks/<id>/<version>/, optionally run.toml. The build root is made of busybox
	// (Busybox), the lifecycle (LifecycleDir) and this directory.
	BuilderDir string
	// BuilderImage is a builder image (pinned by digest, preferably) used instead of
	// BuilderDir: its filesystem is the build root, its CNB_USER_ID and CNB_GROUP_ID the build
	// user. It is pulled anew for every build.
	BuilderImage string
	// LifecycleDir holds the static lifecycle and launcher binaries; required with BuilderDir,
	// and with BuilderImage it replaces the image's lifecycle.
	LifecycleDir string
	// Image is the image to push, repository[:tag] (":latest" if no tag).
	Image string
	// RunImage is the image the app image is built on; empty uses the builder's run.toml.
	RunImage string
	// CacheImage keeps cached layers between builds; empty disables the cache.
	CacheImage string
	// Env is the build-time environment the buildpacks see (/platform/env).
	Env map[string]string
	// Insecure uses plain HTTP for the registries of Image, RunImage and CacheImage; meant for
	// loopback registries only.
	Insecure bool
	// RegistryAuth is CNB_REGISTRY_AUTH, a JSON object of registry to Authorization header
	// value; empty means "{}" (anonymous). It is a secret: never logged.
	RegistryAuth string
	// Busybox is the static busybox binary the build root is made of; default /bin/busybox.
	Busybox string
	// WorkDir is where the build root is made; default os.TempDir(). It is removed after the build.
	WorkDir string
	// Log receives the creator's output; nil discards it.
	Log io.Writer
	// Logger is scoped to the build; nil discards.
	Logger *slog.Logger
}

// Result is one finished build.
type Result struct {
	// ImageURL is the pushed image by digest (repository@sha256:...).
	ImageURL string
	// Digest is the image manifest's digest.
	Digest string
	// Tags are the tags the creator pushed.
	Tags []string
	// Prepare and Create are how long assembling the build root and the creator took.
	Prepare, Create time.Duration
}

// Build assembles a build root from opts and runs the creator in sb. The creator detects the
// buildpacks for the app, builds it, exports the image to opts.Image and the cache to
// opts.CacheImage, and Build returns the image by digest from the creator's report. When no
// buildpack recognises the app the error is a *DetectError (errors.Is ErrNoBuildpack).
func Build(ctx context.Context, sb Sandbox, opts Options) (*Result, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("image", opts.Image)
	if opts.BuilderDir != "" {
		// Fail before any copying when the builder directory is not one.
		if _, err := readOrder(filepath.Join(opts.BuilderDir, "order.toml")); err != nil {
			return nil, fmt.Errorf("buildpacks build: %w", err)
		}
	}
	start := time.Now()
	work, err := os.MkdirTemp(opts.WorkDir, "cnb-build-")
	if err != nil {
		return nil, fmt.Errorf("buildpacks build: create build root: %w", err)
	}
	defer os.RemoveAll(work)
	if err := os.Chmod(work, 0o711); err != nil {
		return nil, fmt.Errorf("buildpacks build: %w", err)
	}
	if err := checkTraversable(work); err != nil {
		return nil, fmt.Errorf("buildpacks build: %w", err)
	}
	root := filepath.Join(work, "root")
	user, err := prepareRoot(ctx, root, sb, opts)
	if err != nil {
		return nil, fmt.Errorf("buildpacks build: prepare build root: %w", err)
	}
	order, err := readOrder(filepath.Join(root, "cnb", "order.toml"))
	if err != nil {
		return nil, fmt.Errorf("buildpacks build: %w", err)
	}
	res := &Result{Prepare: time.Since(start)}
	log.Debug("build root ready", "root", root, "took", res.Prepare)

	var tail tailBuffer
	out := io.Writer(&tail)
	if opts.Log != nil {
		out = io.MultiWriter(opts.Log, &tail)
	}
	start = time.Now()
	code, err := sb.Run(ctx, Command{
		Root: root, Argv: creatorArgv(opts), Env: creatorEnv(opts, user), Dir: appPath,
		UID: user.uid, GID: user.gid, Stdout: out, Stderr: out,
	})
	res.Create = time.Since(start)
	if err != nil {
		return nil, fmt.Errorf("buildpacks build: run creator: %w", err)
	}
	switch {
	case code == exitFailedDetect || code == exitFailedDetectWithErrors:
		return nil, &DetectError{App: opts.AppDir, Tried: order, DetectErrors: code == exitFailedDetectWithErrors, Log: tail.String()}
	case code != 0:
		return nil, &CreatorError{ExitCode: code, Log: tail.String()}
	}
	rep, err := readReport(filepath.Join(root, layersPath, "report.toml"))
	if err != nil {
		return nil, fmt.Errorf("buildpacks build: %w", err)
	}
	res.Digest, res.Tags = rep.Digest, rep.Tags
	res.ImageURL = repository(opts.Image) + "@" + rep.Digest
	log.Info("buildpacks image pushed", "digest", res.Digest, "create", res.Create.Round(time.Millisecond))
	return res, nil
}

// checkTraversable makes sure the sandbox's unprivileged users can reach dir: every ancestor
// must be searchable by others.
func checkTraversable(dir string) error {
	for d := filepath.Dir(dir); ; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil {
			return err
		}
		if fi.Mode().Perm()&0o001 == 0 {
			return fmt.Errorf("work directory %s is inside %s, which the sandbox's users cannot enter (mode %s); choose a work directory whose parents are searchable by others", dir, d, fi.Mode().Perm())
		}
		if d == filepath.Dir(d) {
			return nil
		}
	}
}

func (o *Options) validate() error {
	if (o.BuilderDir == "") == (o.BuilderImage == "") {
		return errors.New("buildpacks build: give exactly one of a builder directory and a builder image")
	}
	lifecycle := o.LifecycleDir
	if o.BuilderImage != "" {
		lifecycle = "-" // the image brings its own
	}
	var missing []string
	for _, f := range []struct{ name, v string }{
		{"app directory", o.AppDir}, {"lifecycle directory", lifecycle}, {"image", o.Image},
	} {
		if f.v == "" {
			missing = append(missing, f.name)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("buildpacks build: missing %s", strings.Join(missing, ", "))
	}
	for k := range o.Env {
		if !validEnvName(k) {
			return fmt.Errorf("buildpacks build: build env name %q: want letters, digits and _, not starting with a digit", k)
		}
	}
	for _, ref := range []string{o.Image, o.RunImage, o.CacheImage, o.BuilderImage} {
		if strings.ContainsAny(ref, " \t\n\"'") || strings.HasPrefix(ref, "-") {
			return fmt.Errorf("buildpacks build: image reference %q is malformed", ref)
		}
	}
	return nil
}

func validEnvName(k string) bool {
	if k == "" || (k[0] >= '0' && k[0] <= '9') {
		return false
	}
	for _, r := range k {
		if !(r == '_' || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9')) {
			return false
		}
	}
	return true
}

// creatorArgv is the creator's command line. The report lands at its default place,
// <layers>/report.toml.
func creatorArgv(o Options) []string {
	argv := []string{lifecyclePath + "/creator", "-log-level", "info", "-no-color",
		"-app", appPath, "-layers", layersPath, "-platform", platformPath}
	if o.RunImage != "" {
		argv = append(argv, "-run-image", o.RunImage)
	}
	if o.CacheImage != "" {
		argv = append(argv, "-cache-image", o.CacheImage)
	}
	for _, r := range insecureRegistries(o) {
		argv = append(argv, "-insecure-registry", r)
	}
	return append(argv, o.Image)
}

func creatorEnv(o Options, user builderUser) []string {
	auth := o.RegistryAuth
	if auth == "" {
		auth = "{}"
	}
	env := []string{
		"PATH=" + lifecyclePath + ":/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin",
		"HOME=" + homePath,
		"CNB_PLATFORM_API=" + PlatformAPI,
		fmt.Sprintf("CNB_USER_ID=%d", user.uid),
		fmt.Sprintf("CNB_GROUP_ID=%d", user.gid),
		"CNB_REGISTRY_AUTH=" + auth,
		"SSL_CERT_FILE=/" + caBundlePath,
	}
	if r := insecureRegistries(o); len(r) > 0 {
		env = append(env, "CNB_INSECURE_REGISTRIES="+strings.Join(r, ","))
	}
	return env
}

// insecureRegistries lists the distinct registries of the build's images when opts.Insecure.
func insecureRegistries(o Options) []string {
	if !o.Insecure {
		return nil
	}
	var regs []string
	seen := map[string]bool{}
	for _, ref := range []string{o.Image, o.RunImage, o.CacheImage, o.BuilderImage} {
		if ref == "" {
			continue
		}
		if r := registryOf(ref); !seen[r] {
			seen[r] = true
			regs = append(regs, r)
		}
	}
	return regs
}

// registryOf returns the registry host of an image reference ("docker.io" when it names none).
func registryOf(ref string) string {
	first, _, ok := strings.Cut(ref, "/")
	if !ok || (!strings.ContainsAny(first, ".:") && first != "localhost") {
		return "docker.io"
	}
	return first
}

// repository drops the tag and digest from an image reference.
func repository(ref string) string {
	if i := strings.Index(ref, "@"); i >= 0 {
		ref = ref[:i]
	}
	if i := strings.LastIndex(ref, ":"); i > strings.LastIndex(ref, "/") {
		ref = ref[:i]
	}
	return ref
}

// tailBuffer keeps everything written to it; String returns the last maxLogTail lines.
type tailBuffer struct{ buf bytes.Buffer }

func (t *tailBuffer) Write(p []byte) (int, error) { return t.buf.Write(p) }

func (t *tailBuffer) String() string {
	lines := strings.Split(strings.TrimRight(t.buf.String(), "\n"), "\n")
	if len(lines) > maxLogTail {
		lines = lines[len(lines)-maxLogTail:]
	}
	return strings.Join(lines, "\n")
}

// DetectError is returned when no buildpack group of the builder recognises the app.
type DetectError struct {
	// App is the source directory.
	App string
	// Tried lists the builder's buildpack groups, each as "id@version" joined by "+".
	Tried []string
	// DetectErrors is set when a buildpack's detect failed with an error rather than declining.
	DetectErrors bool
	// Log is the end of the creator's output.
	Log string
}

// ErrNoBuildpack matches a *DetectError with errors.Is.
var ErrNoBuildpack = errors.New("no buildpack detected")

func (e *DetectError) Error() string {
	how := "none of them recognised the source"
	if e.DetectErrors {
		how = "a buildpack's detect failed with an error"
	}
	return fmt.Sprintf("%s for %s: the builder tried %s and %s. Choose the build explicitly in the Application: "+
		"spec.build.strategy: dockerfile (with spec.build.dockerfile) or ko for a Go app, or keep buildpacks with "+
		"a spec.build.builder whose buildpacks support this source\n%s",
		ErrNoBuildpack, e.App, strings.Join(e.Tried, ", "), how, e.Log)
}

// Is makes errors.Is(err, ErrNoBuildpack) true.
func (e *DetectError) Is(target error) bool { return target == ErrNoBuildpack }

// CreatorError is returned when the creator fails after detection.
type CreatorError struct {
	ExitCode int
	// Log is the end of the creator's output.
	Log string
}

func (e *CreatorError) Error() string {
	return fmt.Sprintf("buildpacks build: creator exited with code %d\n%s", e.ExitCode, e.Log)
}
