#!/usr/bin/env bash
# build.sh builds the local control plane (etcd, kube-apiserver, kube-controller-manager,
# kube-scheduler, kwok) from this module and prints the directory holding the binaries.
# Binaries are cached outside the work tree under a key made from go.sum, the build flags and
# the Go version, so a fresh clone on a warm machine builds nothing.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here"

K8S_VERSION=v1.36.4
ldflags="-s -w -X k8s.io/component-base/version.gitVersion=${K8S_VERSION} -X k8s.io/component-base/version.gitMajor=1 \
-X k8s.io/component-base/version.gitMinor=36 -X k8s.io/component-base/version.gitTreeState=clean \
-X k8s.io/client-go/pkg/version.gitVersion=${K8S_VERSION} -X k8s.io/client-go/pkg/version.gitMajor=1 \
-X k8s.io/client-go/pkg/version.gitMinor=36"

key=$( (cat go.sum build.sh; go version) | sha256sum | cut -c1-16)
cache=${SLIPWAY_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/slipway}
out="$cache/k8sbin/$K8S_VERSION-$key"
bins=(etcd kube-apiserver kube-controller-manager kube-scheduler kwok)

# One build at a time per cache: a second caller waits, then finds the binaries.
mkdir -p "$cache/k8sbin"
exec 9>"$cache/k8sbin/.lock"
flock 9

complete() {
	for b in "${bins[@]}"; do [ -x "$out/$b" ] || return 1; done
	[ -f "$out/kwok-stages.yaml" ]
}
if complete; then echo "$out"; exit 0; fi

mkdir -p "$out.tmp"
export CGO_ENABLED=0 GOTOOLCHAIN=local GOFLAGS=-buildvcs=false
step() { echo "k8sbin: building $1" >&2; }
step "kube-apiserver, kube-controller-manager, kube-scheduler (k8s $K8S_VERSION; several minutes cold)"
go build -trimpath -ldflags="$ldflags" -o "$out.tmp/" k8s.io/kubernetes/cmd/kube-apiserver \
	k8s.io/kubernetes/cmd/kube-controller-manager k8s.io/kubernetes/cmd/kube-scheduler
step etcd
go build -trimpath -ldflags="-s -w" -o "$out.tmp/etcd" go.etcd.io/etcd/server/v3
step kwok
go build -trimpath -ldflags="-s -w" -o "$out.tmp/kwok" sigs.k8s.io/kwok/cmd/kwok

# kwok ships no stages in the binary: concatenate the fast node and pod stages from its module.
kdir=$(go list -m -f '{{.Dir}}' sigs.k8s.io/kwok)
for f in node/fast/node-initialize node/heartbeat/node-heartbeat pod/fast/pod-complete \
	pod/fast/pod-delete pod/fast/pod-ready; do
	echo ---
	cat "$kdir/kustomize/stage/$f.yaml"
done >"$out.tmp/kwok-stages.yaml"

rm -rf "$out"
mv "$out.tmp" "$out"
echo "$out"
