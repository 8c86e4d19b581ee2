package localkube

import (
	"fmt"
	"net"
)

// ports holds one loopback port per listener of the cluster.
type ports struct {
	etcdClient, etcdPeer, apiserver, kcm, scheduler, kwok int
}

// pickPorts asks the kernel for free loopback ports, holding every listener open until all are
// chosen so that one cluster never gets the same port twice. Between closing them and the
// component binding there is a short window in which another program could take a port; the
// component then fails to start and Start reports its log, as envtest does.
func pickPorts(apiserver int) (ports, error) {
	var p ports
	targets := []*int{&p.etcdClient, &p.etcdPeer, &p.kcm, &p.scheduler, &p.kwok}
	if apiserver != 0 {
		p.apiserver = apiserver
	} else {
		targets = append(targets, &p.apiserver)
	}
	var held []net.Listener
	defer func() {
		for _, l := range held {
			l.Close()
		}
	}()
	for _, t := range targets {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return ports{}, fmt.Errorf("pick free port: %w", err)
		}
		held = append(held, l)
		*t = l.Addr().(*net.TCPAddr).Port
	}
	return p, nil
}
