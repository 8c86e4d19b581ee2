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
