// Package hmacsig checks and makes the hex HMAC-SHA256 body signatures that GitHub, Gitea,
// Forgejo and Bitbucket put on webhook deliveries.
package hmacsig

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"

	"slipway.dev/slipway/webhooks/event"
)

// Verify checks value, the content of header name, as prefix followed by the hex HMAC-SHA256 of
// body, against each secret in constant time; several secrets let a secret be rotated without
// dropping deliveries. Empty secrets are skipped. Errors wrap event.ErrNoSignature when value is
// empty and event.ErrBadSignature otherwise, and never contain the signature.
func Verify(name, value, prefix string, body []byte, secrets [][]byte) error {
	if value == "" {
		return fmt.Errorf("%w: no %s header", event.ErrNoSignature, name)
	}
	hexSum, ok := strings.CutPrefix(value, prefix)
	if !ok {
		return fmt.Errorf("%w: %s does not start with %s", event.ErrBadSignature, name, prefix)
	}
	got, err := hex.DecodeString(hexSum)
	if err != nil || len(got) != sha256.Size {
		return fmt.Errorf("%w: %s is not a hex SHA-256", event.ErrBadSignature, name)
	}
	for _, secret := range secrets {
		if len(secret) == 0 {
			continue
		}
		mac := hmac.New(sha256.New, secret)
		mac.Write(body)
		if hmac.Equal(mac.Sum(nil), got) {
			return nil
		}
	}
	return fmt.Errorf("%w: %s matches no secret", event.ErrBadSignature, name)
}

// Sign returns prefix followed by the hex HMAC-SHA256 of body with secret.
func Sign(prefix string, secret, body []byte) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write(body)
	return prefix + hex.EncodeToString(mac.Sum(nil))
}
