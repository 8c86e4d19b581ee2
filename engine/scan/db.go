package scan

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// SchemaVersion is the Trivy DB schema the pinned Trivy (v0.72) reads.
const SchemaVersion = 2

// ErrNoDB means a directory holds no Trivy database.
var ErrNoDB = errors.New("no trivy database")

// DB is a Trivy vulnerability database on disk: a directory holding trivy.db and
// metadata.json, the layout Trivy keeps under <cache-dir>/db. Scans open it read-only.
type DB struct {
	Dir string
	// UpdatedAt and NextUpdate come from metadata.json.
	UpdatedAt, NextUpdate time.Time
}

// OpenDB checks the database in dir. A Trivy cache directory (holding db/trivy.db) is
// accepted too. A missing database is ErrNoDB.
func OpenDB(dir string) (DB, error) {
	if _, err := os.Stat(filepath.Join(dir, "trivy.db")); err != nil {
		if _, err2 := os.Stat(filepath.Join(dir, "db", "trivy.db")); err2 == nil {
			dir = filepath.Join(dir, "db")
		} else if errors.Is(err, os.ErrNotExist) {
			return DB{}, fmt.Errorf("trivy database in %s: %w (want trivy.db and metadata.json there)", dir, ErrNoDB)
		} else {
			return DB{}, fmt.Errorf("trivy database in %s: %w", dir, err)
		}
	}
	data, err := os.ReadFile(filepath.Join(dir, "metadata.json"))
	if err != nil {
		return DB{}, fmt.Errorf("trivy database in %s: %w", dir, err)
	}
	var meta struct {
		Version               int
		NextUpdate, UpdatedAt time.Time
	}
	if err := json.Unmarshal(data, &meta); err != nil {
		return DB{}, fmt.Errorf("trivy database in %s: metadata.json: %w", dir, err)
	}
	if meta.Version != SchemaVersion {
		return DB{}, fmt.Errorf("trivy database in %s: schema version %d, this Trivy reads %d", dir, meta.Version, SchemaVersion)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return DB{}, fmt.Errorf("trivy database in %s: %w", dir, err)
	}
	return DB{Dir: abs, UpdatedAt: meta.UpdatedAt, NextUpdate: meta.NextUpdate}, nil
}

// EmptyAdvisories is an advisory list with no entries: a database made from it finds nothing.
var EmptyAdvisories = []byte("advisories: []\n")

// MakeDB writes a database into dir from an advisory list (the YAML or JSON format of
// hack/trivydb), running the mkdb binary that hack/trivydb/build.sh builds. Operators use it
// for a mirror of their own advisories, `slipway dev` for a local database, tests to plant
// advisories.
func MakeDB(ctx context.Context, mkdb string, advisories []byte, dir string) (DB, error) {
	cmd := exec.CommandContext(ctx, mkdb, "-in", "-", "-out", dir)
	cmd.Stdin = bytes.NewReader(advisories)
	cmd.Env = []string{"PATH=/usr/bin:/bin"}
	if out, err := cmd.CombinedOutput(); err != nil {
		return DB{}, fmt.Errorf("make trivy database in %s: %w: %s", dir, err, strings.TrimSpace(string(out)))
	}
	return OpenDB(dir)
}

// EnsureDB returns the database in dir, first writing one there from advisories with the
// mkdb binary when dir holds none (created reports that). `slipway dev` calls it with the
// directory an operator may fill with a real database and EmptyAdvisories as the fallback;
// a database from EmptyAdvisories finds nothing, so callers should say so in their log.
func EnsureDB(ctx context.Context, dir, mkdb string, advisories []byte) (db DB, created bool, err error) {
	db, err = OpenDB(dir)
	if !errors.Is(err, ErrNoDB) {
		return db, false, err
	}
	if mkdb == "" {
		return DB{}, false, err
	}
	db, err = MakeDB(ctx, mkdb, advisories, dir)
	return db, err == nil, err
}

// PullOptions say how PullDB reaches the registry.
type PullOptions struct {
	// Insecure uses plain HTTP (loopback registries only).
	Insecure bool
	// DockerConfig is a directory holding config.json with the registry's credentials.
	DockerConfig string
}

// PullDB copies the database published as an OCI artifact at repo (a repository or
// repository:tag in Trivy's DB artifact format, as `trivy image --download-db-only` reads it)
// into dir and returns it. It is the one step that needs the registry; scans stay offline.
func PullDB(ctx context.Context, trivy, repo, dir string, o PullOptions) (DB, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return DB{}, fmt.Errorf("pull trivy database: %w", err)
	}
	work, err := os.MkdirTemp(dir, ".pull-")
	if err != nil {
		return DB{}, fmt.Errorf("pull trivy database: %w", err)
	}
	defer os.RemoveAll(work)
	args := []string{"image", "--download-db-only", "--db-repository", repo, "--cache-dir", work,
		"--skip-version-check", "--disable-telemetry", "--no-progress", "--quiet"}
	if o.Insecure {
		args = append(args, "--insecure")
	}
	docker := o.DockerConfig
	if docker == "" {
		docker = filepath.Join(work, "docker")
	}
	cmd := exec.CommandContext(ctx, trivy, args...)
	cmd.Env = []string{"HOME=" + work, "TMPDIR=" + work, "DOCKER_CONFIG=" + docker, "PATH=/usr/bin:/bin"}
	cmd.WaitDelay = 5 * time.Second
	if out, err := cmd.CombinedOutput(); err != nil {
		return DB{}, fmt.Errorf("pull trivy database %s: %w: %s", repo, err, tail(string(out), 1500))
	}
	for _, name := range []string{"trivy.db", "metadata.json"} {
		if err := os.Rename(filepath.Join(work, "db", name), filepath.Join(dir, name)); err != nil {
			return DB{}, fmt.Errorf("pull trivy database %s: %w", repo, err)
		}
	}
	return OpenDB(dir)
}
