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
	// HeadSHA is the commit the preview runs: the pull request's current head as far as Slipway
	// knows. It only moves forward (see PreviewStatus.HeadReceivedAt).
	// +optional
	HeadSHA string `json:"headSHA,omitempty"`
	// Author is the login of the pull request's author.
	// +optional
	Author string `json:"author,omitempty"`
	// Fork is true when the head lives in another repository.
	// +optional
	Fork bool `json:"fork,omitempty"`
}

// PreviewApproval is a maintainer's /ok-to-test, bound to the one head commit it approved.
type PreviewApproval struct {
	// SHA is the head commit approved; a new head needs a new approval.
	SHA string `json:"sha"`
	// By is the maintainer's login.
	By string `json:"by"`
	// Delivery is the comment's Delivery.
	// +optional
	Delivery string `json:"delivery,omitempty"`
	// At is when the comment was received.
	// +optional
	At metav1.Time `json:"at,omitempty"`
}

// PreviewStatus is a preview's namespace, address and lifetime.
type PreviewStatus struct {
	// Conditions are Ready and Stalled; Ready is False with reason AwaitingApproval while an
	// untrusted head waits for /ok-to-test, and with reason Closed once the pull request is
	// closed or merged and the preview is to be torn down.
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// HeadReceivedAt is when the Delivery that set spec.headSHA was received. A Delivery received
	// earlier (one that arrives out of order) never moves the head back.
	// +optional
	HeadReceivedAt *metav1.Time `json:"headReceivedAt,omitempty"`
	// HeadDelivery is the Delivery that set spec.headSHA.
	// +optional
	HeadDelivery string `json:"headDelivery,omitempty"`
	// Approval is the latest /ok-to-test; it counts only while its SHA is spec.headSHA.
	// +optional
	Approval *PreviewApproval `json:"approval,omitempty"`
	// PipelineRun is the latest preview run of the head.
	// +optional
	PipelineRun string `json:"pipelineRun,omitempty"`
	// ClosedAt is when the pull request was closed or merged; the preview is then marked for
	// teardown and its runs cancelled. A later reopen clears it.
	// +optional
	ClosedAt *metav1.Time `json:"closedAt,omitempty"`
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
// +kubebuilder:printcolumn:name="Head",type=string,JSONPath=`.spec.headSHA`
// +kubebuilder:printcolumn:name="URL",type=string,JSONPath=`.status.url`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`
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
