package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"slipway.dev/slipway/engine/scan"
)

// errScanBlocked fails the step when the policy blocks the image; the report says why.
var errScanBlocked = errors.New("vulnerability policy blocks the image")

// scanStepFlags are the trivy-scan task's step flags.
type scanStepFlags struct {
	image, threshold, trivy, insecure        string
	db, dbWorkspace, cacheWorkspace          string
	ignore, ignoreFile, ignoreBase           string
	sbom, outputDir, report                  string
	summaryFile, verdictFile, sbomResultFile string
}

// newScanStep scans an image by digest with Trivy, offline, against a database the operator
// provides, and applies the severity threshold and ignore list.
func newScanStep() *cobra.Command {
	var f scanStepFlags
	cmd := &cobra.Command{
		Use:   "scan",
		Short: "Scan an image for vulnerabilities offline and apply the policy",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runScanStep(cmd, f)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.image, "image", "", "image to scan, pinned by digest (repository@sha256:...)")
	fl.StringVar(&f.threshold, "threshold", "HIGH", "lowest severity that blocks (CRITICAL, HIGH, MEDIUM, LOW, UNKNOWN), or NONE to report only")
	fl.StringVar(&f.trivy, "trivy", "", "trivy binary (default $SLIPWAY_TRIVY, else trivy on PATH)")
	fl.StringVar(&f.insecure, "insecure-registry", "false", "plain HTTP to the registry")
	fl.StringVar(&f.db, "db", "", "vulnerability database: a directory, or oci://REPOSITORY[:TAG] to pull Trivy's DB artifact (default --db-workspace, else $SLIPWAY_TRIVY_DB)")
	fl.StringVar(&f.dbWorkspace, "db-workspace", "", "directory of a bound database workspace")
	fl.StringVar(&f.cacheWorkspace, "cache-workspace", "", "directory kept between runs for the layer cache (and a pulled database)")
	fl.StringVar(&f.ignore, "ignore", "", "ignore list as inline YAML")
	fl.StringVar(&f.ignoreFile, "ignore-file", "", "ignore list file; relative paths are under --ignore-base")
	fl.StringVar(&f.ignoreBase, "ignore-base", "", "directory relative ignore files are read from")
	fl.StringVar(&f.sbom, "sbom", "", "CycloneDX SBOM file to write; relative paths are under --output-dir")
	fl.StringVar(&f.outputDir, "output-dir", "", "directory for the SBOM and the report; empty with a relative path writes none")
	fl.StringVar(&f.report, "report", "", "JSON scan report to write (the summary, for the scan attestation); relative paths are under --output-dir")
	fl.StringVar(&f.summaryFile, "summary-file", "", "result file for SCAN_SUMMARY (JSON)")
	fl.StringVar(&f.verdictFile, "verdict-file", "", "result file for VERDICT (pass or fail)")
	fl.StringVar(&f.sbomResultFile, "sbom-result-file", "", "result file for SBOM (the SBOM's path)")
	return cmd
}

func runScanStep(cmd *cobra.Command, f scanStepFlags) error {
	ctx := cmd.Context()
	insecure, err := strconv.ParseBool(f.insecure)
	if err != nil {
		return fmt.Errorf("--insecure-registry %q: want true or false", f.insecure)
	}
	if f.image == "" {
		return errors.New("--image is required")
	}
	policy, err := scan.ParseThreshold(f.threshold)
	if err != nil {
		return fmt.Errorf("--threshold: %w", err)
	}
	if policy.Ignores, err = loadIgnores(f); err != nil {
		return err
	}
	trivy, err := findTrivy(f.trivy)
	if err != nil {
		return err
	}
	cache := ""
	if f.cacheWorkspace != "" {
		cache = filepath.Join(f.cacheWorkspace, "trivy")
	}
	db, cleanup, err := resolveDB(cmd, f, trivy, cache, insecure)
	if err != nil {
		return err
	}
	defer cleanup()
	opts := []scan.Option{scan.WithInsecureRegistry(insecure), scan.WithCacheDir(cache)}
	if dc := os.Getenv("DOCKER_CONFIG"); dc != "" {
		opts = append(opts, scan.WithDockerConfig(dc))
	}
	s, err := scan.New(trivy, db, opts...)
	if err != nil {
		return err
	}
	sbom := f.sbom
	if sbom != "" && !filepath.IsAbs(sbom) {
		sbom = ""
		if f.outputDir != "" {
			sbom = filepath.Join(f.outputDir, f.sbom)
		}
	}
	if sbom != "" {
		if err := os.MkdirAll(filepath.Dir(sbom), 0o755); err != nil {
			return fmt.Errorf("--sbom: %w", err)
		}
	}
	res, err := s.Scan(ctx, f.image, sbom)
	if err != nil {
		return err
	}
	v := policy.Evaluate(res.Report, time.Now())
	sum := scan.Summarize(f.image, policy, res.Report, v, res.SBOM)
	if err := scan.WriteTable(cmd.OutOrStdout(), sum, v); err != nil {
		return err
	}
	js, err := json.Marshal(sum)
	if err != nil {
		return fmt.Errorf("summary: %w", err)
	}
	if path := outputPath(f.report, f.outputDir); path != "" {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return fmt.Errorf("--report: %w", err)
		}
		if err := os.WriteFile(path, js, 0o644); err != nil {
			return fmt.Errorf("--report: %w", err)
		}
	}
	// Results are written before the verdict fails the step, so a blocked run still says why.
	for _, r := range []struct{ path, value string }{{f.summaryFile, string(js)}, {f.verdictFile, sum.Verdict}, {f.sbomResultFile, res.SBOM}} {
		if err := writeResult(r.path, r.value); err != nil {
			return err
		}
	}
	if !v.Pass {
		return fmt.Errorf("%w: %d blocking finding(s) at or above %s: %s", errScanBlocked, sum.BlockingCount, sum.Threshold, strings.Join(sum.Blocking, ", "))
	}
	return nil
}

// outputPath resolves a relative output file under dir; "" when there is nowhere to write it.
func outputPath(file, dir string) string {
	switch {
	case file == "" || filepath.IsAbs(file):
		return file
	case dir == "":
		return ""
	}
	return filepath.Join(dir, file)
}

// loadIgnores reads the inline list and the file, if any, into one list.
func loadIgnores(f scanStepFlags) ([]scan.Ignore, error) {
	var all []scan.Ignore
	if strings.TrimSpace(f.ignore) != "" {
		list, err := scan.ParseIgnores([]byte(f.ignore), "--ignore")
		if err != nil {
			return nil, err
		}
		all = append(all, list...)
	}
	if f.ignoreFile != "" {
		path := f.ignoreFile
		if !filepath.IsAbs(path) {
			path = filepath.Join(f.ignoreBase, path)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("--ignore-file: %w", err)
		}
		list, err := scan.ParseIgnores(data, f.ignoreFile)
		if err != nil {
			return nil, err
		}
		all = append(all, list...)
	}
	return all, nil
}

// findTrivy resolves the trivy binary: the flag, then $SLIPWAY_TRIVY, then PATH.
func findTrivy(flag string) (string, error) {
	for _, p := range []string{flag, os.Getenv("SLIPWAY_TRIVY")} {
		if p != "" {
			return p, nil
		}
	}
	p, err := exec.LookPath("trivy")
	if err != nil {
		return "", errors.New("no trivy binary: pass --trivy, set SLIPWAY_TRIVY, or put trivy on PATH")
	}
	return p, nil
}

// resolveDB finds the database: --db (a directory or oci://), the bound workspace, or
// $SLIPWAY_TRIVY_DB. cleanup removes a database pulled without a cache to keep it in.
func resolveDB(cmd *cobra.Command, f scanStepFlags, trivy, cache string, insecure bool) (db scan.DB, cleanup func(), err error) {
	cleanup = func() {}
	loc := f.db
	for _, alt := range []string{f.dbWorkspace, os.Getenv("SLIPWAY_TRIVY_DB")} {
		if loc == "" {
			loc = alt
		}
	}
	if loc == "" {
		return scan.DB{}, cleanup, errors.New("no vulnerability database: set --db (the task's db param), bind the trivy-db workspace, or set SLIPWAY_TRIVY_DB")
	}
	repo, isOCI := strings.CutPrefix(loc, "oci://")
	if !isOCI {
		if db, err = scan.OpenDB(loc); err != nil {
			return scan.DB{}, cleanup, fmt.Errorf("--db: %w", err)
		}
		return db, cleanup, nil
	}
	dir := filepath.Join(cache, "db")
	if cache == "" {
		tmp, err := os.MkdirTemp("", "slipway-trivy-db-")
		if err != nil {
			return scan.DB{}, cleanup, err
		}
		dir, cleanup = tmp, func() { os.RemoveAll(tmp) }
	}
	start := time.Now()
	db, err = scan.PullDB(cmd.Context(), trivy, repo, dir, scan.PullOptions{Insecure: insecure, DockerConfig: os.Getenv("DOCKER_CONFIG")})
	if err != nil {
		cleanup()
		return scan.DB{}, func() {}, fmt.Errorf("--db: %w", err)
	}
	fmt.Fprintf(cmd.OutOrStdout(), "pulled vulnerability database %s (updated %s) in %s\n", repo, db.UpdatedAt.Format(time.RFC3339), time.Since(start).Round(time.Millisecond))
	return db, cleanup, nil
}
