package localrunner

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// objects is a VolumeSource over fixed Secrets and ConfigMaps.
type objects map[string]map[string][]byte

func (o objects) SecretData(_ context.Context, ns, name string) (map[string][]byte, error) {
	return o.get("secret/" + ns + "/" + name)
}

func (o objects) ConfigMapData(_ context.Context, ns, name string) (map[string][]byte, error) {
	return o.get("configmap/" + ns + "/" + name)
}

func (o objects) get(key string) (map[string][]byte, error) {
	if d, ok := o[key]; ok {
		return d, nil
	}
	return nil, errors.New(key + " not found")
}

const volumeRun = `
metadata: {name: volumes}
spec:
  workspaces:
    - name: key
      secret:
        secretName: signing
        items: [{key: cosign.key, path: keys/cosign.key}]
    - name: settings
      configMap: {name: settings}
  pipelineSpec:
    workspaces: [{name: key}, {name: settings}]
    tasks:
      - name: read
        workspaces: [{name: key, workspace: key}, {name: settings, workspace: settings}]
        taskSpec:
          workspaces: [{name: key}, {name: settings}]
          results: [{name: key}, {name: level}, {name: mode}]
          steps:
            - name: read
              image: busybox
              script: |
                cat $(workspaces.key.path)/keys/cosign.key > $(results.key.path)
                cat $(workspaces.settings.path)/level > $(results.level.path)
                stat -c %a $(workspaces.key.path)/keys/cosign.key > $(results.mode.path)
                pwd > /dev/null
`

func TestSecretAndConfigMapWorkspaces(t *testing.T) {
	f := newFixture(t)
	f.opts.Volumes = objects{
		"secret/default/signing":     {"cosign.key": []byte("PRIVATE"), "cosign.password": []byte("pw")},
		"configmap/default/settings": {"level": []byte("high")},
	}
	out := f.execute(t, t.Context(), volumeRun)
	wantReason(t, out, "Succeeded")
	read := task(t, out, "read")
	for name, want := range map[string]string{"key": "PRIVATE", "level": "high", "mode": "400"} {
		if got := strings.TrimSpace(result(t, read, name)); got != want {
			t.Errorf("result %s = %q, want %q", name, got, want)
		}
	}
	// The Secret's files are gone once the run ended; the ConfigMap's stay like any workspace.
	ws := filepath.Join(f.dir, "work", "default", "volumes", "workspaces")
	if _, err := os.Stat(filepath.Join(ws, "key")); !os.IsNotExist(err) {
		t.Errorf("secret workspace still on disk after the run (stat: %v)", err)
	}
	if _, err := os.Stat(filepath.Join(ws, "settings", "level")); err != nil {
		t.Errorf("configmap workspace: %v", err)
	}
}

func TestVolumeWorkspaceErrors(t *testing.T) {
	for _, tc := range []struct {
		name    string
		volumes VolumeSource
		want    string
	}{
		{"no volume source", nil, "cannot read"},
		{"missing secret", objects{"configmap/default/settings": {}}, "secret/default/signing not found"},
		{"missing key", objects{"secret/default/signing": {"other": nil}, "configmap/default/settings": {}}, `key "cosign.key" is not in the bound object`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			f.opts.Volumes = tc.volumes
			out := f.execute(t, t.Context(), volumeRun)
			wantReason(t, out, "InvalidWorkspaceBindings")
			if !strings.Contains(out.Message, tc.want) {
				t.Errorf("message %q, want it to contain %q", out.Message, tc.want)
			}
		})
	}
}
