// Package cluster composes Slipway's in-cluster components, the three Deployments of
// charts/slipway: the controller (reconcilers; Tekton runs the PipelineRuns), the webhook
// receiver and the syncer. Each is configured by SLIPWAY_* environment variables.
package cluster

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/rest"

	"slipway.dev/slipway/engine/configrepo"
	"slipway.dev/slipway/engine/sign"
	"slipway.dev/slipway/engine/trigger"
)

// Environment variables every component reads.
const (
	EnvNamespace             = "SLIPWAY_NAMESPACE"
	EnvLogLevel              = "SLIPWAY_LOG_LEVEL"
	EnvHealthAddr            = "SLIPWAY_HEALTH_ADDR"
	EnvMetricsAddr           = "SLIPWAY_METRICS_ADDR"
	EnvLeaderElect           = "SLIPWAY_LEADER_ELECT"
	EnvApplicationNamespaces = "SLIPWAY_APPLICATION_NAMESPACES"
	EnvCacheDir              = "SLIPWAY_CACHE_DIR"

	EnvRegistry                  = "SLIPWAY_REGISTRY"
	EnvRegistryInsecure          = "SLIPWAY_REGISTRY_INSECURE"
	EnvRegistryCredentialsSecret = "SLIPWAY_REGISTRY_CREDENTIALS_SECRET"
	EnvBaseImage                 = "SLIPWAY_BASE_IMAGE"
	EnvSigningKeySecret          = "SLIPWAY_SIGNING_KEY_SECRET"
	EnvConfigRepoURL             = "SLIPWAY_CONFIG_REPO_URL"
	EnvConfigRepoBranch          = "SLIPWAY_CONFIG_REPO_BRANCH"
	EnvConfigRepoCredentials     = "SLIPWAY_CONFIG_REPO_CREDENTIALS"
	EnvConfigRepoSigningKey      = "SLIPWAY_CONFIG_REPO_SIGNING_KEY"

	EnvWebhookAddr    = "SLIPWAY_WEBHOOK_ADDR"
	EnvWebhookSecrets = "SLIPWAY_WEBHOOK_SECRETS"

	EnvSigningPublicKey = "SLIPWAY_SIGNING_PUBLIC_KEY"
	EnvVerifySignatures = "SLIPWAY_VERIFY_SIGNATURES"
	EnvSyncInterval     = "SLIPWAY_SYNC_INTERVAL"
)

// Environment variables of the syncer's keyless signature verification. Setting
// SLIPWAY_KEYLESS_FULCIO_ROOTS turns it on, beside SLIPWAY_SIGNING_PUBLIC_KEY or instead of it.
// The three file variables name mounted Secret or ConfigMap keys.
const (
	// EnvKeylessFulcioRoots is the file holding Fulcio's root and intermediate certificates (PEM).
	EnvKeylessFulcioRoots = "SLIPWAY_KEYLESS_FULCIO_ROOTS"
	// EnvKeylessOIDCIssuer and EnvKeylessOIDCIssuerRegexp (one of the two) are the OIDC issuer
	// the signer's token came from.
	EnvKeylessOIDCIssuer       = "SLIPWAY_KEYLESS_OIDC_ISSUER"
	EnvKeylessOIDCIssuerRegexp = "SLIPWAY_KEYLESS_OIDC_ISSUER_REGEXP"
	// EnvKeylessIdentity and EnvKeylessIdentityRegexp (one of the two) are the certificate
	// identity of the sign step; a regexp must match all of it.
	EnvKeylessIdentity       = "SLIPWAY_KEYLESS_IDENTITY"
	EnvKeylessIdentityRegexp = "SLIPWAY_KEYLESS_IDENTITY_REGEXP"
	// EnvKeylessRekorPublicKey is the file holding a trusted Rekor's public key (PEM).
	EnvKeylessRekorPublicKey = "SLIPWAY_KEYLESS_REKOR_PUBLIC_KEY"
	// EnvKeylessTSACertChain is the file holding a trusted timestamp authority's certificate
	// chain (PEM, signing certificate first).
	EnvKeylessTSACertChain = "SLIPWAY_KEYLESS_TSA_CERT_CHAIN"
)

// Environment variables of the controller that say how runs sign images (see runsigning.go).
const (
	// EnvSigningMode is key-pair (the default: the sign task mounts SLIPWAY_SIGNING_KEY_SECRET)
	// or keyless (Fulcio certifies an ephemeral key for the run's ServiceAccount token).
	EnvSigningMode = "SLIPWAY_SIGNING_MODE"
	// EnvSigningFulcioURL is the Fulcio that certifies the keys; keyless requires it.
	EnvSigningFulcioURL = "SLIPWAY_SIGNING_FULCIO_URL"
	// EnvSigningRekorURL and EnvSigningTimestampURL (at least one in keyless mode) are the
	// Rekor that logs every signature and the RFC 3161 timestamp authority that signs its time.
	EnvSigningRekorURL     = "SLIPWAY_SIGNING_REKOR_URL"
	EnvSigningTimestampURL = "SLIPWAY_SIGNING_TIMESTAMP_URL"
	// EnvSigningTokenAudience is the audience of the ServiceAccount token the sign task
	// presents to Fulcio; default sigstore.
	EnvSigningTokenAudience = "SLIPWAY_SIGNING_TOKEN_AUDIENCE"
)

// Environment variables of the pipelines the controller installs and runs.
const (
	// EnvStepImage is Slipway's own image, pinned by digest, that the catalog's steps run in.
	EnvStepImage = "SLIPWAY_STEP_IMAGE"
	// EnvPipelineServiceAccount runs the pipelines' pods (no token mounted, no role bound).
	EnvPipelineServiceAccount = "SLIPWAY_PIPELINE_SERVICE_ACCOUNT"
)

// Common is what every component is configured with.
type Common struct {
	// Namespace is the component's own namespace: leader-election leases and provider-wide
	// webhook Secrets live there.
	Namespace string
	// ApplicationNamespaces restricts the watched namespaces; empty watches every namespace.
	ApplicationNamespaces []string
	LogLevel              slog.Level
	// HealthAddr serves /healthz and /readyz.
	HealthAddr string
	// MetricsAddr serves Prometheus metrics; "0" turns them off.
	MetricsAddr string
	// LeaderElect makes one replica of several active.
	LeaderElect bool
	// Kube is the API server to talk to; Load leaves it nil for the caller to set.
	Kube *rest.Config
	// Logger receives structured logs; nil discards them.
	Logger *slog.Logger
}

// ConfigRepo says where rendered manifests are committed and read from, and how to log in.
type ConfigRepo struct {
	URL    string
	Branch string
	// Username and Password authenticate over HTTPS; both empty means anonymous.
	Username, Password string
	// SSHIdentity is the private key that logs in over ssh://, decrypted with SSHPassphrase
	// when it is encrypted; KnownHostsFile must list the server's host key.
	SSHIdentity, SSHPassphrase []byte
	KnownHostsFile             string
	// CABundle holds PEM CA certificates trusted for an https:// remote besides the system's.
	CABundle []byte
	// SigningKey, an ASCII-armored OpenPGP private key decrypted with SigningPassphrase when it
	// is encrypted, signs every commit; nil leaves commits unsigned. Only the controller commits.
	SigningKey, SigningPassphrase []byte
	// CacheDir holds the writer's object cache.
	CacheDir string
}

// String never shows a secret.
func (c ConfigRepo) String() string { return c.URL + "#" + c.Branch }

// writerOptions are the config-repo writer's credentials, trusted CAs and signing key.
func (c ConfigRepo) writerOptions() []configrepo.Option {
	var opts []configrepo.Option
	if c.Username != "" {
		opts = append(opts, configrepo.WithBasicAuth(c.Username, c.Password))
	}
	if c.SSHIdentity != nil {
		opts = append(opts, configrepo.WithSSHKey(configrepo.SSHKey{
			PrivateKey: c.SSHIdentity, Passphrase: c.SSHPassphrase, KnownHostsFile: c.KnownHostsFile}))
	}
	if c.CABundle != nil {
		opts = append(opts, configrepo.WithCABundle(c.CABundle))
	}
	if c.SigningKey != nil {
		opts = append(opts, configrepo.WithSigningKey(c.SigningKey, c.SigningPassphrase))
	}
	return opts
}

// ControllerConfig configures RunController.
type ControllerConfig struct {
	Common
	// Registry is host[:port][/path] images are pushed to.
	Registry                  string
	RegistryInsecure          bool
	RegistryCredentialsSecret string
	// BaseImage is the Go fast path's base image, pinned by digest; empty leaves it to the
	// pipeline's default.
	BaseImage string
	// SigningKeySecret is the cosign key pair Secret runs sign with; empty with Keyless.
	SigningKeySecret string
	// Keyless, when set, makes runs sign keyless instead (SLIPWAY_SIGNING_MODE=keyless).
	Keyless    *trigger.Keyless
	ConfigRepo ConfigRepo
	// StepImage replaces the catalog's slipway.dev/steps images in what the controller
	// installs; REPOSITORY@sha256:DIGEST.
	StepImage string
	// PipelineServiceAccount runs the pipelines' pods; the controller creates it where missing.
	PipelineServiceAccount string
	// Version labels the Tasks and Pipelines the controller installs.
	Version string
}

// DefaultPipelineServiceAccount is the pipelines' ServiceAccount when none is configured, the
// name charts/slipway gives it for a release named slipway. The controller creates it where it
// is missing, with no role bound.
const DefaultPipelineServiceAccount = "slipway-pipeline"

// WebhookConfig configures RunWebhook.
type WebhookConfig struct {
	Common
	// Addr is the receiver's listen address.
	Addr string
	// Secrets are provider-wide webhook secrets in Namespace, accepted for every repository.
	Secrets []SecretRef
}

// SecretRef names one key of a Secret.
type SecretRef struct{ Name, Key string }

// SyncerConfig configures RunSyncer.
type SyncerConfig struct {
	Common
	ConfigRepo ConfigRepo
	// PublicKeys are the PEM cosign public keys image signatures must verify against.
	PublicKeys [][]byte
	// Keyless, when set, also accepts keyless signatures it trusts (see keyless.go).
	Keyless *sign.KeylessTrust
	// VerifySignatures false applies images without checking their signatures.
	VerifySignatures bool
	RegistryInsecure bool
	Interval         time.Duration
	// PushHook is the endpoint for the config repo's push webhook; off without secrets.
	PushHook PushHook
}

// Getenv looks up one environment variable, like os.Getenv.
type Getenv func(string) string

// problems collects every bad setting so that one start reports them all.
type problems []error

func (p *problems) add(env, format string, args ...any) {
	*p = append(*p, fmt.Errorf("%s: %s", env, fmt.Sprintf(format, args...)))
}

func (p problems) err(component string) error {
	if len(p) == 0 {
		return nil
	}
	msgs := make([]string, len(p))
	for i, e := range p {
		msgs[i] = "  " + e.Error()
	}
	return fmt.Errorf("slipway %s is not configured:\n%s", component, strings.Join(msgs, "\n"))
}

func loadCommon(env Getenv, p *problems, defaultLeader bool) Common {
	c := Common{
		Namespace:   strings.TrimSpace(env(EnvNamespace)),
		HealthAddr:  orDefault(env(EnvHealthAddr), ":8081"),
		MetricsAddr: orDefault(env(EnvMetricsAddr), "0"),
	}
	switch {
	case c.Namespace == "":
		p.add(EnvNamespace, "not set; set it to the namespace the component runs in (the chart sets it from metadata.namespace)")
	case len(validation.IsDNS1123Label(c.Namespace)) > 0:
		p.add(EnvNamespace, "%q is not a namespace name", c.Namespace)
	}
	for _, ns := range splitList(env(EnvApplicationNamespaces)) {
		if len(validation.IsDNS1123Label(ns)) > 0 {
			p.add(EnvApplicationNamespaces, "%q is not a namespace name; want a comma-separated list of namespaces", ns)
		}
		c.ApplicationNamespaces = append(c.ApplicationNamespaces, ns)
	}
	if err := c.LogLevel.UnmarshalText([]byte(orDefault(env(EnvLogLevel), "info"))); err != nil {
		p.add(EnvLogLevel, "%q: want debug, info, warn or error", env(EnvLogLevel))
	}
	checkAddr(p, EnvHealthAddr, c.HealthAddr)
	if c.MetricsAddr != "0" {
		checkAddr(p, EnvMetricsAddr, c.MetricsAddr)
	}
	c.LeaderElect = parseBool(env, p, EnvLeaderElect, defaultLeader)
	return c
}

// LoadController reads the controller's settings and reports every missing or bad one.
func LoadController(env Getenv) (ControllerConfig, error) {
	var p problems
	c := ControllerConfig{
		Common:                    loadCommon(env, &p, false),
		Registry:                  strings.TrimSpace(env(EnvRegistry)),
		RegistryCredentialsSecret: strings.TrimSpace(env(EnvRegistryCredentialsSecret)),
		BaseImage:                 strings.TrimSpace(env(EnvBaseImage)),
		SigningKeySecret:          strings.TrimSpace(env(EnvSigningKeySecret)),
	}
	c.RegistryInsecure = parseBool(env, &p, EnvRegistryInsecure, false)
	switch {
	case c.Registry == "":
		p.add(EnvRegistry, "not set; set it to the registry images are pushed to, host[:port]/path without a scheme")
	case strings.Contains(c.Registry, "://") || strings.ContainsAny(c.Registry, " \t@"):
		p.add(EnvRegistry, "%q: want host[:port]/path without a scheme, tag or digest", c.Registry)
	}
	if c.BaseImage != "" && !pinned.MatchString(c.BaseImage) {
		p.add(EnvBaseImage, "%q is not pinned by digest; want REPOSITORY@sha256:<64 hex digits>", c.BaseImage)
	}
	checkSecretName(&p, EnvRegistryCredentialsSecret, c.RegistryCredentialsSecret, false)
	c.Keyless = loadRunSigning(env, &p, c.SigningKeySecret)
	c.StepImage = strings.TrimSpace(env(EnvStepImage))
	switch {
	case c.StepImage == "":
		p.add(EnvStepImage, "not set; set it to Slipway's image pinned by digest, REPOSITORY@sha256:<64 hex digits> (the chart passes image.repository@image.digest): the pipelines' steps run in it")
	case !pinned.MatchString(c.StepImage):
		p.add(EnvStepImage, "%q is not pinned by digest; want REPOSITORY@sha256:<64 hex digits>, so that every step runs exactly the image it names", c.StepImage)
	}
	c.PipelineServiceAccount = orDefault(env(EnvPipelineServiceAccount), DefaultPipelineServiceAccount)
	if len(validation.IsDNS1123Subdomain(c.PipelineServiceAccount)) > 0 {
		p.add(EnvPipelineServiceAccount, "%q is not a ServiceAccount name", c.PipelineServiceAccount)
	}
	c.ConfigRepo = loadConfigRepo(env, &p)
	loadConfigRepoSigningKey(env, &p, &c.ConfigRepo)
	return c, p.err("controller")
}

// LoadWebhook reads the webhook receiver's settings and reports every missing or bad one.
func LoadWebhook(env Getenv) (WebhookConfig, error) {
	var p problems
	c := WebhookConfig{Common: loadCommon(env, &p, false), Addr: orDefault(env(EnvWebhookAddr), ":8080")}
	checkAddr(&p, EnvWebhookAddr, c.Addr)
	if len(c.ApplicationNamespaces) > 1 {
		p.add(EnvApplicationNamespaces, "the webhook receiver records Deliveries in one namespace; got %d (%s)",
			len(c.ApplicationNamespaces), strings.Join(c.ApplicationNamespaces, ","))
	}
	if c.LeaderElect {
		p.add(EnvLeaderElect, "the webhook receiver runs every replica; unset it")
	}
	for _, ref := range splitList(env(EnvWebhookSecrets)) {
		name, key, ok := strings.Cut(ref, "/")
		if !ok || key == "" || len(validation.IsDNS1123Subdomain(name)) > 0 || len(validation.IsConfigMapKey(key)) > 0 {
			p.add(EnvWebhookSecrets, "%q: want a comma-separated list of secret-name/key", ref)
			continue
		}
		c.Secrets = append(c.Secrets, SecretRef{Name: name, Key: key})
	}
	return c, p.err("webhook")
}

// LoadSyncer reads the syncer's settings, including the trusted public key file, and reports
// every missing or bad one.
func LoadSyncer(env Getenv) (SyncerConfig, error) {
	var p problems
	c := SyncerConfig{Common: loadCommon(env, &p, false), ConfigRepo: loadConfigRepo(env, &p), PushHook: loadPushHook(env, &p)}
	c.VerifySignatures = parseBool(env, &p, EnvVerifySignatures, true)
	c.RegistryInsecure = parseBool(env, &p, EnvRegistryInsecure, false)
	c.Interval = 3 * time.Minute
	if s := strings.TrimSpace(env(EnvSyncInterval)); s != "" {
		d, err := time.ParseDuration(s)
		switch {
		case err != nil:
			p.add(EnvSyncInterval, "%q is not a duration; want for example 3m or 30s", s)
		case d < time.Second:
			p.add(EnvSyncInterval, "%s is too short; want at least 1s", d)
		default:
			c.Interval = d
		}
	}
	c.Keyless = loadKeyless(env, &p)
	path := strings.TrimSpace(env(EnvSigningPublicKey))
	switch {
	case path == "" && c.VerifySignatures && c.Keyless == nil:
		p.add(EnvSigningPublicKey, "not set; set it to the cosign.pub file that image signatures must verify against "+
			"(the chart mounts signing.publicKeySecret at /var/run/slipway/signing/cosign.pub), "+
			"set %s to verify keyless signatures, or set %s=false to apply unsigned images", EnvKeylessFulcioRoots, EnvVerifySignatures)
	case path != "":
		pem, err := os.ReadFile(path)
		switch {
		case err != nil:
			p.add(EnvSigningPublicKey, "read the public key: %v", err)
		case !strings.Contains(string(pem), "-----BEGIN PUBLIC KEY-----"):
			p.add(EnvSigningPublicKey, "%s holds no PEM public key (want cosign.pub)", path)
		default:
			c.PublicKeys = append(c.PublicKeys, pem)
		}
	}
	return c, p.err("syncer")
}

// The files of the Secret mounted at SLIPWAY_CONFIG_REPO_CREDENTIALS
// (configRepo.credentialsSecret) and of the one at SLIPWAY_CONFIG_REPO_SIGNING_KEY
// (configRepo.signingKeySecret).
const (
	credUsername   = "username"
	credPassword   = "password"
	credIdentity   = "identity"
	credKnownHosts = "known_hosts"
	credPassphrase = "passphrase" // of the identity, or of the signing key
	credCABundle   = "ca.crt"
	signingKeyFile = "signing.key"
)

func loadConfigRepo(env Getenv, p *problems) ConfigRepo {
	before := len(*p)
	c := ConfigRepo{
		URL:      strings.TrimSpace(env(EnvConfigRepoURL)),
		Branch:   orDefault(env(EnvConfigRepoBranch), "main"),
		CacheDir: filepath.Join(orDefault(env(EnvCacheDir), filepath.Join(os.TempDir(), "slipway")), "configrepo"),
	}
	scheme := checkConfigRepoURL(p, c.URL)
	if strings.ContainsAny(c.Branch, " ~^:?*[\\") || strings.Contains(c.Branch, "..") {
		p.add(EnvConfigRepoBranch, "%q is not a branch name", c.Branch)
	}
	dir := strings.TrimSpace(env(EnvConfigRepoCredentials))
	switch {
	case dir == "" && scheme == "ssh":
		p.add(EnvConfigRepoCredentials, "not set; an ssh:// config repo needs a Secret with %s and %s", credIdentity, credKnownHosts)
	case dir != "":
		c.loadCredentials(p, dir, scheme)
	}
	if len(*p) == before {
		// Read and decrypt the keys now, so that a bad one stops the start naming its variable.
		checkWriter(p, EnvConfigRepoCredentials, c)
	}
	return c
}

// checkConfigRepoURL reports a URL the writer cannot use and returns its scheme.
func checkConfigRepoURL(p *problems, raw string) string {
	if raw == "" {
		p.add(EnvConfigRepoURL, "not set; set it to the config repository's https:// or ssh:// URL")
		return ""
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		p.add(EnvConfigRepoURL, "%q is not a URL; want https://host/path.git or ssh://git@host/path.git "+
			"(write an scp-like git@host:path as ssh://git@host/path)", redactURL(raw))
		return ""
	}
	switch u.Scheme {
	case "https", "http":
		if u.User != nil {
			p.add(EnvConfigRepoURL, "must not hold credentials; put them in the Secret mounted at %s", EnvConfigRepoCredentials)
		}
	case "ssh":
		// The login name (ssh://git@host/...) is no secret; a password would be.
		if _, ok := u.User.Password(); ok {
			p.add(EnvConfigRepoURL, "must not hold a password; put the SSH identity in the Secret mounted at %s", EnvConfigRepoCredentials)
		}
	default:
		p.add(EnvConfigRepoURL, "scheme %q: want https:// or ssh://", u.Scheme)
		return ""
	}
	return u.Scheme
}

// loadCredentials reads the credentials Secret mounted at dir: username and password (HTTPS),
// or identity, known_hosts and an optional passphrase (SSH); and an optional ca.crt (HTTPS).
func (c *ConfigRepo) loadCredentials(p *problems, dir, scheme string) {
	read := func(name string) ([]byte, bool) {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			p.add(EnvConfigRepoCredentials, "read %s: %v", name, err)
		}
		return b, err == nil
	}
	user, hasUser := read(credUsername)
	pass, hasPass := read(credPassword)
	identity, hasIdentity := read(credIdentity)
	ca, hasCA := read(credCABundle)
	switch {
	case (hasUser || hasPass) && hasIdentity:
		p.add(EnvConfigRepoCredentials, "%s holds both %s/%s and %s; keep the pair for https:// or the identity for ssh://",
			dir, credUsername, credPassword, credIdentity)
	case hasUser || hasPass:
		c.Username, c.Password = strings.TrimSpace(string(user)), strings.TrimSpace(string(pass))
		switch {
		case c.Username == "" || c.Password == "":
			p.add(EnvConfigRepoCredentials, "%s: %s or %s is empty or missing", dir, credUsername, credPassword)
		case scheme == "ssh":
			p.add(EnvConfigRepoCredentials, "%s holds a username and password, which log in over https://; "+
				"the ssh:// URL in %s needs %s and %s", dir, EnvConfigRepoURL, credIdentity, credKnownHosts)
		}
	case hasIdentity:
		c.SSHIdentity = identity
		if pp, ok := read(credPassphrase); ok {
			c.SSHPassphrase = []byte(strings.TrimRight(string(pp), "\r\n"))
		}
		c.KnownHostsFile = filepath.Join(dir, credKnownHosts)
		switch {
		case scheme != "ssh" && scheme != "":
			p.add(EnvConfigRepoCredentials, "%s holds an SSH %s; set %s to the repository's ssh:// URL, or give %s and %s for https://",
				dir, credIdentity, EnvConfigRepoURL, credUsername, credPassword)
		case !fileExists(c.KnownHostsFile):
			p.add(EnvConfigRepoCredentials, "%s holds an SSH %s but no %s; host key checking is mandatory (ssh-keyscan HOST > %s)",
				dir, credIdentity, credKnownHosts, credKnownHosts)
		}
	case scheme == "ssh":
		p.add(EnvConfigRepoCredentials, "%s: want the files %s and %s (the keys of configRepo.credentialsSecret) for the ssh:// URL",
			dir, credIdentity, credKnownHosts)
	case !hasCA:
		p.add(EnvConfigRepoCredentials, "%s: want the files %s and %s (https://) or %s and %s (ssh://), the keys of configRepo.credentialsSecret",
			dir, credUsername, credPassword, credIdentity, credKnownHosts)
	}
	switch {
	case hasCA && scheme == "ssh":
		p.add(EnvConfigRepoCredentials, "%s holds %s, which applies to https:// only; an ssh:// server is checked against %s",
			dir, credCABundle, credKnownHosts)
	case hasCA:
		c.CABundle = ca // checked with the rest by checkWriter
	}
}

// loadConfigRepoSigningKey reads the commit signing key Secret mounted at
// SLIPWAY_CONFIG_REPO_SIGNING_KEY, if set: signing.key and an optional passphrase.
func loadConfigRepoSigningKey(env Getenv, p *problems, c *ConfigRepo) {
	dir := strings.TrimSpace(env(EnvConfigRepoSigningKey))
	if dir == "" {
		return // commits are not signed
	}
	before := len(*p)
	key, err := os.ReadFile(filepath.Join(dir, signingKeyFile))
	if err != nil {
		p.add(EnvConfigRepoSigningKey, "want the file %s, an ASCII-armored OpenPGP private key (the keys of configRepo.signingKeySecret): %v",
			signingKeyFile, err)
		return
	}
	c.SigningKey = key
	if pp, err := os.ReadFile(filepath.Join(dir, credPassphrase)); err == nil {
		c.SigningPassphrase = []byte(strings.TrimRight(string(pp), "\r\n"))
	} else if !errors.Is(err, fs.ErrNotExist) {
		p.add(EnvConfigRepoSigningKey, "read %s: %v", credPassphrase, err)
	}
	if len(*p) == before {
		checkWriter(p, EnvConfigRepoSigningKey, *c)
	}
}

// checkWriter makes the writer c describes, without any I/O to the remote, and reports why it
// cannot be made against env. Its errors never hold a secret.
func checkWriter(p *problems, env string, c ConfigRepo) {
	if _, err := configrepo.New(c.URL, c.CacheDir, configrepo.Author{Name: "Slipway", Email: "slipway@localhost"}, c.writerOptions()...); err != nil {
		p.add(env, "%v", err)
	}
}

var pinned = regexp.MustCompile(`^[^@\s]+@sha256:[0-9a-f]{64}$`)

func checkSecretName(p *problems, env, name string, required bool) {
	switch {
	case name == "" && required:
		p.add(env, "not set; set it to the name of the Secret the pipelines use")
	case name != "" && len(validation.IsDNS1123Subdomain(name)) > 0:
		p.add(env, "%q is not a Secret name", name)
	}
}

func checkAddr(p *problems, env, addr string) {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		p.add(env, "%q: want host:port or :port", addr)
		return
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		p.add(env, "%q: port %q is not a number between 0 and 65535", addr, port)
	}
}

func parseBool(env Getenv, p *problems, name string, def bool) bool {
	s := strings.TrimSpace(env(name))
	if s == "" {
		return def
	}
	b, err := strconv.ParseBool(s)
	if err != nil {
		p.add(name, "%q: want true or false", s)
		return def
	}
	return b
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func orDefault(s, def string) string {
	if s = strings.TrimSpace(s); s == "" {
		return def
	}
	return s
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// redactURL drops any user information, so a mistyped URL never shows a password.
func redactURL(s string) string {
	if i := strings.LastIndex(s, "@"); i >= 0 {
		if j := strings.Index(s, "://"); j >= 0 && j < i {
			return s[:j+3] + "REDACTED@" + s[i+1:]
		}
	}
	return s
}
