package devenv

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
)

// Ports are the loopback ports of a dev environment. They are chosen once and kept in the
// environment's directory, because image references in the config repo name the registry's
// address and webhooks configured at a provider name the receiver's.
type Ports struct {
	APIServer int `json:"apiServer"`
	Webhooks  int `json:"webhooks"`
	Git       int `json:"git"`
	Registry  int `json:"registry"`
}

func loadPorts(dir string, want Ports) (Ports, error) {
	path := filepath.Join(dir, "ports.json")
	var p Ports
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		if err := json.Unmarshal(b, &p); err != nil {
			return Ports{}, fmt.Errorf("read %s: %w (delete it to pick new ports)", path, err)
		}
	case !errors.Is(err, os.ErrNotExist):
		return Ports{}, fmt.Errorf("read ports: %w", err)
	}
	// Hold every picked port open until all are picked, so no two get the same one.
	var held []net.Listener
	defer func() {
		for _, l := range held {
			l.Close()
		}
	}()
	for _, f := range []struct {
		dst  *int
		want int
	}{{&p.APIServer, want.APIServer}, {&p.Webhooks, want.Webhooks}, {&p.Git, want.Git}, {&p.Registry, want.Registry}} {
		if f.want != 0 {
			*f.dst = f.want
		}
		if *f.dst == 0 {
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				return Ports{}, fmt.Errorf("pick a free port: %w", err)
			}
			held = append(held, l)
			*f.dst = l.Addr().(*net.TCPAddr).Port
		}
	}
	b, _ = json.MarshalIndent(p, "", "  ")
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return Ports{}, fmt.Errorf("write ports: %w", err)
	}
	return p, nil
}

func listen(name string, port int) (net.Listener, error) {
	l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		return nil, fmt.Errorf("listen for %s on 127.0.0.1:%d: %w (is another `slipway dev` running on this directory?)", name, port, err)
	}
	return l, nil
}

// Endpoints is what `slipway dev` writes to DIR/endpoints.json once everything serves, for the
// CLI, scripts and tests to find the environment.
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

// EndpointsFile is the path of the endpoints file in a dev environment's directory.
func EndpointsFile(dir string) string { return filepath.Join(dir, "endpoints.json") }

// Endpoints returns e's endpoints, for a process with the given pid.
func (e *Env) Endpoints(pid int) Endpoints {
	return Endpoints{Kubeconfig: e.Kubeconfig, WebhookURL: e.WebhookURL, GitURL: e.GitURL, Registry: e.Registry,
		BaseImage: e.BaseImage, Namespace: e.Namespace, LogDir: e.LogDir, PID: pid}
}

// WriteEndpoints writes ep to dir atomically.
func WriteEndpoints(dir string, ep Endpoints) error {
	b, err := json.MarshalIndent(ep, "", "  ")
	if err != nil {
		return err
	}
	tmp := EndpointsFile(dir) + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write endpoints: %w", err)
	}
	return os.Rename(tmp, EndpointsFile(dir))
}

// ReadEndpoints reads the endpoints of the dev environment in dir.
func ReadEndpoints(dir string) (Endpoints, error) {
	var ep Endpoints
	b, err := os.ReadFile(EndpointsFile(dir))
	if errors.Is(err, os.ErrNotExist) {
		return ep, fmt.Errorf("no dev environment in %s: start one with `slipway dev --dir %s`, or pass --kubeconfig", dir, dir)
	}
	if err != nil {
		return ep, err
	}
	if err := json.Unmarshal(b, &ep); err != nil {
		return ep, fmt.Errorf("read %s: %w", EndpointsFile(dir), err)
	}
	return ep, nil
}
