#!/usr/bin/env bash
# build.sh builds the code generators pinned in this module and prints the directory holding
# them. Binaries are cached outside the work tree under a key made from go.sum and the Go version.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here"
key=$( (cat go.sum build.sh; go version) | sha256sum | cut -c1-16)
cache=${SLIPWAY_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/slipway}
out="$cache/tools/$key"
mkdir -p "$cache/tools"
exec 9>"$cache/tools/.lock"
flock 9
if [ -x "$out/controller-gen" ]; then echo "$out"; exit 0; fi
echo "tools: building controller-gen" >&2
mkdir -p "$out.tmp"
CGO_ENABLED=0 GOTOOLCHAIN=local GOFLAGS=-buildvcs=false \
	go build -trimpath -o "$out.tmp/controller-gen" sigs.k8s.io/controller-tools/cmd/controller-gen
rm -rf "$out"; mv "$out.tmp" "$out"
echo "$out"
