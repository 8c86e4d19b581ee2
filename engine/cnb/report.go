package cnb

import (
	"fmt"
	"os"
	"regexp"
	"strings"

	"github.com/BurntSushi/toml"
)

// report is the part of the creator's report.toml that Build uses.
type report struct {
	Digest string
	Tags   []string
}

var digestRE = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)

// readReport reads the creator's report.toml.
func readReport(path string) (*report, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read creator report: %w", err)
	}
	r, err := parseReport(data)
	if err != nil {
		return nil, fmt.Errorf("creator report %s: %w", path, err)
	}
	return r, nil
}

// parseReport decodes a report.toml ([image] digest and tags) and checks the digest's form.
func parseReport(data []byte) (*report, error) {
	var doc struct {
		Image struct {
			Tags   []string `toml:"tags"`
			Digest string   `toml:"digest"`
		} `toml:"image"`
	}
	if _, err := toml.Decode(string(data), &doc); err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	if doc.Image.Digest == "" {
		return nil, fmt.Errorf("no [image] digest (was the image exported?)")
	}
	if !digestRE.MatchString(doc.Image.Digest) {
		return nil, fmt.Errorf("[image] digest %q is not a sha256 digest", doc.Image.Digest)
	}
	return &report{Digest: doc.Image.Digest, Tags: doc.Image.Tags}, nil
}

// readOrder lists the builder's groups from order.toml, each as "id@version" joined by "+".
func readOrder(path string) ([]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read builder order: %w", err)
	}
	groups, err := parseOrder(data)
	if err != nil {
		return nil, fmt.Errorf("builder order %s: %w", path, err)
	}
	return groups, nil
}

// parseOrder decodes an order.toml and describes each group.
func parseOrder(data []byte) ([]string, error) {
	var doc struct {
		Order []struct {
			Group []struct {
				ID       string `toml:"id"`
				Version  string `toml:"version"`
				Optional bool   `toml:"optional"`
			} `toml:"group"`
		} `toml:"order"`
	}
	if _, err := toml.Decode(string(data), &doc); err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	var groups []string
	for i, o := range doc.Order {
		if len(o.Group) == 0 {
			return nil, fmt.Errorf("order %d has no buildpacks", i+1)
		}
		var members []string
		for _, bp := range o.Group {
			if bp.ID == "" {
				return nil, fmt.Errorf("order %d names a buildpack without an id", i+1)
			}
			m := bp.ID
			if bp.Version != "" {
				m += "@" + bp.Version
			}
			if bp.Optional {
				m += " (optional)"
			}
			members = append(members, m)
		}
		groups = append(groups, strings.Join(members, "+"))
	}
	if len(groups) == 0 {
		return nil, fmt.Errorf("no [[order]] groups")
	}
	return groups, nil
}
