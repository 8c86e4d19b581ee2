package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// DeliverySpec is one accepted webhook delivery, recorded before the provider got its 2xx.
// It is immutable.
//
// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="a Delivery's spec is immutable"
type DeliverySpec struct {
	// Provider sent the delivery.
	// +kubebuilder:validation:Enum=github;gitlab;gitea;forgejo;bitbucket
	Provider string `json:"provider"`
	// DeliveryID is the provider's delivery id, or a digest of the event when it has none. The
	// Delivery is named after it, except for providers whose redeliveries carry a new id (Gitea,
	// Forgejo, Bitbucket): their Deliveries are named after the change they report, and this
	// field keeps the id of the first delivery, for reference.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=256
	DeliveryID string `json:"deliveryID"`
	// Event is the normalized kind: push, tag, branch-create, branch-delete, pr-opened,
	// pr-updated, pr-closed, pr-merged, pr-reopened, pr-comment or ping.
	// +kubebuilder:validation:Enum=push;tag;branch-create;branch-delete;pr-opened;pr-updated;pr-closed;pr-merged;pr-reopened;pr-comment;ping
	Event string `json:"event"`
	// RepoURL is the repository's clone URL.
	// +optional
	RepoURL string `json:"repoURL,omitempty"`
	// RepoFullName is owner/name (or group/subgroup/name).
	// +optional
	RepoFullName string `json:"repoFullName,omitempty"`
	// Ref is the full Git ref, such as refs/heads/main.
	// +optional
	Ref string `json:"ref,omitempty"`
	// Before is the ref's previous commit.
	// +optional
	Before string `json:"before,omitempty"`
	// After is the ref's new commit.
	// +optional
	After string `json:"after,omitempty"`
	// PullRequest describes the pull request for pr-* events.
	// +optional
	PullRequest *PullRequestRef `json:"pullRequest,omitempty"`
	// Comment is the comment body for pr-comment events.
	// +kubebuilder:validation:MaxLength=4096
	// +optional
	Comment string `json:"comment,omitempty"`
	// Author is the login of the user who caused the event.
	// +optional
	Author string `json:"author,omitempty"`
	// ReceivedAt is when Slipway received the delivery.
	ReceivedAt metav1.Time `json:"receivedAt"`
	// BodySHA256 is the hex SHA-256 of the raw body.
	// +optional
	BodySHA256 string `json:"bodySHA256,omitempty"`
}

// PullRequestRef identifies a pull request and its head and base.
type PullRequestRef struct {
	// Number is the pull request's number.
	Number int64 `json:"number"`
	// HeadRef is the source branch.
	// +optional
	HeadRef string `json:"headRef,omitempty"`
	// HeadSHA is the source commit.
	// +optional
	HeadSHA string `json:"headSHA,omitempty"`
	// BaseRef is the target branch.
	// +optional
	BaseRef string `json:"baseRef,omitempty"`
	// BaseSHA is the target commit.
	// +optional
	BaseSHA string `json:"baseSHA,omitempty"`
	// Fork is true when the head lives in another repository.
	// +optional
	Fork bool `json:"fork,omitempty"`
}

// DeliveryStatus records what a delivery triggered.
type DeliveryStatus struct {
	// ObservedGeneration is the generation last reconciled.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// Conditions are Ready (all triggered work exists, or why there is none), Stalled, Queued
	// (True while a triggered run waits for a slot, with "position N of M"), Superseded (True
	// when a newer push or pull-request head cancelled or replaced this delivery's runs) and
	// Command (the outcome of a pull-request comment's commands).
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// Triggered lists the runs this delivery started, one per matching Application.
	// +optional
	Triggered []TriggeredRun `json:"triggered,omitempty"`
}

// TriggeredRun is one PipelineRun started for one Application.
type TriggeredRun struct {
	// Application is the Application's name.
	Application string `json:"application"`
	// Flow is deploy, preview, teardown or command.
	Flow string `json:"flow"`
	// PipelineRun is the PipelineRun's name.
	// +optional
	PipelineRun string `json:"pipelineRun,omitempty"`
	// QueuePosition is the run's place (from 1) in its Application's queue while it waits for
	// a free slot; 0 once it has started or when it never waited.
	// +optional
	QueuePosition int32 `json:"queuePosition,omitempty"`
	// QueueLength is the length of that queue when QueuePosition was written.
	// +optional
	QueueLength int32 `json:"queueLength,omitempty"`
}

// Delivery is one accepted webhook delivery: the durable inbox of Slipway's webhook receiver.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:categories=slipway
// +kubebuilder:printcolumn:name="Provider",type=string,JSONPath=`.spec.provider`
// +kubebuilder:printcolumn:name="Event",type=string,JSONPath=`.spec.event`
// +kubebuilder:printcolumn:name="Ref",type=string,JSONPath=`.spec.ref`
// +kubebuilder:printcolumn:name="After",type=string,JSONPath=`.spec.after`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`
// +kubebuilder:printcolumn:name="Queue",type=string,JSONPath=`.status.conditions[?(@.type=="Queued")].message`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type Delivery struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   DeliverySpec   `json:"spec,omitempty"`
	Status DeliveryStatus `json:"status,omitempty"`
}

// DeliveryList is a list of Deliveries.
//
// +kubebuilder:object:root=true
type DeliveryList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Delivery `json:"items"`
}
