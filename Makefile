# Slipway's build, test and demo entry points. `make help` lists them.
SHELL := /usr/bin/env bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

export GOTOOLCHAIN := local
export GOFLAGS := -buildvcs=false
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
BIN := $(CURDIR)/bin
GOTEST_FLAGS ?=

GENERATED := engine/api/v1alpha1/zz_generated.deepcopy.go engine/crds charts/slipway/crds

.PHONY: help
help: ## Show this help.
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z0-9_-]+:.*## / {printf "  \033[36m%-10s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: build
build: ## Build bin/slipway.
	go build -ldflags "-X main.version=$(VERSION)" -o $(BIN)/slipway ./cmd/slipway

.PHONY: k8sbin
k8sbin: ## Build (or reuse from the cache) etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok.
	@hack/k8sbin/build.sh

.PHONY: generate
generate: ## Regenerate deepcopy functions, Slipway's CRDs and the copy of Tekton's CRDs.
	hack/generate.sh

.PHONY: verify
verify: generate ## Regenerate, format and vet; fail if anything changed or is unformatted.
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt: files above need formatting"; exit 1; }
	go vet ./...
	@test -z "$$(git status --porcelain -- $(GENERATED))" || { git status --short -- $(GENERATED); echo "generated files are stale: run 'make generate' and commit"; exit 1; }

.PHONY: sctools
sctools: ## Build (or reuse from the cache) the Kaniko executor, the CNB lifecycle, trivy and mkdb.
	@hack/sctools/build.sh >/dev/null && hack/trivydb/build.sh

.PHONY: test
test: build ## Run every test: unit, golden, fuzz seeds, control plane, end to end.
	k8s=$$(hack/k8sbin/build.sh); sc=$$(hack/sctools/build.sh); hack/trivydb/build.sh >/dev/null; \
	SLIPWAY_K8S_BIN="$$k8s" SLIPWAY_SCTOOLS="$$sc" SLIPWAY_BINARY="$(BIN)/slipway" go test -count=1 -timeout 45m $(GOTEST_FLAGS) ./...
	cd hack/trivydb && go test -count=1 ./...

.PHONY: demo
demo: build ## Push the hello app through the whole flow on a fresh local environment.
	k8s=$$(hack/k8sbin/build.sh); sc=$$(hack/sctools/build.sh); SLIPWAY_K8S_BIN="$$k8s" SLIPWAY_SCTOOLS="$$sc" go run ./hack/demo -slipway $(BIN)/slipway -dir _out/demo

.PHONY: bench
bench: build ## Run the benchmarks and end-to-end timings; write docs/benchmarks.md.
	k8s=$$(hack/k8sbin/build.sh); sc=$$(hack/sctools/build.sh); hack/trivydb/build.sh >/dev/null; \
	SLIPWAY_K8S_BIN="$$k8s" SLIPWAY_SCTOOLS="$$sc" SLIPWAY_BINARY="$(BIN)/slipway" go run ./hack/bench -out docs/benchmarks.md

.PHONY: fuzz
fuzz: ## Run every fuzz test for FUZZTIME each (default 30s).
	@for t in $$(grep -rl --include='*_test.go' '^func Fuzz' . | xargs -n1 dirname | sort -u); do \
		for f in $$(grep -h '^func Fuzz' $$t/*_test.go | sed 's/func \(Fuzz[A-Za-z0-9_]*\).*/\1/'); do \
			echo "fuzz $$t $$f"; go test -run '^$$' -fuzz "^$$f$$" -fuzztime $${FUZZTIME:-30s} $$t; \
		done; \
	done

.PHONY: clean
clean: ## Remove build output (the tool cache in ~/.cache/slipway stays).
	rm -rf $(BIN) _out
