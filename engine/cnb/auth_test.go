package cnb

import (
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// TestRegistryAuth turns a Docker config, as a dockerconfigjson Secret mounted as DOCKER_CONFIG
// holds it, into the lifecycle's CNB_REGISTRY_AUTH: one header per registry of the images.
func TestRegistryAuth(t *testing.T) {
	dir := t.TempDir()
	basic := base64.StdEncoding.EncodeToString([]byte("robot:s3cret"))
	config := `{"auths": {
		"registry.example.com": {"auth": "` + basic + `"},
		"cache.example.com:5000": {"username": "cache", "password": "pw"},
		"token.example.com": {"registrytoken": "tok"}
	}}`
	if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("DOCKER_CONFIG", dir)
	got, err := RegistryAuth(t.Context(),
		"registry.example.com/apps/hello:latest", "registry.example.com/run@sha256:"+
			"4f53cda18c2baa0c0354bb5f9a3ecbe5ed12ab4d8e11ba873c2f11161202b945",
		"cache.example.com:5000/apps/hello/cnb-cache", "token.example.com/x", "anonymous.example.com/y", "")
	if err != nil {
		t.Fatal(err)
	}
	var headers map[string]string
	if err := json.Unmarshal([]byte(got), &headers); err != nil {
		t.Fatalf("%v: %q", err, got)
	}
	want := map[string]string{
		"registry.example.com":   "Basic " + basic,
		"cache.example.com:5000": "Basic " + base64.StdEncoding.EncodeToString([]byte("cache:pw")),
		"token.example.com":      "Bearer tok",
	}
	if len(headers) != len(want) {
		t.Errorf("headers for %d registries, want %d: %v", len(headers), len(want), headers)
	}
	for reg, h := range want {
		if headers[reg] != h {
			t.Errorf("%s: %q, want %q", reg, headers[reg], h)
		}
	}

	t.Setenv("DOCKER_CONFIG", t.TempDir()) // no config.json: anonymous everywhere
	if got, err := RegistryAuth(t.Context(), "registry.example.com/apps/hello"); err != nil || got != "{}" {
		t.Errorf("without credentials: %q, %v; want {}", got, err)
	}
	if _, err := RegistryAuth(t.Context(), "Not An Image"); err == nil {
		t.Error("a malformed image reference: no error")
	}
}
