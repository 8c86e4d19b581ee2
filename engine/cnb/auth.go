package cnb

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
)

// RegistryAuth returns CNB_REGISTRY_AUTH for the registries of images (empty ones are
// skipped): a JSON object of registry to Authorization header value, with the credentials the
// Docker config ($DOCKER_CONFIG/config.json) has for each, which is how a Tekton workspace with
// a Docker config reaches the lifecycle. Registries without credentials are left out, so "{}"
// means anonymous. The result is a secret: never log it.
func RegistryAuth(ctx context.Context, images ...string) (string, error) {
	return registryAuth(ctx, authn.DefaultKeychain, images...)
}

func registryAuth(ctx context.Context, keychain authn.Keychain, images ...string) (string, error) {
	out := map[string]string{}
	for _, img := range images {
		if img == "" {
			continue
		}
		ref, err := name.ParseReference(img)
		if err != nil {
			return "", fmt.Errorf("registry credentials for %s: %w", img, err)
		}
		reg := ref.Context().Registry
		if _, ok := out[reg.Name()]; ok {
			continue
		}
		a, err := authn.Resolve(ctx, keychain, reg)
		if err != nil {
			return "", fmt.Errorf("registry credentials for %s: %w", reg.Name(), err)
		}
		cfg, err := authn.Authorization(ctx, a)
		if err != nil {
			return "", fmt.Errorf("registry credentials for %s: %w", reg.Name(), err)
		}
		switch {
		case cfg.RegistryToken != "":
			out[reg.Name()] = "Bearer " + cfg.RegistryToken
		case cfg.Auth != "":
			out[reg.Name()] = "Basic " + cfg.Auth
		case cfg.Username != "" || cfg.Password != "":
			out[reg.Name()] = "Basic " + base64.StdEncoding.EncodeToString([]byte(cfg.Username+":"+cfg.Password))
		}
	}
	data, err := json.Marshal(out)
	if err != nil {
		return "", fmt.Errorf("registry credentials: %w", err)
	}
	return string(data), nil
}
