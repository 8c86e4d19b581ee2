package v1alpha1

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// ReleaseName is the name of the Release of an Application's build of one commit: the
// Application's name and the commit's first 12 hex digits, so that a retried or duplicated run
// finds the Release it already made. Deploy runs carry it as their LabelRelease before they
// start, so it must also be a label value: at most 63 characters. A longer Application name is
// cut to 40 characters and followed by a digest of the whole name, which keeps it unique.
func ReleaseName(app, sha string) string {
	if len(sha) > 12 {
		sha = sha[:12]
	}
	if len(app)+1+len(sha) <= 63 {
		return app + "-" + sha
	}
	sum := sha256.Sum256([]byte(app))
	return strings.TrimRight(app[:40], "-.") + "-" + hex.EncodeToString(sum[:])[:8] + "-" + sha
}
