"""secrets process: the only writer of a deployment's credentials, and their keeper.

Per osdpl it keeps the Secret `<osdpl>-credentials` (and its copy `<osdpl>-credentials-backup`) holding one record
per credential the enabled services need, and reports on `status.credentials`: `state` (Ready, Lost, Refused), a digest
per credential (core.secrets.credentials.digest) and a `revision` that grows with every change. The osdpl process
renders only credentials whose digest matches, so it never uses a value this process did not vet.

- Generation: a credential the enabled services need and the Secret lacks is created once, never again. Without
  a record (a re-created osdpl, a status lost), every earlier copy counts: the Secret and its backup. A Secret of
  their names that the operator did not write (no label naming the osdpl, no adopt annotation by an admin) is
  `state: Refused`: neither used nor overwritten. A second osdpl of a namespace gets no credentials: Refused too.
- Loss: once digests are recorded, a credentials Secret that is being deleted (a finalizer keeps it readable),
  gone, emptied or edited is `state: Lost`, naming what changed; the osdpl turns Degraded and changes no release.
  `openstack.osop.dev/restore-credentials: <new value>` copies the backup back. A write of ours that stopped
  half-way (backup written, credentials Secret not, or no digests yet) is told apart: the two Secrets are equal.
- Rotation on request, two-phase (core.secrets.rotation).
- The finalizers come off when the osdpl is gone: the Secrets stay for a re-created osdpl of the same name.
- The Ceph exchange both ways (core.secrets.ceph): the storage side's keys copied in, the object gateway's Keystone
  credentials published out (withdrawn when the osdpl is deleted); and the public certificate checked.
Nothing here logs or posts a credential: messages name credentials, never values.

The reconciler runs on Kopf's event loop; every read and write of the cluster goes through the gateway
(`SecretsCluster`, kube.gateways.secrets), whose objects are plain dicts as the API server returns them.
"""

from __future__ import annotations

import base64
import datetime
import logging
from dataclasses import dataclass
from typing import Any, Mapping, Protocol

from openstack_operator.core.catalog import Catalog
from openstack_operator.core.errors import ApiWriteError, OperatorError
from openstack_operator.core.models.osdpl_status import SECRETS, RolloutView, SectionPatch, section_patch
from openstack_operator.core.models.spec import DeploymentSpec
from openstack_operator.core.releases.bundles import OSDPL_LABEL
from openstack_operator.core.rendering.renderer import Renderer
from openstack_operator.core.schema.manifest import load_osdpl
from openstack_operator.core.secrets.ceph import (consumers, deployed_gateway_credential, gateway_credentials,
                                                  gateway_secret, placeholder_exchange, refused_namespaces)
from openstack_operator.core.secrets.certificates import ERROR, certificate_problems, public_hosts
from openstack_operator.core.secrets.credentials import (AMPHORA_PKI, Assessment, Stored, assess, backup_secret_name,
                                                         credentials_secret_name, digests, earlier_records,
                                                         end_rotation, holds, parse_secret, refusal,
                                                         required_credentials, rotation_names, start_rotation,
                                                         renew_due, unowned, with_missing)
from openstack_operator.core.secrets.rotation import DONE, RESTORE_ANNOTATION, ROLLING_OUT, Step, next_step, rolled_out
from openstack_operator.core.upgrades.guard import version_problem
from openstack_operator.kube import metrics
from openstack_operator.kube.process import Runtime

log = logging.getLogger("osop.secrets")
Key = tuple[str, str]  # namespace, osdpl name
READY, LOST = "Ready", "Lost"
REFUSED = "Refused"  # no credentials kept or generated: a Secret of their names someone else made, or the namespace
# held by another osdpl (the osdpl process shows it as CredentialsLost: nothing is deployed)
COALESCE_SECONDS = 0.2
GONE_RETRY_SECONDS = 0.5  # a Secret whose finalizer we removed is about to be gone
WORKERS = 2
# The exchange's reports on the osdpl status, and the reason prefix of the Warning Event a change of state posts.
EXCHANGE_REPORTS = (("ceph", "CephKeys"), ("object_gateway", "GatewayCredentials"),
                    ("certificate", "PublicCertificate"))
RENEWAL_CHECK_SECONDS = 3600.0  # how often certificate records are looked at for a renewal due (30 days ahead)


class SecretsCluster(Protocol):
    """What the secrets process reads and writes in the cluster (kube.gateways.secrets.SecretsGateway). Objects
    are plain dicts, as the API server returns them (a Secret's `data` base64-encoded)."""

    async def osdpl(self, namespace: str, name: str) -> dict[str, Any] | None: ...

    async def namespace_holder(self, namespace: str) -> str | None:
        """The osdpl that holds the namespace's claim, None if nobody does."""

    async def secret(self, namespace: str, name: str) -> dict[str, Any] | None: ...

    async def write_credentials(self, namespace: str, osdpl: str, stored: Stored, labels: Mapping[str, str],
                                main: Mapping[str, Any] | None, backup: Mapping[str, Any] | None) -> bool:
        """Make both Secrets hold `stored`, the backup first; `main`, `backup`: as read (None: absent)."""

    async def write_backup(self, namespace: str, osdpl: str, stored: Stored, labels: Mapping[str, str],
                           backup: Mapping[str, Any] | None) -> bool:
        """Make the backup alone hold `stored`; `backup`: as read (None: absent)."""

    async def drop_keep_finalizer(self, secret: Mapping[str, Any]) -> None: ...

    async def patch_osdpl_status(self, namespace: str, name: str, patch: SectionPatch) -> None:
        """Merge-patch the secrets section of the osdpl's status (core.models.osdpl_status.section_patch)."""

    async def post_event(self, involved: Mapping[str, Any], kind: str, reason: str, message: str) -> None: ...

    async def copy_ceph_keys(self, osdpl: Mapping[str, Any], features: Mapping[str, Any],
                             labels: Mapping[str, str]) -> dict[str, str]: ...

    async def publish_gateway_credentials(self, target: str, data: Mapping[str, str] | None, namespace: str,
                                          osdpl: str) -> dict[str, str]: ...

    async def withdraw_gateway_credentials(self, target: str, namespace: str, osdpl: str) -> None: ...


@dataclass(frozen=True)
class Kept:
    """One of the two credentials Secrets as read: the object (None: absent), its records, whether it is being
    deleted, and its decoded data."""
    body: Mapping[str, Any] | None
    stored: Stored | None = None
    deleting: bool = False
    data: dict[str, str] | None = None

    @classmethod
    def read(cls, catalog: Catalog, body: Mapping[str, Any] | None) -> Kept:
        if body is None:
            return cls(None)
        # errors="replace": a Secret of someone else's may hold binary data; it is refused, not a crash
        data = {k: base64.b64decode(v).decode(errors="replace") for k, v in (body.get("data") or {}).items()}
        return cls(body, parse_secret(catalog, data), bool(body["metadata"].get("deletionTimestamp")), data)


@dataclass(frozen=True)
class Seen:
    """An osdpl this reconcile acts for, as read, with its spec and its two Secrets."""
    body: Mapping[str, Any]
    spec: DeploymentSpec
    main: Kept
    backup: Kept

    @property
    def namespace(self) -> str:
        return str(self.body["metadata"]["namespace"])

    @property
    def name(self) -> str:
        return str(self.body["metadata"]["name"])

    @property
    def generation(self) -> int:
        return int(self.body["metadata"]["generation"])

    @property
    def annotations(self) -> Mapping[str, str]:
        return self.body["metadata"].get("annotations") or {}

    @property
    def status(self) -> Mapping[str, Any]:
        return self.body.get("status") or {}

    @property
    def credentials(self) -> dict[str, Any]:
        """status.credentials, this process's report."""
        return dict(self.status.get("credentials") or {})

    @property
    def recorded(self) -> Mapping[str, str] | None:
        """The digests of what was handed out, None before the first report."""
        digests: Mapping[str, str] | None = self.credentials.get("digests")
        return digests


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def credentials_age(main: Kept, rotations: Mapping[str, Mapping[str, Any]],
                    now: datetime.datetime | None = None) -> float:
    """Seconds since the credentials in use were made: the credentials Secret's creation or the last rotation's
    end, whichever is later (a credential added for a newly enabled service does not count)."""
    times = [str(r["finished"]) for r in rotations.values() if r.get("finished")]
    if main.body is not None:
        times.append(str(main.body["metadata"]["creationTimestamp"]))
    if not times:
        return 0.0  # created by this reconcile
    latest = datetime.datetime.strptime(max(times), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc)
    now = now or datetime.datetime.now(datetime.timezone.utc)
    return max((now - latest).total_seconds(), 0.0)


class SecretsReconciler:
    """Reconciles one osdpl's credentials (and its exchange) per key of its work queue."""

    def __init__(self, runtime: Runtime, cluster: SecretsCluster) -> None:
        self.runtime = runtime
        self.catalog = runtime.catalog
        self.cluster = cluster
        self.renderer = Renderer(runtime.catalog)
        self.resync_seconds = runtime.settings.secrets_resync_seconds  # Ceph keys, public certificate
        self.refusals: dict[Key, int] = {}
        # namespace -> ((osdpl uid, generation), public host names): rendered again only when the spec changes
        self.hosts: dict[str, tuple[Any, list[str]]] = {}
        self.queue = runtime.queue(self.work, WORKERS, lambda key: f"osdpl {key[0]}/{key[1]}: credentials")

    async def start(self) -> None:
        pass  # the watches' first events fill the queue

    async def stop(self) -> None:
        self.queue.close()

    def observe(self, namespace: str, osdpl: str) -> None:
        self.queue.add((namespace, osdpl), COALESCE_SECONDS)

    async def work(self, key: Key) -> float | None:
        """One reconcile; a refused write is retried by the retry policy (anything else: by the queue's)."""
        try:
            return await self.reconcile(key)
        except ApiWriteError as error:
            refusals = self.refusals[key] = self.refusals.get(key, 0) + 1
            log.warning("osdpl %s/%s: credentials: %s (retry %d)", *key, error, refusals)
            return self.runtime.retry_delay(refusals)

    # -- reconcile -----------------------------------------------------------------------------------------------
    async def reconcile(self, key: Key) -> float | None:
        """Returns when to look again (None: at the next event)."""
        namespace, name = key
        main = Kept.read(self.catalog, await self.cluster.secret(namespace, credentials_secret_name(name)))
        backup = Kept.read(self.catalog, await self.cluster.secret(namespace, backup_secret_name(name)))
        body = await self.cluster.osdpl(namespace, name)
        if body is None:  # its releases are uninstalled: the Secrets may go now, and stay until someone deletes them
            await self._let_go(key, main, backup)
            return None
        if body["metadata"].get("deletionTimestamp"):
            # Uninstalling needs no credential; the finalizers come off when the osdpl is gone. The gateway's
            # login goes now: its user goes with the keystone release.
            await self._withdraw_gateway(body, None)
            return None
        holder = await self.cluster.namespace_holder(namespace)
        if holder != name:  # the osdpl process claims the namespace first; a second osdpl gets no credentials
            if holder is not None:
                await self._report_on(body, {"state": REFUSED, "message": (
                    f"namespace {namespace} is held by osdpl {holder} (one deployment per namespace): no "
                    f"credentials are generated for {name} while {holder} exists")})
            return None
        try:
            spec = load_osdpl(self.catalog, body).spec
        except OperatorError:
            return None  # the osdpl process reports the spec error
        seen = Seen(body, spec, main, backup)
        stored, again = await self._usable(seen)
        if stored is None:
            return again
        resync = await self._keep(seen, stored)
        self.refusals.pop(key, None)
        return resync

    async def _let_go(self, key: Key, main: Kept, backup: Kept) -> None:
        """The osdpl is gone: the Secrets' finalizers come off, its metric goes."""
        for kept in (main, backup):
            if kept.body is not None:
                await self.cluster.drop_keep_finalizer(kept.body)
        try:
            metrics.CREDENTIALS_AGE.remove(*key)
        except KeyError:
            pass  # never reported by this process

    async def _usable(self, seen: Seen) -> tuple[Stored | None, float | None]:
        """The records the credentials Secret holds that may be kept, or None and when to look again: a lost
        Secret is reported (or restored), a Secret being deleted is let go first."""
        main, backup, recorded = seen.main, seen.backup, seen.recorded
        if recorded is None:
            return await self._earlier(seen)
        assessment = assess(recorded, main.stored, main.deleting)
        if assessment.lost and not main.deleting and main.data is not None and main.data == backup.data:
            assessment = Assessment(lost=False)  # our own write stopped half-way: both Secrets agree
        if assessment.lost:
            return None, await self._lost(seen, assessment, recorded)
        assert main.stored is not None
        stored = main.stored
        if backup.deleting:  # our copy only: let it go, and write it again next time
            assert backup.body is not None
            await self.cluster.drop_keep_finalizer(backup.body)
            return None, GONE_RETRY_SECONDS
        return stored, None

    async def _earlier(self, seen: Seen) -> tuple[Stored | None, float | None]:
        """Nothing recorded yet (a first deployment; an osdpl deleted and re-created, restored without its status,
        or upgraded from an earlier version): start from every earlier copy, the credentials Secret and its backup,
        and generate only what neither holds. A copy someone else made is refused, not adopted nor overwritten."""
        main, backup = seen.main, seen.backup
        foreign = [name for name, kept in ((credentials_secret_name(seen.name), main),
                                           (backup_secret_name(seen.name), backup))
                   if kept.body is not None and unowned(kept.body["metadata"], seen.namespace, seen.name)]
        if foreign:
            return None, await self._refuse(seen, foreign)
        if main.deleting:
            return None, await self._let_go_of_main(seen)
        if backup.deleting and holds(main.stored, backup.stored):  # our copy only: let it go, write it again
            assert backup.body is not None
            await self.cluster.drop_keep_finalizer(backup.body)
            return None, GONE_RETRY_SECONDS
        if main.body is None and backup.stored is not None:
            log.info("osdpl %s/%s: credentials taken from %s", seen.namespace, seen.name,
                     backup_secret_name(seen.name))
        return earlier_records(main.stored, backup.stored), None

    async def _let_go_of_main(self, seen: Seen) -> float:
        """The credentials Secret is being deleted before any of its records was recorded: its records go to the
        backup first, then it may go, and comes back from the backup. Both being deleted: nothing is kept."""
        main, backup = seen.main, seen.backup
        assert main.body is not None
        if backup.deleting:
            assert backup.body is not None
            await self.cluster.drop_keep_finalizer(backup.body)
        elif not holds(backup.stored, main.stored):
            await self.cluster.write_backup(seen.namespace, seen.name, earlier_records(main.stored, backup.stored),
                                            {OSDPL_LABEL: seen.name}, backup.body)
            return GONE_RETRY_SECONDS  # read again: the finalizer comes off once the backup holds every record
        await self.cluster.drop_keep_finalizer(main.body)
        return GONE_RETRY_SECONDS

    async def _refuse(self, seen: Seen, foreign: list[str]) -> float:
        """Secrets of the credentials' names that someone else made: reported, left as they are, nothing generated.
        Looked at again every resync: such a Secret carries no label of ours, so the watch does not see it change."""
        message = refusal(foreign, seen.namespace, seen.name)
        status = seen.credentials
        if status.get("state") != REFUSED or status.get("message") != message:
            log.warning("osdpl %s/%s: credentials refused: %s", seen.namespace, seen.name, message)
            await self.cluster.post_event(seen.body, "Warning", "CredentialsRefused", message)
        await self._report(seen, {**status, "state": REFUSED, "message": message})
        return self.resync_seconds

    async def _keep(self, seen: Seen, stored: Stored) -> float | None:
        """Rotate if due, add what is missing, write both Secrets and report; then the exchange."""
        needed = required_credentials(self.catalog, seen.spec.enabled_services(self.catalog))
        step = self._next_step(seen)
        rotations = dict(seen.credentials.get("rotations") or {})
        stored, events = self._rotation(seen, step, stored, needed, rotations)
        stored = with_missing(self.catalog, stored, needed)
        stored, renewed = renew_due(self.catalog, stored, datetime.datetime.now(datetime.timezone.utc))
        events += [("CertificateRenewed", f"credential {name}: the client certificate renewed, signed by the same "
                                          "CA (the releases that mount it are upgraded)") for name in renewed]
        if await self.cluster.write_credentials(seen.namespace, seen.name, stored, {OSDPL_LABEL: seen.name},
                                                seen.main.body, seen.backup.body):
            log.info("osdpl %s/%s: credentials written (%d records)", seen.namespace, seen.name, len(stored.current))
        metrics.CREDENTIALS_AGE.labels(seen.namespace, seen.name).set(credentials_age(seen.main, rotations))
        status = seen.credentials
        new_digests = digests(stored)
        revision = int(status.get("revision") or 0) + (new_digests != seen.recorded)
        message = f"{len(stored.current)} credentials kept"
        if step.action == "wait":
            message += (f"; the rotation of group {step.group} (request {step.request}) waits for the change of "
                        "OpenStack release to finish")
        await self._report(seen, {**status, "state": READY, "message": message, "digests": new_digests,
                                  "revision": revision, "rotations": rotations})
        for reason, text in events:
            await self.cluster.post_event(seen.body, "Normal", reason, text)
        resync = await self._exchange(seen, stored, rolled_out(seen.status, seen.generation, revision))
        if any(self.catalog.credentials[name].kind == AMPHORA_PKI for name in stored.current
               if name in self.catalog.credentials):
            # a certificate's renewal is due by the clock, not by an event
            return min(resync or RENEWAL_CHECK_SECONDS, RENEWAL_CHECK_SECONDS)
        return resync

    def _next_step(self, seen: Seen) -> Step:
        """What to do about rotations now (core.secrets.rotation.next_step)."""
        osdpl_status, version = seen.status, seen.spec.openstack_version
        deployed = RolloutView.of(osdpl_status)  # the osdpl process's section
        # A release change held as refused (core.upgrades.guard) never rolls out: it does not hold a rotation back.
        release_changing = deployed.active or (
            deployed.openstack_version not in ("", version)
            and version_problem(self.catalog, version, osdpl_status) is None)
        rotations = seen.credentials.get("rotations") or {}
        return next_step(seen.annotations, rotations, osdpl_status, seen.generation, release_changing)

    def _rotation(self, seen: Seen, step: Step, stored: Stored, needed: list[str],
                  rotations: dict[str, Any]) -> tuple[Stored, list[tuple[str, str]]]:
        """Start or finish a rotation as `step` says: the records after it (`rotations` updated) and the Events
        to post once they are written."""
        if step.action == "start":
            names = rotation_names(self.catalog, step.group, stored, needed)
            revision = int(seen.credentials.get("revision") or 0) + 1
            started = _now()
            rotations[step.group] = {"request": step.request, "phase": ROLLING_OUT if names else DONE,
                                     "started": started, "credentials": len(names), "revision": revision}
            if not names:
                rotations[step.group]["finished"] = started
            return start_rotation(self.catalog, stored, names), [
                ("RotationStarted", f"rotating {len(names)} credentials of group {step.group} "
                                    f"(request {step.request})")]
        if step.action == "finish":
            rotations[step.group] = {**rotations[step.group], "phase": DONE, "finished": _now()}
            return end_rotation(stored), [
                ("RotationFinished", f"every release uses the new credentials of group {step.group}; "
                                     f"the old ones are forgotten")]
        return stored, []

    async def _lost(self, seen: Seen, assessment: Assessment, recorded: Mapping[str, str]) -> float | None:
        """The credentials Secret lost what the cloud uses: report it, or restore it if asked and the backup holds
        exactly the recorded credentials."""
        namespace, name, status = seen.namespace, seen.name, seen.credentials
        secret, backup = credentials_secret_name(name), seen.backup
        intact_backup = backup.stored is not None and not assess(recorded, backup.stored, deleting=False).lost
        request = seen.annotations.get(RESTORE_ANNOTATION, "")
        if request and request != status.get("restored") and intact_backup:
            return await self._restore(seen, request)
        how = (f"restore it from {backup_secret_name(name)} with `kubectl -n {namespace} annotate osdpl {name} "
               f"{RESTORE_ANNOTATION}=<new value> --overwrite`" if intact_backup else
               f"no intact backup: restore {secret} from your own backup (its digests must match "
               f"status.credentials.digests)")
        message = f"{assessment.describe(secret)}; no release is changed until it is restored: {how}"
        if status.get("state") != LOST or status.get("message") != message:
            log.warning("osdpl %s/%s: credentials lost: %s", namespace, name, message)
            await self.cluster.post_event(seen.body, "Warning", "CredentialsLost", message)
        await self._report(seen, {**status, "state": LOST, "message": message})
        return None

    async def _restore(self, seen: Seen, request: str) -> float | None:
        """Copy the (intact) backup back into the credentials Secret, as the restore annotation asks."""
        namespace, name, main, backup = seen.namespace, seen.name, seen.main, seen.backup
        assert backup.stored is not None
        if main.deleting:  # the deletion must end before the Secret can be created again
            assert main.body is not None
            await self.cluster.drop_keep_finalizer(main.body)
            return GONE_RETRY_SECONDS
        await self.cluster.write_credentials(namespace, name, backup.stored, {OSDPL_LABEL: name}, main.body,
                                             backup.body)
        await self._report(seen, {**seen.credentials, "state": READY,
                                  "message": f"restored from {backup_secret_name(name)}", "restored": request})
        await self.cluster.post_event(seen.body, "Normal", "CredentialsRestored",
                                      f"Secret {credentials_secret_name(name)} restored from "
                                      f"{backup_secret_name(name)}")
        log.info("osdpl %s/%s: credentials restored from the backup", namespace, name)
        return None

    async def _report(self, seen: Seen, report: Mapping[str, Any]) -> None:
        await self._report_on(seen.body, report)

    async def _report_on(self, body: Mapping[str, Any], report: Mapping[str, Any]) -> None:
        """Write `report` as status.credentials of the osdpl `body` (as read), if it differs."""
        credentials = (body.get("status") or {}).get("credentials") or {}
        patch = section_patch(SECRETS, {"credentials": credentials}, {"credentials": {**credentials, **report}})
        if patch:
            await self.cluster.patch_osdpl_status(body["metadata"]["namespace"], body["metadata"]["name"], patch)

    # -- the exchange --------------------------------------------------------------------------------------------
    async def _exchange(self, seen: Seen, stored: Stored, deployed: bool) -> float | None:
        """The Ceph keys, the object gateway's credentials and the public certificate: they come from or go to
        Secrets someone else writes or reads, looked at again every `secrets_resync_seconds` (a GET each, rather
        than a watch of every Secret in the cluster). `deployed`: every release is Ready with the current
        credentials. Returns when to look again, None if none of them is in use."""
        status = seen.status
        reports: dict[str, dict[str, str] | None] = {key: None for key, _ in EXCHANGE_REPORTS}
        # Only the install-time Ceph namespaces: this process holds Secrets in every deployment namespace.
        refused = {key: {"state": "Invalid", "message": message} for key, message in
                   refused_namespaces(seen.spec.features, self.runtime.settings.ceph_namespaces,
                                                      seen.namespace).items()}
        if consumers(seen.spec.features, seen.spec.enabled_services(self.catalog)):
            reports["ceph"] = refused.get("ceph") or await self.cluster.copy_ceph_keys(
                seen.body, seen.spec.features, {OSDPL_LABEL: seen.name})
        reports["object_gateway"] = refused.get("object_gateway") or await self._publish_gateway(seen, stored,
                                                                                                   deployed)
        reports["certificate"] = await self._certificate(seen, stored)
        patch = section_patch(SECRETS, {key: status.get(key) for key in reports}, reports)
        for key, reason in EXCHANGE_REPORTS:
            new = reports[key]
            if new and new.get("state") != (status.get(key) or {}).get("state") and \
                    new["state"] not in ("Ready", "Published"):
                await self.cluster.post_event(seen.body, "Warning", f"{reason}{new['state']}", new["message"])
        if patch:
            await self.cluster.patch_osdpl_status(seen.namespace, seen.name, patch)
        return self.resync_seconds if any(reports.values()) else None

    async def _publish_gateway(self, seen: Seen, stored: Stored, deployed: bool) -> dict[str, str] | None:
        """The object gateway's Keystone credentials, as the deployed keystone release created its user, in the
        Secret features.ceph.object_gateway names; a Secret published elsewhere before is withdrawn."""
        found = gateway_secret(seen.spec.features)
        target = f"{found[0]}/{found[1]}" if found else None
        await self._withdraw_gateway(seen.body, target)
        if target is None:
            return None
        credential = deployed_gateway_credential(stored, deployed)
        data = gateway_credentials(seen.spec, seen.namespace, credential) if credential is not None else None
        return await self.cluster.publish_gateway_credentials(target, data, seen.namespace, seen.name)

    async def _withdraw_gateway(self, body: Mapping[str, Any], keep: str | None) -> None:
        """Delete the gateway's published Secret the status records, unless it is `keep`."""
        published = ((body.get("status") or {}).get("object_gateway") or {}).get("secret")
        if published and published != keep:
            await self.cluster.withdraw_gateway_credentials(published, body["metadata"]["namespace"],
                                                            body["metadata"]["name"])

    async def _certificate(self, seen: Seen, stored: Stored) -> dict[str, str] | None:
        """The public endpoints' certificate checked against the host names the releases route."""
        ssl = seen.spec.features["ssl"]["public_endpoints"]
        if not ssl.get("enabled"):
            return None
        hosts = self._public_hosts(seen, stored)
        found = await self.cluster.secret(seen.namespace, ssl["secret_name"])
        problems = certificate_problems(found.get("type") if found else None,
                                        (found.get("data") or {}) if found else {}, hosts,
                                        datetime.datetime.now(datetime.timezone.utc))
        errors = [p.message for p in problems if p.severity == ERROR]
        warnings = [p.message for p in problems if p.severity != ERROR]
        state = "Invalid" if errors else "Expiring" if warnings else "Ready"
        return {"state": state, "secret": ssl["secret_name"],
                "message": f"Secret {ssl['secret_name']}: " + "; ".join(errors + warnings) if problems
                else f"Secret {ssl['secret_name']} serves {len(hosts)} public host names"}

    def _public_hosts(self, seen: Seen, stored: Stored) -> list[str]:
        """The host names the releases route, rendered again only when the osdpl's spec changed."""
        key = (seen.body["metadata"]["uid"], seen.generation)
        if self.hosts.get(seen.namespace, ((), []))[0] != key:
            services = self.renderer.render(seen.spec, stored.current, seen.namespace, ceph=placeholder_exchange())
            self.hosts[seen.namespace] = (key, public_hosts(services))
        return self.hosts[seen.namespace][1]
