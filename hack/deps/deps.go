//go:build tools

// Package deps pins modules the engine requires before a package imports them (cosign, for
// the signing step), so that go mod tidy keeps them at their measured versions.
package deps

import (
	_ "github.com/argoproj/argo-cd/gitops-engine/pkg/cache"
	_ "github.com/argoproj/argo-cd/gitops-engine/pkg/engine"
	_ "github.com/argoproj/argo-cd/gitops-engine/pkg/health"
	_ "github.com/argoproj/argo-cd/gitops-engine/pkg/sync"
	_ "github.com/argoproj/argo-cd/gitops-engine/pkg/utils/kube"
	_ "github.com/distribution/distribution/v3/configuration"
	_ "github.com/distribution/distribution/v3/registry/handlers"
	_ "github.com/distribution/distribution/v3/registry/storage/driver/filesystem"
	_ "github.com/go-git/go-git/v5"
	_ "github.com/go-git/go-git/v5/plumbing/transport/http"
	_ "github.com/google/go-containerregistry/pkg/registry"
	_ "github.com/google/go-containerregistry/pkg/v1/mutate"
	_ "github.com/google/go-containerregistry/pkg/v1/remote"
	_ "github.com/google/go-containerregistry/pkg/v1/tarball"
	_ "github.com/prometheus/client_golang/prometheus"
	_ "github.com/sigstore/cosign/v3/pkg/cosign"
	_ "github.com/spf13/cobra"
	_ "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	_ "github.com/tektoncd/pipeline/pkg/client/clientset/versioned"
	_ "github.com/tektoncd/pipeline/pkg/reconciler/pipeline/dag"
	_ "helm.sh/helm/v4/pkg/chart/v2/loader"
	_ "helm.sh/helm/v4/pkg/engine"
	_ "sigs.k8s.io/controller-runtime"
	_ "sigs.k8s.io/controller-runtime/pkg/envtest"
	_ "sigs.k8s.io/yaml"
)
