package hmacsig_test

import (
	"errors"
	"strings"
	"testing"

	"slipway.dev/slipway/webhooks/event"
	"slipway.dev/slipway/webhooks/hmacsig"
)

func TestVerify(t *testing.T) {
	body := []byte(`{"ref":"refs/heads/main"}`)
	good := hmacsig.Sign("sha256=", []byte("s2"), body)
	for _, tc := range []struct {
		name    string
		value   string
		secrets [][]byte
		want    error
	}{
		{"matches the second secret", good, [][]byte{[]byte("s1"), []byte("s2")}, nil},
		{"empty secrets skipped", good, [][]byte{nil, []byte("s2")}, nil},
		{"missing", "", [][]byte{[]byte("s2")}, event.ErrNoSignature},
		{"wrong prefix", strings.TrimPrefix(good, "sha256="), [][]byte{[]byte("s2")}, event.ErrBadSignature},
		{"not hex", "sha256=zz", [][]byte{[]byte("s2")}, event.ErrBadSignature},
		{"truncated", good[:len(good)-2], [][]byte{[]byte("s2")}, event.ErrBadSignature},
		{"wrong secret", good, [][]byte{[]byte("s1")}, event.ErrBadSignature},
		{"no secrets", good, nil, event.ErrBadSignature},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := hmacsig.Verify("X-Sig", tc.value, "sha256=", body, tc.secrets)
			if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if err != nil && tc.value != "" && strings.Contains(err.Error(), tc.value) {
				t.Errorf("error contains the signature: %v", err)
			}
		})
	}
}

func TestVerifyChangedBody(t *testing.T) {
	sig := hmacsig.Sign("", []byte("k"), []byte("a"))
	if err := hmacsig.Verify("X-Sig", sig, "", []byte("b"), [][]byte{[]byte("k")}); !errors.Is(err, event.ErrBadSignature) {
		t.Fatalf("err = %v, want ErrBadSignature", err)
	}
}
