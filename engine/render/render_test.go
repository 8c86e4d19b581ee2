package render

import (
	"errors"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"

	"slipway.dev/slipway/engine/manifest"
)

const digest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

func validInput() Input {
	return Input{
		App:       "hello",
		Env:       "dev",
		Namespace: "hello-dev",
		Image:     "registry.local:5000/hello@" + digest,
		Labels:    map[string]string{"team": "payments"},
		Services: []Service{
			{
				Name: "web", Port: 8080, Replicas: 2, HealthPath: "/healthz",
				Env: []EnvVar{{Name: "LOG_LEVEL", Value: "debug"}, {Name: "FEATURE_X", Value: "true"}},
				Resources: corev1.ResourceRequirements{
					Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("128Mi")},
					Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("256Mi")},
				},
			},
			{Name: "api", Replicas: 0},
		},
	}
}

func TestRenderDeterministic(t *testing.T) {
	a, err := Render(validInput())
	if err != nil {
		t.Fatal(err)
	}
	for range 20 {
		b, err := Render(validInput())
		if err != nil {
			t.Fatal(err)
		}
		if !slices.EqualFunc(a, b, func(x, y manifest.File) bool { return x.Path == y.Path && string(x.Data) == string(y.Data) }) {
			t.Fatal("two renders of the same input differ")
		}
	}
}

// TestRenderObjects checks what the golden files can't say at a glance: the image is the
// digest, replicas 0 survives, and the selector matches the pod labels.
func TestRenderObjects(t *testing.T) {
	files, err := Render(validInput())
	if err != nil {
		t.Fatal(err)
	}
	objs := map[string]map[string]any{}
	for _, f := range files {
		var m map[string]any
		if err := yaml.Unmarshal(f.Data, &m); err != nil {
			t.Fatalf("%s: %v", f.Path, err)
		}
		objs[f.Path] = m
	}
	get := func(path string, keys ...any) any {
		var v any = objs[path]
		for _, k := range keys {
			switch k := k.(type) {
			case string:
				v = v.(map[string]any)[k]
			case int:
				v = v.([]any)[k]
			}
		}
		return v
	}
	if img := get("deployment-web.yaml", "spec", "template", "spec", "containers", 0, "image"); img != validInput().Image {
		t.Errorf("image = %v", img)
	}
	if r := get("deployment-api.yaml", "spec", "replicas"); r != float64(0) {
		t.Errorf("api replicas = %v, want 0", r)
	}
	if p := get("deployment-api.yaml", "spec", "template", "spec", "containers", 0, "readinessProbe", "tcpSocket", "port"); p != "http" {
		t.Errorf("api readiness probe without healthPath = %v, want tcpSocket on http", p)
	}
	if p := get("deployment-web.yaml", "spec", "template", "spec", "containers", 0, "livenessProbe", "httpGet", "path"); p != "/healthz" {
		t.Errorf("web liveness path = %v", p)
	}
	sel := get("service-web.yaml", "spec", "selector").(map[string]any)
	podLabels := get("deployment-web.yaml", "spec", "template", "metadata", "labels").(map[string]any)
	for k, v := range sel {
		if podLabels[k] != v {
			t.Errorf("service selector %s=%v does not match pod label %v", k, v, podLabels[k])
		}
	}
	if ns := get("deployment-web.yaml", "metadata", "namespace"); ns != "hello-dev" {
		t.Errorf("namespace = %v", ns)
	}
	if l := get("namespace.yaml", "metadata", "labels", "team"); l != "payments" {
		t.Errorf("namespace label team = %v", l)
	}
}

func TestRenderRejectsBadInput(t *testing.T) {
	tests := []struct {
		name   string
		modify func(*Input)
		want   []string // substrings of the error, naming the field
	}{
		{"image with a tag", func(in *Input) { in.Image = "registry.local/hello:1.0" }, []string{"image", "pinned by digest"}},
		{"image with a short digest", func(in *Input) { in.Image = "hello@sha256:abc" }, []string{"image", "pinned by digest"}},
		{"image with tag and digest but no repo", func(in *Input) { in.Image = "@" + digest }, []string{"image"}},
		{"missing image", func(in *Input) { in.Image = "" }, []string{"image"}},
		{"bad app name", func(in *Input) { in.App = "Hello_World" }, []string{"app", "Hello_World"}},
		{"missing env", func(in *Input) { in.Env = "" }, []string{"env", "Required"}},
		{"bad namespace", func(in *Input) { in.Namespace = "a.b" }, []string{"namespace"}},
		{"bad service name", func(in *Input) { in.Services[1].Name = "API" }, []string{"services[1].name", "API"}},
		{"duplicate service", func(in *Input) { in.Services[1].Name = "web" }, []string{"services[1].name", "Duplicate"}},
		{"no services", func(in *Input) { in.Services = nil }, []string{"services", "Required"}},
		{"port out of range", func(in *Input) { in.Services[0].Port = 70000 }, []string{"services[0].port"}},
		{"negative replicas", func(in *Input) { in.Services[0].Replicas = -1 }, []string{"services[0].replicas"}},
		{"relative health path", func(in *Input) { in.Services[0].HealthPath = "healthz" }, []string{"services[0].healthPath"}},
		{"bad env name", func(in *Input) { in.Services[0].Env[0].Name = "1X" }, []string{"services[0].env[0].name"}},
		{"reserved label", func(in *Input) { in.Labels["app.kubernetes.io/name"] = "x" }, []string{"labels[app.kubernetes.io/name]", "Forbidden"}},
		{"bad label value", func(in *Input) { in.Labels["team"] = "a b" }, []string{"labels[team]"}},
		{"worker named like a service", func(in *Input) { in.Workers = []Worker{{Name: "web"}} }, []string{"workers[0].name", "Duplicate"}},
		{"route not a path", func(in *Input) { in.Services[0].Routes = []string{"api"} }, []string{"services[0].routes[0]"}},
		{"route on two services", func(in *Input) {
			in.Services[0].Routes = []string{"/api"}
			in.Services[1].Routes = []string{"/api"}
		}, []string{"services[1].routes[0]", "also routed to web"}},
		{"bad ingress host", func(in *Input) { in.Ingress.Hosts = []string{"https://x.example.com"} }, []string{"ingress.hosts[0]"}},
		{"duplicate ingress host", func(in *Input) { in.Ingress.Hosts = []string{"a.example.com", "a.example.com"} }, []string{"ingress.hosts[1]", "Duplicate"}},
		{"bad TLS secret", func(in *Input) { in.Ingress.TLSSecretName = "TLS" }, []string{"ingress.tlsSecretName"}},
		{"envFrom with both", func(in *Input) { in.Services[0].EnvFrom = []EnvFrom{{ConfigMap: "a", Secret: "b"}} }, []string{"services[0].envFrom[0]", "exactly one"}},
		{"envFrom with neither", func(in *Input) { in.Workers = []Worker{{Name: "w", EnvFrom: []EnvFrom{{}}}} }, []string{"workers[0].envFrom[0]", "exactly one"}},
		{"envFrom bad name", func(in *Input) { in.Services[0].EnvFrom = []EnvFrom{{Secret: "DB_PASS"}} }, []string{"services[0].envFrom[0].secret", "DB_PASS"}},
		{"autoscaling min above max", func(in *Input) { in.Services[0].Autoscaling = &Autoscaling{MinReplicas: 4, MaxReplicas: 2} }, []string{"services[0].autoscaling.minReplicas"}},
		{"autoscaling without max", func(in *Input) { in.Workers = []Worker{{Name: "w", Autoscaling: &Autoscaling{}}} }, []string{"workers[0].autoscaling.maxReplicas"}},
		{"autoscaling target above 100", func(in *Input) { in.Services[0].Autoscaling = &Autoscaling{MaxReplicas: 2, TargetCPUUtilization: 101} }, []string{"services[0].autoscaling.targetCPUUtilization"}},
		{"disruption with both", func(in *Input) {
			one := intstr.FromInt(1)
			in.Services[0].Disruption = &Disruption{MinAvailable: &one, MaxUnavailable: &one}
		}, []string{"services[0].disruption", "exactly one"}},
		{"disruption not a percentage", func(in *Input) {
			v := intstr.FromString("half")
			in.Services[0].Disruption = &Disruption{MinAvailable: &v}
		}, []string{"services[0].disruption.minAvailable", "percentage"}},
		{"rolling update stuck", func(in *Input) {
			z, zp := intstr.FromInt(0), intstr.FromString("0%")
			in.Services[0].RollingUpdate = &RollingUpdate{MaxSurge: &zp, MaxUnavailable: &z}
		}, []string{"services[0].rollingUpdate", "cannot both be zero"}},
		{"probe path relative", func(in *Input) { in.Services[0].Readiness = &Probe{Path: "ready"} }, []string{"services[0].readiness.path"}},
		{"probe port out of range", func(in *Input) { in.Services[0].Liveness = &Probe{Port: 70000} }, []string{"services[0].liveness.port"}},
		{"bad ingress controller label", func(in *Input) { in.IngressControllerNamespace = map[string]string{"name": "a b"} }, []string{"ingressControllerNamespace[name]"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := validInput()
			tt.modify(&in)
			_, err := Render(in)
			if err == nil {
				t.Fatal("Render succeeded, want an error")
			}
			if !errors.Is(err, ErrInvalidInput) {
				t.Errorf("error %q does not wrap ErrInvalidInput", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

// TestChartRefusesUndigestedImage proves the chart's own guard, for anyone rendering it without
// this package (helm template charts/app).
func TestChartRefusesUndigestedImage(t *testing.T) {
	in := validInput()
	in.Image = "hello:latest"
	_, err := renderChart(in)
	if err == nil || !strings.Contains(err.Error(), "values.image") || !strings.Contains(err.Error(), "pinned by digest") {
		t.Fatalf("err = %v, want the chart's digest failure", err)
	}
}

func BenchmarkRender(b *testing.B) {
	in := validInput()
	for b.Loop() {
		if _, err := Render(in); err != nil {
			b.Fatal(err)
		}
	}
}

// TestMemoryRequestBecomesLimit proves a memory request without a limit is rendered with the
// request as its limit, so a smaller namespace default limit cannot make the pod invalid.
func TestMemoryRequestBecomesLimit(t *testing.T) {
	in := validInput()
	in.Services[0].Resources = corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("2Gi")}}
	files, err := Render(in)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if f.Path != "deployment-web.yaml" {
			continue
		}
		var d struct {
			Spec struct {
				Template struct {
					Spec corev1.PodSpec `json:"spec"`
				} `json:"template"`
			} `json:"spec"`
		}
		if err := yaml.Unmarshal(f.Data, &d); err != nil {
			t.Fatal(err)
		}
		lim := d.Spec.Template.Spec.Containers[0].Resources.Limits[corev1.ResourceMemory]
		if lim.String() != "2Gi" {
			t.Fatalf("memory limit = %s, want the request 2Gi", lim.String())
		}
		if in.Services[0].Resources.Limits != nil {
			t.Fatal("Render modified its input")
		}
		return
	}
	t.Fatal("no deployment-web.yaml")
}

// FuzzRender feeds arbitrary names, image, host and route to Render: it either refuses the
// input or returns files that each parse as one object with a kind and a name, and it never
// lets an image through that is not pinned by digest.
func FuzzRender(f *testing.F) {
	f.Add("hello", "dev", "registry.local/hello@"+digest, "web", "hello.example.com", "/")
	f.Add("a", "b", "x@sha256:"+strings.Repeat("0", 64), "w", "*.example.com", "/api")
	f.Add("hello", "dev", "hello:latest", "web", "", "")
	f.Add("hello", "dev", "registry.local/hello@"+digest, "web\nkind: Secret", "h", "/ {{")
	f.Fuzz(func(t *testing.T, app, env, image, svc, host, route string) {
		in := Input{App: app, Env: env, Namespace: app + "-" + env, Image: image,
			Services: []Service{{Name: svc}}}
		if host != "" {
			in.Ingress.Hosts = []string{host}
		}
		if route != "" {
			in.Services[0].Routes = []string{route}
		}
		files, err := Render(in)
		if err != nil {
			return
		}
		if !digestRef.MatchString(image) {
			t.Fatalf("rendered image %q, which is not pinned by digest", image)
		}
		for _, f := range files {
			var obj map[string]any
			if err := yaml.Unmarshal(f.Data, &obj); err != nil {
				t.Fatalf("%s: %v", f.Path, err)
			}
			if obj["kind"] == "" || obj["metadata"] == nil {
				t.Fatalf("%s: no kind or metadata", f.Path)
			}
		}
	})
}
