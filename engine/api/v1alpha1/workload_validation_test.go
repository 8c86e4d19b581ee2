package v1alpha1_test

import (
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/intstr"

	"slipway.dev/slipway/engine/api/v1alpha1"
)

// TestWorkloadValidation covers the rules on services, workers and environments that shape
// what the app chart renders: probes, autoscaling, disruption budgets, envFrom references,
// rolling updates, ingress hosts, quotas and limit ranges.
func TestWorkloadValidation(t *testing.T) {
	c, ns := testNamespace(t)
	i32 := func(v int32) *int32 { return &v }
	is := intstr.FromString
	ii := func(v int) *intstr.IntOrString { x := intstr.FromInt(v); return &x }
	ps := func(v string) *intstr.IntOrString { x := is(v); return &x }
	tests := []struct {
		name    string
		mutate  func(*v1alpha1.Application)
		wantErr []string
	}{
		{
			name: "everything set and valid",
			mutate: func(a *v1alpha1.Application) {
				s := &a.Spec.Services[0]
				s.Probes = &v1alpha1.Probes{
					Readiness: &v1alpha1.Probe{Path: "/ready", InitialDelaySeconds: 2},
					Liveness:  &v1alpha1.Probe{Port: 9090},
				}
				s.Autoscaling = &v1alpha1.Autoscaling{MinReplicas: 2, MaxReplicas: 5, TargetCPUUtilization: 70}
				s.Disruption = &v1alpha1.DisruptionBudget{MinAvailable: ps("50%")}
				s.EnvFrom = []v1alpha1.EnvFromSource{{ConfigMap: "web-config"}, {Secret: "web-db", Optional: true}}
				s.RollingUpdate = &v1alpha1.RollingUpdate{MaxSurge: ii(1), MaxUnavailable: ii(0)}
				s.Routes = []v1alpha1.Route{{Path: "/"}}
				a.Spec.Workers = []v1alpha1.Worker{{
					Name: "jobs", Command: []string{"/app", "work"}, Replicas: i32(2),
					Disruption: &v1alpha1.DisruptionBudget{MaxUnavailable: ii(1)},
					EnvFrom:    []v1alpha1.EnvFromSource{{Secret: "queue"}},
				}}
				e := &a.Spec.Environments[0]
				e.Host = "hello.example.com"
				e.Ingress = &v1alpha1.EnvironmentIngress{Hosts: []string{"*.hello.example.com"}, TLSSecretName: "hello-tls", ClassName: "nginx"}
				e.Quota = corev1.ResourceList{"pods": resource.MustParse("20"), "requests.cpu": resource.MustParse("2")}
				e.LimitRange = &v1alpha1.LimitRangeDefaults{Max: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("2Gi")}}
			},
		},
		{
			name: "minReplicas above maxReplicas",
			mutate: func(a *v1alpha1.Application) {
				a.Spec.Services[0].Autoscaling = &v1alpha1.Autoscaling{MinReplicas: 5, MaxReplicas: 2}
			},
			wantErr: []string{"spec.services[0].autoscaling", "minReplicas must be less than or equal to maxReplicas"},
		},
		{
			name: "target CPU above 100",
			mutate: func(a *v1alpha1.Application) {
				a.Spec.Services[0].Autoscaling = &v1alpha1.Autoscaling{MaxReplicas: 2, TargetCPUUtilization: 150}
			},
			wantErr: []string{"spec.services[0].autoscaling.targetCPUUtilization"},
		},
		{
			name: "replicas and autoscaling together",
			mutate: func(a *v1alpha1.Application) {
				a.Spec.Services[0].Replicas = i32(3)
				a.Spec.Services[0].Autoscaling = &v1alpha1.Autoscaling{MaxReplicas: 4}
			},
			wantErr: []string{"spec.services[0]", "replicas and autoscaling are mutually exclusive"},
		},
		{
			name: "worker with replicas and autoscaling",
			mutate: func(a *v1alpha1.Application) {
				a.Spec.Workers = []v1alpha1.Worker{{Name: "jobs", Replicas: i32(1), Autoscaling: &v1alpha1.Autoscaling{MaxReplicas: 3}}}
			},
			wantErr: []string{"spec.workers[0]", "replicas and autoscaling are mutually exclusive"},
		},
		{
			name: "disruption budget with both fields",
			mutate: func(a *v1alpha1.Application) {
				a.Spec.Services[0].Disruption = &v1alpha1.DisruptionBudget{MinAvailable: ii(1), MaxUnavailable: ii(1)}
			},
			wantErr: []string{"spec.services[0].disruption", "set exactly one of minAvailable and maxUnavailable"},
		},
		{
			name:    "disruption budget with neither field",
			mutate:  func(a *v1alpha1.Application) { a.Spec.Services[0].Disruption = &v1alpha1.DisruptionBudget{} },
			wantErr: []string{"spec.services[0].disruption", "set exactly one of minAvailable and maxUnavailable"},
		},
		{
			name: "disruption budget with a word",
			mutate: func(a *v1alpha1.Application) {
				a.Spec.Services[0].Disruption = &v1alpha1.DisruptionBudget{MinAvailable: ps("half")}
			},
			wantErr: []string{"spec.services[0].disruption.minAvailable", "percentage"},
		},
		{
			name: "envFrom with both kinds",
			mutate: func(a *v1alpha1.Application) {
				a.Spec.Services[0].EnvFrom = []v1alpha1.EnvFromSource{{ConfigMap: "a", Secret: "b"}}
			},
			wantErr: []string{"spec.services[0].envFrom[0]", "set exactly one of configMap and secret"},
		},
		{
			name: "envFrom secret name invalid",
			mutate: func(a *v1alpha1.Application) {
				a.Spec.Services[0].EnvFrom = []v1alpha1.EnvFromSource{{Secret: "DB_Secret"}}
			},
			wantErr: []string{"spec.services[0].envFrom[0].secret"},
		},
		{
			name: "rolling update that cannot progress",
			mutate: func(a *v1alpha1.Application) {
				a.Spec.Services[0].RollingUpdate = &v1alpha1.RollingUpdate{MaxSurge: ps("0%"), MaxUnavailable: ii(0)}
			},
			wantErr: []string{"spec.services[0].rollingUpdate", "maxSurge and maxUnavailable cannot both be zero"},
		},
		{
			name: "rolling update with a negative surge",
			mutate: func(a *v1alpha1.Application) {
				a.Spec.Services[0].RollingUpdate = &v1alpha1.RollingUpdate{MaxSurge: ii(-1)}
			},
			wantErr: []string{"spec.services[0].rollingUpdate.maxSurge", "non-negative"},
		},
		{
			name: "probe path not absolute",
			mutate: func(a *v1alpha1.Application) {
				a.Spec.Services[0].Probes = &v1alpha1.Probes{Readiness: &v1alpha1.Probe{Path: "ready"}}
			},
			wantErr: []string{"spec.services[0].probes.readiness.path"},
		},
		{
			name: "probe port out of range",
			mutate: func(a *v1alpha1.Application) {
				a.Spec.Services[0].Probes = &v1alpha1.Probes{Liveness: &v1alpha1.Probe{Port: 70000}}
			},
			wantErr: []string{"spec.services[0].probes.liveness.port"},
		},
		{
			name:    "host with a scheme",
			mutate:  func(a *v1alpha1.Application) { a.Spec.Environments[0].Host = "https://hello.example.com" },
			wantErr: []string{"spec.environments[0].host", "must be a DNS name"},
		},
		{
			name: "ingress host with uppercase",
			mutate: func(a *v1alpha1.Application) {
				a.Spec.Environments[0].Ingress = &v1alpha1.EnvironmentIngress{Hosts: []string{"Hello.example.com"}}
			},
			wantErr: []string{"spec.environments[0].ingress.hosts", "every host must be a DNS name"},
		},
		{
			name: "TLS secret name invalid",
			mutate: func(a *v1alpha1.Application) {
				a.Spec.Environments[0].Ingress = &v1alpha1.EnvironmentIngress{TLSSecretName: "tls_secret"}
			},
			wantErr: []string{"spec.environments[0].ingress.tlsSecretName"},
		},
		{
			name:    "worker name not a DNS label",
			mutate:  func(a *v1alpha1.Application) { a.Spec.Workers = []v1alpha1.Worker{{Name: "Jobs"}} },
			wantErr: []string{"spec.workers[0].name"},
		},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			app := sampleApplication(ns, fmt.Sprintf("workload-%d", i))
			tt.mutate(app)
			checkCreateErr(t, c.Create(t.Context(), app), tt.wantErr)
		})
	}
}
