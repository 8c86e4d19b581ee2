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
	// ReasonTimedOut means the work was stopped by a timeout.
	ReasonTimedOut = "TimedOut"
	// ReasonNoApplication means no Application tracks the delivery's repository and ref.
	ReasonNoApplication = "NoApplication"
	// ReasonIgnored means the delivery needs no work (for example a ping or a branch delete).
	ReasonIgnored = "Ignored"
	// ReasonInvalidSpec means the spec cannot be acted on as written.
	ReasonInvalidSpec = "InvalidSpec"
	// ReasonUnsignedAllowed means the Application accepts unsigned webhook deliveries.
	ReasonUnsignedAllowed = "UnsignedWebhooksAllowed"

	// ConditionQueued is True on a Delivery while one of its runs waits for a free slot of its
	// Application, with the message "position N of M".
	ConditionQueued = "Queued"
	// ConditionSuperseded is True on a Delivery whose runs a newer push or pull-request head
	// cancelled, or which arrived after a newer one and so started nothing.
	ConditionSuperseded = "Superseded"
	// ConditionCommand records what a pull-request comment's commands did, or why they were
	// ignored.
	ConditionCommand = "Command"

	// ReasonQueued means a run waits for a free slot.
	ReasonQueued = "Queued"
	// ReasonStarted means every run has left the queue.
	ReasonStarted = "Started"
	// ReasonSuperseded means a newer delivery of the same ref or pull request replaced this one.
	ReasonSuperseded = "Superseded"
	// ReasonAwaitingApproval means an untrusted pull request waits for a maintainer's
	// /ok-to-test of its current head.
	ReasonAwaitingApproval = "AwaitingApproval"
	// ReasonForkDenied means the Application never runs pull requests from forks.
	ReasonForkDenied = "ForkDenied"
	// ReasonUntrustedCommenter means a comment's commands came from a user not allowed to give
	// them.
	ReasonUntrustedCommenter = "UntrustedCommenter"
	// ReasonUnknownCommand means a comment held a /command Slipway does not know.
	ReasonUnknownCommand = "UnknownCommand"
	// ReasonNoCommand means a comment held no command.
	ReasonNoCommand = "NoCommand"
	// ReasonApproved means a maintainer approved the pull request's current head.
	ReasonApproved = "Approved"
	// ReasonCancelled means runs were cancelled on request.
	ReasonCancelled = "Cancelled"
	// ReasonClosed means the pull request was closed or merged and its preview is torn down.
	ReasonClosed = "Closed"
	// ReasonPreviewsDisabled means the Application has no pull-request previews.
	ReasonPreviewsDisabled = "PreviewsDisabled"
	// ReasonAlreadyBuilt means a delivery reported a ref that did not move (before == after, as a
	// provider's "Test" button sends) whose commit is already built, or being built, from that
	// ref, so nothing ran again.
	ReasonAlreadyBuilt = "AlreadyBuilt"
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
	// LabelPullRequest is the pull request's number on preview runs and Previews.
	LabelPullRequest = "slipway.dev/pull-request"
	// LabelRefHash is a short digest of the Git ref (or pull request) a run builds, so that the
	// runs of one ref can be listed; the ref itself is in AnnotationRef.
	LabelRefHash = "slipway.dev/ref-hash"
	// LabelQueued is "true" on a run Slipway created pending, to start when its Application has
	// a free slot.
	LabelQueued = "slipway.dev/queued"
	// AnnotationRef is the Git ref a run builds.
	AnnotationRef = "slipway.dev/ref"
	// AnnotationBefore is the ref's previous commit, as the delivery reported it.
	AnnotationBefore = "slipway.dev/before"
	// AnnotationReceivedAt is when the run's Delivery was received (RFC 3339).
	AnnotationReceivedAt = "slipway.dev/received-at"
	// AnnotationCancelReason says why Slipway cancelled a run.
	AnnotationCancelReason = "slipway.dev/cancel-reason"
	// AnnotationCancelledBy names the Delivery that cancelled a run.
	AnnotationCancelledBy = "slipway.dev/cancelled-by"
)
