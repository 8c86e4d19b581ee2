package trigger

import (
	tektonv1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"
)

// Keyless is how runs sign keyless: the sign task presents a ServiceAccount token of the run's
// ServiceAccount to Fulcio, which certifies an ephemeral key for ten minutes in the name
// https://kubernetes.io/namespaces/NAMESPACE/serviceaccounts/NAME. No signing key is bound.
type Keyless struct {
	// FulcioURL is the Fulcio that certifies the keys. Required.
	FulcioURL string
	// RekorURL, when set, logs every signature in that Rekor.
	RekorURL string
	// TimestampURL, when set, has that RFC 3161 timestamp authority sign the time of every
	// signature.
	TimestampURL string
	// Audience is the token's audience, the one Fulcio expects for the cluster's issuer
	// (DefaultTokenAudience when empty). It must not be one the API server accepts, so that
	// the token opens nothing in the cluster.
	Audience string
}

// DefaultTokenAudience is the audience Fulcio expects of an identity token unless configured
// otherwise.
const DefaultTokenAudience = "sigstore"

// IdentityTokenWorkspace is the pipelines' workspace that carries the identity token; only the
// sign task binds it.
const IdentityTokenWorkspace = "identity-token"

// IdentityTokenExpirationSeconds is the lifetime of the projected token: the shortest the API
// server issues. The kubelet replaces the file before it expires, and the sign step reads it
// afresh for every certificate.
const IdentityTokenExpirationSeconds = 600

// workspace binds the identity-token workspace to a projected token of the pod's
// ServiceAccount, as the file "token" the sign task reads.
func (k *Keyless) workspace() tektonv1.WorkspaceBinding {
	audience := k.Audience
	if audience == "" {
		audience = DefaultTokenAudience
	}
	return tektonv1.WorkspaceBinding{Name: IdentityTokenWorkspace, Projected: &corev1.ProjectedVolumeSource{
		Sources: []corev1.VolumeProjection{{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{
			Audience: audience, ExpirationSeconds: ptr.To[int64](IdentityTokenExpirationSeconds), Path: "token",
		}}},
	}}
}

// params sets the sign task's keyless params; the empty ones keep their empty defaults.
func (k *Keyless) params(params map[string]string) {
	params["fulcio-url"] = k.FulcioURL
	if k.RekorURL != "" {
		params["rekor-url"] = k.RekorURL
	}
	if k.TimestampURL != "" {
		params["timestamp-url"] = k.TimestampURL
	}
}
