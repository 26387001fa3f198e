"""secrets process: the only writer of a deployment's credentials, and their keeper.

Per osdpl it keeps the Secret `<osdpl>-credentials` (and its copy `<osdpl>-credentials-backup`) holding one record
per credential the enabled services need, and reports on `status.credentials`: `state` (Ready or Lost), a digest
per credential (core.secrets.credentials.digest) and a `revision` that grows with every change. The osdpl process renders
only credentials whose digest matches, so it never uses a value this process did not vet.

- Generation: a credential the enabled services need and the Secret lacks is created once, never again.
- Loss: once digests are recorded, a credentials Secret that is being deleted (a finalizer keeps it readable),
  gone, emptied or edited is `state: Lost`, naming what changed; the osdpl turns Degraded and changes no release.
  `openstack.osop.dev/restore-credentials: <new value>` copies the backup back. A write of ours that stopped
  half-way (backup written, credentials Secret not, or no digests yet) is told apart: the two Secrets are equal.
- Rotation on request, two-phase (core.secrets.rotation).
- The finalizers come off when the osdpl is gone: the Secrets stay for a re-created osdpl of the same name.
- The Ceph exchange both ways (core.secrets.ceph): the storage side's keys copied in, the object gateway's Keystone
  credentials published out (withdrawn when the osdpl is deleted); and the public certificate checked.
Nothing here logs or posts a credential: messages name credentials, never values.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
import os
from typing import Any, Mapping

import kopf
import pykube

from openstack_operator.core.releases.bundles import OSDPL_LABEL, SERVICE_LABEL
from openstack_operator.core.catalog import Catalog
from openstack_operator.core.secrets.ceph import (consumers, deployed_gateway_credential, gateway_credentials,
                                          gateway_secret, placeholder_exchange)
from openstack_operator.core.secrets.certificates import ERROR, certificate_problems, public_hosts
from openstack_operator.core.secrets.credentials import (Assessment, Stored, assess, digests, end_rotation,
                                                 required_credentials, rotation_names, start_rotation, with_missing)
from openstack_operator.core.apigroup import GROUP, VERSION
from openstack_operator.core.errors import OperatorError
from openstack_operator.core.releases.helmwork import retry_delay
from openstack_operator.core.schema.manifest import load_osdpl
from openstack_operator.core.models.spec import DeploymentSpec
from openstack_operator.core.rendering.renderer import Renderer
from openstack_operator.core.upgrades.rollout import active
from openstack_operator.core.upgrades.guard import version_problem
from openstack_operator.core.secrets.rotation import (DONE, RESTORE_ANNOTATION, ROLLING_OUT, next_step, rolled_out,
                                              rotate_annotation)
from openstack_operator.core.status.conditions import status_patch
from openstack_operator.core.runtime.workqueue import WorkQueue
from openstack_operator.kube import metrics
from openstack_operator.kube.ceph import (copy_ceph_keys, publish_gateway_credentials, publisher_labels,
                                          withdraw_gateway_credentials)
from openstack_operator.kube.client import OpenStackDeployment, owner_reference
from openstack_operator.kube.credentials import (SecretState, backup_secret_name, credentials_secret_name,
                                                 drop_keep_finalizer, read_secret, write_credentials)
from openstack_operator.kube.events import post_event
from openstack_operator.kube.objects import ApiWriteError, get_or_none, namespace_claim, patch_status
from openstack_operator.kube.operator import new_registry, retry_cap_seconds

log = logging.getLogger("osop.secrets")
REGISTRY = new_registry("secrets")
Key = tuple[str, str]  # namespace, osdpl name
READY, LOST = "Ready", "Lost"
COALESCE_SECONDS = 0.2
GONE_RETRY_SECONDS = 0.5  # a Secret whose finalizer we removed is about to be gone
WORKERS = 2
RESYNC_SECONDS = float(os.environ.get("OSOP_SECRETS_RESYNC_SECONDS", "30"))  # Ceph keys, public certificate
RETRY_CAP_SECONDS = retry_cap_seconds()


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _credentials_age(main: SecretState, rotations: Mapping[str, Mapping[str, Any]]) -> float:
    """Seconds since the credentials in use were made: the credentials Secret's creation or the last rotation's
    end, whichever is later (a credential added for a newly enabled service does not count)."""
    times = [str(r["finished"]) for r in rotations.values() if r.get("finished")]
    if main.raw is not None:
        times.append(str(main.raw.obj["metadata"]["creationTimestamp"]))
    if not times:
        return 0.0  # created by this reconcile
    latest = datetime.datetime.strptime(max(times), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc)
    return max((datetime.datetime.now(datetime.timezone.utc) - latest).total_seconds(), 0.0)


class SecretsController:
    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self.renderer = Renderer(catalog)
        self.refusals: dict[Key, int] = {}
        # namespace -> ((osdpl uid, generation), public host names): rendered again only when the spec changes
        self.hosts: dict[str, tuple[Any, list[str]]] = {}
        self.queue: WorkQueue[Key] = WorkQueue(self._work, WORKERS, self._log_error,
                                               metrics.reconcile_observer("secrets"))
        metrics.watch_queue("secrets", self.queue)

    @staticmethod
    def _log_error(key: Key, error: BaseException) -> None:
        log.error("osdpl %s/%s: credentials: %s: %s", *key, type(error).__name__, error)

    def observe(self, namespace: str, osdpl: str) -> None:
        self.queue.add((namespace, osdpl), COALESCE_SECONDS)

    async def _work(self, key: Key) -> float | None:
        try:
            return await asyncio.to_thread(self.reconcile, key)
        except ApiWriteError as error:
            refusals = self.refusals[key] = self.refusals.get(key, 0) + 1
            log.warning("osdpl %s/%s: credentials: %s (retry %d)", *key, error, refusals)
            return retry_delay(refusals, RETRY_CAP_SECONDS)

    # -- reconcile (blocking API calls: runs in a worker thread) --------------------------------------------------
    def reconcile(self, key: Key) -> float | None:
        namespace, name = key
        main = read_secret(self.catalog, namespace, credentials_secret_name(name))
        backup = read_secret(self.catalog, namespace, backup_secret_name(name))
        found = get_or_none(OpenStackDeployment, namespace, name)
        if found is None:  # its releases are uninstalled: the Secrets may go now, and stay until someone deletes them
            drop_keep_finalizer(main)
            drop_keep_finalizer(backup)
            try:
                metrics.CREDENTIALS_AGE.remove(namespace, name)
            except KeyError:
                pass  # never reported by this process
            return None
        body: dict[str, Any] = found.obj
        if body["metadata"].get("deletionTimestamp"):
            # Uninstalling needs no credential; the finalizers come off when the osdpl is gone. The gateway's
            # login goes now: its user goes with the keystone release.
            self._withdraw_gateway(body, None)
            return None
        claim = namespace_claim(namespace)
        if claim is None or (claim.obj.get("spec") or {}).get("holderIdentity") != name:
            return None  # the osdpl process claims the namespace first; a second osdpl gets no credentials
        try:
            osdpl = load_osdpl(self.catalog, body)
        except OperatorError:
            return None  # the osdpl process reports the spec error
        needed = required_credentials(self.catalog, osdpl.spec.enabled_services(self.catalog))
        status = dict((body.get("status") or {}).get("credentials") or {})
        recorded: Mapping[str, str] | None = status.get("digests")
        annotations = body["metadata"].get("annotations") or {}

        stored: Stored | None
        if recorded is None and main.deleting:  # nothing handed out from it: let it go, then start afresh
            drop_keep_finalizer(main)
            return GONE_RETRY_SECONDS
        if recorded is None:  # nothing handed out yet: take what is there (earlier versions, a re-created osdpl)
            stored = main.stored if main.stored is not None and not main.deleting else Stored({})
        else:
            assessment = assess(recorded, main.stored, main.deleting)
            if assessment.lost and not main.deleting and main.data is not None and main.data == backup.data:
                assessment = Assessment(lost=False)  # our own write stopped half-way: both Secrets agree
            if assessment.lost:
                return self._lost(body, assessment, main, backup, recorded, status, annotations)
            stored = main.stored
        assert stored is not None
        if backup.deleting:  # our copy only: let it go, and write it again next time
            drop_keep_finalizer(backup)
            return GONE_RETRY_SECONDS

        rotations = dict(status.get("rotations") or {})
        osdpl_status = body.get("status") or {}
        # A release change held as refused (core.upgrades.guard) never rolls out: it does not hold a rotation back.
        release_changing = active(osdpl_status.get("upgrade")) or (
            osdpl_status.get("openstack_version", "") not in ("", osdpl.spec.openstack_version)
            and version_problem(self.catalog, osdpl.spec.openstack_version, osdpl_status) is None)
        step = next_step(annotations, rotations, osdpl_status, body["metadata"]["generation"], release_changing)
        events: list[tuple[str, str]] = []
        if step.action == "start":
            names = rotation_names(self.catalog, step.group, stored, needed)
            stored = start_rotation(self.catalog, stored, names)
            revision = int(status.get("revision") or 0) + 1
            rotations[step.group] = {"request": step.request, "phase": ROLLING_OUT if names else DONE,
                                     "started": _now(), "credentials": len(names), "revision": revision}
            if not names:
                rotations[step.group]["finished"] = rotations[step.group]["started"]
            events.append(("RotationStarted", f"rotating {len(names)} credentials of group {step.group} "
                                              f"(request {step.request})"))
        elif step.action == "finish":
            stored = end_rotation(stored)
            rotations[step.group] = {**rotations[step.group], "phase": DONE, "finished": _now()}
            events.append(("RotationFinished", f"every release uses the new credentials of group {step.group}; "
                                               f"the old ones are forgotten"))
        stored = with_missing(self.catalog, stored, needed)

        if write_credentials(namespace, name, stored, {OSDPL_LABEL: name}, main, backup):
            log.info("osdpl %s/%s: credentials written (%d records)", namespace, name, len(stored.current))
        metrics.CREDENTIALS_AGE.labels(namespace, name).set(_credentials_age(main, rotations))
        new_digests = digests(stored)
        revision = int(status.get("revision") or 0) + (new_digests != recorded)
        message = f"{len(stored.current)} credentials kept"
        if step.action == "wait":
            message += (f"; the rotation of group {step.group} (request {step.request}) waits for the change of "
                        "OpenStack release to finish")
        report = {**status, "state": READY, "message": message,
                  "digests": new_digests, "revision": revision, "rotations": rotations}
        self._report(body, status, report)
        for reason, message in events:
            post_event(body, "Normal", reason, message)
        deployed = rolled_out(body.get("status") or {}, body["metadata"]["generation"], revision)
        resync = self._exchange(body, osdpl.spec, stored, deployed)
        self.refusals.pop(key, None)
        return resync

    def _exchange(self, body: Mapping[str, Any], spec: DeploymentSpec, stored: Stored,
                  deployed: bool) -> float | None:
        """The Ceph keys, the object gateway's credentials and the public certificate: they come from or go to
        Secrets someone else writes or reads, looked at again every RESYNC_SECONDS (a GET each, rather than a watch
        of every Secret in the cluster). `deployed`: every release is Ready with the current credentials. Returns
        when to look again, None if none of them is in use."""
        namespace, name = body["metadata"]["namespace"], body["metadata"]["name"]
        status = body.get("status") or {}
        reports: dict[str, dict[str, str] | None] = {"ceph": None, "object_gateway": None, "certificate": None}
        if consumers(spec.features):
            reports["ceph"] = copy_ceph_keys(namespace, name, spec.features, {OSDPL_LABEL: name},
                                             owner_reference(body))
        reports["object_gateway"] = self._publish_gateway(body, spec, stored, deployed)
        reports["certificate"] = self._certificate(body, spec, stored)
        patch = status_patch({key: status.get(key) for key in reports}, reports)
        for key, reason in (("ceph", "CephKeys"), ("object_gateway", "GatewayCredentials"),
                            ("certificate", "PublicCertificate")):
            new = reports[key]
            if new and new.get("state") != (status.get(key) or {}).get("state") and \
                    new["state"] not in ("Ready", "Published"):
                post_event(body, "Warning", f"{reason}{new['state']}", new["message"])
        if patch:
            patch_status(OpenStackDeployment, namespace, name, patch)
        return RESYNC_SECONDS if any(reports.values()) else None

    def _publish_gateway(self, body: Mapping[str, Any], spec: DeploymentSpec, stored: Stored,
                         deployed: bool) -> dict[str, str] | None:
        """The object gateway's Keystone credentials, as the deployed keystone release created its user, in the
        Secret features.ceph.object_gateway names; a Secret published elsewhere before is withdrawn."""
        namespace, name = body["metadata"]["namespace"], body["metadata"]["name"]
        found = gateway_secret(spec.features)
        target = f"{found[0]}/{found[1]}" if found else None
        self._withdraw_gateway(body, target)
        if target is None:
            return None
        credential = deployed_gateway_credential(stored, deployed)
        data = gateway_credentials(spec, namespace, credential) if credential is not None else None
        return publish_gateway_credentials(target, data, publisher_labels(namespace, name))

    @staticmethod
    def _withdraw_gateway(body: Mapping[str, Any], keep: str | None) -> None:
        """Delete the gateway's published Secret the status records, unless it is `keep`."""
        published = ((body.get("status") or {}).get("object_gateway") or {}).get("secret")
        if published and published != keep:
            withdraw_gateway_credentials(published, publisher_labels(body["metadata"]["namespace"],
                                                                     body["metadata"]["name"]))

    def _certificate(self, body: Mapping[str, Any], spec: DeploymentSpec, stored: Stored) -> dict[str, str] | None:
        """The public endpoints' certificate checked against the host names the releases route."""
        ssl = spec.features["ssl"]["public_endpoints"]
        if not ssl.get("enabled"):
            return None
        namespace = body["metadata"]["namespace"]
        key = (body["metadata"]["uid"], body["metadata"]["generation"])
        if self.hosts.get(namespace, ((), []))[0] != key:
            services = self.renderer.render(spec, stored.current, namespace, ceph=placeholder_exchange())
            self.hosts[namespace] = (key, public_hosts(services))
        found = get_or_none(pykube.Secret, namespace, ssl["secret_name"])
        problems = certificate_problems(found.obj.get("type") if found else None,
                                        (found.obj.get("data") or {}) if found else {}, self.hosts[namespace][1],
                                        datetime.datetime.now(datetime.timezone.utc))
        errors = [p.message for p in problems if p.severity == ERROR]
        warnings = [p.message for p in problems if p.severity != ERROR]
        state = "Invalid" if errors else "Expiring" if warnings else "Ready"
        return {"state": state, "secret": ssl["secret_name"],
                "message": f"Secret {ssl['secret_name']}: " + "; ".join(errors + warnings) if problems
                else f"Secret {ssl['secret_name']} serves {len(self.hosts[namespace][1])} public host names"}

    def _lost(self, body: Mapping[str, Any], assessment: Assessment, main: SecretState, backup: SecretState,
              recorded: Mapping[str, str], status: Mapping[str, Any], annotations: Mapping[str, str]) -> float | None:
        """The credentials Secret lost what the cloud uses: report it, or restore it if asked and the backup holds
        exactly the recorded credentials."""
        namespace, name = body["metadata"]["namespace"], body["metadata"]["name"]
        secret = credentials_secret_name(name)
        intact_backup = backup.stored is not None and not assess(recorded, backup.stored, deleting=False).lost
        request = annotations.get(RESTORE_ANNOTATION, "")
        if request and request != status.get("restored") and intact_backup:
            assert backup.stored is not None
            if main.deleting:  # the deletion must end before the Secret can be created again
                drop_keep_finalizer(main)
                return GONE_RETRY_SECONDS
            write_credentials(namespace, name, backup.stored, {OSDPL_LABEL: name},
                              main, SecretState(backup.stored, False, backup.raw))
            self._report(body, status, {**status, "state": READY, "message": f"restored from {backup_secret_name(name)}",
                                        "restored": request})
            post_event(body, "Normal", "CredentialsRestored", f"Secret {secret} restored from "
                                                              f"{backup_secret_name(name)}")
            log.info("osdpl %s/%s: credentials restored from the backup", namespace, name)
            return None
        how = (f"restore it from {backup_secret_name(name)} with `kubectl -n {namespace} annotate osdpl {name} "
               f"{RESTORE_ANNOTATION}=<new value> --overwrite`" if intact_backup else
               f"no intact backup: restore {secret} from your own backup (its digests must match "
               f"status.credentials.digests)")
        message = f"{assessment.describe(secret)}; no release is changed until it is restored: {how}"
        if status.get("state") != LOST or status.get("message") != message:
            log.warning("osdpl %s/%s: credentials lost: %s", namespace, name, message)
            post_event(body, "Warning", "CredentialsLost", message)
        self._report(body, status, {**status, "state": LOST, "message": message})
        return None

    @staticmethod
    def _report(body: Mapping[str, Any], previous: Mapping[str, Any], report: Mapping[str, Any]) -> None:
        patch = status_patch({"credentials": previous}, {"credentials": report})
        if patch:
            patch_status(OpenStackDeployment, body["metadata"]["namespace"], body["metadata"]["name"], patch)


_controller: SecretsController | None = None


@kopf.on.startup(registry=REGISTRY)
def start(memo: kopf.Memo, **_: Any) -> None:
    global _controller
    _controller = SecretsController(memo.catalog)


@kopf.on.cleanup(registry=REGISTRY)
def stop(**_: Any) -> None:
    if _controller is not None:
        _controller.queue.close()


@kopf.on.event(GROUP, VERSION, "openstackdeployments", registry=REGISTRY)
async def osdpl_event(event: Mapping[str, Any], **_: Any) -> None:
    assert _controller is not None  # set at startup, before any watch starts
    metadata = event["object"]["metadata"]
    _controller.observe(metadata["namespace"], metadata["name"])


@kopf.on.event("", "v1", "secrets", labels={OSDPL_LABEL: kopf.PRESENT, SERVICE_LABEL: kopf.ABSENT},
               registry=REGISTRY)
async def secret_event(event: Mapping[str, Any], **_: Any) -> None:
    """The credentials Secrets (values Secrets carry the service label too, and are not ours)."""
    assert _controller is not None
    metadata = event["object"]["metadata"]
    _controller.observe(metadata["namespace"], metadata["labels"][OSDPL_LABEL])
