package appchart

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"slipway.dev/slipway/engine/api/v1alpha1"
)

func app() *v1alpha1.Application {
	two := int32(2)
	a := &v1alpha1.Application{}
	a.Name = "shop"
	a.Spec.Services = []v1alpha1.Service{{Name: "web", Routes: []v1alpha1.Route{{Path: "/"}, {Path: "/api"}},
		Probes: &v1alpha1.Probes{Liveness: &v1alpha1.Probe{Port: 9090}}}}
	a.Spec.Workers = []v1alpha1.Worker{{Name: "jobs", Replicas: &two}}
	a.Spec.Environments = []v1alpha1.Environment{
		{Name: "staging"},
		{Name: "production", Namespace: "shop", Host: "shop.example.com", Ingress: &v1alpha1.EnvironmentIngress{
			Hosts: []string{"shop.example.com", "www.shop.example.com"}, TLSSecretName: "shop-tls", ClassName: "nginx"}},
	}
	return a
}

func TestInput(t *testing.T) {
	a := app()
	in := Input(a, a.Spec.Environments[1], "img")
	if in.Namespace != "shop" {
		t.Errorf("namespace = %q, want the environment's own", in.Namespace)
	}
	if want := []string{"shop.example.com", "www.shop.example.com"}; !slices.Equal(in.Ingress.Hosts, want) {
		t.Errorf("hosts = %v, want %v (host first, no duplicate)", in.Ingress.Hosts, want)
	}
	if in.Ingress.TLSSecretName != "shop-tls" || in.Ingress.ClassName != "nginx" {
		t.Errorf("ingress = %+v", in.Ingress)
	}
	s := in.Services[0]
	if s.Replicas != 1 || !slices.Equal(s.Routes, []string{"/", "/api"}) || s.Liveness == nil || s.Liveness.Port != 9090 || s.Readiness != nil {
		t.Errorf("service = %+v", s)
	}
	if in.Workers[0].Replicas != 2 {
		t.Errorf("worker replicas = %d, want 2", in.Workers[0].Replicas)
	}
	if ns := Input(a, a.Spec.Environments[0], "img").Namespace; ns != "shop-staging" {
		t.Errorf("default namespace = %q, want shop-staging", ns)
	}
}

func TestEnvironment(t *testing.T) {
	a := app()
	if e, err := Environment(a, "production"); err != nil || e.Name != "production" {
		t.Fatalf("Environment(production) = %v, %v", e.Name, err)
	}
	_, err := Environment(a, "prod")
	if !errors.Is(err, ErrUnknownEnvironment) || !strings.Contains(err.Error(), "staging, production") {
		t.Fatalf("err = %v, want ErrUnknownEnvironment listing the environments", err)
	}
}

func TestRenderRefusesTag(t *testing.T) {
	a := app()
	_, err := Renderer{}.Render(t.Context(), a, a.Spec.Environments[0], "registry.local/shop:latest")
	if err == nil || !strings.Contains(err.Error(), "pinned by digest") {
		t.Fatalf("err = %v, want a digest error", err)
	}
}
