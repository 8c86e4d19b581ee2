package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// PromotionSpec asks to move one Release, bound to its digest, from one environment to another.
//
// +kubebuilder:validation:XValidation:rule="self.from != self.to",message="from and to must be different environments"
type PromotionSpec struct {
	// Application is the Application's name.
	// +kubebuilder:validation:MinLength=1
	Application string `json:"application"`
	// Release is the Release to promote.
	// +kubebuilder:validation:MinLength=1
	Release string `json:"release"`
	// From is the environment the Release runs in now.
	// +kubebuilder:validation:MinLength=1
	From string `json:"from"`
	// To is the environment to promote to.
	// +kubebuilder:validation:MinLength=1
	To string `json:"to"`
}

// Approval is one user's approval of a Promotion.
type Approval struct {
	// User is who approved.
	User string `json:"user"`
	// At is when.
	At metav1.Time `json:"at"`
	// Comment is the approver's note.
	// +optional
	Comment string `json:"comment,omitempty"`
}

// PromotionStatus is a Promotion's approvals and outcome.
type PromotionStatus struct {
	// Conditions are Ready (promoted and synced) and Stalled (refused or expired).
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// Digest is the image digest the Promotion is bound to.
	// +optional
	Digest string `json:"digest,omitempty"`
	// Approvals are the approvals received.
	// +optional
	Approvals []Approval `json:"approvals,omitempty"`
	// ConfigRevision is the config-repo commit that promoted the Release.
	// +optional
	ConfigRevision string `json:"configRevision,omitempty"`
}

// Promotion promotes one Release between environments once its approvals are in.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=promo,categories=slipway
// +kubebuilder:printcolumn:name="App",type=string,JSONPath=`.spec.application`
// +kubebuilder:printcolumn:name="Release",type=string,JSONPath=`.spec.release`
// +kubebuilder:printcolumn:name="To",type=string,JSONPath=`.spec.to`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`
type Promotion struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   PromotionSpec   `json:"spec,omitempty"`
	Status PromotionStatus `json:"status,omitempty"`
}

// PromotionList is a list of Promotions.
//
// +kubebuilder:object:root=true
type PromotionList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Promotion `json:"items"`
}
