package cluster

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// env is a set of environment variables with a lookup like os.Getenv.
type env map[string]string

func (e env) get(k string) string { return e[k] }

func (e env) with(kv ...string) env {
	out := env{}
	for k, v := range e {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		out[kv[i]] = kv[i+1]
	}
	return out
}

func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

const testPublicKey = "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE\n-----END PUBLIC KEY-----\n"

func TestLoadController(t *testing.T) {
	creds := writeFiles(t, map[string]string{"username": "slipway", "password": "s3cret-token"})
	sshCreds := writeFiles(t, map[string]string{"identity": "key", "known_hosts": "h"})
	good := env{
		EnvNamespace: "slipway-system", EnvRegistry: "registry.example.com/apps", EnvSigningKeySecret: "cosign-key",
		EnvConfigRepoURL: "https://git.example.com/platform/config.git", EnvConfigRepoCredentials: creds,
		EnvStepImage: "registry.example.com/slipway/slipway@sha256:" + strings.Repeat("0a", 32),
	}
	tests := []struct {
		name string
		env  env
		want []string // variables the error must name; none: no error
	}{
		{name: "complete", env: good},
		{name: "nothing set", env: env{}, want: []string{EnvNamespace, EnvRegistry, EnvSigningKeySecret, EnvConfigRepoURL, EnvStepImage}},
		{name: "step image by tag", env: good.with(EnvStepImage, "registry.example.com/slipway/slipway:v0.1.0"), want: []string{EnvStepImage}},
		{name: "step image digest too short", env: good.with(EnvStepImage, "registry.example.com/slipway@sha256:abc"), want: []string{EnvStepImage}},
		{name: "bad pipeline service account", env: good.with(EnvPipelineServiceAccount, "Build Bot"), want: []string{EnvPipelineServiceAccount}},
		{name: "bad namespace", env: good.with(EnvNamespace, "Slipway_System"), want: []string{EnvNamespace}},
		{name: "registry with scheme", env: good.with(EnvRegistry, "https://registry.example.com"), want: []string{EnvRegistry}},
		{name: "registry insecure not a bool", env: good.with(EnvRegistryInsecure, "yes please"), want: []string{EnvRegistryInsecure}},
		{name: "base image by tag", env: good.with(EnvBaseImage, "busybox:latest"), want: []string{EnvBaseImage}},
		{name: "bad signing secret name", env: good.with(EnvSigningKeySecret, "Cosign Key"), want: []string{EnvSigningKeySecret}},
		{name: "password for an ssh config repo", env: good.with(EnvConfigRepoURL, "ssh://git@git.example.com/config.git"), want: []string{EnvConfigRepoCredentials}},
		{name: "password in URL", env: good.with(EnvConfigRepoURL, "https://u:hunter2@git.example.com/c.git"), want: []string{EnvConfigRepoURL}},
		{name: "not a URL", env: good.with(EnvConfigRepoURL, "config.git"), want: []string{EnvConfigRepoURL}},
		{name: "ssh credentials", env: good.with(EnvConfigRepoCredentials, sshCreds), want: []string{EnvConfigRepoCredentials}},
		{name: "missing credentials dir", env: good.with(EnvConfigRepoCredentials, "/nonexistent"), want: []string{EnvConfigRepoCredentials}},
		{name: "bad branch", env: good.with(EnvConfigRepoBranch, "main..x"), want: []string{EnvConfigRepoBranch}},
		{name: "bad log level", env: good.with(EnvLogLevel, "loud"), want: []string{EnvLogLevel}},
		{name: "bad health addr", env: good.with(EnvHealthAddr, "8081"), want: []string{EnvHealthAddr}},
		{name: "bad metrics addr", env: good.with(EnvMetricsAddr, ":http"), want: []string{EnvMetricsAddr}},
		{name: "bad leader elect", env: good.with(EnvLeaderElect, "maybe"), want: []string{EnvLeaderElect}},
		{name: "bad application namespace", env: good.with(EnvApplicationNamespaces, "apps,No"), want: []string{EnvApplicationNamespaces}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := LoadController(tc.env.get)
			checkProblems(t, err, tc.want, "s3cret-token", "hunter2")
			if len(tc.want) == 0 && (c.ConfigRepo.Username != "slipway" || c.ConfigRepo.Password != "s3cret-token" ||
				c.ConfigRepo.Branch != "main" || c.HealthAddr != ":8081" || c.LeaderElect ||
				c.StepImage != good[EnvStepImage] || c.PipelineServiceAccount != DefaultPipelineServiceAccount) {
				t.Errorf("config = %+v", c)
			}
		})
	}
}

func TestLoadWebhook(t *testing.T) {
	good := env{EnvNamespace: "slipway-system"}
	tests := []struct {
		name string
		env  env
		want []string
	}{
		{name: "defaults", env: good},
		{name: "no namespace", env: env{}, want: []string{EnvNamespace}},
		{name: "bad addr", env: good.with(EnvWebhookAddr, "localhost"), want: []string{EnvWebhookAddr}},
		{name: "secret without key", env: good.with(EnvWebhookSecrets, "gitlab-system-hook"), want: []string{EnvWebhookSecrets}},
		{name: "two namespaces", env: good.with(EnvApplicationNamespaces, "a,b"), want: []string{EnvApplicationNamespaces}},
		{name: "leader election", env: good.with(EnvLeaderElect, "true"), want: []string{EnvLeaderElect}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := LoadWebhook(tc.env.get)
			checkProblems(t, err, tc.want)
		})
	}
	c, err := LoadWebhook(good.with(EnvWebhookSecrets, "gitlab-system-hook/token, other/secret", EnvApplicationNamespaces, "apps").get)
	if err != nil {
		t.Fatal(err)
	}
	if c.Addr != ":8080" || len(c.Secrets) != 2 || c.Secrets[1] != (SecretRef{"other", "secret"}) || c.ApplicationNamespaces[0] != "apps" {
		t.Errorf("config = %+v", c)
	}
}

func TestLoadSyncer(t *testing.T) {
	keys := writeFiles(t, map[string]string{"cosign.pub": testPublicKey, "cosign.key": "not a public key"})
	good := env{
		EnvNamespace: "slipway-system", EnvConfigRepoURL: "https://git.example.com/platform/config.git",
		EnvSigningPublicKey: filepath.Join(keys, "cosign.pub"),
	}
	tests := []struct {
		name string
		env  env
		want []string
	}{
		{name: "complete", env: good},
		{name: "nothing set", env: env{}, want: []string{EnvNamespace, EnvConfigRepoURL, EnvSigningPublicKey}},
		{name: "no public key", env: good.with(EnvSigningPublicKey, ""), want: []string{EnvSigningPublicKey, EnvVerifySignatures}},
		{name: "public key missing", env: good.with(EnvSigningPublicKey, filepath.Join(keys, "absent.pub")), want: []string{EnvSigningPublicKey}},
		{name: "not a public key", env: good.with(EnvSigningPublicKey, filepath.Join(keys, "cosign.key")), want: []string{EnvSigningPublicKey}},
		{name: "verification off", env: good.with(EnvSigningPublicKey, "", EnvVerifySignatures, "false")},
		{name: "bad verify flag", env: good.with(EnvVerifySignatures, "off"), want: []string{EnvVerifySignatures}},
		{name: "interval not a duration", env: good.with(EnvSyncInterval, "3 minutes"), want: []string{EnvSyncInterval}},
		{name: "interval too short", env: good.with(EnvSyncInterval, "10ms"), want: []string{EnvSyncInterval}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := LoadSyncer(tc.env.get)
			checkProblems(t, err, tc.want)
		})
	}
	c, err := LoadSyncer(good.with(EnvSyncInterval, "45s").get)
	if err != nil {
		t.Fatal(err)
	}
	if c.Interval != 45*time.Second || !c.VerifySignatures || len(c.PublicKeys) != 1 {
		t.Errorf("config = %+v", c)
	}
}

// checkProblems fails unless err names exactly the wanted variables and none of the secrets.
func checkProblems(t *testing.T, err error, want []string, secrets ...string) {
	t.Helper()
	if len(want) == 0 {
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		return
	}
	if err == nil {
		t.Fatalf("no error; want one naming %v", want)
	}
	msg := err.Error()
	for _, w := range want {
		if !strings.Contains(msg, w) {
			t.Errorf("error does not name %s:\n%s", w, msg)
		}
	}
	for _, line := range strings.Split(msg, "\n")[1:] {
		named := false
		for _, w := range want {
			named = named || strings.HasPrefix(strings.TrimSpace(line), w+":")
		}
		if !named {
			t.Errorf("unexpected problem %q; want only %v", line, want)
		}
	}
	for _, s := range secrets {
		if strings.Contains(msg, s) {
			t.Errorf("error shows a secret: %s", msg)
		}
	}
}
