package localrunner

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	v1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Labels and annotations the local runner reads and writes.
const (
	// ExecutorAnnotation selects the executor of a PipelineRun; the local runner claims runs
	// where it is ExecutorLocal and leaves every other run alone.
	ExecutorAnnotation = "slipway.dev/executor"
	ExecutorLocal      = "local"

	labelPipelineRun  = "tekton.dev/pipelineRun"
	labelPipelineTask = "tekton.dev/pipelineTask"
	labelPipeline     = "tekton.dev/pipeline"
)

// errUserCancelled is the cause given to a run's context when its PipelineRun asks to be
// cancelled; any other cancellation is the runner shutting down.
var errUserCancelled = errors.New("pipelinerun cancelled by spec.status")

// Scheme returns a scheme with the core Kubernetes and Tekton v1 types, for building the
// client a Controller needs.
func Scheme() (*runtime.Scheme, error) {
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		return nil, fmt.Errorf("add core types: %w", err)
	}
	if err := v1.AddToScheme(s); err != nil {
		return nil, fmt.Errorf("add tekton types: %w", err)
	}
	return s, nil
}

// Controller claims PipelineRuns annotated for the local runner, executes them with Execute
// and writes Tekton-shaped TaskRuns and status back. After a restart it resumes the runs it
// left Running.
type Controller struct {
	client   client.Client
	resolver Resolver
	opts     Options
	cfg      controllerConfig

	mu     sync.Mutex
	active map[types.NamespacedName]*activeRun
	wg     sync.WaitGroup
}

// activeRun is a run this controller executes.
type activeRun struct {
	cancel context.CancelCauseFunc
	// status delivers graceful spec.status changes to Execute; sent is the last one delivered.
	status chan v1.PipelineRunSpecStatus
	sent   v1.PipelineRunSpecStatus
}

type controllerConfig struct {
	namespace  string
	interval   time.Duration
	maxRuns    int
	maxResumes int
}

// ControllerOption configures a Controller.
type ControllerOption func(*controllerConfig)

// WithNamespace restricts the controller to one namespace (default: all).
func WithNamespace(ns string) ControllerOption { return func(c *controllerConfig) { c.namespace = ns } }

// WithPollInterval sets how often PipelineRuns are listed (default 500ms).
func WithPollInterval(d time.Duration) ControllerOption {
	return func(c *controllerConfig) { c.interval = d }
}

// WithMaxRuns bounds the PipelineRuns executing at once (default 4).
func WithMaxRuns(n int) ControllerOption { return func(c *controllerConfig) { c.maxRuns = n } }

// WithMaxResumes bounds how often a run is resumed after its runner died while running it
// (default 3); the next time, the run fails with ReasonResumeLimit instead.
func WithMaxResumes(n int) ControllerOption { return func(c *controllerConfig) { c.maxResumes = n } }

// NewController returns a Controller. opts is the template for every run (roots, step runner,
// parallelism); Observer, Previous and Env are set per run by the controller.
func NewController(c client.Client, r Resolver, opts Options, options ...ControllerOption) *Controller {
	cfg := controllerConfig{interval: 500 * time.Millisecond, maxRuns: 4, maxResumes: 3}
	for _, o := range options {
		o(&cfg)
	}
	return &Controller{client: c, resolver: r, opts: opts.withDefaults(), cfg: cfg,
		active: map[types.NamespacedName]*activeRun{}}
}

// Run polls for PipelineRuns until ctx is done, then stops its runs and waits for them. Runs
// stopped by a shutdown keep their Running status and are resumed by the next Run.
func (c *Controller) Run(ctx context.Context) error {
	defer c.wg.Wait()
	t := time.NewTicker(c.cfg.interval)
	defer t.Stop()
	for {
		if err := c.poll(ctx); err != nil && ctx.Err() == nil {
			c.opts.Logger.Error("list pipelineruns", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

func (c *Controller) poll(ctx context.Context) error {
	var list v1.PipelineRunList
	var opts []client.ListOption
	if c.cfg.namespace != "" {
		opts = append(opts, client.InNamespace(c.cfg.namespace))
	}
	if err := c.client.List(ctx, &list, opts...); err != nil {
		return err
	}
	for i := range list.Items {
		pr := &list.Items[i]
		if pr.Annotations[ExecutorAnnotation] != ExecutorLocal || pr.IsDone() || pr.IsPending() {
			continue
		}
		key := types.NamespacedName{Namespace: pr.Namespace, Name: pr.Name}
		graceful := pr.IsGracefullyCancelled() || pr.IsGracefullyStopped()
		c.mu.Lock()
		a, running := c.active[key]
		full := len(c.active) >= c.cfg.maxRuns
		c.mu.Unlock()
		switch {
		case running && pr.IsCancelled():
			a.cancel(errUserCancelled)
		case running && graceful:
			c.endGracefully(a, pr)
		case running, full:
		case pr.IsCancelled():
			// Cancelled while nobody ran it (for example while the runner was down).
			c.finishCancelled(ctx, pr)
		default:
			// A run gracefully cancelled or stopped before it ran still runs its finally
			// tasks, as in Tekton: Execute skips its DAG tasks.
			c.start(ctx, pr.DeepCopy(), key)
		}
	}
	return nil
}

// endGracefully hands a graceful spec.status to a running run, once. The run's observer shows
// it in the run's condition (CancelledRunningFinally or StoppedRunningFinally) once Execute has
// applied it.
func (c *Controller) endGracefully(a *activeRun, pr *v1.PipelineRun) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if a.sent == pr.Spec.Status {
		return
	}
	select {
	case a.status <- pr.Spec.Status:
		a.sent = pr.Spec.Status
	default:
		// Execute is between phases; the next poll delivers it.
	}
}

func (c *Controller) start(ctx context.Context, pr *v1.PipelineRun, key types.NamespacedName) {
	runCtx, cancel := context.WithCancelCause(ctx)
	a := &activeRun{cancel: cancel, status: make(chan v1.PipelineRunSpecStatus, 1), sent: pr.Spec.Status}
	c.mu.Lock()
	c.active[key] = a
	c.mu.Unlock()
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		defer func() {
			cancel(nil)
			c.mu.Lock()
			delete(c.active, key)
			c.mu.Unlock()
		}()
		c.execute(runCtx, pr, a.status)
	}()
}

// shuttingDown tells a stop of the runner apart from a cancellation of the run.
func shuttingDown(ctx context.Context) bool {
	return ctx.Err() != nil && !errors.Is(context.Cause(ctx), errUserCancelled)
}

// execute runs one PipelineRun: count a resume, resolve, read back finished TaskRuns, mark
// Running, Execute, write the outcome.
func (c *Controller) execute(ctx context.Context, pr *v1.PipelineRun, status <-chan v1.PipelineRunSpecStatus) {
	log := c.opts.Logger.With("pipelinerun", pr.Namespace+"/"+pr.Name)
	writeCtx := context.WithoutCancel(ctx)
	ended, err := c.resume(writeCtx, log, pr)
	if err != nil {
		log.Error("record resume; retrying on next poll", "err", err)
		return
	}
	if ended {
		return
	}
	// A run this runner leaves Running (a shutdown, an error retried on the next poll) is
	// marked so, and its next start is not taken for a resume after a crash.
	finished := false
	defer func() {
		if !finished {
			if err := c.markStopped(writeCtx, pr); err != nil {
				log.Error("mark run left running", "err", err)
			}
		}
	}()
	run, err := Resolve(ctx, c.resolver, pr)
	if err != nil {
		var re *ResolveError
		reason := string(v1.PipelineRunReasonCouldntGetPipeline)
		if errors.As(err, &re) {
			reason = string(re.Reason)
		}
		now := c.opts.Now()
		finished = true
		c.writeOutcome(writeCtx, log, pr, Outcome{Reason: reason, Message: err.Error(), StartTime: now, CompletionTime: now}, nil)
		return
	}
	previous, err := c.finishedTaskRuns(ctx, pr)
	if err != nil {
		log.Error("read taskruns; retrying on next poll", "err", err)
		return
	}
	order := taskOrder(run.Pipeline)
	obs := &runObserver{c: c, log: log, runCtx: ctx, pr: pr, pipeline: pipelineName(pr), order: order, tasks: map[string]TaskOutcome{}}
	for name, o := range previous {
		obs.tasks[name] = o
	}
	if err := c.updatePipelineRun(writeCtx, pr, func(cur *v1.PipelineRun) {
		markRunning(cur, progress(obs.tasks, len(order)), c.opts.Now())
		cur.Status.PipelineSpec = run.Pipeline
	}); err != nil {
		log.Error("mark pipelinerun running; retrying on next poll", "err", err)
		return
	}
	// Execute counts timeouts from the recorded start time.
	if err := c.client.Get(ctx, client.ObjectKeyFromObject(pr), pr); err == nil {
		run.PipelineRun = pr
	}
	log.Info("executing", "resumed", len(previous))
	opts := c.opts
	opts.Observer, opts.Previous, opts.Env, opts.Logger = obs, previous, clusterEnv{c.client}, log
	opts.Volumes, opts.Tokens, opts.SpecStatus = clusterEnv{c.client}, clusterEnv{c.client}, status
	out := Execute(ctx, run, opts)
	if shuttingDown(ctx) {
		log.Info("runner stopping; run left Running to be resumed")
		return
	}
	finished = true
	c.writeOutcome(writeCtx, log, pr, out, order)
}

func (c *Controller) writeOutcome(ctx context.Context, log *slog.Logger, pr *v1.PipelineRun, out Outcome, order []string) {
	byTask := map[string]TaskOutcome{}
	for _, o := range out.Tasks {
		byTask[o.PipelineTask] = o
	}
	// Nothing is left Running: a TaskRun whose final write failed gets it now.
	if err := c.settleTaskRuns(ctx, pr, byTask); err != nil {
		log.Error("settle taskruns", "err", err)
	}
	if err := c.updatePipelineRun(ctx, pr, func(cur *v1.PipelineRun) { markDone(&cur.Status, out, order) }); err != nil {
		log.Error("write pipelinerun outcome", "err", err)
		return
	}
	log.Info("finished", "reason", out.Reason, "message", out.Message)
}

// finishCancelled ends a run cancelled while no runner executed it.
func (c *Controller) finishCancelled(ctx context.Context, pr *v1.PipelineRun) {
	now := c.opts.Now()
	out := Outcome{Reason: string(v1.PipelineRunReasonCancelled), Message: fmt.Sprintf("PipelineRun %q was cancelled", pr.Name), StartTime: now, CompletionTime: now}
	c.writeOutcome(ctx, c.opts.Logger.With("pipelinerun", pr.Namespace+"/"+pr.Name), pr, out, nil)
}

func (c *Controller) taskRuns(ctx context.Context, pr *v1.PipelineRun) ([]v1.TaskRun, error) {
	var list v1.TaskRunList
	if err := c.client.List(ctx, &list, client.InNamespace(pr.Namespace), client.MatchingLabels{labelPipelineRun: pr.Name}); err != nil {
		return nil, fmt.Errorf("list taskruns of %s: %w", pr.Name, err)
	}
	return list.Items, nil
}

func (c *Controller) finishedTaskRuns(ctx context.Context, pr *v1.PipelineRun) (map[string]TaskOutcome, error) {
	trs, err := c.taskRuns(ctx, pr)
	if err != nil {
		return nil, err
	}
	out := map[string]TaskOutcome{}
	for i := range trs {
		if o, ok := outcomeFromTaskRun(&trs[i]); ok && metav1.IsControlledBy(&trs[i], pr) {
			out[o.PipelineTask] = o
		}
	}
	return out, nil
}

func (c *Controller) settleTaskRuns(ctx context.Context, pr *v1.PipelineRun, byTask map[string]TaskOutcome) error {
	trs, err := c.taskRuns(ctx, pr)
	if err != nil {
		return err
	}
	var errs []error
	for i := range trs {
		tr := &trs[i]
		if tr.IsDone() {
			continue
		}
		o, ok := byTask[tr.Labels[labelPipelineTask]]
		if !ok || !o.State.Done() || o.TaskRunName != tr.Name {
			now := c.opts.Now()
			o = TaskOutcome{PipelineTask: tr.Labels[labelPipelineTask], TaskRunName: tr.Name, State: TaskCancelled,
				Reason: string(v1.TaskRunReasonCancelled), Message: "TaskRun cancelled as its PipelineRun ended",
				StartTime: now, CompletionTime: now}
			if tr.Status.StartTime != nil {
				o.StartTime = tr.Status.StartTime.Time
			}
		}
		errs = append(errs, c.writeTaskRunStatus(ctx, tr.Namespace, tr.Name, TaskRunStatus(o)))
	}
	return errors.Join(errs...)
}

// updatePipelineRun changes the status of the stored run; mutate sees the whole current object
// (its spec.status decides the running reason) and changes its status only.
func (c *Controller) updatePipelineRun(ctx context.Context, pr *v1.PipelineRun, mutate func(cur *v1.PipelineRun)) error {
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cur := &v1.PipelineRun{}
		if err := c.client.Get(ctx, client.ObjectKeyFromObject(pr), cur); err != nil {
			return err
		}
		mutate(cur)
		return c.client.Status().Update(ctx, cur)
	})
}

func (c *Controller) writeTaskRunStatus(ctx context.Context, ns, name string, st v1.TaskRunStatus) error {
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cur := &v1.TaskRun{}
		if err := c.client.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, cur); err != nil {
			return err
		}
		cur.Status = st
		return c.client.Status().Update(ctx, cur)
	})
}

// runObserver turns task updates into TaskRun objects and PipelineRun progress.
type runObserver struct {
	c   *Controller
	log *slog.Logger
	// runCtx is the run's context: once the runner shuts down, nothing more is written. The
	// contexts of single updates end for the run's own reasons (a timeout, a graceful cancel).
	runCtx   context.Context
	pr       *v1.PipelineRun
	pipeline string
	order    []string

	mu    sync.Mutex
	tasks map[string]TaskOutcome
}

// TaskUpdate implements Observer.
func (o *runObserver) TaskUpdate(ctx context.Context, t TaskOutcome) {
	if shuttingDown(o.runCtx) {
		return // leave everything as it is; the next runner resumes it
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	ctx = context.WithoutCancel(ctx)
	if t.State != TaskSkipped {
		if err := o.ensureTaskRun(ctx, t); err != nil {
			o.log.Error("write taskrun", "taskrun", t.TaskRunName, "err", err)
		}
	}
	o.tasks[t.PipelineTask] = t
	err := o.c.updatePipelineRun(ctx, o.pr, func(cur *v1.PipelineRun) {
		markRunning(cur, progress(o.tasks, len(o.order)), o.c.opts.Now())
		cur.Status.ChildReferences, cur.Status.SkippedTasks = childReferences(o.order, o.tasks)
	})
	if err != nil {
		o.log.Error("update pipelinerun progress", "err", err)
	}
}

// RunInterrupted shows a graceful end in the run's condition once Execute applied it.
func (o *runObserver) RunInterrupted(ctx context.Context, _ v1.PipelineRunSpecStatus) {
	if shuttingDown(o.runCtx) {
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	err := o.c.updatePipelineRun(context.WithoutCancel(ctx), o.pr, func(cur *v1.PipelineRun) {
		markRunning(cur, progress(o.tasks, len(o.order)), o.c.opts.Now())
	})
	if err != nil {
		o.log.Error("show the graceful end in the pipelinerun's condition", "err", err)
	}
}

func (o *runObserver) ensureTaskRun(ctx context.Context, t TaskOutcome) error {
	pr := o.pr
	tr := &v1.TaskRun{
		ObjectMeta: metav1.ObjectMeta{
			Name: t.TaskRunName, Namespace: pr.Namespace,
			Labels:          map[string]string{labelPipelineRun: pr.Name, labelPipelineTask: t.PipelineTask, labelPipeline: o.pipeline},
			Annotations:     map[string]string{ExecutorAnnotation: ExecutorLocal},
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(pr, v1.SchemeGroupVersion.WithKind("PipelineRun"))},
		},
		Spec: v1.TaskRunSpec{Params: t.Params, TaskSpec: t.Spec},
	}
	if err := o.c.client.Create(ctx, tr); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create taskrun: %w", err)
	}
	return o.c.writeTaskRunStatus(ctx, pr.Namespace, t.TaskRunName, TaskRunStatus(t))
}

// clusterEnv resolves env valueFrom against Secrets and ConfigMaps in the run's namespace.
type clusterEnv struct{ c client.Client }

// EnvValue implements EnvSource.
func (e clusterEnv) EnvValue(ctx context.Context, ns string, src *corev1.EnvVarSource) (string, error) {
	switch {
	case src.SecretKeyRef != nil:
		var s corev1.Secret
		if err := e.c.Get(ctx, types.NamespacedName{Namespace: ns, Name: src.SecretKeyRef.Name}, &s); err != nil {
			return "", fmt.Errorf("get secret %s: %w", src.SecretKeyRef.Name, err)
		}
		v, ok := s.Data[src.SecretKeyRef.Key]
		if !ok {
			return "", fmt.Errorf("secret %s has no key %s", src.SecretKeyRef.Name, src.SecretKeyRef.Key)
		}
		return string(v), nil
	case src.ConfigMapKeyRef != nil:
		var cm corev1.ConfigMap
		if err := e.c.Get(ctx, types.NamespacedName{Namespace: ns, Name: src.ConfigMapKeyRef.Name}, &cm); err != nil {
			return "", fmt.Errorf("get configmap %s: %w", src.ConfigMapKeyRef.Name, err)
		}
		v, ok := cm.Data[src.ConfigMapKeyRef.Key]
		if !ok {
			return "", fmt.Errorf("configmap %s has no key %s", src.ConfigMapKeyRef.Name, src.ConfigMapKeyRef.Key)
		}
		return v, nil
	}
	return "", errors.New("only secretKeyRef and configMapKeyRef are supported")
}

// SecretData implements VolumeSource.
func (e clusterEnv) SecretData(ctx context.Context, ns, name string) (map[string][]byte, error) {
	var s corev1.Secret
	if err := e.c.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, &s); err != nil {
		return nil, fmt.Errorf("get secret %s: %w", name, err)
	}
	return s.Data, nil
}

// ServiceAccountToken implements TokenSource with the API server's TokenRequest, as the
// kubelet asks for a projected token: for p's audience (empty: the API server's own) and
// lifetime (empty: an hour).
func (e clusterEnv) ServiceAccountToken(ctx context.Context, ns, name string, p corev1.ServiceAccountTokenProjection) ([]byte, error) {
	tr := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: p.ExpirationSeconds}}
	if p.Audience != "" {
		tr.Spec.Audiences = []string{p.Audience}
	}
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
	if err := e.c.SubResource("token").Create(ctx, sa, tr); err != nil {
		return nil, fmt.Errorf("request token: %w", err)
	}
	return []byte(tr.Status.Token), nil
}

// ConfigMapData implements VolumeSource.
func (e clusterEnv) ConfigMapData(ctx context.Context, ns, name string) (map[string][]byte, error) {
	var cm corev1.ConfigMap
	if err := e.c.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, &cm); err != nil {
		return nil, fmt.Errorf("get configmap %s: %w", name, err)
	}
	data := map[string][]byte{}
	for k, v := range cm.Data {
		data[k] = []byte(v)
	}
	for k, v := range cm.BinaryData {
		data[k] = v
	}
	return data, nil
}

func taskOrder(ps *v1.PipelineSpec) []string {
	var names []string
	for _, pt := range slices.Concat(ps.Tasks, ps.Finally) {
		names = append(names, pt.Name)
	}
	return names
}

func pipelineName(pr *v1.PipelineRun) string {
	if pr.Spec.PipelineRef != nil && pr.Spec.PipelineRef.Name != "" {
		return pr.Spec.PipelineRef.Name
	}
	return pr.Name
}

func runtimeTypeMeta(kind string) runtime.TypeMeta {
	return runtime.TypeMeta{APIVersion: v1.SchemeGroupVersion.String(), Kind: kind}
}
