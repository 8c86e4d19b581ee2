package render

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// Input is what the renderer needs to know about one application in one environment.
type Input struct {
	// App is the application's name, a DNS label.
	App string
	// Env is the environment's name, a DNS label.
	Env string
	// Namespace is the namespace everything is rendered into; it is rendered too, with its
	// ResourceQuota, LimitRange and NetworkPolicies.
	Namespace string
	// Image is the application's image pinned by digest: <repository>@sha256:<64 hex digits>.
	Image string
	// Services each become a ServiceAccount, a Deployment and a Service, and an
	// HorizontalPodAutoscaler and a PodDisruptionBudget when asked for.
	Services []Service
	// Workers each become a ServiceAccount and a Deployment (no Service, no routes).
	Workers []Worker
	// Labels are added to every object; the app.kubernetes.io/* and slipway.dev/* keys are
	// reserved.
	Labels map[string]string
	// Ingress routes the services' Routes on the environment's hosts. Without hosts, or
	// without routes, no Ingress is rendered.
	Ingress Ingress
	// Quota is the namespace's ResourceQuota; empty means the chart's defaults.
	Quota corev1.ResourceList
	// LimitRange holds container defaults and maximums; each empty list means the chart's
	// default for that list.
	LimitRange LimitRange
	// IngressControllerNamespace selects, by labels, the namespace of the ingress controller
	// that the NetworkPolicies admit; empty means the chart's default
	// (kubernetes.io/metadata.name: ingress-nginx).
	IngressControllerNamespace map[string]string
}

// Ingress is an environment's ingress configuration.
type Ingress struct {
	// Hosts are the DNS names routed to the services, in order.
	Hosts []string
	// TLSSecretName is the Secret holding the hosts' certificate; empty serves plain HTTP.
	TLSSecretName string
	// ClassName is the IngressClass; empty means the cluster's default.
	ClassName string
}

// LimitRange are container resource defaults and maximums.
type LimitRange struct {
	// Default is the limit of a container that sets none.
	Default corev1.ResourceList
	// DefaultRequest is the request of a container that sets none.
	DefaultRequest corev1.ResourceList
	// Max is the largest limit a container may set.
	Max corev1.ResourceList
}

// Service is one network-facing component.
type Service struct {
	// Name is the component's name, a DNS label; it names the Deployment, the Service and
	// the ServiceAccount.
	Name string
	// Port is the container port; 0 means the chart's default (8080).
	Port int32
	// Replicas is the number of pods; 0 is allowed and scales the service to zero. It is
	// ignored when Autoscaling is set.
	Replicas int32
	// Env is the runtime environment, in order.
	Env []EnvVar
	// EnvFrom are ConfigMaps and Secrets whose keys become environment variables.
	EnvFrom []EnvFrom
	// HealthPath is the HTTP path probed for readiness and liveness; without one the probes
	// open a TCP connection to the port.
	HealthPath string
	// Readiness and Liveness override the probes' path, port and initial delay.
	Readiness, Liveness *Probe
	// Resources are the container's requests and limits; empty means the chart's defaults.
	Resources corev1.ResourceRequirements
	// Autoscaling, when set, renders an HorizontalPodAutoscaler instead of fixed replicas.
	Autoscaling *Autoscaling
	// Disruption, when set, renders a PodDisruptionBudget.
	Disruption *Disruption
	// RollingUpdate overrides the chart's rollout surge and unavailability.
	RollingUpdate *RollingUpdate
	// Routes are URL path prefixes routed to the service on every ingress host.
	Routes []string
}

// Worker is one component without a Service.
type Worker struct {
	// Name is the component's name, a DNS label, unique among services and workers.
	Name string
	// Command overrides the image's entrypoint.
	Command []string
	// Replicas is the number of pods; ignored when Autoscaling is set.
	Replicas int32
	// Env is the runtime environment, in order.
	Env []EnvVar
	// EnvFrom are ConfigMaps and Secrets whose keys become environment variables.
	EnvFrom []EnvFrom
	// Resources are the container's requests and limits; empty means the chart's defaults.
	Resources corev1.ResourceRequirements
	// Autoscaling, when set, renders an HorizontalPodAutoscaler instead of fixed replicas.
	Autoscaling *Autoscaling
	// Disruption, when set, renders a PodDisruptionBudget.
	Disruption *Disruption
	// RollingUpdate overrides the chart's rollout surge and unavailability.
	RollingUpdate *RollingUpdate
}

// EnvVar is a name and a literal value.
type EnvVar struct {
	Name  string
	Value string
}

// EnvFrom names exactly one ConfigMap or Secret; only the name is rendered, never a value.
type EnvFrom struct {
	ConfigMap string
	Secret    string
	// Optional lets pods start while the object is missing.
	Optional bool
}

// Probe overrides one probe. Empty fields fall back to the service's health path and port.
type Probe struct {
	Path                string
	Port                int32
	InitialDelaySeconds int32
}

// Autoscaling scales between MinReplicas (0 means 1) and MaxReplicas on average CPU use.
type Autoscaling struct {
	MinReplicas int32
	MaxReplicas int32
	// TargetCPUUtilization is a percentage of the CPU request; 0 means 80.
	TargetCPUUtilization int32
}

// Disruption is a PodDisruptionBudget; exactly one field is set.
type Disruption struct {
	MinAvailable   *intstr.IntOrString
	MaxUnavailable *intstr.IntOrString
}

// RollingUpdate is a Deployment's rollout bounds; a nil field keeps the chart's default.
type RollingUpdate struct {
	MaxSurge       *intstr.IntOrString
	MaxUnavailable *intstr.IntOrString
}
