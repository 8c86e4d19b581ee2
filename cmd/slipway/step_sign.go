package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"slipway.dev/slipway/engine/sign"
)

// signStepFlags are the inputs of `slipway step sign`.
type signStepFlags struct {
	image, keyFile, passwordFile, passwordEnv string
	sbomFile, scanFile, reportsDir, insecure  string
	signatureFile, attestationsFile           string
}

// newSignStep signs an image digest with a cosign key and attaches its SBOM and scan report as
// attestations. It is the only step that reads the signing key.
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
			if f.image == "" || f.keyFile == "" {
				return fmt.Errorf("--image and --key are required")
			}
			key, err := os.ReadFile(f.keyFile)
			if err != nil {
				return fmt.Errorf("read signing key: %w", err)
			}
			password, err := signPassword(f)
			if err != nil {
				return err
			}
			var opts []sign.Option
			if insecure {
				opts = append(opts, sign.WithInsecureRegistry())
			}
			signer, err := sign.NewSigner(key, password, opts...)
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
	fl.StringVar(&f.passwordFile, "password-file", "", "file holding the key's password (cosign.password); default: the --password-env variable")
	fl.StringVar(&f.passwordEnv, "password-env", "COSIGN_PASSWORD", "environment variable holding the key's password")
	fl.StringVar(&f.sbomFile, "sbom", "", "CycloneDX JSON SBOM to attach as an attestation (optional)")
	fl.StringVar(&f.scanFile, "scan", "", "scan report JSON to attach as an attestation (optional)")
	fl.StringVar(&f.reportsDir, "reports-dir", "", "directory that relative --sbom and --scan paths are in")
	fl.StringVar(&f.insecure, "insecure-registry", "false", "plain HTTP to the registry")
	fl.StringVar(&f.signatureFile, "signature-file", "", "result file for SIGNATURE (the referrer holding the signature)")
	fl.StringVar(&f.attestationsFile, "attestations-file", "", "result file for ATTESTATIONS (comma-separated referrers)")
	return cmd
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
