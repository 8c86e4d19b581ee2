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

// fillVolume writes the keys of the Secret or ConfigMap a workspace is bound to into dir, as a
// volume mount would: one file per key (or per listed item), Secret files readable by the owner
// only.
func (e *executor) fillVolume(ctx context.Context, b v1.WorkspaceBinding, dir string) error {
	if e.opts.Volumes == nil {
		return errors.New("bound to a Secret or ConfigMap, which this runner cannot read (no VolumeSource)")
	}
	ns := e.run.PipelineRun.Namespace
	var (
		data  map[string][]byte
		items []corev1.KeyToPath
		mode  os.FileMode = 0o644
		err   error
	)
	switch {
	case b.Secret != nil:
		data, err = e.opts.Volumes.SecretData(ctx, ns, b.Secret.SecretName)
		items, mode = b.Secret.Items, 0o400
		e.volumes = append(e.volumes, dir)
	default:
		data, err = e.opts.Volumes.ConfigMapData(ctx, ns, b.ConfigMap.Name)
		items = b.ConfigMap.Items
	}
	if err != nil {
		return err
	}
	files := map[string][]byte{}
	if len(items) == 0 {
		for k, v := range data {
			files[k] = v
		}
	}
	for _, it := range items {
		v, ok := data[it.Key]
		if !ok {
			return fmt.Errorf("key %q is not in the bound object", it.Key)
		}
		files[it.Path] = v
	}
	for name, v := range files {
		if name == "" || filepath.IsAbs(name) || strings.Contains(name, "..") {
			return fmt.Errorf("item path %q: must be a relative path inside the workspace", name)
		}
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, v, mode); err != nil {
			return fmt.Errorf("write %s: %w", name, err)
		}
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
