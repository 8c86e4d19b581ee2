//go:build tools

// Package k8sbin pins the local control plane's binaries: etcd, kube-apiserver,
// kube-controller-manager, kube-scheduler and kwok, all on one Kubernetes version.
package k8sbin

import (
	_ "go.etcd.io/etcd/server/v3"
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "sigs.k8s.io/kwok/cmd/kwok"
)
