package syncer

import (
	"slices"
	"strings"
	"testing"

	"slipway.dev/slipway/engine/manifest"
)

const digestA = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"

func TestParse(t *testing.T) {
	tests := []struct {
		name    string
		files   []manifest.File
		objects int
		wantErr []string
	}{
		{
			name: "two documents and an empty one",
			files: []manifest.File{{Path: "a.yaml", Data: []byte(
				"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\n# nothing here\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: b}\n")}},
			objects: 2,
		},
		{
			name:    "json and a README",
			files:   []manifest.File{{Path: "README.md", Data: []byte("# not yaml: {")}, {Path: "c.json", Data: []byte(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c"}}`)}},
			objects: 1,
		},
		{
			name:    "bad YAML names file and document",
			files:   []manifest.File{{Path: "x/bad.yaml", Data: []byte("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\nkind: [unclosed\n")}},
			wantErr: []string{"x/bad.yaml", "document 2", "invalid YAML"},
		},
		{
			name:    "missing kind",
			files:   []manifest.File{{Path: "k.yaml", Data: []byte("apiVersion: v1\nmetadata: {name: a}\n")}},
			wantErr: []string{"k.yaml", "document 1", "missing kind"},
		},
		{
			name:    "missing name",
			files:   []manifest.File{{Path: "n.yaml", Data: []byte("apiVersion: v1\nkind: ConfigMap\nmetadata: {}\n")}},
			wantErr: []string{"n.yaml", "ConfigMap without metadata.name"},
		},
		{
			name:    "a list",
			files:   []manifest.File{{Path: "l.yaml", Data: []byte("apiVersion: v1\nkind: List\nitems: []\n")}},
			wantErr: []string{"l.yaml", "List is not supported"},
		},
		{
			name:    "a scalar document",
			files:   []manifest.File{{Path: "s.yaml", Data: []byte("just a string\n")}},
			wantErr: []string{"s.yaml", "document 1"},
		},
		{
			name: "duplicate object across files",
			files: []manifest.File{
				{Path: "a.yaml", Data: []byte("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, namespace: n}\n")},
				{Path: "b.yaml", Data: []byte("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, namespace: n}\n")},
			},
			wantErr: []string{"b.yaml", "also defined in a.yaml"},
		},
		{
			name:    "path escaping the directory",
			files:   []manifest.File{{Path: "../x.yaml", Data: []byte("")}},
			wantErr: []string{"../x.yaml"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			objs, err := parse(tt.files)
			if len(tt.wantErr) > 0 {
				if err == nil {
					t.Fatal("parse succeeded, want an error")
				}
				for _, w := range tt.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q does not mention %q", err, w)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(objs) != tt.objects {
				t.Errorf("got %d objects, want %d", len(objs), tt.objects)
			}
		})
	}
}

func TestImages(t *testing.T) {
	objs, err := parse([]manifest.File{{Path: "all.yaml", Data: []byte(`
apiVersion: apps/v1
kind: Deployment
metadata: {name: d}
spec:
  template:
    spec:
      initContainers: [{name: i, image: "init@` + digestA + `"}]
      containers: [{name: c, image: "web@` + digestA + `"}, {name: s, image: "sidecar:latest"}]
---
apiVersion: batch/v1
kind: CronJob
metadata: {name: cj}
spec:
  jobTemplate:
    spec:
      template:
        spec:
          containers: [{name: c, image: "cron:1.0"}]
---
apiVersion: example.com/v1
kind: Custom
metadata: {name: x}
spec:
  podTemplate:
    spec:
      ephemeralContainers: [{name: e, image: "debug@` + digestA + `"}]
`)}})
	if err != nil {
		t.Fatal(err)
	}
	got := images(objs)
	want := []string{"cron:1.0", "debug@" + digestA, "init@" + digestA, "sidecar:latest", "web@" + digestA}
	if !slices.Equal(got, want) {
		t.Errorf("images = %v, want %v", got, want)
	}
	if bad := unpinned(got); !slices.Equal(bad, []string{"cron:1.0", "sidecar:latest"}) {
		t.Errorf("unpinned = %v", bad)
	}
	for _, img := range []string{"web@sha256:abc", "web:1@sha256:" + strings.Repeat("A", 64), "@" + digestA, ""} {
		if len(unpinned([]string{img})) != 1 {
			t.Errorf("%q counted as pinned", img)
		}
	}
}

// FuzzParse feeds arbitrary config-repo content to the parser: it must never panic, and every
// object it returns must have a kind and a name.
func FuzzParse(f *testing.F) {
	f.Add([]byte("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\n"))
	f.Add([]byte("{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"p\"},\"spec\":{\"containers\":[{\"image\":1}]}}"))
	f.Add([]byte("---\n---\n- a\n- b\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		objs, err := parse([]manifest.File{{Path: "f.yaml", Data: data}})
		if err != nil {
			return
		}
		for _, o := range objs {
			if o.GetKind() == "" || o.GetName() == "" {
				t.Fatalf("object without kind or name: %v", o.Object)
			}
		}
		_ = images(objs)
	})
}
