package sign_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"testing"

	"slipway.dev/slipway/engine/sign"
)

func TestKeyPairRoundTrip(t *testing.T) {
	good, other := testKeys(t)
	data := good.SecretData()
	for _, k := range []string{sign.SecretPrivateKey, sign.SecretPublicKey, sign.SecretPassword} {
		if len(data[k]) == 0 {
			t.Errorf("secret data lacks %s", k)
		}
	}
	if !bytes.Contains(good.PrivateKey, []byte("ENCRYPTED SIGSTORE PRIVATE KEY")) {
		t.Errorf("private key is not an encrypted cosign key:\n%.60s", good.PrivateKey)
	}
	back, err := sign.KeyPairFromSecretData(data)
	if err != nil {
		t.Fatal(err)
	}
	s, err := sign.NewSigner(back.PrivateKey, back.Password)
	if err != nil {
		t.Fatalf("NewSigner with the right password: %v", err)
	}
	pub, err := s.PublicKey()
	if err != nil || !bytes.Equal(pub, good.PublicKey) {
		t.Errorf("signer's public key differs from cosign.pub (%v)", err)
	}

	tests := []struct {
		name     string
		key, pw  []byte
		want     error
		mustHide []string
	}{
		{"wrong password", good.PrivateKey, []byte("hunter2-wrong"), sign.ErrWrongPassword, []string{"hunter2-wrong"}},
		{"another key's password", good.PrivateKey, other.Password, sign.ErrWrongPassword, []string{string(other.Password)}},
		{"empty password", good.PrivateKey, nil, sign.ErrWrongPassword, nil},
		{"public key given", good.PublicKey, good.Password, sign.ErrInvalidKey, []string{password}},
		{"not PEM", []byte("not a key"), good.Password, sign.ErrInvalidKey, []string{password}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := sign.NewSigner(tc.key, tc.pw)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			for _, secret := range append(tc.mustHide, string(good.PrivateKey)) {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error %q reveals a secret", err)
				}
			}
		})
	}

	if _, err := sign.GenerateKeyPair(nil); !errors.Is(err, sign.ErrInvalidKey) {
		t.Errorf("GenerateKeyPair(no password) err = %v, want ErrInvalidKey", err)
	}
	delete(data, sign.SecretPassword)
	if _, err := sign.KeyPairFromSecretData(data); err == nil || !strings.Contains(err.Error(), sign.SecretPassword) {
		t.Errorf("KeyPairFromSecretData without a password: err = %v, want one naming %s", err, sign.SecretPassword)
	}
	if _, err := sign.NewVerifier([][]byte{good.PrivateKey}); !errors.Is(err, sign.ErrInvalidKey) {
		t.Errorf("NewVerifier(private key) err = %v, want ErrInvalidKey", err)
	}
	if _, err := sign.NewVerifier(nil); err == nil {
		t.Error("NewVerifier(no keys) succeeded")
	}
}

func TestKeyPairDoesNotPrint(t *testing.T) {
	good, _ := testKeys(t)
	var logs bytes.Buffer
	slog.New(slog.NewTextHandler(&logs, nil)).Info("key", "pair", good)
	for _, out := range []string{fmt.Sprint(good), fmt.Sprintf("%v %+v %#v %s", good, good, good, good), logs.String()} {
		if strings.Contains(out, password) || strings.Contains(out, "PRIVATE KEY") {
			t.Errorf("key pair printed its secrets: %s", out)
		}
	}
}

func TestAttestations(t *testing.T) {
	good, other := testKeys(t)
	for _, reg := range registries {
		t.Run(reg.name, func(t *testing.T) {
			host := reg.start(t)
			ctx := t.Context()
			img := pushImage(t, host, "app/attested")
			signer := newSigner(t, good)
			sbom := []byte(`{"bomFormat":"CycloneDX","specVersion":"1.5","components":[{"type":"library","name":"busybox","version":"1.36.1"}]}`)
			scan := []byte(`{"scanner":"trivy","threshold":"HIGH","passed":true,"findings":[{"id":"CVE-2024-0001","severity":"LOW"}]}`)
			if _, err := signer.Sign(ctx, img); err != nil {
				t.Fatal(err)
			}
			for typ, pred := range map[string][]byte{sign.PredicateCycloneDX: sbom, sign.PredicateScan: scan} {
				res, err := signer.Attest(ctx, img, typ, pred)
				if err != nil {
					t.Fatalf("Attest %s: %v", typ, err)
				}
				if res.PredicateType != typ || res.Referrer == "" || res.Bundle == "" {
					t.Errorf("Attest %s result %+v", typ, res)
				}
			}
			if _, err := newSigner(t, other).Attest(ctx, img, sign.PredicateScan, []byte(`{"passed":false}`)); err != nil {
				t.Fatal(err)
			}

			v := newVerifier(t, good)
			if err := v.VerifyImages(ctx, []string{img}); err != nil {
				t.Fatalf("signature with attestations attached: %v", err)
			}
			for typ, want := range map[string][]byte{sign.PredicateCycloneDX: sbom, sign.PredicateScan: scan} {
				atts, err := v.VerifyAttestations(ctx, img, typ)
				if err != nil {
					t.Fatalf("VerifyAttestations %s: %v", typ, err)
				}
				// The foreign key's scan attestation is not among them.
				if len(atts) != 1 {
					t.Fatalf("%d %s attestations verified, want 1", len(atts), typ)
				}
				if !sameJSON(t, atts[0].Predicate, want) || atts[0].PredicateType != typ {
					t.Errorf("%s predicate = %s, want %s", typ, atts[0].Predicate, want)
				}
			}
			if _, err := newVerifier(t, other).VerifyAttestations(ctx, img, sign.PredicateCycloneDX); !errors.Is(err, sign.ErrUntrustedKey) {
				t.Errorf("SBOM by another key: err = %v, want ErrUntrustedKey", err)
			}
			if _, err := v.VerifyAttestations(ctx, img, "https://example.com/none/v1"); !errors.Is(err, sign.ErrNoSignature) {
				t.Errorf("absent attestation type: err = %v, want ErrNoSignature", err)
			}
			if _, err := signer.Attest(ctx, img, sign.PredicateScan, []byte(`[1,2]`)); err == nil || !strings.Contains(err.Error(), sign.PredicateScan) {
				t.Errorf("non-object predicate: err = %v, want one naming the predicate type", err)
			}
		})
	}
}

func sameJSON(t *testing.T, a, b []byte) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &y); err != nil {
		t.Fatal(err)
	}
	return reflect.DeepEqual(x, y)
}

func BenchmarkSignVerify(b *testing.B) {
	if testing.Short() {
		b.Skip("runs registries")
	}
	good, _ := testKeys(b)
	for _, reg := range registries {
		host := reg.start(b)
		signer, v := newSigner(b, good), newVerifier(b, good)
		img := pushImage(b, host, "bench/app")
		b.Run(reg.name+"/sign", func(b *testing.B) {
			for b.Loop() {
				if _, err := signer.Sign(b.Context(), img); err != nil {
					b.Fatal(err)
				}
			}
		})
		fresh := pushImage(b, host, "bench/verify")
		if _, err := signer.Sign(b.Context(), fresh); err != nil {
			b.Fatal(err)
		}
		b.Run(reg.name+"/verify", func(b *testing.B) {
			for b.Loop() {
				if err := v.VerifyImages(b.Context(), []string{fresh}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
