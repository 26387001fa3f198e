"""What an osdpl writer may make Helm do: nothing outside the deployment's namespace, and no cluster-scoped object
beyond the few the pinned OpenStack-Helm charts need.

Helm runs with the helmbundle ServiceAccount's rights, which reach every deployment namespace and cluster RBAC.
The charts render `extraObjects` (and many other values) through `tpl`, so a Go template in a value is code Helm
runs with those rights, and an object in values lands wherever its `metadata.namespace` says. Three layers use
the checks here (docs/security.md):
- the spec (osdpl process, `validate`/`render`) and the values the helmbundle process gets: no `{{` anywhere, and
  every extraObjects entry a known namespaced kind in the deployment's namespace;
- the post-renderer (kube.postrender) on what Helm is about to apply: every object in the release namespace, or one
  of CLUSTER_GRANTS granting no more than the charts give it;
- the operator chart's admission policy, from a copy of CLUSTER_GRANTS (tests keep them in step).
Pure: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator, Mapping

import yaml

from openstack_operator.core.schema.problem import Problem

TEMPLATE_MESSAGE = 'a Go template ("{{") would run inside Helm with the operator\'s rights; write the value literally'


@dataclass(frozen=True)
class ClusterGrant:
    """A ClusterRole a pinned chart renders, with its rules, and the ClusterRoleBinding that binds it to
    ServiceAccounts of the release namespace. `{namespace}` in a name stands for the release namespace."""
    role: str
    binding: str
    rules: tuple[Mapping[str, Any], ...]

    def names(self, namespace: str) -> tuple[str, str]:
        """The role's and the binding's names in a release namespace."""
        return self.role.replace("{namespace}", namespace), self.binding.replace("{namespace}", namespace)


_NODES_READ = {"apiGroups": [""], "resources": ["nodes"], "verbs": ["get", "list"]}
# The cluster-scoped objects the pinned charts render (tests/conformance/test_operator_rbac.py finds every one in
# the real charts with all features), with the charts' own names:
# - nova's bootstrap and cell-setup Jobs read nodes;
# - ovn's controller pods read their node's labels (is it a gateway chassis?) and keep the chassis' system-id in an
#   annotation of their node (patch), so that a re-created pod keeps the chassis OVN knows.
CLUSTER_GRANTS: tuple[ClusterGrant, ...] = (
    ClusterGrant("nova-bootstrap", "nova-bootstrap", (_NODES_READ,)),
    ClusterGrant("nova-cell-setup", "nova-cell-setup", (_NODES_READ,)),
    ClusterGrant("ovn-controller", "ovn-controller",
                 ({"apiGroups": [""], "resources": ["nodes"], "verbs": ["get", "patch", "list"]},)),
    ClusterGrant("ovn-controller-list-nodes-role-{namespace}", "ovn-controller-list-nodes-rolebinding-{namespace}",
                 ({"apiGroups": [""], "resources": ["nodes"], "verbs": ["list", "get"]},)),
)


def cluster_objects(namespace: str) -> dict[tuple[str, str], ClusterGrant]:
    """(kind, name) of every cluster-scoped object a release in `namespace` may render -> its grant."""
    objects = {}
    for grant in CLUSTER_GRANTS:
        role, binding = grant.names(namespace)
        objects[("ClusterRole", role)] = objects[("ClusterRoleBinding", binding)] = grant
    return objects


# Kinds the checks know to be namespaced: those the helmbundle process may write (charts/openstack-operator
# files/rules.yaml) and the usual others. An object of any other kind is refused: its scope is unknown here.
NAMESPACED_KINDS = frozenset({
    "ConfigMap", "Secret", "Service", "ServiceAccount", "Pod", "PersistentVolumeClaim", "Endpoints",
    "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob", "PodDisruptionBudget",
    "Role", "RoleBinding", "NetworkPolicy", "Ingress", "HorizontalPodAutoscaler", "EndpointSlice", "LimitRange",
    "ResourceQuota", "Lease", "Event", "Gateway", "HTTPRoute", "GRPCRoute", "TLSRoute", "TCPRoute", "UDPRoute",
    "ReferenceGrant", "ServiceMonitor", "PodMonitor", "PrometheusRule", "Certificate", "Issuer",
})
CLUSTER_SCOPED_KINDS = frozenset({
    "ClusterRole", "ClusterRoleBinding", "Namespace", "Node", "PersistentVolume", "StorageClass", "CSIDriver",
    "CSINode", "VolumeAttachment", "CustomResourceDefinition", "APIService", "PriorityClass", "RuntimeClass",
    "IngressClass", "GatewayClass", "ValidatingWebhookConfiguration", "MutatingWebhookConfiguration",
    "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding", "MutatingAdmissionPolicy",
    "MutatingAdmissionPolicyBinding", "CertificateSigningRequest", "ClusterIssuer", "FlowSchema",
    "PriorityLevelConfiguration",
})


# -- input: the osdpl spec and the values Helm gets -----------------------------------------------------------


class IsolationProblem(Problem):
    """A value the schema accepts that would reach outside the deployment's namespace through Helm."""


def template_problems(value: Any, path: str) -> list[Problem]:
    """One problem per string (value or map key) holding a Go template action's opening `{{`."""
    return [IsolationProblem(where, TEMPLATE_MESSAGE) for where in _templated(value, path)]


def _templated(value: Any, path: str) -> Iterator[str]:
    if isinstance(value, str):
        if "{{" in value:
            yield path
    elif isinstance(value, dict):
        for key, item in value.items():
            where = f"{path}.{key}"
            if isinstance(key, str) and "{{" in key:
                yield where
            yield from _templated(item, where)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _templated(item, f"{path}[{index}]")


def extra_object_problems(value: Any, path: str, namespace: str) -> list[Problem]:
    """Every `extraObjects` (at any depth: chart values, common values, per-node values) whose entry is not a known
    namespaced kind in `namespace`. An entry is an object, or YAML text of one or more objects (the charts render
    both); the charts take a list or a map of them."""
    problems: list[Problem] = []
    for where, objects in _extra_objects(value, path):
        entries = objects.items() if isinstance(objects, dict) else enumerate(objects) \
            if isinstance(objects, list) else ()
        for key, entry in entries:
            at = f"{where}.{key}" if isinstance(objects, dict) else f"{where}[{key}]"
            problems += [IsolationProblem(at, message) for message in _entry_problems(entry, namespace)]
    return problems


def _extra_objects(value: Any, path: str) -> Iterator[tuple[str, Any]]:
    if isinstance(value, dict):
        for key, item in value.items():
            where = f"{path}.{key}"
            if key == "extraObjects":
                yield where, item
            else:
                yield from _extra_objects(item, where)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _extra_objects(item, f"{path}[{index}]")


def _entry_problems(entry: Any, namespace: str) -> list[str]:
    if entry is None or entry == {}:  # renders as no object
        return []
    if isinstance(entry, str):
        try:
            docs = [doc for doc in yaml.safe_load_all(entry) if doc is not None]
        except yaml.YAMLError:
            return ["not a YAML object: Helm would render it as text, the operator cannot check it"]
    else:
        docs = [entry]
    problems = []
    for doc in docs:
        problem = _namespaced_problem(doc, namespace)
        if problem:
            problems.append(problem)
    return problems


def _namespaced_problem(doc: Any, namespace: str) -> str | None:
    """Why `doc` is not an object of a known namespaced kind in `namespace`; None if it is."""
    if not isinstance(doc, dict):
        return "not an object (a mapping with kind and metadata)"
    kind, metadata = _text(doc.get("kind")), doc.get("metadata")
    named = (metadata.get("namespace") if isinstance(metadata, dict) else None) or ""
    if not isinstance(named, str):
        return "metadata.namespace is not a string"
    if kind in CLUSTER_SCOPED_KINDS:
        return f"{kind} is cluster-scoped: values may only add objects in the deployment's namespace {namespace}"
    if kind not in NAMESPACED_KINDS:
        return f"kind {kind!r} is not one the operator knows to be namespaced: it is not installed from values"
    if named and named != namespace:
        return (f"{kind} in namespace {named}: values may only add objects in the deployment's namespace "
                f"{namespace}")
    return None


def _text(value: Any) -> str | None:
    """A kind or name as the checks compare it: strings only (anything else matches no known kind or name)."""
    return value if isinstance(value, str) else None


def values_problems(value: Any, path: str, namespace: str) -> list[Problem]:
    """Both input checks: no Go template anywhere, extraObjects only in `namespace`."""
    return template_problems(value, path) + extra_object_problems(value, path, namespace)


# -- output: what Helm is about to apply ----------------------------------------------------------------------


def rendered_problems(docs: list[Any], namespace: str) -> list[str]:
    """Every rendered object (a `List`'s items each) that names a namespace other than the release's `namespace`,
    is cluster-scoped and not one of CLUSTER_GRANTS with the charts' content, or of a kind whose scope is unknown."""
    problems: list[str] = []
    for doc in docs:
        if doc is None:
            continue
        if isinstance(doc, dict) and str(doc.get("kind", "")).endswith("List") and isinstance(doc.get("items"),
                                                                                              list):
            problems += rendered_problems(doc["items"], namespace)
            continue
        problem = _rendered_problem(doc, namespace)
        if problem:
            problems.append(problem)
    return problems


def _rendered_problem(doc: Any, namespace: str) -> str | None:
    if not isinstance(doc, dict):
        return "a rendered document is not an object"
    kind = _text(doc.get("kind"))
    metadata: Mapping[str, Any] = doc["metadata"] if isinstance(doc.get("metadata"), dict) else {}
    name = metadata.get("name", "")
    if kind in CLUSTER_SCOPED_KINDS:
        problem = cluster_object_problem(doc, namespace)
        return f"{kind} {name}: {problem}" if problem else None
    named = metadata.get("namespace") or ""
    if kind not in NAMESPACED_KINDS or not isinstance(named, str):
        return f"{kind} {name}: kind {kind!r} is not one the operator knows to be namespaced"
    if named and named != namespace:
        return f"{kind} {named}/{name}: outside the release namespace {namespace}"
    return None


def cluster_object_problem(doc: Mapping[str, Any], namespace: str) -> str | None:
    """Why a cluster-scoped object is not one the pinned charts need, as they render it; None if it is."""
    metadata: Mapping[str, Any] = doc["metadata"] if isinstance(doc.get("metadata"), dict) else {}
    kind, name = _text(doc.get("kind")), _text(metadata.get("name"))
    allowed = cluster_objects(namespace)
    grant = allowed.get((kind or "", name or ""))
    if grant is None:
        return (f"cluster-scoped and not one the charts need (allowed: "
                f"{', '.join(f'{k} {n}' for k, n in sorted(allowed))})")
    role, _ = grant.names(namespace)
    if kind == "ClusterRole":
        rules = doc.get("rules") or []
        if not isinstance(rules, list) or not all(_within(rule, grant.rules) for rule in rules) \
                or "aggregationRule" in doc:
            return f"grants more than the chart's rules {list(grant.rules)}"
        return None
    ref: Mapping[str, Any] = doc["roleRef"] if isinstance(doc.get("roleRef"), dict) else {}
    if ref.get("kind") != "ClusterRole" or ref.get("name") != role:
        return f"binds {ref.get('kind')} {ref.get('name')}, not its own ClusterRole {role}"
    subjects = doc.get("subjects") or []
    for subject in subjects if isinstance(subjects, list) else [None]:
        if not isinstance(subject, dict):
            return "a subject is not an object"
        if subject.get("kind") != "ServiceAccount" or subject.get("namespace") != namespace:
            return (f"binds {subject.get('kind')} {subject.get('namespace')}/{subject.get('name')}: only "
                    f"ServiceAccounts of the release namespace {namespace}")
    return None


def _within(rule: Any, granted: tuple[Mapping[str, Any], ...]) -> bool:
    """Whether an RBAC rule grants no more than one of `granted`: its groups, resources and verbs each among that
    one's, and nothing else (no resourceNames, no nonResourceURLs)."""
    fields = ("apiGroups", "resources", "verbs")
    if not isinstance(rule, dict) or set(rule) - set(fields) \
            or not all(isinstance(rule.get(f), list) and rule[f] for f in fields):
        return False
    return any(all(set(rule[f]) <= set(grant[f]) for f in fields) for grant in granted)


CHARTS_URL_MESSAGE = (
    "credentials in the URL (user:password@) are refused: they would be readable in the spec and on Helm's command "
    "line; use an unauthenticated mirror, or the operator's own chart source (OSOP_CHART_SOURCE, the operator "
    "chart's chartSource)")


def charts_url_problem(url: str) -> str | None:
    """Why a chart source URL is refused (credentials before the host: user:password@); None if it is not."""
    scheme, sep, rest = url.partition("://")
    authority = rest.split("/", 1)[0].split("?", 1)[0].split("#", 1)[0]
    return CHARTS_URL_MESSAGE if sep and scheme and "@" in authority else None


def spec_problems(spec: Any, namespace: str) -> list[Problem]:
    """The input checks on a whole osdpl spec: every string anywhere, every extraObjects. (charts_url credentials
    are the CRD's rule, CHARTS_URL_RULE, which the offline validation evaluates too.)"""
    return values_problems(spec, "spec", namespace)


# The CRD's rule on spec.artifacts (core.schema.osdpl): no user:password@ before the charts_url's host. On the object
# with a fieldPath rather than on the string: the API server then names the field without echoing the value (the
# password) in its error.
CHARTS_URL_RULE = {"rule": "!has(self.charts_url) || !self.charts_url.matches('^[A-Za-z][A-Za-z0-9+.-]*://[^/?#]*@')",
                   "message": CHARTS_URL_MESSAGE, "fieldPath": ".charts_url"}
