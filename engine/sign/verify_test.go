package sign_test

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	ociremote "github.com/sigstore/cosign/v3/pkg/oci/remote"
	protobundle "github.com/sigstore/protobuf-specs/gen/pb-go/bundle/v1"
	"google.golang.org/protobuf/encoding/protojson"

	"slipway.dev/slipway/engine/sign"
)

// bundleOf reads the Sigstore bundle a Sign or Attest call stored.
func bundleOf(t *testing.T, res *sign.Result) []byte {
	t.Helper()
	ref, err := name.NewDigest(res.Referrer)
	if err != nil {
		t.Fatal(err)
	}
	img, err := remote.Image(ref)
	if err != nil {
		t.Fatalf("read referrer %s: %v", res.Referrer, err)
	}
	layers, err := img.Layers()
	if err != nil || len(layers) != 1 {
		t.Fatalf("referrer %s: %d layers, %v; want one bundle layer", res.Referrer, len(layers), err)
	}
	if d, _ := layers[0].Digest(); d.String() != res.Bundle {
		t.Fatalf("referrer layer %s, result names bundle %s", d, res.Bundle)
	}
	rc, err := layers[0].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// attach stores bundle bytes as a signature of image, the way an attacker with registry write
// access (but without the key) could.
func attach(t *testing.T, image string, bundle []byte) {
	t.Helper()
	d, err := name.NewDigest(image)
	if err != nil {
		t.Fatal(err)
	}
	if err := ociremote.WriteAttestationNewBundleFormat(d, bundle, sign.PredicateSignature); err != nil {
		t.Fatalf("attach bundle to %s: %v", image, err)
	}
}

// retarget rewrites the signed payload of a bundle to name another digest, keeping the
// signature.
func retarget(t *testing.T, bundle []byte, from, to string) []byte {
	t.Helper()
	var pb protobundle.Bundle
	if err := protojson.Unmarshal(bundle, &pb); err != nil {
		t.Fatal(err)
	}
	env := pb.GetDsseEnvelope()
	fromHex := from[strings.LastIndex(from, ":")+1:]
	toHex := to[strings.LastIndex(to, ":")+1:]
	if !bytes.Contains(env.Payload, []byte(fromHex)) {
		t.Fatalf("payload does not name %s: %s", fromHex, env.Payload)
	}
	env.Payload = bytes.ReplaceAll(env.Payload, []byte(fromHex), []byte(toHex))
	out, err := protojson.Marshal(&pb)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestVerify(t *testing.T) {
	good, other := testKeys(t)
	for _, reg := range registries {
		t.Run(reg.name, func(t *testing.T) {
			host := reg.start(t)
			ctx := t.Context()
			signer, foreignSigner := newSigner(t, good), newSigner(t, other)

			signed := pushImage(t, host, "app/signed")
			res, err := signer.Sign(ctx, signed)
			if err != nil {
				t.Fatalf("Sign: %v", err)
			}
			if res.Image != signed || res.PredicateType != sign.PredicateSignature {
				t.Errorf("result %+v does not name %s and the signature type", res, signed)
			}
			sigBundle := bundleOf(t, res)

			unsigned := pushImage(t, host, "app/unsigned")
			foreign := pushImage(t, host, "app/foreign")
			if _, err := foreignSigner.Sign(ctx, foreign); err != nil {
				t.Fatal(err)
			}
			copied := pushImage(t, host, "app/signed") // same repo, another digest
			attach(t, copied, sigBundle)
			altered := pushImage(t, host, "app/altered")
			attach(t, altered, retarget(t, sigBundle, signed, altered))
			attestedOnly := pushImage(t, host, "app/attested")
			if _, err := signer.Attest(ctx, attestedOnly, sign.PredicateCycloneDX, []byte(`{"bomFormat":"CycloneDX"}`)); err != nil {
				t.Fatal(err)
			}
			repo, _, _ := strings.Cut(signed, "@")
			missing := repo + "@sha256:" + strings.Repeat("ab", 32)

			tests := []struct {
				name     string
				verifier *sign.Verifier
				image    string
				want     error
			}{
				{"signed", newVerifier(t, good), signed, nil},
				{"one of several trusted keys", newVerifier(t, other, good), signed, nil},
				{"tag, not digest", newVerifier(t, good), repo + ":latest", sign.ErrNotPinned},
				{"unsigned", newVerifier(t, good), unsigned, sign.ErrNoSignature},
				{"attestation is not a signature", newVerifier(t, good), attestedOnly, sign.ErrNoSignature},
				{"signed by another key", newVerifier(t, good), foreign, sign.ErrUntrustedKey},
				{"signature trusted elsewhere", newVerifier(t, other), signed, sign.ErrUntrustedKey},
				{"signature copied from another digest", newVerifier(t, good), copied, sign.ErrTampered},
				{"signed payload altered", newVerifier(t, good), altered, sign.ErrTampered},
				{"image missing", newVerifier(t, good), missing, sign.ErrImageNotFound},
				{"registry down", newVerifier(t, good), closedAddr(t) + "/app/x@" + res.Image[strings.Index(res.Image, "@")+1:], sign.ErrRegistryUnreachable},
			}
			for _, tc := range tests {
				t.Run(tc.name, func(t *testing.T) {
					err := tc.verifier.VerifyImages(ctx, []string{tc.image})
					if tc.want == nil {
						if err != nil {
							t.Fatalf("VerifyImages: %v", err)
						}
						return
					}
					if !errors.Is(err, tc.want) {
						t.Fatalf("err = %v, want %v", err, tc.want)
					}
					for _, other := range []error{sign.ErrNotPinned, sign.ErrNoSignature, sign.ErrUntrustedKey,
						sign.ErrTampered, sign.ErrImageNotFound, sign.ErrRegistryUnreachable} {
						if other != tc.want && errors.Is(err, other) {
							t.Errorf("err = %v also matches %v", err, other)
						}
					}
					if !strings.Contains(err.Error(), tc.image) {
						t.Errorf("err = %q does not name the image", err)
					}
					var ie *sign.ImageError
					if !errors.As(err, &ie) || ie.Image != tc.image {
						t.Errorf("err = %#v, want an *ImageError for %s", err, tc.image)
					}
				})
			}

			t.Run("several images", func(t *testing.T) {
				err := newVerifier(t, good).VerifyImages(ctx, []string{signed, unsigned, signed, foreign})
				if !errors.Is(err, sign.ErrNoSignature) || !errors.Is(err, sign.ErrUntrustedKey) {
					t.Fatalf("err = %v, want both the unsigned and the foreign image refused", err)
				}
				if strings.Contains(err.Error(), signed+":") {
					t.Errorf("err = %v names the signed image", err)
				}
				if err := newVerifier(t, good).VerifyImages(ctx, []string{signed, signed}); err != nil {
					t.Fatalf("VerifyImages(signed twice): %v", err)
				}
				if err := newVerifier(t, good).VerifyImages(ctx, nil); err != nil {
					t.Fatalf("VerifyImages(nil): %v", err)
				}
			})
		})
	}
}

func TestFallbackTagWithoutReferrersAPI(t *testing.T) {
	good, _ := testKeys(t)
	host := startDistribution(t)
	img := pushImage(t, host, "app/fallback")
	if _, err := newSigner(t, good).Sign(t.Context(), img); err != nil {
		t.Fatal(err)
	}
	d, err := name.NewDigest(img)
	if err != nil {
		t.Fatal(err)
	}
	tags, err := remote.List(d.Context())
	if err != nil {
		t.Fatal(err)
	}
	want := strings.Replace(d.DigestStr(), ":", "-", 1)
	found := false
	for _, tag := range tags {
		found = found || tag == want
	}
	if !found {
		t.Fatalf("tags %v lack the referrers fallback tag %s", tags, want)
	}
}

func TestSignRefusesTags(t *testing.T) {
	good, _ := testKeys(t)
	host := startGGCR(t)
	img := pushImage(t, host, "app/tagged")
	repo, _, _ := strings.Cut(img, "@")
	if _, err := newSigner(t, good).Sign(t.Context(), repo+":latest"); !errors.Is(err, sign.ErrNotPinned) {
		t.Fatalf("Sign(tag) err = %v, want ErrNotPinned", err)
	}
}
