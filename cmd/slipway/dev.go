package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"slipway.dev/slipway/engine/devenv"
	"slipway.dev/slipway/engine/localkube"
)

// Endpoints is what `slipway dev` writes to DIR/endpoints.json once everything serves, for
// scripts and tests to read.
type Endpoints struct {
	Kubeconfig string `json:"kubeconfig"`
	WebhookURL string `json:"webhookURL"`
	GitURL     string `json:"gitURL"`
	Registry   string `json:"registry"`
	BaseImage  string `json:"baseImage"`
	Namespace  string `json:"namespace"`
	LogDir     string `json:"logDir"`
	PID        int    `json:"pid"`
}

func newDevCmd() *cobra.Command {
	var (
		dir, namespace, logLevel string
		webhookPort              int
		syncInterval             time.Duration
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

The control plane's binaries come from $SLIPWAY_K8S_BIN (run 'make k8sbin' to build them).`,
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
			if err := writeEndpoints(abs, env); err != nil {
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
	return cmd
}

func writeEndpoints(dir string, env *devenv.Env) error {
	b, err := json.MarshalIndent(Endpoints{
		Kubeconfig: env.Kubeconfig, WebhookURL: env.WebhookURL, GitURL: env.GitURL, Registry: env.Registry,
		BaseImage: env.BaseImage, Namespace: env.Namespace, LogDir: env.LogDir, PID: os.Getpid(),
	}, "", "  ")
	if err != nil {
		return err
	}
	tmp := filepath.Join(dir, "endpoints.json.tmp")
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write endpoints: %w", err)
	}
	return os.Rename(tmp, filepath.Join(dir, "endpoints.json"))
}

func readEndpoints(dir string) (Endpoints, error) {
	var e Endpoints
	b, err := os.ReadFile(filepath.Join(dir, "endpoints.json"))
	if errors.Is(err, os.ErrNotExist) {
		return e, fmt.Errorf("no dev environment in %s: start one with `slipway dev --dir %s`, or pass --kubeconfig", dir, dir)
	}
	if err != nil {
		return e, err
	}
	if err := json.Unmarshal(b, &e); err != nil {
		return e, fmt.Errorf("read %s: %w", filepath.Join(dir, "endpoints.json"), err)
	}
	return e, nil
}

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
