// Package scan runs Trivy offline against an image by digest, applies a severity policy with an
// expiring ignore list, and writes a CycloneDX SBOM.
package scan

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"time"
)

// Scanner runs one Trivy binary against one vulnerability database, never over the network
// except to read the image from its registry.
type Scanner struct {
	trivy        string
	db           DB
	cacheDir     string
	insecure     bool
	dockerConfig string
	timeout      time.Duration
	log          *slog.Logger
}

// Option configures a Scanner.
type Option func(*Scanner)

// WithCacheDir keeps Trivy's layer-analysis cache in dir between scans, so rescans of shared
// layers take a fraction of a second. Scans sharing a dir take turns. Default: a fresh cache
// per scan.
func WithCacheDir(dir string) Option { return func(s *Scanner) { s.cacheDir = dir } }

// WithInsecureRegistry reads images over plain HTTP (loopback registries only).
func WithInsecureRegistry(insecure bool) Option { return func(s *Scanner) { s.insecure = insecure } }

// WithDockerConfig gives Trivy the registry credentials in dir/config.json. Default: none, so
// the host's own credentials are never used by accident.
func WithDockerConfig(dir string) Option { return func(s *Scanner) { s.dockerConfig = dir } }

// WithTimeout bounds one scan (default 10 minutes).
func WithTimeout(d time.Duration) Option { return func(s *Scanner) { s.timeout = d } }

// WithLogger sets the logger (default slog.Default()).
func WithLogger(l *slog.Logger) Option { return func(s *Scanner) { s.log = l } }

// New returns a Scanner running the trivy binary at path against db.
func New(trivy string, db DB, opts ...Option) (*Scanner, error) {
	s := &Scanner{trivy: trivy, db: db, timeout: 10 * time.Minute, log: slog.Default()}
	for _, o := range opts {
		o(s)
	}
	st, err := os.Stat(trivy)
	if err != nil {
		return nil, fmt.Errorf("trivy binary: %w", err)
	}
	if st.IsDir() || st.Mode()&0o111 == 0 {
		return nil, fmt.Errorf("trivy binary %s is not an executable file", trivy)
	}
	if db.Dir == "" {
		return nil, errors.New("scan: no vulnerability database given")
	}
	return s, nil
}

// Result is one image's scan.
type Result struct {
	Image  string
	Report *Report
	// SBOM is the CycloneDX file written, if one was asked for.
	SBOM string
	// Scan and SBOMTime are how long Trivy took for each.
	Scan, SBOMTime time.Duration
}

var digestRef = regexp.MustCompile(`^[^@\s]+@sha256:[0-9a-f]{64}$`)

// Scan scans image, which must be pinned by digest (repo@sha256:...), and, when sbomPath is
// not empty, writes its CycloneDX SBOM there.
func (s *Scanner) Scan(ctx context.Context, image, sbomPath string) (*Result, error) {
	if !digestRef.MatchString(image) {
		return nil, fmt.Errorf("scan: image %q is not pinned by digest (want repository@sha256:<64 hex>)", image)
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	work, err := os.MkdirTemp("", "slipway-scan-")
	if err != nil {
		return nil, fmt.Errorf("scan: %w", err)
	}
	defer os.RemoveAll(work)
	cache, unlock, err := s.prepareCache(ctx, work)
	if err != nil {
		return nil, fmt.Errorf("scan %s: %w", image, err)
	}
	defer unlock()

	log := s.log.With("image", image)
	reportPath := filepath.Join(work, "report.json")
	args := append([]string{"image"}, s.offlineFlags(cache)...)
	args = append(args, "--image-src", "remote", "--scanners", "vuln", "--list-all-pkgs",
		"--format", "json", "--output", reportPath, "--timeout", s.timeout.String())
	if s.insecure {
		args = append(args, "--insecure")
	}
	start := time.Now()
	if err := s.run(ctx, work, append(args, image)...); err != nil {
		return nil, fmt.Errorf("scan %s: %w", image, err)
	}
	res := &Result{Image: image, Scan: time.Since(start)}
	data, err := os.ReadFile(reportPath)
	if err != nil {
		return nil, fmt.Errorf("scan %s: read report: %w", image, err)
	}
	if res.Report, err = ParseReport(data); err != nil {
		return nil, fmt.Errorf("scan %s: %w", image, err)
	}
	log.Debug("trivy scan done", "findings", len(res.Report.Findings), "packages", res.Report.Packages, "took", res.Scan)
	if sbomPath != "" {
		start = time.Now()
		// The JSON report lists every package (--list-all-pkgs), so the SBOM comes from it
		// without reading the image a second time.
		conv := append([]string{"convert"}, "--cache-dir", cache, "--quiet",
			"--format", "cyclonedx", "--output", sbomPath, reportPath)
		if err := s.run(ctx, work, conv...); err != nil {
			return nil, fmt.Errorf("sbom for %s: %w", image, err)
		}
		res.SBOM, res.SBOMTime = sbomPath, time.Since(start)
		log.Debug("sbom written", "path", sbomPath, "took", res.SBOMTime)
	}
	return res, nil
}

// offlineFlags keep Trivy from reaching any network but the image's registry: no DB, Java DB
// or checks downloads, no version check, no telemetry.
func (s *Scanner) offlineFlags(cache string) []string {
	return []string{"--cache-dir", cache, "--skip-db-update", "--skip-java-db-update", "--offline-scan",
		"--skip-check-update", "--skip-version-check", "--disable-telemetry", "--no-progress"}
}

// prepareCache makes Trivy's cache directory for one scan: db points at the database, fanal
// at the shared layer cache (locked for the scan) or a fresh one.
func (s *Scanner) prepareCache(ctx context.Context, work string) (string, func(), error) {
	cache := filepath.Join(work, "cache")
	if err := os.Mkdir(cache, 0o700); err != nil {
		return "", nil, err
	}
	db, err := filepath.Abs(s.db.Dir)
	if err != nil {
		return "", nil, err
	}
	if err := os.Symlink(db, filepath.Join(cache, "db")); err != nil {
		return "", nil, err
	}
	if s.cacheDir == "" {
		return cache, func() {}, nil
	}
	// Trivy's layer cache is a bbolt file that a second process waits five seconds for and
	// then fails; scans sharing it wait their turn here instead.
	unlock, err := lockDir(ctx, s.cacheDir)
	if err != nil {
		return "", nil, err
	}
	fanal := filepath.Join(s.cacheDir, "fanal")
	if err := os.MkdirAll(fanal, 0o700); err != nil {
		unlock()
		return "", nil, fmt.Errorf("layer cache: %w", err)
	}
	fanal, err = filepath.Abs(fanal)
	if err == nil {
		err = os.Symlink(fanal, filepath.Join(cache, "fanal"))
	}
	if err != nil {
		unlock()
		return "", nil, fmt.Errorf("layer cache: %w", err)
	}
	return cache, unlock, nil
}

// run runs trivy with a minimal environment: nothing of the caller's, so neither its
// credentials nor TRIVY_* settings reach the scan.
func (s *Scanner) run(ctx context.Context, work string, args ...string) error {
	cmd := exec.CommandContext(ctx, s.trivy, args...)
	docker := s.dockerConfig
	if docker == "" {
		docker = filepath.Join(work, "docker")
	}
	cmd.Env = []string{"HOME=" + work, "TMPDIR=" + work, "DOCKER_CONFIG=" + docker, "PATH=/usr/bin:/bin"}
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()
	if s.log.Enabled(ctx, slog.LevelDebug) {
		s.log.Debug("trivy output", "args", args[0], "output", stderr.String())
	}
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("trivy %s: %w", args[0], ctx.Err())
		}
		return fmt.Errorf("trivy %s: %w: %s", args[0], err, tail(stderr.String(), 1500))
	}
	return nil
}

// tail keeps the end of Trivy's output, where its fatal error is.
func tail(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) > n {
		s = "..." + s[len(s)-n:]
	}
	return s
}
