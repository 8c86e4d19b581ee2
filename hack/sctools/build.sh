#!/usr/bin/env bash
# build.sh builds the pinned supply-chain tools (the Kaniko executor, the Cloud Native Buildpacks
# lifecycle and launcher, Trivy) from their own modules and prints a directory holding them.
#
#   hack/sctools/build.sh [tool...]     tools: kaniko lifecycle trivy (default: all)
#
# Each tool is built inside its downloaded module, so the tool's own go.mod, go.sum and replace
# directives apply (the module proxy refuses version lists for several of them, which breaks
# `go install mod@version`). Checksums are verified by the Go checksum database as usual.
# Binaries are cached per tool under a key made from the pinned version, this script and the Go
# version, so a warm machine builds nothing. Trivy v0.69.4 to v0.69.6 were malicious releases:
# never pin them.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cache=${SLIPWAY_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/slipway}/sctools
mkdir -p "$cache"
export CGO_ENABLED=0 GOTOOLCHAIN=local GOFLAGS=-buildvcs=false

# module@version, packages to build (name=path), extra environment, ldflags.
declare -A mod pkgs envs ldflags
mod[kaniko]=github.com/chainguard-dev/kaniko@v1.25.6
pkgs[kaniko]="executor=./cmd/executor"
ldflags[kaniko]="-X github.com/chainguard-dev/kaniko/pkg/version.version=v1.25.6"
mod[lifecycle]=github.com/buildpacks/lifecycle@v0.21.0
pkgs[lifecycle]="lifecycle=./cmd/lifecycle launcher=./cmd/launcher"
ldflags[lifecycle]="-X github.com/buildpacks/lifecycle/cmd.Version=0.21.0"
mod[trivy]=github.com/aquasecurity/trivy@v0.72.0
pkgs[trivy]="trivy=./cmd/trivy"
envs[trivy]="GOEXPERIMENT=jsonv2"
ldflags[trivy]="-X github.com/aquasecurity/trivy/pkg/version/app.ver=0.72.0"

case "${mod[trivy]}" in *@v0.69.[456]) echo "refusing a compromised Trivy release" >&2; exit 1 ;; esac

tools=("$@")
[ ${#tools[@]} -gt 0 ] || tools=(kaniko lifecycle trivy)
gov=$(go version)
self=$(sha256sum "$here/build.sh" | cut -c1-64)
set_key=""
for t in "${tools[@]}"; do
	[ -n "${mod[$t]:-}" ] || { echo "sctools: unknown tool $t (known: ${!mod[*]})" >&2; exit 2; }
	key=$(printf '%s\n%s\n%s\n%s\n' "${mod[$t]}" "${pkgs[$t]}" "$self" "$gov" | sha256sum | cut -c1-16)
	out="$cache/$t-${mod[$t]##*@}-$key"
	set_key+="$t=$out;"
	exec 9>"$cache/.$t.lock"
	flock 9
	if [ ! -f "$out/.done" ]; then
		echo "sctools: building $t (${mod[$t]}); this takes minutes on a cold cache" >&2
		dir=$(go mod download -json "${mod[$t]}" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
		[ -d "$dir" ] || { echo "sctools: could not download ${mod[$t]}" >&2; exit 1; }
		rm -rf "$out.tmp"; mkdir -p "$out.tmp"
		for p in ${pkgs[$t]}; do
			(cd "$dir" && env ${envs[$t]:-} go build -trimpath -ldflags "-s -w ${ldflags[$t]}" -o "$out.tmp/${p%%=*}" "${p#*=}")
		done
		touch "$out.tmp/.done"
		rm -rf "$out"; mv "$out.tmp" "$out"
	fi
	exec 9>&-
done
# One directory with a link per binary, named for the set of tools asked for.
bin="$cache/bin-$(printf '%s' "$set_key" | sha256sum | cut -c1-16)"
if [ ! -d "$bin" ]; then
	# A private directory per process, renamed into place: concurrent callers never share one,
	# and the loser of the rename discards its own (mv -T never moves into an existing one).
	tmp=$(mktemp -d "$bin.XXXXXX")
	IFS=';' read -ra entries <<<"$set_key"
	for e in "${entries[@]}"; do
		[ -n "$e" ] || continue
		for f in "${e#*=}"/*; do ln -sf "$f" "$tmp/$(basename "$f")"; done
	done
	chmod 755 "$tmp"
	mv -T "$tmp" "$bin" 2>/dev/null || rm -rf "$tmp"
fi
echo "$bin"
