# Every target sets itself up: the pinned Python venv and the built Kubernetes/Helm binaries live in a per-user
# cache keyed by their pins (tools/cache-dir.sh), so a fresh clone reuses what an earlier one built.
SHELL := /bin/bash
.DEFAULT_GOAL := help
export PYTHONPATH := $(CURDIR)
PY = $$(tools/venv.sh)/bin/python
VENV_BIN = $$(tools/venv.sh)/bin
# The operator chart's copy of crds/: real files (a symlink breaks a copied or packaged chart)
CHART_CRDS = charts/openstack-operator/files/crds

.PHONY: help test check unit integration conformance bench bench-deploy bench-faults bench-health bench-upgrade crds kustomize release-data lock binaries image cluster-up cluster-down demo

help: ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

test: ## everything CI runs: static checks, then the test tiers (tools/run-tests.sh: two pytest runs side by side)
	@# The control plane builds (cold: minutes) while mypy runs, helm first: the check that needs helm, and the
	@# conformance and unit tiers, wait for helm alone (a lock per binary; each builds it itself if this build
	@# failed). Then, as root, the real-node tier's parts and images, while the integration tiers run: done before
	@# that tier starts (at the lowest priority they waited for the main run to end). The tier's own calls wait for
	@# these builds (locks) or report their failure.
	@{ tools/build-binaries.sh; if [ "$$(id -u)" = 0 ]; then for build in node entrypoint-image service-images \
	  openstack-images; do tools/build-$$build.sh; done; fi; } >/dev/null 2>&1 &
	@$(MAKE) --no-print-directory check
	tools/run-tests.sh

check: ## mypy, the import boundary of the pure core, generated CRDs, kustomize base and release data up to date
	$(VENV_BIN)/mypy
	$(VENV_BIN)/lint-imports
	@tmp=$$(mktemp -d) && $(PY) -m openstack_operator crds --output-dir $$tmp && \
	  diff -ru crds $$tmp >/dev/null || { echo "crds/ is stale: run 'make crds'"; exit 1; }; \
	  { [ ! -L $(CHART_CRDS) ] && diff -ru $(CHART_CRDS) $$tmp >/dev/null; } || \
	  { echo "$(CHART_CRDS) is stale: run 'make crds'"; exit 1; }; rm -rf $$tmp
	$(PY) tools/kustomize_base.py --check
	@if [ -d ../shared/openstack-helm/charts ]; then $(PY) tools/release_data.py --check; \
	  else echo "release data not checked: no ../shared/openstack-helm chart set here"; fi

unit: ## unit tests only (no cluster)
	$(PY) -m pytest tests/unit

conformance: ## rendered values against the real charts with `helm template` (no cluster)
	$(PY) -m pytest tests/conformance

integration: ## integration tests only (starts a local control plane)
	$(PY) -m pytest tests/integration

bench: ## render benchmark (milliseconds; no cluster)
	$(PY) bench/render_bench.py

bench-deploy: ## real charts: apply-to-Ready vs sequential Helm and the critical path; writes per reconcile (a cluster)
	$(PY) bench/deploy_bench.py

bench-faults: ## fault soak: process kills, API server restarts, hand edits, deleted workloads; invariants each round (a cluster)
	$(PY) bench/fault_soak.py $(ARGS)

bench-health: ## workload health: ready-to-shown latency, status PATCHes, peak memory vs write-on-every-event
	$(PY) bench/health_bench.py

bench-upgrade: ## real charts: a release change of the full example, ordered and gated vs all at once (a cluster)
	$(PY) bench/upgrade_bench.py

release-data: ## regenerate openstack_operator/templates/releases/ from the OpenStack-Helm chart set in ../shared/openstack-helm
	$(PY) tools/release_data.py

kustomize: ## regenerate deploy/kustomize/openstack-operator.yaml from charts/openstack-operator
	$(PY) tools/kustomize_base.py

crds: ## regenerate crds/ and the operator chart's copy (files/crds) from the schema and the catalog
	$(PY) -m openstack_operator crds --output-dir crds
	rm -rf $(CHART_CRDS) && mkdir $(CHART_CRDS) && cp crds/*.yaml $(CHART_CRDS)/

lock: ## re-pin requirements.lock from requirements.in
	@tmp=$$(mktemp -d) && python3 -m venv $$tmp && $$tmp/bin/pip install -q -r requirements.in && \
	  $$tmp/bin/pip freeze --all --exclude-editable | grep -v '^pip==' > requirements.lock && rm -rf $$tmp

binaries: ## build the pinned kube-apiserver, etcd, kwok, helm, ... into the cache
	tools/build-binaries.sh

image: ## build the operator's image with buildah (localhost/openstack-operator:<version>, storage in the cache)
	tools/build-image.sh

cluster-up: ## start a local control plane; kubeconfig in .cluster/kubeconfig
	$(PY) -m devcluster up

cluster-down: ## stop it and every process it started
	$(PY) -m devcluster down

demo: ## the main job: local control plane (a real node where it can), CRDs, operators, an example, until Ready (ARGS=--kwok-only)
	$(PY) -m devcluster.demo $(ARGS)
