# The operator's image: the `openstack-operator` command (every operator process and the offline tools) in a
# venv, and the pinned helm. `make image` (tools/build-image.sh) builds it with buildah from a Debian base made
# by mmdebstrap; any OCI builder works from the repository root once the pinned helm is staged at build/helm:
#   mkdir -p build && cp "$(tools/build-binaries.sh helm | tail -n 1)/helm" build/helm && docker build -t openstack-operator .
ARG BASE_IMAGE=python:3.11-slim-bookworm

FROM ${BASE_IMAGE} AS builder
ARG PIP_INDEX_URL=https://pypi.org/simple
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PIP_ROOT_USER_ACTION=ignore
RUN python3 -m venv /opt/venv
COPY requirements.lock /src/
# The whole lock as pinned, nothing resolved (--no-deps), wheels only: no compiler needed. Byte code later, for
# what stays. A site whose pip needs its own CA bundle (a TLS-inspecting proxy, a mirror) passes it as the build
# secret pip-ca, never a layer.
RUN --mount=type=secret,id=pip-ca \
    if [ -f /run/secrets/pip-ca ]; then export PIP_CERT=/run/secrets/pip-ca; fi; \
    /opt/venv/bin/pip install --no-deps --only-binary=:all: --no-compile -r /src/requirements.lock
COPY pyproject.toml /src/
COPY openstack_operator /src/openstack_operator
# The project, built with the lock's setuptools (no build isolation, so no unpinned download). Then every
# distribution that the installed command does not need at run time goes (the lock's test and check tools,
# setuptools, pip itself): the closure of openstack-operator's requirements, markers and extras evaluated, stays.
# The root filesystem is read-only at run time, so the byte code is compiled here.
RUN /opt/venv/bin/pip install --no-deps --no-build-isolation /src && \
    printf '%s\n' \
      'import importlib.metadata as md, re' \
      'from pip._vendor.packaging.requirements import Requirement  # pip has it, whatever the lock holds' \
      'norm = lambda name: re.sub(r"[-_.]+", "-", name).lower()' \
      'seen, todo = set(), [("openstack-operator", "")]' \
      'while todo:' \
      '    name, extra = todo.pop()' \
      '    if (name, extra) not in seen:' \
      '        seen.add((name, extra))' \
      '        for r in map(Requirement, md.requires(name) or []):' \
      '            if r.marker is None or r.marker.evaluate({"extra": extra}):' \
      '                todo += [(norm(r.name), e) for e in ["", *r.extras]]' \
      'installed = {norm(d.metadata["Name"]) for d in md.distributions()}' \
      'print(*sorted(installed - {name for name, _ in seen}))' \
      >/tmp/unneeded.py && \
    drop=$(/opt/venv/bin/python /tmp/unneeded.py) && \
    echo "not needed at run time: $drop" && \
    /opt/venv/bin/pip uninstall --yes --quiet $drop && \
    /opt/venv/bin/python -m compileall -q -j 0 /opt/venv/lib

FROM ${BASE_IMAGE}
# /tmp is the one writable place (an emptyDir when the root filesystem is read-only): /var/tmp is /tmp, and no
# other directory stays world-writable (/run/lock), so the image's user writes nowhere else even when it could.
# The user gets a name (Kopf asks for it); $USER answers too when a pod runs as another uid without one. No pip
# or setuptools outside the venv either: the official Python image has them, Debian's ensurepip has their wheels.
RUN rm -rf /var/tmp && ln -s /tmp /var/tmp && \
    find / -xdev -path /tmp -prune -o -type d -perm -o+w -exec chmod o-w {} + && \
    { python3 -m pip uninstall --yes --quiet pip setuptools wheel 2>/dev/null || true; } && \
    rm -rf /usr/share/python-wheels /usr/local/lib/python3*/ensurepip/_bundled && \
    { getent group 65532 || echo "nonroot:x:65532:" >>/etc/group; } && \
    { getent passwd 65532 || echo "nonroot:x:65532:65532:openstack-operator:/tmp:/usr/sbin/nologin" >>/etc/passwd; }
COPY --from=builder /opt/venv /opt/venv
COPY build/helm /usr/local/bin/helm
# Everything the processes write goes below /tmp (HOME, Helm's cache, config and data, the chart cache), so the
# root filesystem can be read-only with an emptyDir on /tmp. No .pyc written at run time: the venv has them.
ENV PATH=/opt/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    HOME=/tmp \
    HELM_CACHE_HOME=/tmp/helm/cache HELM_CONFIG_HOME=/tmp/helm/config HELM_DATA_HOME=/tmp/helm/data \
    OSOP_CHART_CACHE=/tmp/charts OSOP_HELM=/usr/local/bin/helm \
    PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 USER=nonroot
# Numeric (runAsNonRoot can verify it), owning nothing in the image.
USER 65532:65532
ENTRYPOINT ["openstack-operator"]
CMD ["--help"]
# Last, so a new revision only relabels the image.
ARG VERSION=unknown
ARG REVISION=unknown
ARG SOURCE=""
ARG LICENSES=NOASSERTION
LABEL org.opencontainers.image.title="openstack-operator" \
      org.opencontainers.image.description="Deploys and runs OpenStack on Kubernetes from one OpenStackDeployment resource" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.licenses="${LICENSES}"
