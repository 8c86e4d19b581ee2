// Package appchart maps an Application and one of its environments onto the app chart's
// render input, and renders it: what the deploy step commits and `slipway render` prints.
package appchart

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"slipway.dev/slipway/engine/api/v1alpha1"
	"slipway.dev/slipway/engine/manifest"
	"slipway.dev/slipway/engine/render"
)

// ErrUnknownEnvironment is returned for an environment the Application does not declare.
var ErrUnknownEnvironment = errors.New("unknown environment")

// Renderer renders Applications with the embedded app chart.
type Renderer struct {
	// IngressControllerNamespace selects, by labels, the namespace of the cluster's ingress
	// controller, which the rendered NetworkPolicies admit; nil means the chart's default.
	IngressControllerNamespace map[string]string
}

// Render renders app for env with image, which must be pinned by digest. The files are
// relative to the application's directory in the config repo.
func (r Renderer) Render(_ context.Context, app *v1alpha1.Application, env v1alpha1.Environment, image string) ([]manifest.File, error) {
	in := Input(app, env, image)
	in.IngressControllerNamespace = r.IngressControllerNamespace
	files, err := render.Render(in)
	if err != nil {
		return nil, fmt.Errorf("application %s: %w", app.Name, err)
	}
	return files, nil
}

// Namespace is the namespace app runs in for env: the environment's own, or
// <application>-<environment>.
func Namespace(app *v1alpha1.Application, env v1alpha1.Environment) string {
	if env.Namespace != "" {
		return env.Namespace
	}
	return app.Name + "-" + env.Name
}

// Environment returns app's environment called name, or an error wrapping
// ErrUnknownEnvironment that lists the ones it has.
func Environment(app *v1alpha1.Application, name string) (v1alpha1.Environment, error) {
	var names []string
	for _, e := range app.Spec.Environments {
		if e.Name == name {
			return e, nil
		}
		names = append(names, e.Name)
	}
	return v1alpha1.Environment{}, fmt.Errorf("%w %q: application %s has %s", ErrUnknownEnvironment, name, app.Name, strings.Join(names, ", "))
}

// Input maps app, env and image onto the renderer's input. Unset replica counts mean one pod.
func Input(app *v1alpha1.Application, env v1alpha1.Environment, image string) render.Input {
	in := render.Input{
		App:       app.Name,
		Env:       env.Name,
		Namespace: Namespace(app, env),
		Image:     image,
		Quota:     env.Quota,
	}
	if env.Host != "" {
		in.Ingress.Hosts = append(in.Ingress.Hosts, env.Host)
	}
	if ing := env.Ingress; ing != nil {
		for _, h := range ing.Hosts {
			if h != env.Host {
				in.Ingress.Hosts = append(in.Ingress.Hosts, h)
			}
		}
		in.Ingress.TLSSecretName, in.Ingress.ClassName = ing.TLSSecretName, ing.ClassName
	}
	if lr := env.LimitRange; lr != nil {
		in.LimitRange = render.LimitRange{Default: lr.Default, DefaultRequest: lr.DefaultRequest, Max: lr.Max}
	}
	for _, s := range app.Spec.Services {
		rs := render.Service{
			Name: s.Name, Port: s.Port, Replicas: replicas(s.Replicas), HealthPath: s.HealthPath,
			Env: envVars(s.Env), EnvFrom: envFrom(s.EnvFrom), Resources: s.Resources,
			Autoscaling: autoscaling(s.Autoscaling), Disruption: disruption(s.Disruption), RollingUpdate: rollingUpdate(s.RollingUpdate),
		}
		if p := s.Probes; p != nil {
			rs.Readiness, rs.Liveness = probe(p.Readiness), probe(p.Liveness)
		}
		for _, r := range s.Routes {
			rs.Routes = append(rs.Routes, r.Path)
		}
		in.Services = append(in.Services, rs)
	}
	for _, w := range app.Spec.Workers {
		in.Workers = append(in.Workers, render.Worker{
			Name: w.Name, Command: w.Command, Replicas: replicas(w.Replicas),
			Env: envVars(w.Env), EnvFrom: envFrom(w.EnvFrom), Resources: w.Resources,
			Autoscaling: autoscaling(w.Autoscaling), Disruption: disruption(w.Disruption), RollingUpdate: rollingUpdate(w.RollingUpdate),
		})
	}
	return in
}

func replicas(r *int32) int32 {
	if r == nil {
		return 1
	}
	return *r
}

func envVars(env []v1alpha1.EnvVar) []render.EnvVar {
	var out []render.EnvVar
	for _, e := range env {
		out = append(out, render.EnvVar{Name: e.Name, Value: e.Value})
	}
	return out
}

func envFrom(src []v1alpha1.EnvFromSource) []render.EnvFrom {
	var out []render.EnvFrom
	for _, e := range src {
		out = append(out, render.EnvFrom{ConfigMap: e.ConfigMap, Secret: e.Secret, Optional: e.Optional})
	}
	return out
}

func probe(p *v1alpha1.Probe) *render.Probe {
	if p == nil {
		return nil
	}
	return &render.Probe{Path: p.Path, Port: p.Port, InitialDelaySeconds: p.InitialDelaySeconds}
}

func autoscaling(a *v1alpha1.Autoscaling) *render.Autoscaling {
	if a == nil {
		return nil
	}
	return &render.Autoscaling{MinReplicas: a.MinReplicas, MaxReplicas: a.MaxReplicas, TargetCPUUtilization: a.TargetCPUUtilization}
}

func disruption(d *v1alpha1.DisruptionBudget) *render.Disruption {
	if d == nil {
		return nil
	}
	return &render.Disruption{MinAvailable: d.MinAvailable, MaxUnavailable: d.MaxUnavailable}
}

func rollingUpdate(r *v1alpha1.RollingUpdate) *render.RollingUpdate {
	if r == nil {
		return nil
	}
	return &render.RollingUpdate{MaxSurge: r.MaxSurge, MaxUnavailable: r.MaxUnavailable}
}
