// Command mkdb writes a Trivy vulnerability database (schema 2) from an advisory list, so that
// operators can build an offline mirror of their own advisories and tests can plant advisories.
//
//	mkdb -in advisories.yaml -out DIR
//
// DIR receives trivy.db and metadata.json: the layout Trivy keeps under <cache-dir>/db.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/aquasecurity/trivy-db/pkg/db"
	"github.com/aquasecurity/trivy-db/pkg/metadata"
	"github.com/aquasecurity/trivy-db/pkg/types"
	"github.com/aquasecurity/trivy-db/pkg/vulnsrc/bucket"
	bolt "go.etcd.io/bbolt"
)

func main() {
	in := flag.String("in", "", "advisory list, YAML or JSON (- for standard input)")
	out := flag.String("out", "", "directory to write trivy.db and metadata.json to")
	valid := flag.Duration("valid", 10*365*24*time.Hour, "how long the database claims to be current (metadata NextUpdate)")
	flag.Parse()
	if *in == "" || *out == "" || flag.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "usage: mkdb -in advisories.yaml -out DIR [-valid DURATION]")
		os.Exit(2)
	}
	n, err := run(*in, *out, *valid, time.Now().UTC())
	if err != nil {
		fmt.Fprintln(os.Stderr, "mkdb:", err)
		os.Exit(1)
	}
	fmt.Printf("wrote %d advisories to %s\n", n, filepath.Join(*out, "trivy.db"))
}

func run(in, out string, valid time.Duration, now time.Time) (int, error) {
	var data []byte
	var err error
	if in == "-" {
		data, err = io.ReadAll(os.Stdin)
	} else {
		data, err = os.ReadFile(in)
	}
	if err != nil {
		return 0, fmt.Errorf("read advisories: %w", err)
	}
	f, err := parse(data)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", in, err)
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return 0, fmt.Errorf("create output directory: %w", err)
	}
	// Build beside the target and rename into place, so a reader never sees half a database.
	tmp, err := os.MkdirTemp(out, ".mkdb-")
	if err != nil {
		return 0, fmt.Errorf("create work directory: %w", err)
	}
	defer os.RemoveAll(tmp)
	if err := write(tmp, f, valid, now); err != nil {
		return 0, err
	}
	for _, name := range []string{"trivy.db", "metadata.json"} {
		if err := os.Rename(filepath.Join(tmp, name), filepath.Join(out, name)); err != nil {
			return 0, fmt.Errorf("move %s into place: %w", name, err)
		}
	}
	return len(f.Advisories), nil
}

func write(dir string, f File, valid time.Duration, now time.Time) (err error) {
	if err := db.Init(dir); err != nil {
		return fmt.Errorf("create database: %w", err)
	}
	defer func() { err = errors.Join(err, db.Close()) }()
	dbc := db.Config{}
	err = dbc.BatchUpdate(func(tx *bolt.Tx) error {
		// Trivy reads these buckets unconditionally; an empty list still gets them.
		for _, b := range []string{"vulnerability", "data-source"} {
			if _, err := tx.CreateBucketIfNotExists([]byte(b)); err != nil {
				return err
			}
		}
		for _, a := range f.Advisories {
			if err := putAdvisory(tx, dbc, a); err != nil {
				return fmt.Errorf("advisory %s: %w", a.ID, err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("write advisories: %w", err)
	}
	if len(f.Advisories) > 0 {
		// As trivy-db's own build ends: the staging bucket is not part of the database.
		if err := dbc.DeleteAdvisoryDetailBucket(); err != nil {
			return fmt.Errorf("drop staging bucket: %w", err)
		}
	}
	meta := metadata.Metadata{Version: db.SchemaVersion, NextUpdate: now.Add(valid), UpdatedAt: now, DownloadedAt: now}
	if err := metadata.NewClient(dir).Update(meta); err != nil {
		return fmt.Errorf("write metadata: %w", err)
	}
	return nil
}

func putAdvisory(tx *bolt.Tx, dbc db.Config, a Advisory) error {
	sev := strings.ToUpper(a.Severity)
	for _, p := range a.Affects {
		name, src, err := bucketFor(p)
		if err != nil {
			return err
		}
		adv := types.Advisory{FixedVersion: p.Fixed, VulnerableVersions: p.Vulnerable, PatchedVersions: p.Patched}
		if osEcosystems[p.Ecosystem] && p.Fixed == "" {
			adv.Status = types.StatusAffected
		}
		if err := dbc.PutAdvisoryDetail(tx, a.ID, p.Package, []string{name}, adv); err != nil {
			return err
		}
		if err := dbc.PutDataSource(tx, name, src); err != nil {
			return err
		}
	}
	v := types.Vulnerability{Title: a.Title, Description: a.Description, Severity: sev, References: a.References}
	if err := dbc.PutVulnerability(tx, a.ID, v); err != nil {
		return err
	}
	return dbc.SaveAdvisoryDetails(tx, a.ID)
}

// bucketFor returns the bucket Trivy looks the package up in, and the data source it reports.
func bucketFor(p Affect) (string, types.DataSource, error) {
	switch p.Ecosystem {
	case "debian":
		return bucket.NewDebian(p.Release).Name(), types.DataSource{ID: "debian", Name: "Debian Security Tracker (mirror)"}, nil
	case "ubuntu":
		return bucket.NewUbuntu(p.Release).Name(), types.DataSource{ID: "ubuntu", Name: "Ubuntu CVE Tracker (mirror)"}, nil
	case "alpine":
		return bucket.NewAlpine(p.Release).Name(), types.DataSource{ID: "alpine", Name: "Alpine Secdb (mirror)"}, nil
	}
	src := types.DataSource{ID: "ghsa", Name: "GitHub Security Advisory " + langEcosystems[p.Ecosystem],
		URL: "https://github.com/advisories?query=type%3Areviewed+ecosystem%3A" + p.Ecosystem}
	newBucket := map[string]func(types.DataSource) (bucket.DataSourceBucket, error){
		"go": bucket.NewGo, "npm": bucket.NewNpm, "pip": bucket.NewPyPI, "cargo": bucket.NewCargo,
		"maven": bucket.NewMaven, "rubygems": bucket.NewRubyGems, "composer": bucket.NewComposer, "nuget": bucket.NewNuGet,
	}[p.Ecosystem]
	if newBucket == nil {
		return "", types.DataSource{}, fmt.Errorf("unknown ecosystem %q", p.Ecosystem)
	}
	b, err := newBucket(src)
	if err != nil {
		return "", types.DataSource{}, err
	}
	return b.Name(), src, nil
}
