package render

import (
	"encoding/json"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// The chart's values as the renderer fills them. Every key is always present (null when
// unset), because the chart renders in strict mode where reading a missing key is an error.
type (
	chartValues struct {
		App                        string              `json:"app"`
		Env                        string              `json:"env"`
		Image                      string              `json:"image"`
		Labels                     map[string]string   `json:"labels"`
		Ingress                    ingressValues       `json:"ingress"`
		Quota                      corev1.ResourceList `json:"quota"`
		LimitRange                 limitRangeValues    `json:"limitRange"`
		IngressControllerNamespace map[string]string   `json:"ingressControllerNamespace"`
		Services                   []serviceValues     `json:"services"`
		Workers                    []workerValues      `json:"workers"`
	}
	ingressValues struct {
		Hosts         []string `json:"hosts"`
		TLSSecretName string   `json:"tlsSecretName"`
		ClassName     string   `json:"className"`
	}
	limitRangeValues struct {
		Default        corev1.ResourceList `json:"default"`
		DefaultRequest corev1.ResourceList `json:"defaultRequest"`
		Max            corev1.ResourceList `json:"max"`
	}
	envValue struct {
		Name  string `json:"name"`
		Value string `json:"value"`
	}
	envFromValue struct {
		ConfigMap string `json:"configMap"`
		Secret    string `json:"secret"`
		Optional  bool   `json:"optional"`
	}
	probeValues struct {
		Path                string `json:"path"`
		Port                int32  `json:"port"`
		InitialDelaySeconds int32  `json:"initialDelaySeconds"`
	}
	autoscalingValues struct {
		MinReplicas          int32 `json:"minReplicas"`
		MaxReplicas          int32 `json:"maxReplicas"`
		TargetCPUUtilization int32 `json:"targetCPUUtilization"`
	}
	// disruptionValues and rollingUpdateValues omit unset fields: the chart passes them to
	// toYaml and merges them with its defaults rather than reading them key by key.
	disruptionValues struct {
		MinAvailable   *intstr.IntOrString `json:"minAvailable,omitempty"`
		MaxUnavailable *intstr.IntOrString `json:"maxUnavailable,omitempty"`
	}
	rollingUpdateValues struct {
		MaxSurge       *intstr.IntOrString `json:"maxSurge,omitempty"`
		MaxUnavailable *intstr.IntOrString `json:"maxUnavailable,omitempty"`
	}
	workloadValues struct {
		Name          string                       `json:"name"`
		Replicas      int32                        `json:"replicas"`
		Env           []envValue                   `json:"env"`
		EnvFrom       []envFromValue               `json:"envFrom"`
		Resources     *corev1.ResourceRequirements `json:"resources"`
		Autoscaling   *autoscalingValues           `json:"autoscaling"`
		Disruption    *disruptionValues            `json:"disruption"`
		RollingUpdate *rollingUpdateValues         `json:"rollingUpdate"`
	}
	serviceValues struct {
		workloadValues
		Port      int32       `json:"port"`
		Readiness probeValues `json:"readiness"`
		Liveness  probeValues `json:"liveness"`
		Routes    []string    `json:"routes"`
	}
	workerValues struct {
		workloadValues
		Command []string `json:"command"`
	}
)

// values turns in into the chart's values through JSON, so the templates see exactly what
// values.yaml would give them (maps, strings and numbers).
func (in Input) values() (map[string]any, error) {
	v := chartValues{
		App: in.App, Env: in.Env, Image: in.Image, Labels: in.Labels,
		Ingress:                    ingressValues{Hosts: in.Ingress.Hosts, TLSSecretName: in.Ingress.TLSSecretName, ClassName: in.Ingress.ClassName},
		Quota:                      in.Quota,
		LimitRange:                 limitRangeValues{Default: in.LimitRange.Default, DefaultRequest: in.LimitRange.DefaultRequest, Max: in.LimitRange.Max},
		IngressControllerNamespace: in.IngressControllerNamespace,
	}
	if v.Labels == nil {
		v.Labels = map[string]string{}
	}
	for _, s := range in.Services {
		o := serviceValues{
			workloadValues: workload(s.Name, s.Replicas, s.Env, s.EnvFrom, s.Resources, s.Autoscaling, s.Disruption, s.RollingUpdate),
			Port:           s.Port,
			Readiness:      probe(s.HealthPath, s.Readiness),
			Liveness:       probe(s.HealthPath, s.Liveness),
			Routes:         s.Routes,
		}
		v.Services = append(v.Services, o)
	}
	for _, w := range in.Workers {
		v.Workers = append(v.Workers, workerValues{
			workloadValues: workload(w.Name, w.Replicas, w.Env, w.EnvFrom, w.Resources, w.Autoscaling, w.Disruption, w.RollingUpdate),
			Command:        w.Command,
		})
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode values: %w", err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("decode values: %w", err)
	}
	return m, nil
}

func workload(name string, replicas int32, env []EnvVar, envFrom []EnvFrom, res corev1.ResourceRequirements,
	as *Autoscaling, d *Disruption, ru *RollingUpdate) workloadValues {
	o := workloadValues{Name: name, Replicas: replicas}
	for _, e := range env {
		o.Env = append(o.Env, envValue(e))
	}
	for _, e := range envFrom {
		o.EnvFrom = append(o.EnvFrom, envFromValue(e))
	}
	if len(res.Requests) > 0 || len(res.Limits) > 0 || len(res.Claims) > 0 {
		res = *res.DeepCopy()
		// A memory request without a limit would get the namespace's default limit, which
		// the LimitRange admission refuses when it is below the request; the request is the
		// one limit that always fits.
		if req, ok := res.Requests[corev1.ResourceMemory]; ok {
			if _, ok := res.Limits[corev1.ResourceMemory]; !ok {
				if res.Limits == nil {
					res.Limits = corev1.ResourceList{}
				}
				res.Limits[corev1.ResourceMemory] = req
			}
		}
		o.Resources = &res
	}
	if as != nil {
		o.Autoscaling = &autoscalingValues{MinReplicas: max(as.MinReplicas, 1), MaxReplicas: as.MaxReplicas, TargetCPUUtilization: as.TargetCPUUtilization}
		if o.Autoscaling.TargetCPUUtilization == 0 {
			o.Autoscaling.TargetCPUUtilization = 80
		}
	}
	if d != nil {
		o.Disruption = &disruptionValues{MinAvailable: d.MinAvailable, MaxUnavailable: d.MaxUnavailable}
	}
	if ru != nil {
		o.RollingUpdate = &rollingUpdateValues{MaxSurge: ru.MaxSurge, MaxUnavailable: ru.MaxUnavailable}
	}
	return o
}

// probe resolves a probe override against the service's health path; a zero port means the
// container's named port.
func probe(healthPath string, p *Probe) probeValues {
	o := probeValues{Path: healthPath}
	if p != nil {
		if p.Path != "" {
			o.Path = p.Path
		}
		o.Port, o.InitialDelaySeconds = p.Port, p.InitialDelaySeconds
	}
	return o
}
