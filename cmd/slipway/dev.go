package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"slipway.dev/slipway/engine/devenv"
	"slipway.dev/slipway/engine/localkube"
	"slipway.dev/slipway/engine/scan"
)

func newDevCmd() *cobra.Command {
	var (
		dir, namespace, logLevel string
		webhookPort              int
		syncInterval             time.Duration
		tools, trivyDB, builder  string
		allowHostSteps           bool
	)
	cmd := &cobra.Command{
		Use:   "dev",
		Short: "Run Slipway's embedded default on this machine",
		Long: `Run everything Slipway needs on this machine, on loopback only: a Kubernetes control plane
(etcd, kube-apiserver, kube-controller-manager, kube-scheduler and a kwok fake node), Tekton's
and Slipway's CRDs, an OCI registry, a Git server with the config repo, Slipway's controllers,
the local pipeline runner, the syncer and the webhook receiver.

All state lives in --dir; running it again on the same directory resumes where it stopped,
including pipeline runs that were interrupted. Stop it with Ctrl-C.

The control plane's binaries come from $SLIPWAY_K8S_BIN (run 'make k8sbin' to build them). The
supply-chain tools pipeline steps run (the Kaniko executor, the CNB lifecycle, trivy) come from
--tools, default $SLIPWAY_SCTOOLS (hack/sctools/build.sh builds them); Go apps build without them.
Scans read the vulnerability database mirror given with --trivy-db (a Trivy DB directory, or
oci://REPOSITORY[:TAG]); without one, scans fail and say so. Images are signed with a key pair
made on the first start (Secret slipway-signing-key), and the syncer applies only images signed
with it.

A pipeline step whose image the local runner has no local binary or sandbox for fails and says
so. --allow-host-steps runs such steps' scripts with /bin/sh (or their commands) directly on this
machine, as the user running slipway dev: only for pipelines you trust.`,
		Example: `  slipway dev --dir /tmp/slipway
  KUBECONFIG=/tmp/slipway/cluster/kubeconfig kubectl get applications`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if webhookPort < 0 || webhookPort > 65535 {
				return fmt.Errorf("--webhook-port %d: want a port between 1 and 65535, or 0 to keep the one chosen before", webhookPort)
			}
			if syncInterval < time.Second {
				return fmt.Errorf("--sync-interval %s: want at least 1s", syncInterval)
			}
			var level slog.Level
			if err := level.UnmarshalText([]byte(logLevel)); err != nil {
				return fmt.Errorf("--log-level %q: want debug, info, warn or error", logLevel)
			}
			if tools != "" {
				if st, err := os.Stat(tools); err != nil || !st.IsDir() {
					return fmt.Errorf("--tools %s: not a directory (build the tools with hack/sctools/build.sh)", tools)
				}
			}
			if trivyDB != "" && !strings.HasPrefix(trivyDB, "oci://") {
				db, err := scan.OpenDB(trivyDB)
				if err != nil {
					return fmt.Errorf("--trivy-db: %w; give a Trivy database directory or oci://REPOSITORY[:TAG]", err)
				}
				trivyDB = db.Dir
			}
			if builder != "" {
				abs, err := filepath.Abs(builder)
				if err != nil {
					return err
				}
				if _, err := os.Stat(filepath.Join(abs, "order.toml")); err != nil {
					return fmt.Errorf("--builder %s: no order.toml in it; give a directory laid out like a builder's /cnb (order.toml, buildpacks/<id>/<version>/)", builder)
				}
				builder = abs
			}
			if allowHostSteps {
				fmt.Fprintln(cmd.ErrOrStderr(), hostStepsWarning)
			}
			bin, err := localkube.BinDir()
			if err != nil {
				return err
			}
			self, err := os.Executable()
			if err != nil {
				return fmt.Errorf("find the slipway binary: %w", err)
			}
			abs, err := filepath.Abs(dir)
			if err != nil {
				return err
			}
			if err := os.MkdirAll(abs, 0o755); err != nil {
				return err
			}
			logFile, err := os.OpenFile(filepath.Join(abs, "slipway.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
			if err != nil {
				return err
			}
			defer logFile.Close()
			logger := slog.New(slog.NewJSONHandler(logFile, &slog.HandlerOptions{Level: level}))
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "slipway dev: starting in %s\n", abs)
			env, err := devenv.Start(cmd.Context(), devenv.Options{
				Dir: abs, K8sBinDir: bin, SlipwayBinary: self, Namespace: namespace,
				Ports: devenv.Ports{Webhooks: webhookPort}, SyncInterval: syncInterval, Logger: logger,
				Tools: tools, TrivyDB: trivyDB, Builder: builder, AllowHostSteps: allowHostSteps,
				Progress: func(stage string, d time.Duration) { fmt.Fprintf(out, "  %-26s %6.1fs\n", stage, d.Seconds()) },
			})
			if err != nil {
				return fmt.Errorf("%w (logs: %s)", err, filepath.Join(abs, "slipway.log"))
			}
			defer func() {
				fmt.Fprintln(out, "slipway dev: stopping")
				if err := env.Close(); err != nil {
					fmt.Fprintln(cmd.ErrOrStderr(), "slipway dev: stop:", err)
				}
			}()
			if err := devenv.WriteEndpoints(abs, env.Endpoints(os.Getpid())); err != nil {
				return err
			}
			printEndpoints(out, abs, env)
			select {
			case <-cmd.Context().Done():
				return nil
			case err := <-env.Err():
				return fmt.Errorf("a component stopped: %w (logs: %s)", err, filepath.Join(abs, "slipway.log"))
			}
		},
	}
	cmd.Flags().StringVar(&dir, "dir", defaultDir(), "directory holding all state; reuse it to resume")
	cmd.Flags().StringVarP(&namespace, "namespace", "n", "default", "namespace of Applications and Deliveries")
	cmd.Flags().IntVar(&webhookPort, "webhook-port", 0, "webhook receiver port (0: keep the one chosen on the first start)")
	cmd.Flags().DurationVar(&syncInterval, "sync-interval", 30*time.Second, "how often the syncer re-applies the config repo")
	cmd.Flags().StringVar(&logLevel, "log-level", "info", "log level of DIR/slipway.log: debug, info, warn or error")
	cmd.Flags().StringVar(&tools, "tools", os.Getenv("SLIPWAY_SCTOOLS"), "directory of the supply-chain tools (Kaniko executor, lifecycle, trivy)")
	cmd.Flags().StringVar(&builder, "builder", "", "buildpacks builder directory for Applications that name none")
	cmd.Flags().StringVar(&trivyDB, "trivy-db", os.Getenv("SLIPWAY_TRIVY_DB"), "vulnerability database mirror: a Trivy DB directory or oci://REPOSITORY[:TAG]")
	cmd.Flags().BoolVar(&allowHostSteps, "allow-host-steps", false, "run steps whose image has no local mapping directly on this machine (unsafe: only for trusted pipelines)")
	return cmd
}

// hostStepsWarning is printed when slipway dev starts with --allow-host-steps.
const hostStepsWarning = `WARNING: --allow-host-steps is on. Pipeline steps whose image has no local mapping run their
WARNING: scripts and commands directly on this machine, as this user, with this user's files,
WARNING: network and credentials; nothing isolates them. Use it only for pipelines you trust.`

func printEndpoints(w io.Writer, dir string, env *devenv.Env) {
	fmt.Fprintf(w, `slipway dev: ready
  webhooks     %s/hooks/github
  git server   %s  (config repo: %s/%s.git)
  registry     %s
  kubeconfig   %s
  logs         %s
Press Ctrl-C to stop; run again with --dir %s to resume.
`, env.WebhookURL, env.GitURL, env.GitURL, devenv.ConfigRepo, env.Registry, env.Kubeconfig,
		filepath.Join(dir, "slipway.log"), dir)
}
