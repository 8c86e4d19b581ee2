package main

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"slipway.dev/slipway/engine/sign"
)

// signStepFlags are the inputs of `slipway step sign`.
type signStepFlags struct {
	image, keyFile, keyDir, passwordFile, passwordEnv string
	fulcioURL, tokenFile, tokenDir, rekorURL, tsaURL  string
	sbomFile, scanFile, reportsDir, insecure          string
	signatureFile, attestationsFile                   string
}

// identityTokenFile is the file of the identity-token workspace: the path of the projected
// ServiceAccount token in the volume the task's README shows.
const identityTokenFile = "token"

// newSignStep signs an image digest, with a cosign key or keyless, and attaches its SBOM and
// scan report as attestations. It is the only step that reads the signing key or the
// identity token.
func newSignStep() *cobra.Command {
	var f signStepFlags
	cmd := &cobra.Command{
		Use:   "sign",
		Short: "Sign an image digest and attach its SBOM and scan report as attestations",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			insecure, err := strconv.ParseBool(f.insecure)
			if err != nil {
				return fmt.Errorf("--insecure-registry %q: want true or false", f.insecure)
			}
			if f.image == "" {
				return fmt.Errorf("--image is required")
			}
			opts := []sign.Option{sign.WithLogger(slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), nil)))}
			if insecure {
				opts = append(opts, sign.WithInsecureRegistry())
			}
			signer, err := newStepSigner(f, opts)
			if err != nil {
				return err
			}
			ctx, out := cmd.Context(), cmd.OutOrStdout()
			res, err := signer.Sign(ctx, f.image)
			if err != nil {
				return err
			}
			fmt.Fprintf(out, "signed %s\nsignature %s\n", res.Image, res.Referrer)
			var attestations []string
			for _, a := range []struct{ file, predicateType string }{
				{f.sbomFile, sign.PredicateCycloneDX},
				{f.scanFile, sign.PredicateScan},
			} {
				if a.file == "" {
					continue
				}
				file := a.file
				if !filepath.IsAbs(file) && f.reportsDir != "" {
					file = filepath.Join(f.reportsDir, file)
				}
				predicate, err := os.ReadFile(file)
				if err != nil {
					return fmt.Errorf("read %s predicate: %w", a.predicateType, err)
				}
				r, err := signer.Attest(ctx, f.image, a.predicateType, predicate)
				if err != nil {
					return err
				}
				fmt.Fprintf(out, "attestation %s %s\n", a.predicateType, r.Referrer)
				attestations = append(attestations, r.Referrer)
			}
			if err := writeResult(f.signatureFile, res.Referrer); err != nil {
				return err
			}
			return writeResult(f.attestationsFile, strings.Join(attestations, ","))
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.image, "image", "", "image to sign, REPOSITORY@sha256:DIGEST")
	fl.StringVar(&f.keyFile, "key", "", "cosign private key (cosign.key)")
	fl.StringVar(&f.keyDir, "key-dir", "", "directory holding cosign.key and cosign.password (the signing-key workspace); empty: none")
	fl.StringVar(&f.passwordFile, "password-file", "", "file holding the key's password (cosign.password); default: the --password-env variable")
	fl.StringVar(&f.passwordEnv, "password-env", "COSIGN_PASSWORD", "environment variable holding the key's password")
	fl.StringVar(&f.fulcioURL, "fulcio-url", "", "sign keyless: the Fulcio that certifies an ephemeral key for the identity token")
	fl.StringVar(&f.tokenFile, "identity-token", "", "keyless: file holding the OIDC identity token (a projected ServiceAccount token with Fulcio's audience)")
	fl.StringVar(&f.tokenDir, "identity-token-dir", "", "keyless: directory holding the identity token as "+identityTokenFile+" (the identity-token workspace)")
	fl.StringVar(&f.rekorURL, "rekor-url", "", "keyless: log every signature in this Rekor; empty: no transparency log entry")
	fl.StringVar(&f.tsaURL, "timestamp-url", "", "keyless: have this RFC 3161 timestamp authority sign the time of every signature; empty: none")
	fl.StringVar(&f.sbomFile, "sbom", "", "CycloneDX JSON SBOM to attach as an attestation (optional)")
	fl.StringVar(&f.scanFile, "scan", "", "scan report JSON to attach as an attestation (optional)")
	fl.StringVar(&f.reportsDir, "reports-dir", "", "directory that relative --sbom and --scan paths are in")
	fl.StringVar(&f.insecure, "insecure-registry", "false", "plain HTTP to the registry")
	fl.StringVar(&f.signatureFile, "signature-file", "", "result file for SIGNATURE (the referrer holding the signature)")
	fl.StringVar(&f.attestationsFile, "attestations-file", "", "result file for ATTESTATIONS (comma-separated referrers)")
	return cmd
}

// newStepSigner signs with the key (--key or --key-dir) or, given --fulcio-url, keyless with the
// identity token; exactly one of the two.
func newStepSigner(f signStepFlags, opts []sign.Option) (*sign.Signer, error) {
	keyGiven := f.keyFile != "" || f.keyDir != ""
	switch {
	case keyGiven && f.fulcioURL != "":
		return nil, fmt.Errorf("both a signing key (--key or the signing-key workspace) and --fulcio-url are given; sign with one")
	case f.fulcioURL != "":
		token := f.tokenFile
		if token == "" && f.tokenDir != "" {
			token = filepath.Join(f.tokenDir, identityTokenFile)
		}
		if token == "" {
			return nil, fmt.Errorf("keyless signing needs the identity token: give --identity-token FILE, or bind the identity-token workspace")
		}
		return sign.NewKeylessSigner(sign.Keyless{
			FulcioURL: f.fulcioURL, Token: sign.TokenFile(token), RekorURL: f.rekorURL, TimestampURL: f.tsaURL,
		}, opts...)
	case !keyGiven:
		return nil, fmt.Errorf("no signing key: give --key (or bind the signing-key workspace), or --fulcio-url to sign keyless")
	}
	if f.rekorURL != "" || f.tsaURL != "" || f.tokenFile != "" {
		return nil, fmt.Errorf("--rekor-url, --timestamp-url and --identity-token are for keyless signing; give --fulcio-url too")
	}
	if f.keyFile == "" {
		f.keyFile = filepath.Join(f.keyDir, sign.SecretPrivateKey)
	}
	if f.passwordFile == "" && f.keyDir != "" {
		f.passwordFile = filepath.Join(f.keyDir, sign.SecretPassword)
	}
	key, err := os.ReadFile(f.keyFile)
	if err != nil {
		return nil, fmt.Errorf("read signing key: %w", err)
	}
	password, err := signPassword(f)
	if err != nil {
		return nil, err
	}
	return sign.NewSigner(key, password, opts...)
}

// signPassword reads the key's password from --password-file, else from the environment.
func signPassword(f signStepFlags) ([]byte, error) {
	if f.passwordFile != "" {
		pw, err := os.ReadFile(f.passwordFile)
		if err != nil {
			return nil, fmt.Errorf("read key password: %w", err)
		}
		// A Secret written with `echo` ends in a newline that is not part of the password.
		return bytes.TrimRight(pw, "\r\n"), nil
	}
	if pw := os.Getenv(f.passwordEnv); pw != "" {
		return []byte(pw), nil
	}
	return nil, fmt.Errorf("no key password: give --password-file or set $%s", f.passwordEnv)
}
