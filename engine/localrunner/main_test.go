package localrunner

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	v1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"slipway.dev/slipway/engine/sandbox"
	"slipway.dev/slipway/internal/kubetest"
)

var apiServer = kubetest.New("localrunner")

func TestMain(m *testing.M) {
	// Sandboxed steps and the reaper of host steps re-execute the test binary.
	if len(os.Args) > 1 && os.Args[1] == sandbox.ExecCommand {
		os.Exit(sandbox.Child())
	}
	if cfg := os.Getenv(helperEnv); cfg != "" {
		os.Exit(runHelper(cfg))
	}
	code := apiServer.Run(m)
	if builtSlipwayDir != "" {
		os.RemoveAll(builtSlipwayDir)
	}
	os.Exit(code)
}

// helperEnv makes the test binary a runner for the tests that kill their runner: its value
// is a helperConfig in JSON.
const helperEnv = "LOCALRUNNER_TEST_HELPER"

type helperConfig struct {
	// Run is a PipelineRun fixture the helper executes with Execute, without an API server.
	Run string `json:"run,omitempty"`
	// Kubeconfig and Namespace make the helper run a Controller instead.
	Kubeconfig string `json:"kubeconfig,omitempty"`
	Namespace  string `json:"namespace,omitempty"`
	// Dir holds the work and log roots.
	Dir string `json:"dir"`
	// Reaped guards host steps with a reaper (this test binary).
	Reaped bool `json:"reaped,omitempty"`
}

// runHelper is the runner process of a helper; it returns its exit code.
func runHelper(doc string) int {
	var hc helperConfig
	if err := json.Unmarshal([]byte(doc), &hc); err != nil {
		fmt.Fprintln(os.Stderr, "helper config:", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	steps := &HostSteps{AllowHostSteps: true}
	if hc.Reaped {
		steps.Reaper = "/proc/self/exe"
	}
	opts := Options{WorkRoot: filepath.Join(hc.Dir, "work"), LogRoot: filepath.Join(hc.Dir, "logs"), Steps: steps}
	if hc.Kubeconfig == "" {
		pr := &v1.PipelineRun{}
		if err := yaml.UnmarshalStrict([]byte(hc.Run), pr); err != nil {
			fmt.Fprintln(os.Stderr, "helper run:", err)
			return 2
		}
		run, err := Resolve(ctx, nil, pr)
		if err != nil {
			fmt.Fprintln(os.Stderr, "helper run:", err)
			return 2
		}
		out := Execute(ctx, run, opts)
		fmt.Fprintln(os.Stderr, "helper run ended:", out.Reason, out.Message)
		return 0
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", hc.Kubeconfig)
	if err != nil {
		fmt.Fprintln(os.Stderr, "helper kubeconfig:", err)
		return 2
	}
	scheme, err := Scheme()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		fmt.Fprintln(os.Stderr, "helper client:", err)
		return 2
	}
	if err := NewController(c, nil, opts, WithNamespace(hc.Namespace), WithPollInterval(100*time.Millisecond)).Run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "helper controller:", err)
		return 1
	}
	return 0
}

// startHelper starts this test binary as a runner configured by hc. The test must wait for it
// (or kill it); cleanup kills one left running.
func startHelper(t *testing.T, hc helperConfig) *exec.Cmd {
	t.Helper()
	b, err := json.Marshal(hc)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"="+string(b))
	cmd.Stdout, cmd.Stderr = t.Output(), t.Output()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	return cmd
}

// writeKubeconfig writes a kubeconfig for cfg, for a helper process.
func writeKubeconfig(t *testing.T, cfg *rest.Config) string {
	t.Helper()
	kc := clientcmdapi.NewConfig()
	kc.Clusters["test"] = &clientcmdapi.Cluster{Server: cfg.Host, CertificateAuthority: cfg.CAFile,
		CertificateAuthorityData: cfg.CAData, InsecureSkipTLSVerify: cfg.Insecure}
	kc.AuthInfos["test"] = &clientcmdapi.AuthInfo{ClientCertificate: cfg.CertFile, ClientCertificateData: cfg.CertData,
		ClientKey: cfg.KeyFile, ClientKeyData: cfg.KeyData, Token: cfg.BearerToken}
	kc.Contexts["test"] = &clientcmdapi.Context{Cluster: "test", AuthInfo: "test"}
	kc.CurrentContext = "test"
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*kc, path); err != nil {
		t.Fatal(err)
	}
	return path
}

// processesWith returns the pids of live processes whose command line contains marker.
func processesWith(marker string) []string {
	var pids []string
	cmdlines, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range cmdlines {
		b, err := os.ReadFile(p)
		// A zombie's command line is empty: it has ended.
		if err == nil && strings.Contains(string(b), marker) {
			pids = append(pids, filepath.Base(filepath.Dir(p)))
		}
	}
	return pids
}
