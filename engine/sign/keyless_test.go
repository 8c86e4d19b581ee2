package sign_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"slipway.dev/slipway/engine/sign"
	"slipway.dev/slipway/engine/sign/keylesstest"
)

// The ServiceAccount the sign step runs as, and the identity Fulcio certifies for it.
const (
	signerNamespace = "apps"
	signerAccount   = "signer"
	signerIdentity  = "https://kubernetes.io/namespaces/apps/serviceaccounts/signer"
)

// keylessEnv is a Kubernetes OIDC issuer and a Fulcio that trusts it.
type keylessEnv struct {
	issuer *keylesstest.Issuer
	fulcio *keylesstest.Fulcio
	// tokens are every token handed out, to check that none leaks.
	tokens []string
}

func newKeylessEnv(t *testing.T) *keylessEnv {
	t.Helper()
	iss := keylesstest.NewIssuer(t, keylesstest.Kubernetes)
	return &keylessEnv{issuer: iss, fulcio: keylesstest.NewFulcio(t, iss)}
}

// tokenSource hands out a fresh ServiceAccount token for every certificate, as a projected
// token file would.
func (e *keylessEnv) tokenSource(t *testing.T, c keylesstest.Claims) sign.TokenSource {
	return func(context.Context) (string, error) {
		tok := e.issuer.Token(t, c)
		e.tokens = append(e.tokens, tok)
		return tok, nil
	}
}

func (e *keylessEnv) signer(t *testing.T, k sign.Keyless, opts ...sign.Option) *sign.Signer {
	t.Helper()
	if k.FulcioURL == "" {
		k.FulcioURL = e.fulcio.URL
	}
	if k.Token == nil {
		k.Token = e.tokenSource(t, keylesstest.ServiceAccount(signerNamespace, signerAccount))
	}
	s, err := sign.NewKeylessSigner(k, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// trust accepts the signer's ServiceAccount from the env's issuer, chained to the env's Fulcio.
func (e *keylessEnv) trust() *sign.KeylessTrust {
	return &sign.KeylessTrust{
		FulcioRoots: e.fulcio.TrustBundle(),
		Identities:  []sign.Identity{{Issuer: e.issuer.URL, Subject: signerIdentity}},
	}
}

func keylessVerifier(t *testing.T, kt *sign.KeylessTrust, keys ...*sign.KeyPair) *sign.Verifier {
	t.Helper()
	tr := sign.Trust{Keyless: kt}
	for _, k := range keys {
		tr.PublicKeys = append(tr.PublicKeys, k.PublicKey)
	}
	v, err := sign.NewTrustVerifier(tr)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func with(kt *sign.KeylessTrust, f func(*sign.KeylessTrust)) *sign.KeylessTrust {
	c := *kt
	c.Identities = append([]sign.Identity(nil), kt.Identities...)
	f(&c)
	return &c
}

var reasons = []error{sign.ErrNotPinned, sign.ErrNoSignature, sign.ErrUntrustedKey, sign.ErrUntrustedCertificate,
	sign.ErrIdentityMismatch, sign.ErrIssuerMismatch, sign.ErrTampered, sign.ErrImageNotFound, sign.ErrRegistryUnreachable}

// checkReason asserts err matches want and no other reason (ErrIssuerMismatch is also an
// ErrIdentityMismatch).
func checkReason(t *testing.T, err, want error, image string) {
	t.Helper()
	if want == nil {
		if err != nil {
			t.Fatalf("VerifyImages: %v", err)
		}
		return
	}
	if !errors.Is(err, want) {
		t.Fatalf("err = %v, want %v", err, want)
	}
	t.Log(err)
	for _, other := range reasons {
		if other == want || (want == sign.ErrIssuerMismatch && other == sign.ErrIdentityMismatch) {
			continue
		}
		if errors.Is(err, other) {
			t.Errorf("err = %v also matches %v", err, other)
		}
	}
	var ie *sign.ImageError
	if !errors.As(err, &ie) || ie.Image != image {
		t.Errorf("err = %#v, want an *ImageError for %s", err, image)
	}
}

func TestKeylessSignVerify(t *testing.T) {
	good, _ := testKeys(t)
	for _, reg := range registries {
		t.Run(reg.name, func(t *testing.T) {
			host := reg.start(t)
			ctx := t.Context()
			env := newKeylessEnv(t)
			var logs bytes.Buffer
			logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
			signer := env.signer(t, sign.Keyless{}, sign.WithLogger(logger))

			signed := pushImage(t, host, "app/keyless")
			res, err := signer.Sign(ctx, signed)
			if err != nil {
				t.Fatalf("keyless Sign: %v", err)
			}
			sbom := []byte(`{"bomFormat":"CycloneDX","specVersion":"1.5"}`)
			if _, err := signer.Attest(ctx, signed, sign.PredicateCycloneDX, sbom); err != nil {
				t.Fatalf("keyless Attest: %v", err)
			}
			if _, err := signer.Attest(ctx, signed, sign.PredicateScan, []byte(`{"passed":true}`)); err != nil {
				t.Fatal(err)
			}
			if n := env.fulcio.Issued(); n != 1 {
				t.Errorf("Fulcio issued %d certificates for one signature and two attestations, want 1 (reused)", n)
			}
			if _, err := signer.PublicKey(); err == nil {
				t.Error("keyless signer returned a public key")
			}
			bundle := string(bundleOf(t, res))
			if !strings.Contains(bundle, `"certificate"`) || strings.Contains(bundle, `"tlogEntries":[{`) {
				t.Errorf("bundle should carry a certificate and no log entry:\n%.400s", bundle)
			}

			unsigned := pushImage(t, host, "app/unsigned")
			copied := pushImage(t, host, "app/keyless")
			attach(t, copied, []byte(bundle))
			altered := pushImage(t, host, "app/altered")
			attach(t, altered, retarget(t, []byte(bundle), signed, altered))
			keySigned := pushImage(t, host, "app/key-signed")
			if _, err := newSigner(t, good).Sign(ctx, keySigned); err != nil {
				t.Fatal(err)
			}

			// A second Fulcio, with its own CA, certifies the same identity.
			other := keylesstest.NewFulcio(t, env.issuer)
			foreignCA := pushImage(t, host, "app/foreign-ca")
			if _, err := env.signer(t, sign.Keyless{FulcioURL: other.URL}).Sign(ctx, foreignCA); err != nil {
				t.Fatal(err)
			}
			// Another ServiceAccount of the same cluster.
			otherAccount := pushImage(t, host, "app/other-account")
			if _, err := env.signer(t, sign.Keyless{Token: env.tokenSource(t, keylesstest.ServiceAccount("apps", "builder"))}).Sign(ctx, otherAccount); err != nil {
				t.Fatal(err)
			}

			trust := env.trust()
			tests := []struct {
				name     string
				verifier *sign.Verifier
				image    string
				want     error
			}{
				{"signed", keylessVerifier(t, trust), signed, nil},
				{"subject regexp", keylessVerifier(t, with(trust, func(k *sign.KeylessTrust) {
					k.Identities = []sign.Identity{{Issuer: env.issuer.URL, SubjectRegexp: `https://kubernetes\.io/namespaces/apps/serviceaccounts/[a-z]+`}}
				})), signed, nil},
				{"one of several identities", keylessVerifier(t, with(trust, func(k *sign.KeylessTrust) {
					k.Identities = append([]sign.Identity{{Issuer: "https://elsewhere.example", Subject: "x"}}, k.Identities...)
				})), signed, nil},
				{"keys and keyless trusted", keylessVerifier(t, trust, good), signed, nil},
				{"key-signed with keys and keyless trusted", keylessVerifier(t, trust, good), keySigned, nil},
				{"unsigned", keylessVerifier(t, trust), unsigned, sign.ErrNoSignature},
				{"another identity", keylessVerifier(t, trust), otherAccount, sign.ErrIdentityMismatch},
				{"regexp is anchored", keylessVerifier(t, with(trust, func(k *sign.KeylessTrust) {
					k.Identities = []sign.Identity{{Issuer: env.issuer.URL, SubjectRegexp: `apps/serviceaccounts/signer`}}
				})), signed, sign.ErrIdentityMismatch},
				{"another issuer", keylessVerifier(t, with(trust, func(k *sign.KeylessTrust) {
					k.Identities = []sign.Identity{{Issuer: "https://issuer.elsewhere.example", Subject: signerIdentity}}
				})), signed, sign.ErrIssuerMismatch},
				{"certificate from another CA", keylessVerifier(t, trust), foreignCA, sign.ErrUntrustedCertificate},
				{"trust bundle lacks the intermediate", keylessVerifier(t, with(trust, func(k *sign.KeylessTrust) {
					k.FulcioRoots = keylesstest.PEM(env.fulcio.Root)
				})), signed, sign.ErrUntrustedCertificate},
				{"signature copied from another digest", keylessVerifier(t, trust), copied, sign.ErrTampered},
				{"signed payload altered", keylessVerifier(t, trust), altered, sign.ErrTampered},
				{"key-signed, keyless trusted only", keylessVerifier(t, trust), keySigned, sign.ErrUntrustedKey},
				{"keyless, keys trusted only", newVerifier(t, good), signed, sign.ErrUntrustedKey},
			}
			var errs []string
			for _, tc := range tests {
				t.Run(tc.name, func(t *testing.T) {
					err := tc.verifier.VerifyImages(ctx, []string{tc.image})
					checkReason(t, err, tc.want, tc.image)
					if err != nil {
						errs = append(errs, err.Error())
					}
				})
			}

			t.Run("details", func(t *testing.T) {
				err := keylessVerifier(t, trust).VerifyImage(ctx, otherAccount)
				for _, want := range []string{"serviceaccounts/builder", env.issuer.URL, signerIdentity} {
					if err == nil || !strings.Contains(err.Error(), want) {
						t.Errorf("identity mismatch %v does not name %s", err, want)
					}
				}
			})

			t.Run("attestations", func(t *testing.T) {
				atts, err := keylessVerifier(t, trust).VerifyAttestations(ctx, signed, sign.PredicateCycloneDX)
				if err != nil || len(atts) != 1 || !sameJSON(t, atts[0].Predicate, sbom) {
					t.Fatalf("keyless SBOM attestation: %v %+v", err, atts)
				}
			})

			t.Run("no secret in logs or errors", func(t *testing.T) {
				if len(env.tokens) == 0 {
					t.Fatal("no token was handed out")
				}
				out := logs.String() + strings.Join(errs, "\n")
				if !strings.Contains(logs.String(), signerIdentity) {
					t.Errorf("logs do not name the certified identity:\n%s", logs.String())
				}
				for _, tok := range env.tokens {
					sig := tok[strings.LastIndex(tok, ".")+1:]
					if strings.Contains(out, tok) || strings.Contains(out, sig) {
						t.Fatalf("a token appears in logs or errors:\n%s", out)
					}
				}
				if strings.Contains(out, "PRIVATE KEY") {
					t.Errorf("key material appears in logs or errors:\n%s", out)
				}
			})
		})
	}
}

func TestKeylessTimestamps(t *testing.T) {
	host := startDistribution(t)
	ctx := t.Context()
	env := newKeylessEnv(t)
	tsa := keylesstest.NewTSA(t)
	// Certificates that expire within seconds show what a trusted time is for: Fulcio's last
	// ten minutes, and the syncer checks images for as long as they run.
	env.fulcio.Lifetime = 2 * time.Second

	stamped := pushImage(t, host, "app/stamped")
	if _, err := env.signer(t, sign.Keyless{TimestampURL: tsa.URL}).Sign(ctx, stamped); err != nil {
		t.Fatalf("Sign with a timestamp: %v", err)
	}
	if tsa.Stamped() != 1 {
		t.Fatalf("timestamp authority signed %d timestamps, want 1", tsa.Stamped())
	}
	plain := pushImage(t, host, "app/plain")
	if _, err := env.signer(t, sign.Keyless{}).Sign(ctx, plain); err != nil {
		t.Fatal(err)
	}
	withTSA := with(env.trust(), func(k *sign.KeylessTrust) { k.TimestampAuthority = tsa.CertChain() })
	otherTSA := with(env.trust(), func(k *sign.KeylessTrust) { k.TimestampAuthority = keylesstest.NewTSA(t).CertChain() })

	before := []struct {
		name  string
		trust *sign.KeylessTrust
		image string
		want  error
	}{
		{"timestamped, timestamp required", withTSA, stamped, nil},
		{"timestamped, current time", env.trust(), stamped, nil},
		{"no timestamp, current time", env.trust(), plain, nil},
		{"no timestamp, timestamp required", withTSA, plain, sign.ErrUntrustedCertificate},
		{"timestamp by an untrusted authority", otherTSA, stamped, sign.ErrUntrustedCertificate},
	}
	for _, tc := range before {
		t.Run("valid/"+tc.name, func(t *testing.T) {
			checkReason(t, keylessVerifier(t, tc.trust).VerifyImage(ctx, tc.image), tc.want, tc.image)
		})
	}

	// Wait for the certificates to expire.
	time.Sleep(time.Until(time.Now().Truncate(time.Second).Add(3 * time.Second)))
	after := []struct {
		name, image, detail string
		trust               *sign.KeylessTrust
		want                error
	}{
		{"timestamped", stamped, "", withTSA, nil},
		{"no trusted time", plain, "has expired", env.trust(), sign.ErrUntrustedCertificate},
		{"timestamped, but no authority trusted", stamped, "has expired", env.trust(), sign.ErrUntrustedCertificate},
	}
	for _, tc := range after {
		t.Run("expired/"+tc.name, func(t *testing.T) {
			err := keylessVerifier(t, tc.trust).VerifyImage(ctx, tc.image)
			checkReason(t, err, tc.want, tc.image)
			if tc.detail != "" && !strings.Contains(err.Error(), tc.detail) {
				t.Errorf("err = %v, want it to say %q", err, tc.detail)
			}
		})
	}
}

func TestKeylessSignerErrors(t *testing.T) {
	host := startDistribution(t)
	ctx := t.Context()
	env := newKeylessEnv(t)
	img := pushImage(t, host, "app/refused")
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	stranger := keylesstest.NewIssuer(t, keylesstest.Kubernetes) // Fulcio does not trust it
	strangerToken := stranger.Token(t, keylesstest.ServiceAccount(signerNamespace, signerAccount))
	wrongAudience := keylesstest.ServiceAccount(signerNamespace, signerAccount)
	wrongAudience.Audience = []string{"https://kubernetes.default.svc"}
	audienceToken := env.issuer.Token(t, wrongAudience)
	fixed := func(tok string) sign.TokenSource { return func(context.Context) (string, error) { return tok, nil } }

	tests := []struct {
		name   string
		k      sign.Keyless
		want   error
		detail string
		secret string
	}{
		{"token file missing", sign.Keyless{Token: sign.TokenFile(filepath.Join(dir, "none"))}, sign.ErrNoIdentityToken, filepath.Join(dir, "none"), ""},
		{"token file empty", sign.Keyless{Token: sign.TokenFile(empty)}, sign.ErrNoIdentityToken, "is empty", ""},
		{"issuer Fulcio does not trust", sign.Keyless{Token: fixed(strangerToken)}, nil, "401", strangerToken},
		{"token for another audience", sign.Keyless{Token: fixed(audienceToken)}, nil, "401", audienceToken},
		{"Fulcio down", sign.Keyless{FulcioURL: "http://" + closedAddr(t)}, nil, "request a signing certificate from Fulcio", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := env.signer(t, tc.k, sign.WithTimeout(5*time.Second)).Sign(ctx, img)
			if err == nil {
				t.Fatal("Sign succeeded")
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Errorf("err = %v, want %v", err, tc.want)
			}
			if !strings.Contains(err.Error(), tc.detail) {
				t.Errorf("err = %v, want it to contain %q", err, tc.detail)
			}
			if tc.secret != "" && strings.Contains(err.Error(), tc.secret) {
				t.Errorf("err reveals the token: %v", err)
			}
		})
	}

	for _, tc := range []struct {
		name string
		k    sign.Keyless
		want string
	}{
		{"no token source", sign.Keyless{FulcioURL: env.fulcio.URL}, "no token source"},
		{"Fulcio URL without scheme", sign.Keyless{FulcioURL: "fulcio.example", Token: fixed("x")}, `Fulcio URL "fulcio.example"`},
		{"Fulcio URL with a password", sign.Keyless{FulcioURL: "https://u:hunter2@fulcio.example", Token: fixed("x")}, "REDACTED"},
		{"bad Rekor URL", sign.Keyless{FulcioURL: env.fulcio.URL, RekorURL: "ftp://rekor", Token: fixed("x")}, `Rekor URL "ftp://rekor"`},
		{"bad timestamp URL", sign.Keyless{FulcioURL: env.fulcio.URL, TimestampURL: "tsa", Token: fixed("x")}, `timestamp authority URL "tsa"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := sign.NewKeylessSigner(tc.k)
			if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "hunter2") {
				t.Fatalf("err = %v, want it to contain %q (and no password)", err, tc.want)
			}
		})
	}
}

func TestKeylessTrustValidation(t *testing.T) {
	env := newKeylessEnv(t)
	good := env.trust()
	tsa := keylesstest.NewTSA(t)
	tests := []struct {
		name  string
		trust *sign.KeylessTrust
		field string
		want  string
	}{
		{"no roots", with(good, func(k *sign.KeylessTrust) { k.FulcioRoots = nil }), "FulcioRoots", "Fulcio roots: no certificate"},
		{"not PEM", with(good, func(k *sign.KeylessTrust) { k.FulcioRoots = []byte("roots") }), "FulcioRoots", "Fulcio roots: not PEM"},
		{"a key, not a certificate", with(good, func(k *sign.KeylessTrust) {
			kp, _ := testKeys(t)
			k.FulcioRoots = kp.PublicKey
		}), "FulcioRoots", `is "PUBLIC KEY", want CERTIFICATE`},
		{"intermediate only", with(good, func(k *sign.KeylessTrust) { k.FulcioRoots = keylesstest.PEM(env.fulcio.Intermediate) }), "FulcioRoots", "no root (self-signed) certificate"},
		{"no identity", with(good, func(k *sign.KeylessTrust) { k.Identities = nil }), "Identities", "no certificate identity"},
		{"no issuer", with(good, func(k *sign.KeylessTrust) { k.Identities = []sign.Identity{{Subject: "s"}} }), "Identities", "no issuer given"},
		{"subject and regexp", with(good, func(k *sign.KeylessTrust) {
			k.Identities = []sign.Identity{{Issuer: "i", Subject: "s", SubjectRegexp: "s"}}
		}), "Identities", "both subject and subject regexp"},
		{"bad regexp", with(good, func(k *sign.KeylessTrust) { k.Identities = []sign.Identity{{Issuer: "i", SubjectRegexp: "("}} }), "Identities", `subject regexp "("`},
		{"bad Rekor key", with(good, func(k *sign.KeylessTrust) { k.RekorPublicKeys = [][]byte{[]byte("rekor")} }), "RekorPublicKeys", "Rekor public key 1"},
		{"TSA chain without root", with(good, func(k *sign.KeylessTrust) { k.TimestampAuthority = keylesstest.PEM(tsa.Leaf) }), "TimestampAuthority", "timestamp authority chain"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := sign.NewTrustVerifier(sign.Trust{Keyless: tc.trust})
			if !errors.Is(err, sign.ErrInvalidTrust) {
				t.Errorf("err = %v, want ErrInvalidTrust", err)
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.want)
			}
			var te *sign.TrustError
			if !errors.As(err, &te) || te.Field != tc.field {
				t.Errorf("err = %#v, want a *TrustError for field %s", err, tc.field)
			}
		})
	}
	if _, err := sign.NewTrustVerifier(sign.Trust{}); err == nil {
		t.Error("NewTrustVerifier with nothing trusted succeeded")
	}
}

// FuzzKeylessTrust feeds operator-supplied trust material (a Fulcio PEM bundle, a TSA chain,
// an identity regexp) to the verifier: it accepts it or refuses it with ErrInvalidTrust, and
// never panics.
func FuzzKeylessTrust(f *testing.F) {
	iss := keylesstest.NewIssuer(f, keylesstest.Kubernetes)
	fulcio := keylesstest.NewFulcio(f, iss)
	tsa := keylesstest.NewTSA(f)
	f.Add(fulcio.TrustBundle(), tsa.CertChain(), `https://kubernetes\.io/.+`)
	f.Add([]byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"), []byte{}, "(")
	f.Add(append(fulcio.TrustBundle(), "trailing"...), keylesstest.PEM(tsa.Leaf), "")
	f.Fuzz(func(t *testing.T, roots, tsaChain []byte, subjectRE string) {
		id := sign.Identity{Issuer: iss.URL, SubjectRegexp: subjectRE}
		if subjectRE == "" {
			id = sign.Identity{Issuer: iss.URL, Subject: signerIdentity}
		}
		_, err := sign.NewTrustVerifier(sign.Trust{Keyless: &sign.KeylessTrust{
			FulcioRoots: roots, TimestampAuthority: tsaChain, Identities: []sign.Identity{id},
		}})
		if err != nil && !errors.Is(err, sign.ErrInvalidTrust) {
			t.Fatalf("err = %v, want ErrInvalidTrust", err)
		}
	})
}

func BenchmarkKeylessSignVerify(b *testing.B) {
	if testing.Short() {
		b.Skip("runs a registry")
	}
	host := startDistribution(b)
	iss := keylesstest.NewIssuer(b, keylesstest.Kubernetes)
	fulcio := keylesstest.NewFulcio(b, iss)
	tsa := keylesstest.NewTSA(b)
	token := func(context.Context) (string, error) {
		return iss.Token(b, keylesstest.ServiceAccount(signerNamespace, signerAccount)), nil
	}
	keylessSigner := func(b *testing.B) *sign.Signer {
		s, err := sign.NewKeylessSigner(sign.Keyless{FulcioURL: fulcio.URL, TimestampURL: tsa.URL, Token: token})
		if err != nil {
			b.Fatal(err)
		}
		return s
	}
	img := pushImage(b, host, "bench/keyless")
	b.Run("sign-new-certificate", func(b *testing.B) {
		for b.Loop() {
			if _, err := keylessSigner(b).Sign(b.Context(), img); err != nil {
				b.Fatal(err)
			}
		}
	})
	signer := keylessSigner(b)
	b.Run("sign-reused-certificate", func(b *testing.B) {
		for b.Loop() {
			if _, err := signer.Sign(b.Context(), img); err != nil {
				b.Fatal(err)
			}
		}
	})
	fresh := pushImage(b, host, "bench/keyless-verify")
	if _, err := signer.Sign(b.Context(), fresh); err != nil {
		b.Fatal(err)
	}
	v, err := sign.NewTrustVerifier(sign.Trust{Keyless: &sign.KeylessTrust{
		FulcioRoots: fulcio.TrustBundle(), TimestampAuthority: tsa.CertChain(),
		Identities: []sign.Identity{{Issuer: iss.URL, Subject: signerIdentity}},
	}})
	if err != nil {
		b.Fatal(err)
	}
	b.Run("verify", func(b *testing.B) {
		for b.Loop() {
			if err := v.VerifyImage(b.Context(), fresh); err != nil {
				b.Fatal(err)
			}
		}
	})
}
