package localkube

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestComponentsValidate(t *testing.T) {
	tests := []struct {
		name    string
		comps   Components
		wantErr bool
	}{
		{name: "api server only", comps: APIServerOnly},
		{name: "full", comps: Full},
		{name: "controller manager without scheduler", comps: APIServerOnly | ControllerManager},
		{name: "no etcd", comps: APIServer | ControllerManager, wantErr: true},
		{name: "no api server", comps: Etcd, wantErr: true},
		{name: "unknown bit", comps: Full | 1<<7, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.comps.validate(); (err != nil) != tt.wantErr {
				t.Errorf("validate(%s) = %v, wantErr %v", tt.comps, err, tt.wantErr)
			}
		})
	}
	if got, want := Full.String(), "etcd+kube-apiserver+kube-controller-manager+kube-scheduler+kwok"; got != want {
		t.Errorf("Full.String() = %q, want %q", got, want)
	}
}

func TestSplitCRDs(t *testing.T) {
	tests := []struct {
		name      string
		in        []string
		wantNames []string
		wantErr   string
	}{
		{name: "multi-document with empty documents", in: []string{widgetCRD + "\n---\n# only a comment\n---\n"},
			wantNames: []string{"widgets.test.slipway.dev", "gadgets.test.slipway.dev"}},
		{name: "several inputs", in: []string{widgetCRD, "{\"apiVersion\":\"apiextensions.k8s.io/v1\",\"kind\":\"CustomResourceDefinition\",\"metadata\":{\"name\":\"x.y.z\"}}"},
			wantNames: []string{"widgets.test.slipway.dev", "gadgets.test.slipway.dev", "x.y.z"}},
		{name: "not a CRD", in: []string{widgetCRD + "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n"},
			wantErr: `ConfigMap "c" is not`},
		{name: "CRD without a name", in: []string{"apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\n"},
			wantErr: "without metadata.name"},
		{name: "broken YAML", in: []string{"kind: [\n"}, wantErr: "document 0"},
		{name: "nothing", in: []string{"", "---\n"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var in [][]byte
			for _, s := range tt.in {
				in = append(in, []byte(s))
			}
			docs, err := splitCRDs(in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, d := range docs {
				names = append(names, d.name)
			}
			if !slices.Equal(names, tt.wantNames) {
				t.Errorf("names = %v, want %v", names, tt.wantNames)
			}
		})
	}
}

func FuzzSplitCRDs(f *testing.F) {
	f.Add([]byte(widgetCRD))
	f.Add([]byte("---\n---\n"))
	f.Add([]byte("{\"kind\":"))
	f.Fuzz(func(t *testing.T, b []byte) {
		docs, err := splitCRDs([][]byte{b})
		for _, d := range docs {
			if err == nil && d.name == "" {
				t.Fatal("accepted a CRD without a name")
			}
		}
	})
}

func TestEnsurePKIReusesAndRenews(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "pki")
	now := time.Now()
	first, err := ensurePKI(dir, now)
	if err != nil {
		t.Fatal(err)
	}
	ca := readFile(t, filepath.Join(dir, "ca.crt"))

	second, err := ensurePKI(dir, now.Add(24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(ca, readFile(t, filepath.Join(dir, "ca.crt"))) || first.token != second.token {
		t.Error("a valid PKI was regenerated")
	}

	// Close to expiry, everything is renewed.
	if _, err := ensurePKI(dir, now.Add(certValidity-renewBefore/2)); err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(ca, readFile(t, filepath.Join(dir, "ca.crt"))) {
		t.Error("an expiring CA was kept")
	}

	// A missing file regenerates the set instead of leaving a mix.
	if err := os.Remove(filepath.Join(dir, "kcm.key")); err != nil {
		t.Fatal(err)
	}
	if _, err := ensurePKI(dir, now); err != nil {
		t.Fatal(err)
	}
	if err := checkPKI(dir, now); err != nil {
		t.Errorf("PKI after repair: %v", err)
	}
}

func TestAPIServerCertificateNames(t *testing.T) {
	dir := t.TempDir()
	if _, err := ensurePKI(dir, time.Now()); err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(readFile(t, filepath.Join(dir, "apiserver.crt")))
	if block == nil {
		t.Fatal("apiserver.crt holds no PEM block")
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	for _, host := range []string{"127.0.0.1", "10.96.0.1", "localhost", "kubernetes.default.svc.cluster.local"} {
		if err := cert.VerifyHostname(host); err != nil {
			t.Errorf("serving certificate does not cover %s: %v", host, err)
		}
	}
	for _, name := range []string{"ca.key", "admin.key", "sa.key", "tokens.csv"} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s mode %v, want 0600", name, fi.Mode().Perm())
		}
	}
}

// startSleep starts a real process whose arguments carry marker, standing in for a component.
func startSleep(t *testing.T, marker string) *exec.Cmd {
	t.Helper()
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Skip("no sleep binary")
	}
	cmd := exec.Command(sleep, marker)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() {
		cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
	})
	return cmd
}

func TestReapStaleKillsOnlyRecordedProcesses(t *testing.T) {
	ours := startSleep(t, "3600.25")
	other := startSleep(t, "3600.5")
	pidFile := filepath.Join(t.TempDir(), "pids.json")
	recs := []pidRecord{
		{Component: "etcd", PID: ours.Process.Pid, Exe: ours.Path, Marker: "3600.25"},
		// A PID that has been reused by an unrelated process: same binary, no marker.
		{Component: "kube-apiserver", PID: other.Process.Pid, Exe: other.Path, Marker: "/some/state/dir"},
		// A PID whose process is gone.
		{Component: "kwok", PID: 1 << 22, Exe: "/bin/kwok", Marker: "/some/state/dir"},
	}
	if err := writePIDs(pidFile, recs); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(t.Output(), nil))
	if err := reapStale(t.Context(), pidFile, 5*time.Second, log); err != nil {
		t.Fatal(err)
	}
	if _, alive, _ := procCmdline(ours.Process.Pid); alive {
		t.Error("the recorded process survived")
	}
	if _, alive, _ := procCmdline(other.Process.Pid); !alive {
		t.Error("an unrelated process with a recorded PID was killed")
	}
	if _, err := os.Stat(pidFile); !os.IsNotExist(err) {
		t.Errorf("pid file after reaping: %v, want removed", err)
	}
}

func TestBinDirUnset(t *testing.T) {
	t.Setenv(BinDirEnv, "")
	if _, err := BinDir(); !errors.Is(err, ErrNoBinDir) || !strings.Contains(err.Error(), "make k8sbin") {
		t.Errorf("BinDir() error = %v, want ErrNoBinDir naming make k8sbin", err)
	}
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
