package v1alpha1

// Condition types and reasons shared by Slipway's resources, in the Kubernetes style.
const (
	// ConditionReady is True when the object has reached its goal state.
	ConditionReady = "Ready"
	// ConditionStalled is True when the object cannot make progress without a change from a user.
	ConditionStalled = "Stalled"
	// ConditionReconciling is True while work is in progress.
	ConditionReconciling = "Reconciling"
	// ConditionWebhooksVerified is True on an Application whose webhook deliveries must carry a
	// valid signature, and False, with the reason, when they are accepted unsigned or cannot be
	// verified at all.
	ConditionWebhooksVerified = "WebhooksVerified"

	// ReasonProgressing means work is under way.
	ReasonProgressing = "Progressing"
	// ReasonSucceeded means the work finished successfully.
	ReasonSucceeded = "Succeeded"
	// ReasonFailed means the work finished with an error.
	ReasonFailed = "Failed"
	// ReasonNoApplication means no Application tracks the delivery's repository and ref.
	ReasonNoApplication = "NoApplication"
	// ReasonIgnored means the delivery needs no work (for example a ping or a branch delete).
	ReasonIgnored = "Ignored"
	// ReasonInvalidSpec means the spec cannot be acted on as written.
	ReasonInvalidSpec = "InvalidSpec"
	// ReasonUnsignedAllowed means the Application accepts unsigned webhook deliveries.
	ReasonUnsignedAllowed = "UnsignedWebhooksAllowed"
)

// Labels and annotations Slipway puts on the objects it creates.
const (
	LabelApplication = "slipway.dev/application"
	LabelDelivery    = "slipway.dev/delivery"
	LabelRelease     = "slipway.dev/release"
	LabelSHA         = "slipway.dev/sha"
	LabelEnvironment = "slipway.dev/environment"
	LabelFlow        = "slipway.dev/flow"
	// LabelUnsigned is "true" on a Delivery accepted without a signature because its
	// Application allows unsigned deliveries.
	LabelUnsigned = "slipway.dev/unsigned"
	// AnnotationExecutor names who executes a PipelineRun: "local" for the local runner,
	// absent for Tekton.
	AnnotationExecutor = "slipway.dev/executor"
)
