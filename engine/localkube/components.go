package localkube

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// component describes how to launch one binary and how to tell that it is healthy.
type component struct {
	bit   Components
	name  string // binary name in BinDir, log file name and pid-file key
	args  func(c *Cluster) []string
	ready func(ctx context.Context, c *Cluster, p *prober) error
}

// startOrder is the dependency order; Stop walks it backwards.
var startOrder = []component{
	{bit: Etcd, name: "etcd", args: etcdArgs, ready: func(ctx context.Context, c *Cluster, p *prober) error {
		return p.etcdHealthy(ctx, c.ports.etcdClient)
	}},
	{bit: APIServer, name: "kube-apiserver", args: apiserverArgs, ready: func(ctx context.Context, c *Cluster, p *prober) error {
		return p.apiserverReady(ctx, c.ports.apiserver)
	}},
	{bit: ControllerManager, name: "kube-controller-manager", args: kcmArgs, ready: func(ctx context.Context, c *Cluster, p *prober) error {
		return p.selfSignedHealthz(ctx, c.ports.kcm)
	}},
	{bit: Scheduler, name: "kube-scheduler", args: schedulerArgs, ready: func(ctx context.Context, c *Cluster, p *prober) error {
		return p.selfSignedHealthz(ctx, c.ports.scheduler)
	}},
	{bit: Kwok, name: "kwok", args: kwokArgs, ready: func(ctx context.Context, c *Cluster, p *prober) error {
		return p.plainHealthz(ctx, c.ports.kwok)
	}},
}

// Kwok writes these into Node and Pod objects only; nothing listens on them.
const (
	kwokNodeIP   = "10.244.0.1"
	kwokPodCIDR  = "10.244.0.0/16"
	serviceRange = "10.96.0.0/16"
)

func loopback(port int) string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)) }

func etcdArgs(c *Cluster) []string {
	client, peer := "http://"+loopback(c.ports.etcdClient), "http://"+loopback(c.ports.etcdPeer)
	args := []string{
		"--name=local", "--data-dir=" + c.dirs.etcdData, "--log-level=warn",
		"--listen-client-urls=" + client, "--advertise-client-urls=" + client,
		"--listen-peer-urls=" + peer, "--initial-advertise-peer-urls=" + peer,
		"--initial-cluster=local=" + peer,
	}
	if c.opts.NoFsync {
		args = append(args, "--unsafe-no-fsync")
	}
	return args
}

func apiserverArgs(c *Cluster) []string {
	pki := func(f string) string { return filepath.Join(c.dirs.pki, f) }
	return []string{
		"--bind-address=127.0.0.1", "--advertise-address=127.0.0.1",
		"--secure-port=" + strconv.Itoa(c.ports.apiserver),
		"--etcd-servers=http://" + loopback(c.ports.etcdClient),
		"--tls-cert-file=" + pki("apiserver.crt"), "--tls-private-key-file=" + pki("apiserver.key"),
		"--client-ca-file=" + pki("ca.crt"), "--token-auth-file=" + pki("tokens.csv"),
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file=" + pki("sa.pub"), "--service-account-signing-key-file=" + pki("sa.key"),
		"--service-cluster-ip-range=" + serviceRange, "--authorization-mode=RBAC",
		"--allow-privileged=true", "--profiling=false",
		// --v=0: at 1 every flag is logged, which pushes the real error out of the log tail
		// that a failed Start reports.
		"--v=0",
	}
}

func kcmArgs(c *Cluster) []string {
	kc := c.dirs.kubeconfig("kcm")
	return []string{
		"--kubeconfig=" + kc, "--authentication-kubeconfig=" + kc, "--authorization-kubeconfig=" + kc,
		"--bind-address=127.0.0.1", "--secure-port=" + strconv.Itoa(c.ports.kcm),
		// An explicit cert dir keeps the self-signed serving certificate out of shared paths.
		"--cert-dir=" + filepath.Join(c.dirs.run, "kcm-serving"),
		"--leader-elect=false",
		"--service-account-private-key-file=" + filepath.Join(c.dirs.pki, "sa.key"),
		"--root-ca-file=" + filepath.Join(c.dirs.pki, "ca.crt"),
		"--use-service-account-credentials=true", "--controllers=*", "--profiling=false", "--v=0",
	}
}

func schedulerArgs(c *Cluster) []string {
	// The scheduler runs as the admin identity, as measured in the local-control-plane note.
	kc := c.dirs.kubeconfig("admin")
	return []string{
		"--kubeconfig=" + kc, "--authentication-kubeconfig=" + kc, "--authorization-kubeconfig=" + kc,
		"--bind-address=127.0.0.1", "--secure-port=" + strconv.Itoa(c.ports.scheduler),
		"--cert-dir=" + filepath.Join(c.dirs.run, "scheduler-serving"),
		"--leader-elect=false", "--profiling=false", "--v=0",
	}
}

func kwokArgs(c *Cluster) []string {
	return []string{
		"--kubeconfig=" + c.dirs.kubeconfig("kwok"),
		"--config=" + filepath.Join(c.opts.BinDir, "kwok-stages.yaml"),
		"--manage-all-nodes=false", "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
		"--node-ip=" + kwokNodeIP, "--node-port=0", "--cidr=" + kwokPodCIDR,
		"--server-address=" + loopback(c.ports.kwok),
	}
}

// checkBinaries fails early, naming what is missing, rather than on the first exec.
func checkBinaries(binDir string, comps Components) error {
	var need []string
	for _, comp := range startOrder {
		if comps.Has(comp.bit) {
			need = append(need, comp.name)
		}
	}
	for _, name := range need {
		fi, err := os.Stat(filepath.Join(binDir, name))
		if err != nil {
			return fmt.Errorf("check binaries (run `make k8sbin`): %w", err)
		}
		if fi.IsDir() || fi.Mode()&0o111 == 0 {
			return fmt.Errorf("check binaries: %s is not an executable file", filepath.Join(binDir, name))
		}
	}
	if comps.Has(Kwok) {
		if _, err := os.Stat(filepath.Join(binDir, "kwok-stages.yaml")); err != nil {
			return fmt.Errorf("check binaries (run `make k8sbin`): %w", err)
		}
	}
	return nil
}

// startComponent launches comp, records its PID and waits until it is healthy or has exited.
func (c *Cluster) startComponent(ctx context.Context, comp component, p *prober) error {
	began := time.Now()
	proc, err := startProcess(comp.name, filepath.Join(c.opts.BinDir, comp.name), comp.args(c),
		filepath.Join(c.dirs.logs, comp.name+".log"), c.componentExited)
	if err != nil {
		return err
	}
	c.mu.Lock()
	c.procs = append(c.procs, proc)
	recs := make([]pidRecord, 0, len(c.procs))
	for _, pr := range c.procs {
		recs = append(recs, pidRecord{Component: pr.name, PID: pr.pid(), Exe: pr.exe, Marker: c.opts.StateDir})
	}
	c.mu.Unlock()
	if err := writePIDs(c.dirs.pidFile, recs); err != nil {
		return err
	}
	if err := proc.waitReady(ctx, func(ctx context.Context) error { return comp.ready(ctx, c, p) }); err != nil {
		return fmt.Errorf("wait for %s: %w", comp.name, err)
	}
	c.opts.Logger.Info("component ready", "component", comp.name, "pid", proc.pid(),
		"duration", time.Since(began).Round(time.Millisecond))
	return nil
}
