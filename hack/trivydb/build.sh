#!/usr/bin/env bash
# build.sh builds mkdb, which writes a Trivy vulnerability database from an advisory list, and
# prints the directory holding it. The binary is cached outside the work tree under a key made
# from go.sum, the sources, this script and the Go version, so a warm machine builds nothing.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here"
key=$( (cat go.sum build.sh $(ls ./*.go | grep -v _test.go); go version) | sha256sum | cut -c1-16)
cache=${SLIPWAY_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/slipway}
out="$cache/trivydb/$key"
mkdir -p "$cache/trivydb"
exec 9>"$cache/trivydb/.lock"
flock 9
if [ -x "$out/mkdb" ]; then echo "$out"; exit 0; fi
echo "trivydb: building mkdb" >&2
rm -rf "$out.tmp"; mkdir -p "$out.tmp"
CGO_ENABLED=0 GOTOOLCHAIN=local GOFLAGS=-buildvcs=false \
	go build -trimpath -ldflags "-s -w" -o "$out.tmp/mkdb" .
rm -rf "$out"; mv "$out.tmp" "$out"
echo "$out"
