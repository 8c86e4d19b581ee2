package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// PreviewSpec is one pull request's preview environment.
type PreviewSpec struct {
	// Application is the Application's name.
	// +kubebuilder:validation:MinLength=1
	Application string `json:"application"`
	// PullRequest is the pull request's number.
	// +kubebuilder:validation:Minimum=1
	PullRequest int64 `json:"pullRequest"`
	// HeadRef is the pull request's source branch.
	// +optional
	HeadRef string `json:"headRef,omitempty"`
	// HeadSHA is the commit the preview runs.
	// +optional
	HeadSHA string `json:"headSHA,omitempty"`
}

// PreviewStatus is a preview's namespace, address and lifetime.
type PreviewStatus struct {
	// Conditions are Ready and Stalled.
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// Namespace holds the preview's workloads.
	// +optional
	Namespace string `json:"namespace,omitempty"`
	// URL is where the preview answers.
	// +optional
	URL string `json:"url,omitempty"`
	// ExpiresAt is when the preview is removed unless updated.
	// +optional
	ExpiresAt *metav1.Time `json:"expiresAt,omitempty"`
}

// Preview is a pull request's preview environment.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:categories=slipway
// +kubebuilder:printcolumn:name="App",type=string,JSONPath=`.spec.application`
// +kubebuilder:printcolumn:name="PR",type=integer,JSONPath=`.spec.pullRequest`
// +kubebuilder:printcolumn:name="URL",type=string,JSONPath=`.status.url`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
type Preview struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   PreviewSpec   `json:"spec,omitempty"`
	Status PreviewStatus `json:"status,omitempty"`
}

// PreviewList is a list of Previews.
//
// +kubebuilder:object:root=true
type PreviewList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Preview `json:"items"`
}
