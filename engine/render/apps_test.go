package render_test

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"slipway.dev/slipway/engine/api/v1alpha1"
	"slipway.dev/slipway/engine/appchart"
	"slipway.dev/slipway/engine/manifest"
	"slipway.dev/slipway/internal/golden"
	"slipway.dev/slipway/internal/kubetest"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

var srv = kubetest.New("render")

func TestMain(m *testing.M) { os.Exit(srv.Run(m)) }

const sampleImage = "registry.local:5000/acme/app@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

// sampleApps loads every Application under testdata/apps, strictly: a misspelt field in a
// sample is a test bug.
func sampleApps(t *testing.T) map[string]*v1alpha1.Application {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join("testdata", "apps", "*.yaml"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no sample applications: %v", err)
	}
	apps := map[string]*v1alpha1.Application{}
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		var app v1alpha1.Application
		if err := yaml.UnmarshalStrict(data, &app); err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		apps[strings.TrimSuffix(filepath.Base(p), ".yaml")] = &app
	}
	return apps
}

// renderAll renders every sample in every environment it declares, keyed <sample>/<env>.
func renderAll(t *testing.T) map[string][]manifest.File {
	t.Helper()
	out := map[string][]manifest.File{}
	for name, app := range sampleApps(t) {
		for _, env := range app.Spec.Environments {
			files, err := appchart.Renderer{}.Render(t.Context(), app, env, sampleImage)
			if err != nil {
				t.Fatalf("%s/%s: %v", name, env.Name, err)
			}
			out[name+"/"+env.Name] = files
		}
	}
	return out
}

// TestSampleApplicationsGolden renders each sample Application in each of its environments
// and compares every file with testdata/golden/<sample>/<env>/; -update rewrites them.
func TestSampleApplicationsGolden(t *testing.T) {
	for key, files := range renderAll(t) {
		t.Run(key, func(t *testing.T) {
			golden.Files(t, filepath.Join("testdata", "golden", filepath.FromSlash(key)), files, *update)
		})
	}
}

// TestRenderedObjectsAreValid creates every rendered object against a real kube-apiserver:
// the namespace and service accounts for real, everything else as a server-side dry run, so the API server's own
// schema and validation prove the chart. Each Deployment's pod template is also dry-run as a
// Pod, which the namespace's "restricted" Pod Security admission would refuse if the security
// context fell short.
func TestRenderedObjectsAreValid(t *testing.T) {
	c, _ := srv.Namespace(t)
	for key, files := range renderAll(t) {
		t.Run(key, func(t *testing.T) {
			var objs []*unstructured.Unstructured
			for _, f := range files {
				u := &unstructured.Unstructured{}
				if err := yaml.Unmarshal(f.Data, &u.Object); err != nil {
					t.Fatalf("%s: %v", f.Path, err)
				}
				// The namespace and the service accounts the pods name are created for real;
				// the samples' namespaces are all distinct.
				if k := u.GetKind(); k == "Namespace" || k == "ServiceAccount" {
					if err := c.Create(t.Context(), u); err != nil {
						t.Fatalf("%s: %v", f.Path, err)
					}
					continue
				}
				objs = append(objs, u)
			}
			for _, u := range objs {
				if err := c.Create(t.Context(), u.DeepCopy(), client.DryRunAll); err != nil {
					t.Errorf("%s %s: %v", u.GetKind(), u.GetName(), err)
				}
				if u.GetKind() != "Deployment" {
					continue
				}
				if err := kubetest.DryRunPod(t.Context(), c, u); err != nil {
					t.Error(err)
				}
			}
		})
	}
}

// TestPodSecurityRefusesWeakerPods proves the dry-run pod check above can fail: the same pod
// without its security context is refused by the rendered namespace.
func TestPodSecurityRefusesWeakerPods(t *testing.T) {
	c, _ := srv.Namespace(t)
	app := sampleApps(t)["minimal"]
	files, err := appchart.Renderer{}.Render(t.Context(), app, app.Spec.Environments[0], sampleImage)
	if err != nil {
		t.Fatal(err)
	}
	var ns, sa, dep unstructured.Unstructured
	for _, f := range files {
		switch f.Path {
		case "namespace.yaml":
			err = yaml.Unmarshal(f.Data, &ns.Object)
		case "serviceaccount-web.yaml":
			err = yaml.Unmarshal(f.Data, &sa.Object)
		case "deployment-web.yaml":
			err = yaml.Unmarshal(f.Data, &dep.Object)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	ns.SetName("pss-check")
	sa.SetNamespace("pss-check")
	for _, o := range []*unstructured.Unstructured{&ns, &sa} {
		if err := c.Create(t.Context(), o); err != nil {
			t.Fatal(err)
		}
	}
	tmpl, _, _ := unstructured.NestedMap(dep.Object, "spec", "template")
	pod := &unstructured.Unstructured{Object: tmpl}
	pod.SetAPIVersion("v1")
	pod.SetKind("Pod")
	pod.SetName("weak")
	pod.SetNamespace("pss-check")
	unstructured.RemoveNestedField(pod.Object, "spec", "securityContext")
	containers, _, _ := unstructured.NestedSlice(pod.Object, "spec", "containers")
	delete(containers[0].(map[string]any), "securityContext")
	if err := unstructured.SetNestedSlice(pod.Object, containers, "spec", "containers"); err != nil {
		t.Fatal(err)
	}
	err = c.Create(t.Context(), pod, client.DryRunAll)
	if err == nil || !strings.Contains(err.Error(), "restricted") {
		t.Fatalf("pod without security context: err = %v, want a PodSecurity refusal", err)
	}
}
