package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// ApplicationSpec describes where an application's source lives, how to build it, what runs and
// where it is deployed.
type ApplicationSpec struct {
	// Source is the Git repository Slipway watches.
	Source SourceSpec `json:"source"`
	// Build chooses how the image is built.
	// +kubebuilder:default={}
	// +optional
	Build BuildSpec `json:"build,omitempty"`
	// Services are the long-running, network-facing components.
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=32
	// +optional
	Services []Service `json:"services,omitempty"`
	// Workers are long-running components without a Service.
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=32
	// +optional
	Workers []Worker `json:"workers,omitempty"`
	// Environments are the deployment targets in promotion order (for example staging, then
	// production). A push to the tracked branch deploys to the first environment.
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=16
	Environments []Environment `json:"environments"`
	// Previews configures pull-request preview environments.
	// +optional
	Previews *PreviewPolicy `json:"previews,omitempty"`
}

// SourceSpec names a Git repository, the branch that deploys, and how webhooks are verified.
type SourceSpec struct {
	// Provider is the Git hosting service that sends webhooks.
	// +kubebuilder:validation:Enum=github;gitlab;gitea;forgejo;bitbucket
	Provider string `json:"provider"`
	// RepoURL is the repository's clone URL (https://, http:// or ssh://).
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:XValidation:rule="self.matches('^(https?|ssh)://[^\\\\s/]+/[^\\\\s]+$')",message="must be a clone URL such as https://github.com/org/repo.git"
	RepoURL string `json:"repoURL"`
	// Branch is the branch whose pushes deploy.
	// +kubebuilder:default=main
	// +kubebuilder:validation:MaxLength=255
	// +kubebuilder:validation:XValidation:rule="!self.contains('..') && !self.startsWith('/') && !self.endsWith('/') && !self.startsWith('refs/')",message="must be a branch name such as main, not a ref or a path"
	// +optional
	Branch string `json:"branch,omitempty"`
	// Tags are glob patterns (Go's path.Match syntax: v*, v[0-9]*, release/*) of the tags whose
	// pushes deploy. A push of a matching tag builds the tagged commit (an annotated tag is
	// peeled to its commit) into a Release that goes where a push to Branch goes: the first
	// environment unless it requires approval, and every environment with autoDeploy; the others
	// still need a Promotion. Without Tags, tag pushes deploy nothing.
	// +kubebuilder:validation:MaxItems=32
	// +kubebuilder:validation:items:MinLength=1
	// +kubebuilder:validation:items:MaxLength=255
	// +kubebuilder:validation:XValidation:rule="self.all(p, !p.startsWith('refs/') && !p.startsWith('/'))",message="each entry must be a tag name pattern such as v*, not a ref or a path"
	// +optional
	Tags []string `json:"tags,omitempty"`
	// Path is the application's directory inside the repository, for monorepos.
	// +kubebuilder:validation:MaxLength=1024
	// +kubebuilder:validation:XValidation:rule="!self.startsWith('/') && !self.split('/').exists(p, p == '..')",message="must be a relative path inside the repository"
	// +optional
	Path string `json:"path,omitempty"`
	// WebhookSecrets are the Secret keys holding webhook signing secrets; several may be active
	// at once so a secret can be rotated without dropping deliveries.
	// +kubebuilder:validation:MaxItems=4
	// +optional
	WebhookSecrets []SecretKeyRef `json:"webhookSecrets,omitempty"`
	// AllowUnsignedWebhooks accepts deliveries without a signature. It is reported loudly in
	// status; use it only for providers that cannot sign.
	// +optional
	AllowUnsignedWebhooks bool `json:"allowUnsignedWebhooks,omitempty"`
	// Maintainers are the provider logins allowed to command pull-request runs: /ok-to-test
	// approves an untrusted pull request's current head commit, /retest runs it again and
	// /cancel stops its runs. Logins compare case-insensitively. Maintainers' own pull requests
	// from the repository itself run without approval.
	// +kubebuilder:validation:MaxItems=256
	// +kubebuilder:validation:items:MaxLength=255
	// +optional
	Maintainers []string `json:"maintainers,omitempty"`
}

// SecretKeyRef points at one key of a Secret in the Application's namespace.
type SecretKeyRef struct {
	// Name is the Secret's name.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
	// Key is the key inside the Secret.
	// +kubebuilder:default=secret
	// +optional
	Key string `json:"key,omitempty"`
}

// Build strategies.
const (
	BuildAuto       = "auto"
	BuildBuildpacks = "buildpacks"
	BuildDockerfile = "dockerfile"
	BuildKo         = "ko"
)

// BuildSpec chooses how the application's image is built.
type BuildSpec struct {
	// Strategy is auto (detect from the source), buildpacks, dockerfile or ko (the Go fast path).
	// +kubebuilder:validation:Enum=auto;buildpacks;dockerfile;ko
	// +kubebuilder:default=auto
	// +optional
	Strategy string `json:"strategy,omitempty"`
	// Builder is the buildpacks builder image.
	// +optional
	Builder string `json:"builder,omitempty"`
	// Dockerfile is the Dockerfile path relative to the source path.
	// +optional
	Dockerfile string `json:"dockerfile,omitempty"`
	// GoPackage is the main package built by the Go fast path, relative to the source path.
	// +optional
	GoPackage string `json:"goPackage,omitempty"`
	// Env is extra build-time environment.
	// +listType=map
	// +listMapKey=name
	// +optional
	Env []EnvVar `json:"env,omitempty"`
	// Params override the pipeline's parameters by name; invalid overrides are rejected by
	// Tekton's validation when the run is created.
	// +optional
	Params map[string]string `json:"params,omitempty"`
	// MaxConcurrentRuns caps the Application's pipeline runs (deploys and previews) executing at
	// once. Further runs wait in a first-in, first-out queue, created with Tekton's
	// spec.status PipelineRunPending and started as slots free; nothing accepted is dropped.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100
	// +kubebuilder:default=2
	// +optional
	MaxConcurrentRuns int32 `json:"maxConcurrentRuns,omitempty"`
}

// EnvVar is a name and a literal value.
type EnvVar struct {
	// Name is the variable's name.
	// +kubebuilder:validation:Pattern=`^[A-Za-z_][A-Za-z0-9_]*$`
	Name string `json:"name"`
	// Value is the variable's value.
	// +optional
	Value string `json:"value,omitempty"`
}

// Service is a network-facing component.
// +kubebuilder:validation:XValidation:rule="!(has(self.replicas) && has(self.autoscaling))",message="replicas and autoscaling are mutually exclusive: autoscaling sets the replica count"
type Service struct {
	// Name is the component's name, a DNS label.
	// +kubebuilder:validation:Pattern=`^[a-z]([-a-z0-9]{0,38}[a-z0-9])?$`
	Name string `json:"name"`
	// Port is the container port the service listens on.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	// +kubebuilder:default=8080
	// +optional
	Port int32 `json:"port,omitempty"`
	// Replicas is the number of pods.
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=1000
	// +optional
	Replicas *int32 `json:"replicas,omitempty"`
	// HealthPath is the HTTP path probed for readiness and liveness, unless Probes says
	// otherwise.
	// +kubebuilder:validation:Pattern=`^/`
	// +optional
	HealthPath string `json:"healthPath,omitempty"`
	// Probes tune the readiness and liveness probes.
	// +optional
	Probes *Probes `json:"probes,omitempty"`
	// Env is the runtime environment.
	// +listType=map
	// +listMapKey=name
	// +optional
	Env []EnvVar `json:"env,omitempty"`
	// EnvFrom loads environment variables from ConfigMaps and Secrets in the target namespace,
	// by name; the values never pass through Slipway.
	// +kubebuilder:validation:MaxItems=16
	// +optional
	EnvFrom []EnvFromSource `json:"envFrom,omitempty"`
	// Resources are the container's requests and limits.
	// +optional
	Resources corev1.ResourceRequirements `json:"resources,omitempty"`
	// Autoscaling scales the service on CPU use instead of a fixed replica count.
	// +optional
	Autoscaling *Autoscaling `json:"autoscaling,omitempty"`
	// Disruption limits voluntary disruptions (node drains) with a PodDisruptionBudget.
	// +optional
	Disruption *DisruptionBudget `json:"disruption,omitempty"`
	// RollingUpdate tunes how a new release replaces the pods.
	// +optional
	RollingUpdate *RollingUpdate `json:"rollingUpdate,omitempty"`
	// Routes are the HTTP routes to the service.
	// +kubebuilder:validation:MaxItems=32
	// +optional
	Routes []Route `json:"routes,omitempty"`
}

// Probes tune a service's readiness and liveness probes.
type Probes struct {
	// Readiness decides when a pod receives traffic.
	// +optional
	Readiness *Probe `json:"readiness,omitempty"`
	// Liveness decides when a pod is restarted.
	// +optional
	Liveness *Probe `json:"liveness,omitempty"`
}

// Probe is an HTTP GET on a path, or a TCP connection without one.
type Probe struct {
	// Path is the HTTP path; without one the probe opens a TCP connection. It defaults to
	// the service's healthPath.
	// +kubebuilder:validation:Pattern=`^/\S*$`
	// +kubebuilder:validation:MaxLength=1024
	// +optional
	Path string `json:"path,omitempty"`
	// Port is the port probed; it defaults to the service's port.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	// +optional
	Port int32 `json:"port,omitempty"`
	// InitialDelaySeconds waits this long after the container starts before the first probe.
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=3600
	// +optional
	InitialDelaySeconds int32 `json:"initialDelaySeconds,omitempty"`
}

// EnvFromSource names one ConfigMap or one Secret whose keys become environment variables.
// +kubebuilder:validation:XValidation:rule="has(self.configMap) != has(self.secret)",message="set exactly one of configMap and secret"
type EnvFromSource struct {
	// ConfigMap is the ConfigMap's name.
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$`
	// +optional
	ConfigMap string `json:"configMap,omitempty"`
	// Secret is the Secret's name.
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$`
	// +optional
	Secret string `json:"secret,omitempty"`
	// Optional lets pods start while the ConfigMap or Secret is missing.
	// +optional
	Optional bool `json:"optional,omitempty"`
}

// Autoscaling scales a component between MinReplicas and MaxReplicas on CPU use.
// +kubebuilder:validation:XValidation:rule="self.minReplicas <= self.maxReplicas",message="minReplicas must be less than or equal to maxReplicas"
type Autoscaling struct {
	// MinReplicas is the fewest pods.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1000
	// +kubebuilder:default=1
	// +optional
	MinReplicas int32 `json:"minReplicas,omitempty"`
	// MaxReplicas is the most pods.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1000
	MaxReplicas int32 `json:"maxReplicas"`
	// TargetCPUUtilization is the average CPU use, in percent of the request, to scale toward.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100
	// +kubebuilder:default=80
	// +optional
	TargetCPUUtilization int32 `json:"targetCPUUtilization,omitempty"`
}

// DisruptionBudget keeps pods running through voluntary disruptions. Set exactly one field.
// +kubebuilder:validation:XValidation:rule="has(self.minAvailable) != has(self.maxUnavailable)",message="set exactly one of minAvailable and maxUnavailable"
type DisruptionBudget struct {
	// MinAvailable is how many pods (a number or a percentage) must stay up.
	// +kubebuilder:validation:XIntOrString
	// +kubebuilder:validation:MaxLength=4
	// +kubebuilder:validation:XValidation:rule="type(self) == int ? self >= 0 : self.matches('^[0-9]{1,3}%$')",message="must be a non-negative number or a percentage such as 50%"
	// +optional
	MinAvailable *intstr.IntOrString `json:"minAvailable,omitempty"`
	// MaxUnavailable is how many pods (a number or a percentage) may be down.
	// +kubebuilder:validation:XIntOrString
	// +kubebuilder:validation:MaxLength=4
	// +kubebuilder:validation:XValidation:rule="type(self) == int ? self >= 0 : self.matches('^[0-9]{1,3}%$')",message="must be a non-negative number or a percentage such as 50%"
	// +optional
	MaxUnavailable *intstr.IntOrString `json:"maxUnavailable,omitempty"`
}

// RollingUpdate is how many pods (numbers or percentages) a rollout may add above, and take
// below, the desired count. Both zero would stall a rollout.
// +kubebuilder:validation:XValidation:rule="!(has(self.maxSurge) && has(self.maxUnavailable) && string(self.maxSurge) in ['0', '0%'] && string(self.maxUnavailable) in ['0', '0%'])",message="maxSurge and maxUnavailable cannot both be zero"
type RollingUpdate struct {
	// MaxSurge is how many extra pods may run during a rollout.
	// +kubebuilder:validation:XIntOrString
	// +kubebuilder:validation:MaxLength=4
	// +kubebuilder:validation:XValidation:rule="type(self) == int ? self >= 0 : self.matches('^[0-9]{1,3}%$')",message="must be a non-negative number or a percentage such as 25%"
	// +optional
	MaxSurge *intstr.IntOrString `json:"maxSurge,omitempty"`
	// MaxUnavailable is how many pods may be unavailable during a rollout.
	// +kubebuilder:validation:XIntOrString
	// +kubebuilder:validation:MaxLength=4
	// +kubebuilder:validation:XValidation:rule="type(self) == int ? self >= 0 : self.matches('^[0-9]{1,3}%$')",message="must be a non-negative number or a percentage such as 25%"
	// +optional
	MaxUnavailable *intstr.IntOrString `json:"maxUnavailable,omitempty"`
}

// Route is an HTTP path routed to a service; the host comes from the environment.
type Route struct {
	// Path is the URL path prefix.
	// +kubebuilder:validation:Pattern=`^/`
	Path string `json:"path"`
}

// Worker is a component without a Service: no port, no probes, no routes.
// +kubebuilder:validation:XValidation:rule="!(has(self.replicas) && has(self.autoscaling))",message="replicas and autoscaling are mutually exclusive: autoscaling sets the replica count"
type Worker struct {
	// Name is the component's name, a DNS label.
	// +kubebuilder:validation:Pattern=`^[a-z]([-a-z0-9]{0,38}[a-z0-9])?$`
	Name string `json:"name"`
	// Command overrides the image's entrypoint.
	// +optional
	Command []string `json:"command,omitempty"`
	// Replicas is the number of pods.
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=1000
	// +optional
	Replicas *int32 `json:"replicas,omitempty"`
	// Env is the runtime environment.
	// +listType=map
	// +listMapKey=name
	// +optional
	Env []EnvVar `json:"env,omitempty"`
	// EnvFrom loads environment variables from ConfigMaps and Secrets in the target namespace,
	// by name.
	// +kubebuilder:validation:MaxItems=16
	// +optional
	EnvFrom []EnvFromSource `json:"envFrom,omitempty"`
	// Resources are the container's requests and limits.
	// +optional
	Resources corev1.ResourceRequirements `json:"resources,omitempty"`
	// Autoscaling scales the worker on CPU use instead of a fixed replica count.
	// +optional
	Autoscaling *Autoscaling `json:"autoscaling,omitempty"`
	// Disruption limits voluntary disruptions with a PodDisruptionBudget.
	// +optional
	Disruption *DisruptionBudget `json:"disruption,omitempty"`
	// RollingUpdate tunes how a new release replaces the pods.
	// +optional
	RollingUpdate *RollingUpdate `json:"rollingUpdate,omitempty"`
}

// Environment is one deployment target.
type Environment struct {
	// Name is the environment's name, a DNS label.
	// +kubebuilder:validation:Pattern=`^[a-z]([-a-z0-9]{0,18}[a-z0-9])?$`
	Name string `json:"name"`
	// Namespace is the target namespace; it defaults to <application>-<environment>.
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$`
	// +optional
	Namespace string `json:"namespace,omitempty"`
	// Host is the environment's ingress host; Ingress.Hosts may add more.
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:XValidation:rule="self.matches('^(\\\\*\\\\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$')",message="must be a DNS name such as app.example.com"
	// +optional
	Host string `json:"host,omitempty"`
	// Ingress configures how the environment's services are reached from outside the cluster.
	// +optional
	Ingress *EnvironmentIngress `json:"ingress,omitempty"`
	// Quota is the ResourceQuota of the environment's namespace (for example requests.cpu,
	// limits.memory, pods); empty means the chart's defaults.
	// +optional
	Quota corev1.ResourceList `json:"quota,omitempty"`
	// LimitRange sets container resource defaults and maximums in the namespace.
	// +optional
	LimitRange *LimitRangeDefaults `json:"limitRange,omitempty"`
	// AutoDeploy deploys every new Release here without a Promotion. The first environment is
	// auto-deployed unless it sets an approval policy.
	// +optional
	AutoDeploy bool `json:"autoDeploy,omitempty"`
	// Approval requires approvals before a Release is promoted here.
	// +optional
	Approval *ApprovalPolicy `json:"approval,omitempty"`
}

// EnvironmentIngress is an environment's ingress: its hosts, TLS certificate and class.
type EnvironmentIngress struct {
	// Hosts are further hosts routed like Host.
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:items:MaxLength=253
	// +kubebuilder:validation:XValidation:rule="self.all(h, h.matches('^(\\\\*\\\\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$'))",message="every host must be a DNS name such as app.example.com"
	// +optional
	Hosts []string `json:"hosts,omitempty"`
	// TLSSecretName is the Secret, in the environment's namespace, that holds the hosts'
	// certificate; without one the Ingress serves plain HTTP.
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$`
	// +optional
	TLSSecretName string `json:"tlsSecretName,omitempty"`
	// ClassName is the IngressClass; empty means the cluster's default class.
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$`
	// +optional
	ClassName string `json:"className,omitempty"`
}

// LimitRangeDefaults are the container resource defaults and maximums of a namespace.
type LimitRangeDefaults struct {
	// Default is the limit of a container that sets none.
	// +optional
	Default corev1.ResourceList `json:"default,omitempty"`
	// DefaultRequest is the request of a container that sets none.
	// +optional
	DefaultRequest corev1.ResourceList `json:"defaultRequest,omitempty"`
	// Max is the largest limit a container may set.
	// +optional
	Max corev1.ResourceList `json:"max,omitempty"`
}

// ApprovalPolicy says who must approve a promotion and how many approvals it needs.
type ApprovalPolicy struct {
	// Required is the number of distinct approvals needed.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=10
	// +kubebuilder:default=1
	// +optional
	Required int32 `json:"required,omitempty"`
	// Approvers are the users allowed to approve.
	// +kubebuilder:validation:MinItems=1
	Approvers []string `json:"approvers"`
	// Expiry is how long an approval stays valid.
	// +optional
	Expiry *metav1.Duration `json:"expiry,omitempty"`
}

// PreviewPolicy configures pull-request preview environments.
type PreviewPolicy struct {
	// Enabled turns previews on.
	Enabled bool `json:"enabled"`
	// TTL removes a preview this long after its last update.
	// +optional
	TTL *metav1.Duration `json:"ttl,omitempty"`
	// MaxConcurrent caps the number of live previews.
	// +kubebuilder:validation:Minimum=1
	// +optional
	MaxConcurrent int32 `json:"maxConcurrent,omitempty"`
	// ForkPolicy decides what pull requests from forks do: never run, or run once a trusted
	// user approves the head commit.
	// +kubebuilder:validation:Enum=deny;approve
	// +kubebuilder:default=approve
	// +optional
	ForkPolicy string `json:"forkPolicy,omitempty"`
	// TrustedAuthors may open pull requests from the repository itself that run without
	// approval, and may /retest and /cancel pull-request runs. Logins compare case-insensitively.
	// Only Maintainers approve (/ok-to-test); a pull request from a fork always needs an
	// approval, whoever wrote it.
	// +kubebuilder:validation:MaxItems=256
	// +kubebuilder:validation:items:MaxLength=255
	// +optional
	TrustedAuthors []string `json:"trustedAuthors,omitempty"`
}

// ApplicationStatus is the observed state of an Application.
type ApplicationStatus struct {
	// ObservedGeneration is the generation last reconciled.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// Conditions are Ready, Stalled and Reconciling.
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// LatestRelease is the newest Release built for the tracked branch.
	// +optional
	LatestRelease string `json:"latestRelease,omitempty"`
	// Environments is what runs in each environment.
	// +listType=map
	// +listMapKey=name
	// +optional
	Environments []EnvironmentStatus `json:"environments,omitempty"`
}

// EnvironmentStatus is what runs in one environment.
type EnvironmentStatus struct {
	// Name is the environment's name.
	Name string `json:"name"`
	// Release is the Release deployed there.
	// +optional
	Release string `json:"release,omitempty"`
	// Image is the deployed image, by digest.
	// +optional
	Image string `json:"image,omitempty"`
	// ConfigRevision is the config-repo commit that holds the deployment.
	// +optional
	ConfigRevision string `json:"configRevision,omitempty"`
	// Sync is the last sync's outcome (Synced, OutOfSync, Refused, Failed).
	// +optional
	Sync string `json:"sync,omitempty"`
	// Health is the aggregated health (Healthy, Progressing, Degraded, Missing).
	// +optional
	Health string `json:"health,omitempty"`
	// Message explains a refused or failed sync.
	// +optional
	Message string `json:"message,omitempty"`
	// LastSyncTime is when the environment was last synced.
	// +optional
	LastSyncTime *metav1.Time `json:"lastSyncTime,omitempty"`
}

// Application is a deployable application: its source, build, components and environments.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=app;apps,categories=slipway
// +kubebuilder:printcolumn:name="Repo",type=string,JSONPath=`.spec.source.repoURL`
// +kubebuilder:printcolumn:name="Branch",type=string,JSONPath=`.spec.source.branch`
// +kubebuilder:printcolumn:name="Release",type=string,JSONPath=`.status.latestRelease`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type Application struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   ApplicationSpec   `json:"spec,omitempty"`
	Status ApplicationStatus `json:"status,omitempty"`
}

// ApplicationList is a list of Applications.
//
// +kubebuilder:object:root=true
type ApplicationList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Application `json:"items"`
}
