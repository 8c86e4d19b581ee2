package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ReleaseSpec is one built artifact: an image, pinned by digest, built from one source commit.
//
// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="a Release's spec is immutable"
type ReleaseSpec struct {
	// Application is the Application's name.
	// +kubebuilder:validation:MinLength=1
	Application string `json:"application"`
	// SourceSHA is the source commit.
	// +kubebuilder:validation:Pattern=`^[0-9a-f]{40}([0-9a-f]{24})?$`
	SourceSHA string `json:"sourceSHA"`
	// Ref is the Git ref the commit came from.
	// +optional
	Ref string `json:"ref,omitempty"`
	// Image is the built image by digest (repository@sha256:...).
	// +kubebuilder:validation:XValidation:rule="self.matches('^[^@\\\\s]+@sha256:[0-9a-f]{64}$')",message="must be an image reference pinned by digest (repo@sha256:<64 hex>)"
	Image string `json:"image"`
	// Delivery is the Delivery that triggered the build.
	// +optional
	Delivery string `json:"delivery,omitempty"`
	// PipelineRun is the run that built it.
	// +optional
	PipelineRun string `json:"pipelineRun,omitempty"`
	// Signature references the image's signature, when signed.
	// +optional
	Signature string `json:"signature,omitempty"`
	// SBOM references the image's SBOM, when attached.
	// +optional
	SBOM string `json:"sbom,omitempty"`
	// Scan summarizes the vulnerability scan, when scanned.
	// +optional
	Scan *ScanSummary `json:"scan,omitempty"`
}

// ScanSummary counts vulnerability findings by severity.
type ScanSummary struct {
	// Critical is the number of critical findings.
	Critical int32 `json:"critical"`
	// High is the number of high findings.
	High int32 `json:"high"`
	// Medium is the number of medium findings.
	Medium int32 `json:"medium"`
	// Low is the number of low findings.
	Low int32 `json:"low"`
	// Passed is the policy gate's verdict.
	Passed bool `json:"passed"`
}

// ReleaseStatus is where a Release is deployed.
type ReleaseStatus struct {
	// Conditions are Ready (deployed to its first environment) and Stalled.
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// Environments is the Release's state per environment.
	// +listType=map
	// +listMapKey=name
	// +optional
	Environments []ReleaseEnvironment `json:"environments,omitempty"`
}

// ReleaseEnvironment is a Release's state in one environment.
type ReleaseEnvironment struct {
	// Name is the environment's name.
	Name string `json:"name"`
	// Phase is Committed, Synced, Available, Refused or Failed.
	// +optional
	Phase string `json:"phase,omitempty"`
	// ConfigRevision is the config-repo commit that deployed it.
	// +optional
	ConfigRevision string `json:"configRevision,omitempty"`
	// Message explains the phase.
	// +optional
	Message string `json:"message,omitempty"`
	// UpdatedAt is when the phase last changed.
	// +optional
	UpdatedAt *metav1.Time `json:"updatedAt,omitempty"`
}

// Release is one built, pushed image of an Application.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=rel,categories=slipway
// +kubebuilder:printcolumn:name="App",type=string,JSONPath=`.spec.application`
// +kubebuilder:printcolumn:name="SHA",type=string,JSONPath=`.spec.sourceSHA`
// +kubebuilder:printcolumn:name="Image",type=string,JSONPath=`.spec.image`,priority=1
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type Release struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   ReleaseSpec   `json:"spec,omitempty"`
	Status ReleaseStatus `json:"status,omitempty"`
}

// ReleaseList is a list of Releases.
//
// +kubebuilder:object:root=true
type ReleaseList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Release `json:"items"`
}
