package scenario

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"slipway.dev/slipway/engine/scan"
)

// SupplyChainArgs prepares what `slipway dev` needs to build with every builder, scan and sign
// (a vulnerability database made from root/testdata/trivy/e2e.yaml with hack/trivydb's mkdb,
// and the sample buildpacks builder) and returns the flags that pass them. The tools come from
// $SLIPWAY_SCTOOLS, which `slipway dev` reads itself. root is the repository's root.
func SupplyChainArgs(ctx context.Context, root, dir string) ([]string, error) {
	if os.Getenv("SLIPWAY_SCTOOLS") == "" {
		return nil, fmt.Errorf("SLIPWAY_SCTOOLS is not set: run with `make test` (it builds the tools with hack/sctools/build.sh)")
	}
	out, err := exec.CommandContext(ctx, filepath.Join(root, "hack", "trivydb", "build.sh")).Output()
	if err != nil {
		return nil, fmt.Errorf("build mkdb (hack/trivydb/build.sh): %w", err)
	}
	mkdb := filepath.Join(strings.TrimSpace(string(out)), "mkdb")
	advisories, err := os.ReadFile(filepath.Join(root, "testdata", "trivy", "e2e.yaml"))
	if err != nil {
		return nil, err
	}
	db := filepath.Join(dir, "trivy-db")
	if _, err := scan.MakeDB(ctx, mkdb, advisories, db); err != nil {
		return nil, err
	}
	builder, err := filepath.Abs(filepath.Join(root, "testdata", "buildpacks"))
	if err != nil {
		return nil, err
	}
	return []string{"--trivy-db", db, "--builder", builder}, nil
}
