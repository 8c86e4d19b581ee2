package main

import (
	"io"
	"log"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"slipway.dev/slipway/engine/sign"
	"slipway.dev/slipway/engine/sign/keylesstest"
)

func TestSignStep(t *testing.T) {
	srv := httptest.NewServer(ggcrregistry.New(ggcrregistry.WithReferrersSupport(true),
		ggcrregistry.Logger(log.New(io.Discard, "", 0))))
	defer srv.Close()
	img, err := random.Image(512, 1)
	if err != nil {
		t.Fatal(err)
	}
	tag, err := name.NewTag(strings.TrimPrefix(srv.URL, "http://") + "/app/web:latest")
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(tag, img); err != nil {
		t.Fatal(err)
	}
	d, _ := img.Digest()
	image := tag.Context().Digest(d.String()).String()

	kp, err := sign.GenerateKeyPair([]byte("s3cret-pass"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	keyFile := write("cosign.key", kp.PrivateKey)
	pwFile := write("cosign.password", append(kp.Password, '\n'))
	sbom := write("sbom.json", []byte(`{"bomFormat":"CycloneDX","specVersion":"1.5"}`))
	scan := write("scan.json", []byte(`{"passed":true}`))
	sigFile, attFile := filepath.Join(dir, "SIGNATURE"), filepath.Join(dir, "ATTESTATIONS")

	out, err := run("step", "sign", "--image", image, "--key", keyFile, "--password-file", pwFile,
		"--sbom", sbom, "--scan", filepath.Base(scan), "--reports-dir", dir, "--signature-file", sigFile, "--attestations-file", attFile)
	if err != nil {
		t.Fatalf("step sign: %v\n%s", err, out)
	}
	if strings.Contains(out, "s3cret-pass") {
		t.Errorf("output reveals the password:\n%s", out)
	}
	sig, _ := os.ReadFile(sigFile)
	atts, _ := os.ReadFile(attFile)
	if !strings.HasPrefix(string(sig), tag.Context().String()+"@sha256:") || len(strings.Split(string(atts), ",")) != 2 {
		t.Errorf("results SIGNATURE=%q ATTESTATIONS=%q", sig, atts)
	}
	v, err := sign.NewVerifier([][]byte{kp.PublicKey})
	if err != nil {
		t.Fatal(err)
	}
	if err := v.VerifyImages(t.Context(), []string{image}); err != nil {
		t.Fatalf("signed by the step, verify: %v", err)
	}
	// The task's arguments in key-pair mode: the signing-key workspace as --key-dir, the
	// keyless ones empty.
	if out, err := run("step", "sign", "--image", image, "--key-dir", dir, "--fulcio-url=", "--identity-token-dir=",
		"--rekor-url=", "--timestamp-url="); err != nil {
		t.Fatalf("step sign --key-dir: %v\n%s", err, out)
	}
	if _, err := v.VerifyAttestations(t.Context(), image, sign.PredicateScan); err != nil {
		t.Fatalf("scan attestation: %v", err)
	}

	for _, tc := range []struct {
		name string
		args []string
		env  string
		want string
	}{
		{"no password", []string{"--image", image, "--key", keyFile}, "", "no key password: give --password-file or set $COSIGN_PASSWORD"},
		{"wrong password", []string{"--image", image, "--key", keyFile}, "nope", "wrong password"},
		{"tag", []string{"--image", tag.String(), "--key", keyFile, "--password-file", pwFile}, "", "not pinned by digest"},
		{"missing key", []string{"--image", image, "--key", filepath.Join(dir, "none")}, "x", "read signing key"},
		{"bad bool", []string{"--insecure-registry", "maybe"}, "", `--insecure-registry "maybe"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("COSIGN_PASSWORD", tc.env)
			_, err := run(append([]string{"step", "sign"}, tc.args...)...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

// pushSignTestImage serves a registry and pushes a random image to it, returned by digest.
func pushSignTestImage(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(ggcrregistry.New(ggcrregistry.WithReferrersSupport(true),
		ggcrregistry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	img, err := random.Image(512, 1)
	if err != nil {
		t.Fatal(err)
	}
	tag, err := name.NewTag(strings.TrimPrefix(srv.URL, "http://") + "/app/keyless:latest")
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(tag, img); err != nil {
		t.Fatal(err)
	}
	d, _ := img.Digest()
	return tag.Context().Digest(d.String()).String()
}

func TestSignStepKeyless(t *testing.T) {
	image := pushSignTestImage(t)
	issuer := keylesstest.NewIssuer(t, keylesstest.Kubernetes)
	fulcio := keylesstest.NewFulcio(t, issuer)
	tsa := keylesstest.NewTSA(t)

	// The identity-token workspace: a projected ServiceAccount token at "token".
	tokenDir := t.TempDir()
	token := issuer.Token(t, keylesstest.ServiceAccount("apps", "pipeline"))
	if err := os.WriteFile(filepath.Join(tokenDir, "token"), []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	reports := t.TempDir()
	if err := os.WriteFile(filepath.Join(reports, "sbom.json"), []byte(`{"bomFormat":"CycloneDX","specVersion":"1.5"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	sigFile := filepath.Join(t.TempDir(), "SIGNATURE")

	// The task passes the unbound signing-key workspace as an empty --key-dir.
	out, err := run("step", "sign", "--image", image, "--key-dir=", "--fulcio-url", fulcio.URL,
		"--identity-token-dir", tokenDir, "--timestamp-url", tsa.URL, "--rekor-url=",
		"--reports-dir", reports, "--sbom", "sbom.json", "--signature-file", sigFile)
	if err != nil {
		t.Fatalf("step sign keyless: %v\n%s", err, out)
	}
	if strings.Contains(out, token) || strings.Contains(out, token[strings.LastIndex(token, ".")+1:]) {
		t.Errorf("output reveals the identity token:\n%s", out)
	}
	const identity = "https://kubernetes.io/namespaces/apps/serviceaccounts/pipeline"
	if !strings.Contains(out, identity) {
		t.Errorf("output does not name the certified identity:\n%s", out)
	}
	if sig, _ := os.ReadFile(sigFile); !strings.Contains(string(sig), "@sha256:") {
		t.Errorf("SIGNATURE = %q", sig)
	}
	v, err := sign.NewTrustVerifier(sign.Trust{Keyless: &sign.KeylessTrust{
		FulcioRoots:        fulcio.TrustBundle(),
		Identities:         []sign.Identity{{Issuer: issuer.URL, Subject: identity}},
		TimestampAuthority: tsa.CertChain(),
	}})
	if err != nil {
		t.Fatal(err)
	}
	if err := v.VerifyImage(t.Context(), image); err != nil {
		t.Fatalf("signed keyless by the step, verify: %v", err)
	}
	if _, err := v.VerifyAttestations(t.Context(), image, sign.PredicateCycloneDX); err != nil {
		t.Fatalf("keyless SBOM attestation: %v", err)
	}

	keyDir := t.TempDir()
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"key and keyless", []string{"--key-dir", keyDir, "--fulcio-url", fulcio.URL, "--identity-token-dir", tokenDir}, "sign with one"},
		{"no token", []string{"--fulcio-url", fulcio.URL, "--identity-token-dir="}, "keyless signing needs the identity token"},
		{"token file missing", []string{"--fulcio-url", fulcio.URL, "--identity-token", filepath.Join(keyDir, "token")}, "no identity token"},
		{"neither", []string{"--key-dir="}, "no signing key"},
		{"Rekor without keyless", []string{"--key-dir", keyDir, "--rekor-url", "https://rekor.example"}, "are for keyless signing"},
		{"bad Fulcio URL", []string{"--fulcio-url", "fulcio.example", "--identity-token-dir", tokenDir}, `Fulcio URL "fulcio.example"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := run(append([]string{"step", "sign", "--image", image}, tc.args...)...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.want)
			}
			if strings.Contains(out+err.Error(), token) {
				t.Errorf("output reveals the identity token")
			}
		})
	}
}
