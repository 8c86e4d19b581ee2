package syncer

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/argoproj/argo-cd/gitops-engine/pkg/utils/kube"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/managedfields"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"
	"k8s.io/kubectl/pkg/util/openapi"
)

// applyTimeout bounds one server-side apply; gitops-engine hands its operations no deadline.
const applyTimeout = 30 * time.Second

// directKubectl is gitops-engine's in-process kubectl, except that the server-side applies a
// sync performs (nearly all of its work) go straight to the API server through the dynamic
// client. kubectl's path writes a kubeconfig file for every sync step, builds a kubectl factory
// and decodes each object again from a temporary file: at a thousand applications that cost
// more CPU than everything else the syncer does. Its client-side dry run, which gitops-engine
// runs before applying, becomes a check that the kind is served: the API server validates
// every apply itself (manifest validation is off for the same reason).
type directKubectl struct {
	*kube.KubectlCmd
	dyn dynamic.Interface
	// resources returns the API resources the server serves, by kind.
	resources func() map[schema.GroupKind]kube.APIResourceInfo
}

// ManageResources returns operations that apply directly and fall back to kubectl's for
// everything else (replace, create, update, and kinds the cluster cache does not know yet,
// such as those of a CRD applied in the same sync).
func (k *directKubectl) ManageResources(config *rest.Config) (kube.ResourceOperations, func(), error) {
	ops := &directOps{k: k, config: config, resources: k.resources()}
	return ops, ops.cleanup, nil
}

type directOps struct {
	k         *directKubectl
	config    *rest.Config
	resources map[schema.GroupKind]kube.APIResourceInfo

	mu      sync.Mutex
	kubectl kube.ResourceOperations // made on first use
	done    func()
}

func (o *directOps) fallback() (kube.ResourceOperations, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.kubectl == nil {
		ops, done, err := o.k.KubectlCmd.ManageResources(o.config)
		if err != nil {
			return nil, err
		}
		o.kubectl, o.done = ops, done
	}
	return o.kubectl, nil
}

func (o *directOps) cleanup() {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.done != nil {
		o.done()
	}
}

// ApplyResource server-side applies obj as manager, taking over conflicting fields as
// kubectl --server-side --force-conflicts does. A client dry run only checks the kind.
func (o *directOps) ApplyResource(ctx context.Context, obj *unstructured.Unstructured, dryRun cmdutil.DryRunStrategy, force, validate, serverSideApply bool, manager string) (string, error) {
	gvk := obj.GroupVersionKind()
	info, known := o.resources[gvk.GroupKind()]
	direct := known && (dryRun == cmdutil.DryRunClient || dryRun == cmdutil.DryRunNone && serverSideApply)
	if !direct {
		ops, err := o.fallback()
		if err != nil {
			return "", err
		}
		return ops.ApplyResource(ctx, obj, dryRun, force, validate, serverSideApply, manager)
	}
	name := strings.ToLower(gvk.Kind)
	if gvk.Group != "" {
		name += "." + gvk.Group
	}
	name += "/" + obj.GetName()
	if dryRun == cmdutil.DryRunClient {
		return name + " serverside-applied (dry run)", nil
	}
	gvr := info.GroupVersionResource
	gvr.Version = gvk.Version
	var ri dynamic.ResourceInterface = o.k.dyn.Resource(gvr)
	if info.Meta.Namespaced {
		ri = o.k.dyn.Resource(gvr).Namespace(obj.GetNamespace())
	}
	ctx, cancel := context.WithTimeout(ctx, applyTimeout)
	defer cancel()
	if _, err := ri.Apply(ctx, obj.GetName(), obj, metav1.ApplyOptions{FieldManager: manager, Force: true}); err != nil {
		return "", fmt.Errorf("server-side apply %s: %w", name, err)
	}
	return name + " serverside-applied", nil
}

func (o *directOps) ReplaceResource(ctx context.Context, obj *unstructured.Unstructured, dryRun cmdutil.DryRunStrategy, force bool) (string, error) {
	ops, err := o.fallback()
	if err != nil {
		return "", err
	}
	return ops.ReplaceResource(ctx, obj, dryRun, force)
}

func (o *directOps) CreateResource(ctx context.Context, obj *unstructured.Unstructured, dryRun cmdutil.DryRunStrategy, validate bool) (string, error) {
	ops, err := o.fallback()
	if err != nil {
		return "", err
	}
	return ops.CreateResource(ctx, obj, dryRun, validate)
}

func (o *directOps) UpdateResource(ctx context.Context, obj *unstructured.Unstructured, dryRun cmdutil.DryRunStrategy) (*unstructured.Unstructured, error) {
	ops, err := o.fallback()
	if err != nil {
		return nil, err
	}
	return ops.UpdateResource(ctx, obj, dryRun)
}

// LoadOpenAPISchema loads nothing. The cluster cache would keep the cluster's whole OpenAPI
// schema, and reload it whenever a CRD changes, for diffs the syncer never makes: server-side
// apply merges on the API server.
func (k *directKubectl) LoadOpenAPISchema(*rest.Config) (openapi.Resources, *managedfields.GvkParser, error) {
	return nil, nil, nil
}

// apiResources is every kind the API server serves, from the cluster cache's discovery.
func (s *Syncer) apiResources() map[schema.GroupKind]kube.APIResourceInfo {
	infos := s.cache.GetAPIResources()
	m := make(map[schema.GroupKind]kube.APIResourceInfo, len(infos))
	for _, info := range infos {
		m[info.GroupKind] = info
	}
	return m
}
