"""Every setting of the operator processes, read once at start-up from the environment (`OSOP_*`).

One frozen object holds them with their defaults and what each does; a process reads it once
(`Settings.from_environ(os.environ)` in kube.process) and hands it to what needs it, so no module reads the
environment itself. docs/operations.md ("Settings") lists the same table: a unit test keeps the two in step.
A value that does not parse stops the process at start-up with a message naming the variable. Pure: the caller
passes the environment in.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, fields
from typing import Any, Mapping

from openstack_operator.core.errors import OperatorError
from openstack_operator.core.isolation import charts_url_problem

NAMESPACE_NAME = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
LOG_FORMATS = ("text", "json")


def _setting(env: str, default: Any, doc: str) -> Any:
    return field(default=default, metadata={"env": env, "doc": doc})


@dataclass(frozen=True)
class Settings:
    namespaces: tuple[str, ...] = _setting(
        "OSOP_NAMESPACES", (),
        "The deployment namespaces the processes serve, comma-separated; empty: every namespace. Names only, no "
        "patterns: Kopf drops a pattern-matched namespace once it is being deleted, and its releases would never "
        "be uninstalled.")
    log_level: str = _setting("OSOP_LOG_LEVEL", "INFO", "DEBUG, INFO, WARNING, ERROR or CRITICAL; DEBUG shows "
                                                        "Kopf's debug lines too.")
    log_format: str = _setting("OSOP_LOG_FORMAT", "text", "text, or json: one JSON object per line.")
    metrics_port: int = _setting("OSOP_METRICS_PORT", 0, "Port of /metrics and the probes; 0: not served.")
    metrics_address: str = _setting("OSOP_METRICS_ADDRESS", "0.0.0.0", "Address /metrics and the probes bind.")
    leader_election_namespace: str = _setting(
        "OSOP_LEADER_ELECTION_NAMESPACE", "",
        "Namespace of each process's Lease (one active replica); empty: no election, the process acts at once.")
    pod_name: str = _setting("OSOP_POD_NAME", "", "This replica's name in the Lease; empty: host name and pid.")
    retry_max_seconds: float = _setting(
        "OSOP_RETRY_MAX_SECONDS", 300.0,
        "The longest wait between two attempts at something that keeps failing (jittered doubling from 2 s).")
    helm: str = _setting("OSOP_HELM", "", "The helm binary; empty: helm on PATH.")
    # Per namespace, not in all: a Helm step may wait a release's whole timeout on a stuck hook, and one deployment's
    # must never hold up another's. The machine's share grows with the deployments (one `helm` process per step).
    helm_concurrency: int = _setting("OSOP_HELM_CONCURRENCY", 4,
                                     "Helm operations the helmbundle process runs at once per deployment namespace.")
    chart_source: str = _setting(
        "OSOP_CHART_SOURCE", "",
        "A chart repository URL or a directory the charts come from, for every deployment without "
        "spec.artifacts.charts_url; empty: the catalog's repository.")
    chart_cache: str = _setting(
        "OSOP_CHART_CACHE", "",
        "Directory of the chart archive cache; empty: openstack-operator/charts in the user's cache directory.")
    health_grace_seconds: float = _setting(
        "OSOP_HEALTH_GRACE_SECONDS", 600.0,
        "A workload that makes no progress for this long is Unhealthy (a Deployment's default deadline).")
    health_coalesce_seconds: float = _setting(
        "OSOP_HEALTH_COALESCE_SECONDS", 1.0, "At most one health write per osdpl within this window.")
    health_resync_seconds: float = _setting(
        "OSOP_HEALTH_RESYNC_SECONDS", 60.0,
        "How often the health process compares its indexes with a fresh LIST (deletions a watch missed).")
    secrets_resync_seconds: float = _setting(
        "OSOP_SECRETS_RESYNC_SECONDS", 30.0,
        "How often the secrets process looks again at the Ceph keys and the public certificate.")
    references_recheck_seconds: float = _setting(
        "OSOP_REFERENCES_RECHECK_SECONDS", 60.0,
        "How often the osdpl process reads again the Secrets a spec references (value_from.secret_key_ref).")
    report_recheck_seconds: float = _setting(
        "OSOP_REPORT_RECHECK_SECONDS", 30.0,
        "How often the helmbundle process reads again a Job report the next render needs (octavia's bootstrap) "
        "while it has none usable.")
    node_job_retry_seconds: float = _setting(
        "OSOP_NODE_JOB_RETRY_SECONDS", 300.0, "How long a failed node Job stays before it is tried again.")
    # An osdpl's features.ceph names Secrets by namespace: without this list it could read or write another
    # deployment's (the secrets process holds Secrets in every deployment namespace).
    ceph_namespaces: tuple[str, ...] = _setting(
        "OSOP_CEPH_NAMESPACES", ("openstack-ceph-shared",),
        "The namespaces features.ceph Secrets may name (the storage side's), comma-separated; any other is refused.")

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> Settings:
        values: dict[str, Any] = {}
        for setting in fields(cls):
            env = setting.metadata["env"]
            raw = environ.get(env, "").strip()
            if raw:
                values[setting.name] = _parse(env, raw, setting.default)
        settings = cls(**values)
        settings.check()
        return settings

    def check(self) -> None:
        wrong = [n for n in self.namespaces if not NAMESPACE_NAME.fullmatch(n)]
        if wrong:
            raise OperatorError(f"OSOP_NAMESPACES: {', '.join(map(repr, wrong))} is not a namespace name (names "
                                "only, comma-separated; no patterns)")
        if self.log_level not in LOG_LEVELS:
            raise OperatorError(f"OSOP_LOG_LEVEL: {self.log_level!r} is not one of {', '.join(LOG_LEVELS)}")
        if self.log_format not in LOG_FORMATS:
            raise OperatorError(f"OSOP_LOG_FORMAT: {self.log_format!r} is not one of {', '.join(LOG_FORMATS)}")
        if self.chart_source and charts_url_problem(self.chart_source):
            raise OperatorError(f"OSOP_CHART_SOURCE: {charts_url_problem(self.chart_source)}")
        if self.helm_concurrency < 1:
            raise OperatorError(f"OSOP_HELM_CONCURRENCY: {self.helm_concurrency} is less than 1")
        for setting in fields(self):
            value = getattr(self, setting.name)
            if isinstance(value, (int, float)) and not isinstance(value, bool) and value < 0:
                raise OperatorError(f"{setting.metadata['env']}: {value} is negative")

    def environ(self) -> dict[str, str]:
        """The variables that give these settings (those that differ from the defaults), for a process to start."""
        out = {}
        for setting in fields(self):
            value = getattr(self, setting.name)
            if value != setting.default:
                out[setting.metadata["env"]] = ",".join(value) if isinstance(value, tuple) else str(value)
        return out


def documented() -> list[tuple[str, str, str]]:
    """(variable, default, what it does) of every setting, in declaration order: the docs' table."""
    return [(s.metadata["env"], ",".join(s.default) if isinstance(s.default, tuple) else str(s.default),
             s.metadata["doc"]) for s in fields(Settings)]


def _parse(env: str, raw: str, default: Any) -> Any:
    if isinstance(default, tuple):
        return tuple(n.strip() for n in raw.split(",") if n.strip())
    try:
        if isinstance(default, int):
            return int(raw)
        if isinstance(default, float):
            return float(raw)
    except ValueError:
        raise OperatorError(f"{env}: {raw!r} is not {'an integer' if isinstance(default, int) else 'a number'}") \
            from None
    return raw.upper() if env == "OSOP_LOG_LEVEL" else raw
