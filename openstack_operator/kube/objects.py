"""Create-or-update of the objects the operator owns, writing only when the content differs."""

from __future__ import annotations

import base64
import json
from contextlib import contextmanager
from typing import Any, Iterable, Iterator, Mapping

import pykube
from pykube.exceptions import HTTPError

from openstack_operator.core.errors import ApiWriteError
from openstack_operator.core.health.workloads import listed_generations
from openstack_operator.core.models.bundle import Bundle, BundleSpec
from openstack_operator.core.releases.helmwork import jobs_to_recreate
from openstack_operator.core.secrets.redact import redact
from openstack_operator.kube.client import HelmBundle, Lease, api, count_write

NOT_FOUND, CONFLICT = 404, 409


@contextmanager
def writing(action: str, kind: str, namespace: str, name: str, sensitive: Iterable[str] = ()) -> Iterator[None]:
    """Turn a refused write into ApiWriteError naming the object (`sensitive` strings are cut from the message: an
    admission webhook may quote the object it refused). Conflicts stay HTTPError: the caller retries them."""
    try:
        yield
    except HTTPError as error:
        if error.code == CONFLICT:
            raise
        # The API server holds Secret data base64-encoded by the time a webhook sees it: mask both forms.
        masked = {form for text in sensitive for form in (text, base64.b64encode(text.encode()).decode())}
        raise ApiWriteError(action, kind, namespace, name, error.code, redact(str(error), masked)) from None


def get_or_none(kind: type[pykube.objects.APIObject], namespace: str, name: str) -> Any:
    try:
        return kind.objects(api(), namespace=namespace).get_by_name(name)
    except pykube.exceptions.ObjectDoesNotExist:
        return None


def decode_secret(secret: Any) -> dict[str, str]:
    return {k: base64.b64decode(v).decode() for k, v in (secret.obj.get("data") or {}).items()}


def secret_text(secret: Any, key: str) -> str | None:
    """The text at `key` of a Secret someone else wrote (None: no Secret, no such key, or not UTF-8 text)."""
    try:
        return base64.b64decode((secret.obj.get("data") or {})[key]).decode() if secret is not None else None
    except (KeyError, ValueError):
        return None


def read_secret_texts(namespace: str, refs: Mapping[str, tuple[str, str]]) -> dict[str, str]:
    """Per label, the text at (Secret name, key) of `namespace`, each Secret read once; a label whose Secret, key or
    text is missing is left out."""
    secrets = {name: get_or_none(pykube.Secret, namespace, name) for name, _ in refs.values()}
    texts = {label: secret_text(secrets[name], key) for label, (name, key) in refs.items()}
    return {label: text for label, text in texts.items() if text is not None}


_UNREAD = object()


def apply_secret(namespace: str, name: str, data: Mapping[str, str], labels: Mapping[str, str],
                 owner: Mapping[str, Any] | None, current: Any = _UNREAD, sensitive: Iterable[str] = (),
                 finalizers: Iterable[str] = ()) -> bool:
    """Make Secret `name` hold exactly `data` (and carry `finalizers`); returns whether anything was written.

    `current`: the Secret as the caller just read it (None: absent), to save a read; by default it is read here.
    `sensitive`: strings inside `data` that an error message must not show (the data's values are masked anyway).
    """
    if current is _UNREAD:
        current = get_or_none(pykube.Secret, namespace, name)
    finalizers = sorted(set(finalizers) | set(current.obj["metadata"].get("finalizers") or [] if current else []))
    if current is not None and decode_secret(current) == dict(data) and \
            finalizers == sorted(current.obj["metadata"].get("finalizers") or []):
        return False
    metadata: dict[str, Any] = {"name": name, "namespace": namespace, "labels": dict(labels)}
    if owner:
        metadata["ownerReferences"] = [dict(owner)]
    if finalizers:
        metadata["finalizers"] = finalizers
    body: dict[str, Any] = {"apiVersion": "v1", "kind": "Secret", "type": "Opaque", "metadata": metadata,
                            "stringData": dict(data)}
    with writing("creating" if current is None else "updating", "Secret", namespace, name,
                 [*data.values(), *sensitive]):
        if current is None:
            pykube.Secret(api(), body).create()
            count_write("create", "Secret")
        else:
            # Replace (PUT) rather than merge, so keys of releases that went away go too; the resourceVersion
            # makes a concurrent change fail with 409 instead of being overwritten.
            metadata["resourceVersion"] = current.obj["metadata"]["resourceVersion"]
            response = api().put(**current.api_kwargs(data=json.dumps(body)))
            api().raise_for_status(response)
            count_write("update", "Secret")
    return True


def apply_config_map(namespace: str, name: str, data: Mapping[str, str], labels: Mapping[str, str],
                     owner: Mapping[str, Any] | None) -> bool:
    """Make ConfigMap `name` hold exactly `data`; returns whether anything was written."""
    current = get_or_none(pykube.ConfigMap, namespace, name)
    if current is not None and (current.obj.get("data") or {}) == dict(data):
        return False
    metadata: dict[str, Any] = {"name": name, "namespace": namespace, "labels": dict(labels)}
    if owner:
        metadata["ownerReferences"] = [dict(owner)]
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata, "data": dict(data)}
    with writing("creating" if current is None else "updating", "ConfigMap", namespace, name):
        if current is None:
            pykube.ConfigMap(api(), body).create()
            count_write("create", "ConfigMap")
        else:
            metadata["resourceVersion"] = current.obj["metadata"]["resourceVersion"]
            api().raise_for_status(api().put(**current.api_kwargs(data=json.dumps(body))))
            count_write("update", "ConfigMap")
    return True


def watched_bundle(body: Mapping[str, Any]) -> Bundle:
    """A HelmBundle of a watch event (a body as Kopf hands it over), as the reconcilers take it."""
    return Bundle.from_api(body)


def apply_bundle(namespace: str, name: str, spec: BundleSpec, labels: Mapping[str, str],
                 owner: Mapping[str, Any], current: Bundle | None, finalizers: list[str]) -> bool:
    """Make bundle `name` have `spec`; `current` is the bundle as just listed (None: absent), so no read here.
    A new bundle is created with `finalizers` (the helmbundle process's): a deletion that comes before that process
    saw the bundle still waits for its releases."""
    if current is not None and current.spec == spec:
        return False
    with writing("creating" if current is None else "updating", "HelmBundle", namespace, name):
        if current is None:
            body = {"apiVersion": HelmBundle.version, "kind": HelmBundle.kind,
                    "metadata": {"name": name, "namespace": namespace, "labels": dict(labels),
                                 "ownerReferences": [dict(owner)], "finalizers": list(finalizers)},
                    "spec": spec.to_api()}
            HelmBundle(api(), body).create()
            count_write("create", "HelmBundle")
        else:
            # With the resourceVersion, a patch from a stale view fails with 409 (and the reconcile is retried)
            # instead of clobbering a newer bundle.
            version = current.resource_version
            _handle(HelmBundle, namespace, name).patch({"metadata": {"resourceVersion": version},
                                                        "spec": spec.to_api()})
            count_write("patch", "HelmBundle")
    return True


def patch_spec(kind: type[pykube.objects.APIObject], namespace: str, name: str, patch: Mapping[str, Any]) -> None:
    with writing("updating", kind.kind, namespace, name):
        _handle(kind, namespace, name).patch({"spec": dict(patch)})
    count_write("patch", kind.kind)


def _handle(kind: type[pykube.objects.APIObject], namespace: str, name: str) -> Any:
    """An object to call the API with, without reading it first."""
    return kind(api(), {"apiVersion": kind.version, "kind": kind.kind, "metadata": {"name": name, "namespace": namespace}})


def patch_status(kind: type[pykube.objects.APIObject], namespace: str, name: str,
                 patch: Mapping[str, Any]) -> dict[str, Any]:
    """Merge-patch the status subresource; returns the object as stored after the patch."""
    handle = _handle(kind, namespace, name)
    handle.patch({"status": dict(patch)}, subresource="status")
    count_write("patch", f"{kind.kind}/status")
    stored: dict[str, Any] = handle.obj
    return stored


def delete(kind: type[pykube.objects.APIObject], namespace: str, name: str) -> None:
    with writing("deleting", kind.kind, namespace, name):
        try:
            _handle(kind, namespace, name).delete()
            count_write("delete", kind.kind)
        except HTTPError as error:
            if error.code != NOT_FOUND:
                raise


WORKLOAD_KINDS = (pykube.Deployment, pykube.StatefulSet, pykube.DaemonSet, pykube.Job)


def workload_generations(namespace: str, selector: str) -> dict[str, tuple[int, str]]:
    """uid -> (metadata.generation, Helm release) of the workloads in `namespace` matching the label `selector`,
    read now (one LIST per workload kind), without the Jobs of CronJobs (see core.health.workloads.scheduled_run)."""
    return listed_generations(item.obj for kind in WORKLOAD_KINDS
                              for item in kind.objects(api(), namespace=namespace).filter(selector=selector))


# Cluster-scoped kinds the pinned charts create (nova's cell-setup and bootstrap Jobs bind a ClusterRole): Helm
# removes them with their release, unless the release record is gone first (a namespace deletion removes Helm's
# release Secrets together with everything else).
CLUSTER_SCOPED_KINDS = (pykube.ClusterRole, pykube.ClusterRoleBinding)
HELM_MANAGED = {"app.kubernetes.io/managed-by": "Helm"}


def delete_release_leftovers(release: str, namespace: str) -> list[str]:
    """Delete the cluster-scoped objects Helm created for `release` of `namespace` (its annotations say so);
    returns `Kind/name` of each."""
    deleted = []
    for kind in CLUSTER_SCOPED_KINDS:
        for item in kind.objects(api()).filter(selector=HELM_MANAGED):
            annotations = item.obj["metadata"].get("annotations") or {}
            if (annotations.get("meta.helm.sh/release-name"), annotations.get("meta.helm.sh/release-namespace")) \
                    == (release, namespace):
                try:
                    item.delete()
                except HTTPError as error:
                    if error.code != NOT_FOUND:
                        raise
                count_write("delete", kind.kind)
                deleted.append(f"{kind.kind}/{item.name}")
    return deleted


def delete_jobs_to_recreate(release: str, namespace: str) -> list[str]:
    """Delete the finished plain Jobs of `release` (core.releases.helmwork.jobs_to_recreate) with their pods, before an
    upgrade; returns their names."""
    # Every Job of the namespace: a chart may override its labels, Helm's annotation is what tells the release.
    names = jobs_to_recreate([job.obj for job in pykube.Job.objects(api(), namespace=namespace)], release)
    for name in names:
        with writing("deleting", "Job", namespace, name):
            try:
                _handle(pykube.Job, namespace, name).delete(propagation_policy="Background")
                count_write("delete", "Job")
            except HTTPError as error:
                if error.code != NOT_FOUND:
                    raise
    return names


def job_termination_message(namespace: str, job: str) -> str | None:
    """The termination message of the first container of Job `job`'s newest pod that succeeded, None without."""
    pods = [pod.obj for pod in pykube.Pod.objects(api()).filter(namespace=namespace, selector={"job-name": job})
            if (pod.obj.get("status") or {}).get("phase") == "Succeeded"]
    if not pods:
        return None
    newest = max(pods, key=lambda pod: pod["metadata"].get("creationTimestamp") or "")
    for container in newest["status"].get("containerStatuses") or ():
        message = ((container.get("state") or {}).get("terminated") or {}).get("message")
        if message:
            return str(message)
    return None


def namespace_terminating(name: str) -> bool:
    found = get_or_none_cluster(pykube.Namespace, name)
    return found is None or bool(found.obj["metadata"].get("deletionTimestamp"))


def get_or_none_cluster(kind: type[pykube.objects.APIObject], name: str) -> Any:
    try:
        return kind.objects(api()).get_by_name(name)
    except pykube.exceptions.ObjectDoesNotExist:
        return None


def set_finalizers(kind: type[pykube.objects.APIObject], body: Mapping[str, Any], finalizers: list[str]) -> \
        dict[str, Any]:
    """Replace the finalizers of `body`, as read; if someone changed the object since, this fails with 409 (and the
    caller's reconcile is retried) instead of dropping a finalizer someone else added. Returns the object stored."""
    handle = _handle(kind, body["metadata"]["namespace"], body["metadata"]["name"])
    handle.patch({"metadata": {"finalizers": finalizers, "resourceVersion": body["metadata"]["resourceVersion"]}})
    count_write("patch", kind.kind)
    stored: dict[str, Any] = handle.obj
    return stored


def workload_uids(selector: str, namespaces: Iterable[str]) -> set[str]:
    """uids of the workloads of `namespaces` matching the label `selector` (one LIST per workload kind and
    namespace: the operator may read workloads in its deployment namespaces only). A consistent read (no
    resourceVersion: not served from an API server's watch cache, which may lag): the health process sets aside
    every indexed workload it does not return."""
    return {item.obj["metadata"]["uid"] for namespace in namespaces for kind in WORKLOAD_KINDS
            for item in kind.objects(api(), namespace=namespace).filter(selector=selector)}


# One per namespace: which osdpl deploys there (core.releases.bundles.namespace_holder).
CLAIM_NAME = "openstack-deployment"


def namespace_claim(namespace: str) -> Any:
    """The namespace's claim (a Lease), None if there is none."""
    return get_or_none(Lease, namespace, CLAIM_NAME)


def claim_holder(namespace: str) -> str | None:
    """The osdpl the namespace's claim names, None without a claim (core.releases.bundles.served_osdpl)."""
    claim = namespace_claim(namespace)
    holder = (claim.obj.get("spec") or {}).get("holderIdentity") if claim is not None else None
    return str(holder) if holder else None


def claim_namespace(namespace: str, osdpl: str, current: Any, labels: Mapping[str, str]) -> bool:
    """Make `osdpl` the holder of the namespace's claim: create it, or take over `current` (a claim whose holder is
    gone) if nobody changed it since it was read. Returns False when another writer got there first."""
    spec = {"holderIdentity": osdpl}
    try:
        with writing("claiming", "Lease", namespace, CLAIM_NAME):
            if current is None:
                Lease(api(), {"apiVersion": Lease.version, "kind": Lease.kind, "spec": spec,
                              "metadata": {"name": CLAIM_NAME, "namespace": namespace, "labels": dict(labels)}}
                      ).create()
                count_write("create", "Lease")
            else:
                _handle(Lease, namespace, CLAIM_NAME).patch({"metadata": {
                    "resourceVersion": current.obj["metadata"]["resourceVersion"], "labels": dict(labels)},
                    "spec": spec})
                count_write("patch", "Lease")
    except HTTPError as error:
        if error.code == CONFLICT:
            return False
        raise
    return True


def release_namespace(namespace: str, osdpl: str) -> None:
    """Delete the namespace's claim if `osdpl` holds it (its deployment is gone)."""
    claim = namespace_claim(namespace)
    if claim is not None and (claim.obj.get("spec") or {}).get("holderIdentity") == osdpl:
        delete(Lease, namespace, CLAIM_NAME)
