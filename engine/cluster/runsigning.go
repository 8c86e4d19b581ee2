package cluster

import (
	"net/url"
	"strings"

	"slipway.dev/slipway/engine/trigger"
)

// Signing modes of SLIPWAY_SIGNING_MODE.
const (
	SigningKeyPair = "key-pair"
	SigningKeyless = "keyless"
)

// loadRunSigning reads how the controller's runs sign: nil for the key pair in
// SLIPWAY_SIGNING_KEY_SECRET (keySecret), or keyless settings. Each problem names its variable.
func loadRunSigning(env Getenv, p *problems, keySecret string) *trigger.Keyless {
	get := func(name string) string { return strings.TrimSpace(env(name)) }
	mode := orDefault(env(EnvSigningMode), SigningKeyPair)
	switch mode {
	case SigningKeyPair:
		if keySecret == "" {
			p.add(EnvSigningKeySecret, "not set; set it to the name of the Secret with cosign.key and cosign.password the sign task mounts, "+
				"or set %s=%s to sign keyless", EnvSigningMode, SigningKeyless)
		}
		checkSecretName(p, EnvSigningKeySecret, keySecret, false)
		for _, name := range []string{EnvSigningFulcioURL, EnvSigningRekorURL, EnvSigningTimestampURL, EnvSigningTokenAudience} {
			if get(name) != "" {
				p.add(name, "is set, but runs sign with the key pair; set %s=%s to sign keyless", EnvSigningMode, SigningKeyless)
			}
		}
		return nil
	case SigningKeyless:
	default:
		p.add(EnvSigningMode, "%q: want %s or %s", mode, SigningKeyPair, SigningKeyless)
		return nil
	}
	if keySecret != "" {
		p.add(EnvSigningKeySecret, "is set, but %s is %s: runs sign with Fulcio certificates and mount no key; unset it", EnvSigningMode, SigningKeyless)
	}
	k := &trigger.Keyless{
		FulcioURL:    get(EnvSigningFulcioURL),
		RekorURL:     get(EnvSigningRekorURL),
		TimestampURL: get(EnvSigningTimestampURL),
		Audience:     orDefault(env(EnvSigningTokenAudience), trigger.DefaultTokenAudience),
	}
	if k.FulcioURL == "" {
		p.add(EnvSigningFulcioURL, "not set; keyless signing needs the Fulcio that certifies the sign task's keys, http(s)://host[:port][/path]")
	} else {
		checkServiceURL(p, EnvSigningFulcioURL, k.FulcioURL)
	}
	if k.RekorURL != "" {
		checkServiceURL(p, EnvSigningRekorURL, k.RekorURL)
	}
	if k.TimestampURL != "" {
		checkServiceURL(p, EnvSigningTimestampURL, k.TimestampURL)
	}
	if k.RekorURL == "" && k.TimestampURL == "" {
		// The syncer refuses keyless trust without a log or timestamp authority (see
		// loadKeyless), and engine/sign refuses an expired certificate without one: signatures
		// made so would verify for ten minutes and then never again.
		p.add(EnvSigningRekorURL, "not set, and neither is %s: keyless signing needs a trusted time. Fulcio certificates expire "+
			"after 10 minutes, and the syncer verifies an image for as long as it runs, so it accepts keyless signatures only with "+
			"a Rekor log entry (%s) or a signed timestamp (%s) that shows the certificate was valid at signing; "+
			"set %s (log every signature in Rekor) or %s (have an RFC 3161 authority timestamp it)",
			EnvSigningTimestampURL, EnvKeylessRekorPublicKey, EnvKeylessTSACertChain, EnvSigningRekorURL, EnvSigningTimestampURL)
	}
	switch aud := k.Audience; {
	case strings.ContainsAny(aud, " \t\n,"):
		p.add(EnvSigningTokenAudience, "%q: want one audience, without spaces or commas", aud)
	case strings.HasPrefix(aud, "https://kubernetes.default.svc"):
		p.add(EnvSigningTokenAudience, "%q is the API server's own audience: the sign task's token would then log in to the cluster; "+
			"use the audience Fulcio expects (%s unless its configuration says otherwise)", aud, trigger.DefaultTokenAudience)
	}
	return k
}

// checkServiceURL accepts what the sign step accepts for a Sigstore service:
// http(s)://host[:port][/path] without credentials.
func checkServiceURL(p *problems, env, raw string) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil {
		p.add(env, "%q: want http(s)://host[:port][/path] without credentials", redactURL(raw))
	}
}
