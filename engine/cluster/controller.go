package cluster

import (
	"context"
	"fmt"

	ctrl "sigs.k8s.io/controller-runtime"

	"slipway.dev/slipway/engine/appchart"
	"slipway.dev/slipway/engine/configcommit"
	"slipway.dev/slipway/engine/configrepo"
	"slipway.dev/slipway/engine/deploy"
	"slipway.dev/slipway/engine/inbox"
	"slipway.dev/slipway/engine/release"
	"slipway.dev/slipway/engine/retention"
	"slipway.dev/slipway/engine/tektonexec"
	"slipway.dev/slipway/engine/trigger"
)

// ControllerLease is the controller's leader-election lease in its namespace.
const ControllerLease = "slipway-controller"

// RunController runs the reconcilers until ctx ends: the pipeline installer (Slipway's Tekton
// Pipelines and Tasks, pinned by digest, in every namespace with Applications), the trigger
// (Deliveries to PipelineRuns that Tekton executes, through Tekton's clientset), release
// (finished runs to Releases), deploy (Releases to config-repo commits), retention and the
// webhook-secret policy. With c.LeaderElect only the elected
// replica reconciles; every replica answers health probes.
func RunController(ctx context.Context, c ControllerConfig) error {
	log := c.logger().With("component", "controller")
	mgr, err := newManager(c.Common, "controller", ControllerLease)
	if err != nil {
		return err
	}
	writer, err := newWriter(c.Common, c.ConfigRepo)
	if err != nil {
		return fmt.Errorf("controller: %w", err)
	}
	installer, err := NewInstaller(mgr.GetClient(), c.StepImage, c.Version, c.PipelineServiceAccount, c.logger().With("component", "pipeline-install"))
	if err != nil {
		return fmt.Errorf("controller: %s: %w", EnvStepImage, err)
	}
	exec, err := tektonexec.New(mgr.GetConfig())
	if err != nil {
		return fmt.Errorf("controller: %w", err)
	}
	setups := []interface{ SetupWithManager(ctrl.Manager) error }{
		installer,
		&trigger.Reconciler{Client: mgr.GetClient(), Runs: installingRuns{Executor: exec, installer: installer},
			Log: c.logger().With("component", "trigger"), Config: trigger.Config{
				Registry: c.Registry, InsecureRegistry: c.RegistryInsecure, BaseImage: c.BaseImage,
				Executor: trigger.ExecutorTekton, SigningKeySecret: c.SigningKeySecret, Keyless: c.Keyless,
				RegistryCredentialsSecret: c.RegistryCredentialsSecret, ServiceAccount: c.PipelineServiceAccount,
			}},
		&release.Reconciler{Client: mgr.GetClient(), Log: c.logger().With("component", "release")},
		// No Notifier: the syncer runs in its own process and notices the new config revision
		// on the Application (see appstatus.Reporter).
		&deploy.Reconciler{Client: mgr.GetClient(), Renderer: appchart.Renderer{},
			Committer: configcommit.New(writer, c.ConfigRepo.Branch), Log: c.logger().With("component", "deploy")},
		&retention.Reconciler{Client: mgr.GetClient(), Log: c.logger().With("component", "retention")},
		&inbox.PolicyReconciler{Client: mgr.GetClient()},
	}
	for _, s := range setups {
		if err := s.SetupWithManager(mgr); err != nil {
			return fmt.Errorf("controller: set up reconcilers: %w", err)
		}
	}
	signing := []any{"signing", SigningKeyPair}
	if k := c.Keyless; k != nil {
		signing = []any{"signing", SigningKeyless, "fulcio", k.FulcioURL, "rekor", k.RekorURL, "timestampAuthority", k.TimestampURL}
	}
	log.Info("starting", append([]any{"registry", c.Registry, "configRepo", c.ConfigRepo.String(), "leaderElect", c.LeaderElect,
		"namespaces", c.ApplicationNamespaces, "stepImage", c.StepImage, "pipelineServiceAccount", c.PipelineServiceAccount,
		"version", c.Version}, signing...)...)
	if err := mgr.Start(ctx); err != nil {
		return fmt.Errorf("controller: %w", err)
	}
	return nil
}

// newWriter returns the config-repo writer with the configured credentials, CAs and signing key.
func newWriter(c Common, r ConfigRepo) (*configrepo.Writer, error) {
	opts := append([]configrepo.Option{configrepo.WithLogger(c.logger().With("component", "configrepo"))}, r.writerOptions()...)
	w, err := configrepo.New(r.URL, r.CacheDir, configrepo.Author{Name: "Slipway", Email: "slipway@" + c.Namespace + ".svc"}, opts...)
	if err != nil {
		return nil, fmt.Errorf("config repo writer: %w", err)
	}
	return w, nil
}
