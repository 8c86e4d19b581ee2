package devenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"slipway.dev/slipway/engine/localrunner"
	"slipway.dev/slipway/engine/sign"
)

// SigningKeySecret is the Secret holding the dev environment's cosign key pair: cosign.key
// (encrypted), cosign.password and cosign.pub. Only the pipelines' sign task mounts it; the
// syncer trusts its public key.
const SigningKeySecret = "slipway-signing-key"

// ensureSigningKey makes the signing key pair on the first start and returns its public key.
// Later starts find the Secret and keep the key, so images signed before a restart still verify.
func ensureSigningKey(ctx context.Context, c client.Client, ns string) ([]byte, error) {
	var s corev1.Secret
	err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: SigningKeySecret}, &s)
	if err == nil {
		if pub := s.Data["cosign.pub"]; len(pub) > 0 {
			return pub, nil
		}
		return nil, fmt.Errorf("secret %s/%s has no cosign.pub; delete it to have a new key pair made", ns, SigningKeySecret)
	}
	if !apierrors.IsNotFound(err) {
		return nil, fmt.Errorf("read signing key: %w", err)
	}
	pw := make([]byte, 24)
	if _, err := rand.Read(pw); err != nil {
		return nil, err
	}
	kp, err := sign.GenerateKeyPair([]byte(hex.EncodeToString(pw)))
	if err != nil {
		return nil, fmt.Errorf("generate signing key: %w", err)
	}
	s = corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: SigningKeySecret,
		Labels: map[string]string{"app.kubernetes.io/part-of": "slipway"}}, Data: kp.SecretData()}
	if err := c.Create(ctx, &s); err != nil && !apierrors.IsAlreadyExists(err) {
		return nil, fmt.Errorf("store signing key: %w", err)
	}
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: SigningKeySecret}, &s); err != nil {
		return nil, fmt.Errorf("read signing key: %w", err)
	}
	return s.Data["cosign.pub"], nil
}

// toolPath is the PATH pipeline steps get: the supply-chain tools first (trivy, the Kaniko
// executor, the CNB lifecycle), then the host's.
func toolPath(tools string) string {
	if tools == "" {
		return os.Getenv("PATH")
	}
	return tools + string(os.PathListSeparator) + os.Getenv("PATH")
}

// tool returns the path of a supply-chain tool, or "" when the tools directory lacks it.
func tool(tools, name string) string {
	if tools == "" {
		return ""
	}
	p := filepath.Join(tools, name)
	if _, err := os.Stat(p); err != nil {
		return ""
	}
	return p
}

// hostSteps is the local runner's step table: Slipway's own steps run as the slipway binary,
// the Kaniko executor image runs in a sandbox per step, and every step finds the other tools
// (trivy, the CNB lifecycle) on its PATH. The slipway binary is the reaper of host steps, so
// none outlives the runner; steps of other images run on the host only when allowed.
func hostSteps(o Options) *localrunner.HostSteps {
	h := &localrunner.HostSteps{SlipwayBinary: o.SlipwayBinary, Path: toolPath(o.Tools),
		Reaper: o.SlipwayBinary, AllowHostSteps: o.AllowHostSteps}
	if o.AllowHostSteps {
		o.Logger.Warn("host steps allowed: steps whose image has no local mapping run unisolated on this machine", "component", "localrunner")
	}
	if executor := tool(o.Tools, "executor"); executor != "" {
		h.Sandboxes = map[string]localrunner.SandboxImage{localrunner.KanikoImage: localrunner.KanikoSandbox(executor)}
		h.SandboxExecutable = o.SlipwayBinary
	}
	return h
}
