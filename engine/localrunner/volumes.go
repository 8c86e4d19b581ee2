package localrunner

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	v1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	corev1 "k8s.io/api/core/v1"
)

// defaultServiceAccount runs a TaskRun that names no ServiceAccount, as in Tekton.
const defaultServiceAccount = "default"

// fillVolume writes the keys of the Secret or ConfigMap a workspace is bound to into dir, as a
// volume mount would: one file per key (or per listed item), Secret files readable by the owner
// only. A projected binding gets the keys of each Secret and ConfigMap it lists; its
// ServiceAccount tokens are written when a task binds the workspace (see writeTokens), since
// every TaskRun pod gets its own. Any other projected source fails the run: a file the step
// expects would be silently missing.
func (e *executor) fillVolume(ctx context.Context, b v1.WorkspaceBinding, dir string) error {
	var sources []corev1.VolumeProjection
	switch {
	case b.Secret != nil:
		sources = []corev1.VolumeProjection{{Secret: &corev1.SecretProjection{
			LocalObjectReference: corev1.LocalObjectReference{Name: b.Secret.SecretName}, Items: b.Secret.Items}}}
	case b.ConfigMap != nil:
		sources = []corev1.VolumeProjection{{ConfigMap: &corev1.ConfigMapProjection{
			LocalObjectReference: b.ConfigMap.LocalObjectReference, Items: b.ConfigMap.Items}}}
	default:
		sources = b.Projected.Sources
		if len(sources) == 0 {
			return errors.New("projected: no sources")
		}
	}
	secret := false
	for i, src := range sources {
		switch {
		case src.Secret != nil || src.ConfigMap != nil:
			if e.opts.Volumes == nil {
				return errors.New("bound to a Secret or ConfigMap, which this runner cannot read (no VolumeSource)")
			}
			secret = secret || src.Secret != nil
		case src.ServiceAccountToken != nil:
			if e.opts.Tokens == nil {
				return errors.New("projects a ServiceAccount token, which this runner cannot issue (no TokenSource)")
			}
			if err := checkItemPath(src.ServiceAccountToken.Path); err != nil {
				return fmt.Errorf("projected source %d: serviceAccountToken: %w", i, err)
			}
			secret = true
			if e.tokens == nil {
				e.tokens = map[string]*corev1.ProjectedVolumeSource{}
			}
			e.tokens[b.Name] = b.Projected
		default:
			return fmt.Errorf("projected source %d: the local runner projects secret, configMap and serviceAccountToken sources only", i)
		}
	}
	if secret {
		e.volumes = append(e.volumes, dir)
	}
	files := map[string][]byte{}
	modes := map[string]os.FileMode{}
	for _, src := range sources {
		var (
			data  map[string][]byte
			items []corev1.KeyToPath
			mode  os.FileMode = 0o644
			err   error
		)
		ns := e.run.PipelineRun.Namespace
		switch {
		case src.Secret != nil:
			data, err = e.opts.Volumes.SecretData(ctx, ns, src.Secret.Name)
			items, mode = src.Secret.Items, 0o400
		case src.ConfigMap != nil:
			data, err = e.opts.Volumes.ConfigMapData(ctx, ns, src.ConfigMap.Name)
			items = src.ConfigMap.Items
		default:
			continue
		}
		if err != nil {
			return err
		}
		if len(items) == 0 {
			for k, v := range data {
				files[k], modes[k] = v, mode
			}
		}
		for _, it := range items {
			v, ok := data[it.Key]
			if !ok {
				return fmt.Errorf("key %q is not in the bound object", it.Key)
			}
			files[it.Path], modes[it.Path] = v, mode
		}
	}
	for name, v := range files {
		if err := checkItemPath(name); err != nil {
			return err
		}
		if err := writeVolumeFile(dir, name, v, modes[name]); err != nil {
			return err
		}
	}
	return nil
}

// writeTokens writes fresh ServiceAccount tokens into the projected workspace dir for the
// pipeline task about to bind it, issued for the task's ServiceAccount as the kubelet would
// request them for its pod.
func (e *executor) writeTokens(ctx context.Context, p *corev1.ProjectedVolumeSource, dir, pipelineTask string) error {
	sa := e.serviceAccount(pipelineTask)
	for _, src := range p.Sources {
		if src.ServiceAccountToken == nil {
			continue
		}
		tok, err := e.opts.Tokens.ServiceAccountToken(ctx, e.run.PipelineRun.Namespace, sa, *src.ServiceAccountToken)
		if err != nil {
			return fmt.Errorf("token of service account %s: %w", sa, err)
		}
		if err := writeVolumeFile(dir, src.ServiceAccountToken.Path, tok, 0o400); err != nil {
			return err
		}
	}
	return nil
}

// serviceAccount is the ServiceAccount a pipeline task's TaskRun runs as: its taskRunSpecs
// entry's, else the run's taskRunTemplate's, else the namespace's default.
func (e *executor) serviceAccount(pipelineTask string) string {
	spec := e.run.PipelineRun.Spec
	for _, s := range spec.TaskRunSpecs {
		if s.PipelineTaskName == pipelineTask && s.ServiceAccountName != "" {
			return s.ServiceAccountName
		}
	}
	if sa := spec.TaskRunTemplate.ServiceAccountName; sa != "" {
		return sa
	}
	return defaultServiceAccount
}

func checkItemPath(name string) error {
	if name == "" || filepath.IsAbs(name) || strings.Contains(name, "..") {
		return fmt.Errorf("item path %q: must be a relative path inside the workspace", name)
	}
	return nil
}

// writeVolumeFile writes one file of a volume workspace through a rename, so that a task
// binding the workspace never reads half a file while another's token replaces it.
func writeVolumeFile(dir, name string, data []byte, mode os.FileMode) error {
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(p), ".write-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(f.Name(), mode)
	}
	if err == nil {
		err = os.Rename(f.Name(), p)
	}
	if err != nil {
		_ = os.Remove(f.Name())
		return fmt.Errorf("write %s: %w", name, err)
	}
	return nil
}

// removeVolumes deletes the Secret-filled workspaces.
func (e *executor) removeVolumes() {
	for _, dir := range e.volumes {
		if err := os.RemoveAll(dir); err != nil {
			e.log.Warn("remove secret workspace", "dir", dir, "err", err)
		}
	}
}
