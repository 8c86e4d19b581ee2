#!/usr/bin/env bash
# generate.sh regenerates every generated file: deepcopy functions and CRDs for Slipway's API
# (controller-gen) with their copy in charts/slipway/crds, and the copy of Tekton's CRDs from
# the tektoncd/pipeline module that `slipway dev` installs. `make verify` runs it and fails if
# the tree changed.
set -euo pipefail
cd "$(dirname "$0")/.."
tools=$(hack/tools/build.sh)
"$tools/controller-gen" object:headerFile=hack/boilerplate.go.txt paths=./engine/api/...
rm -f engine/crds/slipway/*.yaml
"$tools/controller-gen" crd paths=./engine/api/... output:crd:artifacts:config=engine/crds/slipway
# charts/slipway installs the same CRDs from its crds/ directory.
rm -f charts/slipway/crds/*.yaml
cp engine/crds/slipway/*.yaml charts/slipway/crds/

tekton=$(go list -m -f '{{.Dir}}' github.com/tektoncd/pipeline)
version=$(go list -m -f '{{.Version}}' github.com/tektoncd/pipeline)
rm -f engine/crds/tekton/*.yaml
for f in pipeline task pipelinerun taskrun customrun stepaction; do
	{
		echo "# Copied from github.com/tektoncd/pipeline $version config/300-crds/300-$f.yaml by hack/generate.sh."
		cat "$tekton/config/300-crds/300-$f.yaml"
	} >"engine/crds/tekton/$f.yaml"
done
