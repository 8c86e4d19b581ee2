package cluster

import (
	"bytes"
	"errors"
	"os"
	"regexp"
	"strings"

	"slipway.dev/slipway/engine/sign"
)

// loadKeyless reads the syncer's keyless trust; nil when SLIPWAY_KEYLESS_FULCIO_ROOTS is unset.
// Each problem names its variable.
func loadKeyless(env Getenv, p *problems) *sign.KeylessTrust {
	get := func(name string) string { return strings.TrimSpace(env(name)) }
	rootsFile := get(EnvKeylessFulcioRoots)
	if rootsFile == "" {
		for _, name := range []string{EnvKeylessOIDCIssuer, EnvKeylessOIDCIssuerRegexp, EnvKeylessIdentity,
			EnvKeylessIdentityRegexp, EnvKeylessRekorPublicKey, EnvKeylessTSACertChain} {
			if get(name) != "" {
				p.add(name, "is set, but %s is not; keyless verification needs the Fulcio certificates the signatures chain to", EnvKeylessFulcioRoots)
			}
		}
		return nil
	}
	before := len(*p)
	k := &sign.KeylessTrust{FulcioRoots: readPEM(p, EnvKeylessFulcioRoots, rootsFile, "CERTIFICATE", "Fulcio's root and intermediate certificates")}
	id := sign.Identity{
		Issuer:        oneOf(p, EnvKeylessOIDCIssuer, get(EnvKeylessOIDCIssuer), EnvKeylessOIDCIssuerRegexp, get(EnvKeylessOIDCIssuerRegexp), "the OIDC issuer of the sign step's token (for ServiceAccount tokens, the cluster's service account issuer)"),
		IssuerRegexp:  get(EnvKeylessOIDCIssuerRegexp),
		Subject:       oneOf(p, EnvKeylessIdentity, get(EnvKeylessIdentity), EnvKeylessIdentityRegexp, get(EnvKeylessIdentityRegexp), "the sign step's certificate identity, https://kubernetes.io/namespaces/NAMESPACE/serviceaccounts/NAME"),
		SubjectRegexp: get(EnvKeylessIdentityRegexp),
	}
	k.Identities = []sign.Identity{id}
	if f := get(EnvKeylessRekorPublicKey); f != "" {
		if key := readPEM(p, EnvKeylessRekorPublicKey, f, "PUBLIC KEY", "the Rekor log's public key"); key != nil {
			k.RekorPublicKeys = [][]byte{key}
		}
	}
	if f := get(EnvKeylessTSACertChain); f != "" {
		k.TimestampAuthority = readPEM(p, EnvKeylessTSACertChain, f, "CERTIFICATE", "the timestamp authority's certificate chain")
	}
	if get(EnvKeylessRekorPublicKey) == "" && get(EnvKeylessTSACertChain) == "" {
		p.add(EnvKeylessFulcioRoots, "keyless verification needs a trusted time: Fulcio certificates expire after minutes, "+
			"and the syncer verifies an image for as long as it runs; set %s (signatures logged in Rekor) or %s "+
			"(signatures timestamped by an RFC 3161 authority)", EnvKeylessRekorPublicKey, EnvKeylessTSACertChain)
	}
	if len(*p) > before {
		return k
	}
	// The material is readable and complete; now let the verifier parse it.
	if _, err := sign.NewTrustVerifier(sign.Trust{Keyless: k}); err != nil {
		var te *sign.TrustError
		name := EnvKeylessFulcioRoots
		if errors.As(err, &te) {
			switch te.Field {
			case "Identities":
				name = EnvKeylessIdentity
			case "RekorPublicKeys":
				name = EnvKeylessRekorPublicKey
			case "TimestampAuthority":
				name = EnvKeylessTSACertChain
			}
		}
		p.add(name, "%v", err)
	}
	return k
}

// oneOf returns exact after checking that exactly one of the two variables is set and that a
// regexp compiles.
func oneOf(p *problems, exactName, exact, reName, re, what string) string {
	switch {
	case exact == "" && re == "":
		p.add(exactName, "not set; set it (or %s) to %s", reName, what)
	case exact != "" && re != "":
		p.add(reName, "is set together with %s; set one", exactName)
	case re != "":
		if _, err := regexp.Compile(re); err != nil {
			p.add(reName, "%q is not a regular expression: %v", re, err)
		}
	}
	return exact
}

// readPEM reads a mounted file that must hold PEM blocks of the given type.
func readPEM(p *problems, name, path, blockType, what string) []byte {
	b, err := os.ReadFile(path)
	switch {
	case err != nil:
		p.add(name, "read %s: %v", what, err)
		return nil
	case !bytes.Contains(b, []byte("-----BEGIN "+blockType+"-----")):
		p.add(name, "%s holds no PEM %s; want %s", path, blockType, what)
		return nil
	}
	return b
}
