"""Bounds on what an osdpl may cost (core.schema.limits), the holder the node and health processes serve
(core.releases.bundles.served_osdpl), bounded spec errors on conditions and Events (core.status.conditions), and the
osdpl process with a spec past a bound, a spec with hundreds of problems, and a values Secret deleted by hand."""

from __future__ import annotations

import json
import re
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from openstack_operator.core.catalog import Catalog
from openstack_operator.core.releases.bundles import served_osdpl, values_secret_name
from openstack_operator.core.schema.limits import (MAX_DEPTH, MAX_SPEC_BYTES, depth_problem, json_size, show_path,
                                                   spec_limit_problem)
from openstack_operator.core.schema.manifest import osdpl_problems
from openstack_operator.core.status.conditions import MAX_MESSAGE_CHARS, bounded, condition, problems_message
from openstack_operator.kube.decoding import API_SERVER_MAX_DEPTH, decode_any_depth
from openstack_operator.reconcilers.osdpl import OsdplReconciler

from .test_osdpl_reconciler import KEY, NAME, NAMESPACE, FakeCluster, run


def _nested(levels: int, leaf: Any = "x") -> Any:
    value = leaf
    for _ in range(levels):
        value = {"a": value}
    return value


def test_depth_is_measured_without_recursion_and_names_the_field() -> None:
    assert depth_problem(_nested(MAX_DEPTH), "doc") is None
    path, message = depth_problem(_nested(MAX_DEPTH + 1), "doc") or ("", "")
    assert path == show_path("doc" + ".a" * MAX_DEPTH) and path.startswith("doc.a.a")
    assert message.startswith(f"nested deeper than {MAX_DEPTH} levels")
    assert depth_problem({"l": [[{"k": [1]}]]}, "spec", limit=4) == \
        ("spec.l[0][0].k", "nested deeper than 4 levels (the limit of mappings and lists in one another)")
    path, _ = depth_problem(_nested(50_000), "spec") or ("", "")  # Python's recursion limit is 1000
    assert len(path) <= 203 and "..." in path  # cut for a condition


def test_the_size_is_counted_as_compact_json_and_gives_up_past_the_bound() -> None:
    value = {"a": [1, "x", {"b": None, "c": True}], "d": 1.5}
    assert json_size(value, 10 ** 6) == len(json.dumps(value, separators=(",", ":")))
    shared = ["x" * 100] * 100
    bomb: Any = shared
    for _ in range(8):  # 100**9 strings once expanded: what a YAML alias bomb loads into
        bomb = [bomb] * 100
    started = time.monotonic()
    assert spec_limit_problem(bomb) == ("spec", f"more than {MAX_SPEC_BYTES // 1024} KiB as JSON (the limit of a "
                                                "spec)")
    assert time.monotonic() - started < 2


def test_an_osdpl_past_a_bound_gets_that_one_problem_naming_the_field(catalog: Catalog) -> None:
    doc = {"apiVersion": "x", "metadata": {"name": "a"}, "spec": {"services": {"identity": {"keystone": {
        "values": _nested(1200)}}}}}
    problems = osdpl_problems(catalog, doc)
    assert len(problems) == 1 and problems[0].path.startswith("spec.services.identity.keystone.values.a.a")
    assert problems[0].message.startswith(f"nested deeper than {MAX_DEPTH} levels")


def _osdpl(name: str, created: str, deleting: bool = False) -> dict[str, Any]:
    metadata = {"name": name, "creationTimestamp": created, **({"deletionTimestamp": created} if deleting else {})}
    return {"metadata": metadata}


def test_the_served_osdpl_is_the_claims_holder_else_the_oldest_never_the_first_listed() -> None:
    old, new = _osdpl("old", "2026-01-01T00:00:00Z"), _osdpl("new", "2026-02-01T00:00:00Z")
    assert served_osdpl([new, old], None) is old
    assert served_osdpl([old, new], "new") is new  # the claim decides, whatever the age
    assert served_osdpl([new, old], "gone") is old  # a claim whose holder is gone decides nothing
    gone = _osdpl("old", "2026-01-01T00:00:00Z", deleting=True)
    assert served_osdpl([gone, new], "old") is gone  # its releases are being uninstalled: its to let go
    assert served_osdpl([gone, new], None) is new
    assert served_osdpl([gone], None) is None and served_osdpl([], "x") is None


def test_a_condition_message_is_bounded_saying_how_much_was_left_out() -> None:
    assert bounded("short") == "short"
    long = "x" * 10_000
    cut = bounded(long)
    assert len(cut) <= MAX_MESSAGE_CHARS and cut.endswith(f"... ({10_000 - MAX_MESSAGE_CHARS + 40} more characters)")
    assert condition({}, "Ready", False, "InvalidSpec", long, 1, "now")["message"] == cut
    problems = [f"spec.services.s{i}: Invalid value" for i in range(300)]
    assert problems_message(problems) == "; ".join(problems[:5]) + "; and 295 more problems"
    assert problems_message(["a: b"]) == "a: b"
    # long problems: fewer shown whole, and the count of the others is never what the limit cuts off
    wordy = [f"spec.x{i}: " + "y" * (MAX_MESSAGE_CHARS // 3) for i in range(10)]
    message = problems_message(wordy)
    assert len(message) <= MAX_MESSAGE_CHARS and message.count("spec.x") == 2
    assert message.endswith("; and 8 more problems")
    huge = problems_message(["spec.a: " + "z" * 10_000, "spec.b: c"])
    assert len(huge) <= MAX_MESSAGE_CHARS and huge.endswith(" more characters); and 1 more problems")


def test_a_spec_with_hundreds_of_problems_gets_a_bounded_condition_and_event(catalog: Catalog) -> None:
    async def scenario(osdpl: OsdplReconciler, cluster: FakeCluster) -> None:
        cluster.add_deployment(catalog)
        cluster.osdpls[KEY]["spec"]["features"] = {"services": [f"no-such-{i}-{'x' * 50}" for i in range(400)]}
        await osdpl.reconcile(KEY)
        ready = next(c for c in cluster.osdpls[KEY]["status"]["conditions"] if c["type"] == "Ready")
        assert ready["reason"] == "InvalidSpec" and len(ready["message"]) <= MAX_MESSAGE_CHARS
        assert ready["message"].startswith("spec.features.services[0]: ")
        # as many problems as fit (the enum quoted in each grows with the catalog), then the count of the rest
        more = re.search(r"; and (\d+) more problems$", ready["message"])
        assert more and ready["message"].count("spec.features.services[") + int(more[1]) == 400
        assert cluster.events == [("InvalidSpec", ready["message"])]
        assert not cluster.writes
    run(catalog, scenario)


def test_values_nested_past_the_limit_are_refused_on_the_osdpl_naming_the_field(catalog: Catalog) -> None:
    async def scenario(osdpl: OsdplReconciler, cluster: FakeCluster) -> None:
        cluster.add_deployment(catalog)
        cluster.osdpls[KEY]["spec"]["services"] = {"identity": {"keystone": {"values": _nested(150)}}}
        assert await osdpl.reconcile(KEY) is None
        ready = next(c for c in cluster.osdpls[KEY]["status"]["conditions"] if c["type"] == "Ready")
        assert ready["reason"] == "InvalidSpec"
        assert ready["message"].startswith("spec.services.identity.keystone.values.a.a.a")
        assert f"nested deeper than {MAX_DEPTH} levels" in ready["message"]
        assert not cluster.writes  # nothing rendered, nothing written
    run(catalog, scenario)


def test_a_values_secret_deleted_by_hand_is_written_again_and_nothing_else(catalog: Catalog) -> None:
    async def scenario(osdpl: OsdplReconciler, cluster: FakeCluster) -> None:
        cluster.add_deployment(catalog)
        osdpl.observe_osdpl("ADDED", cluster.osdpls[KEY])
        await osdpl.reconcile(KEY)
        await osdpl.queue.join()
        cluster.writes.clear()
        secret = values_secret_name(NAME, "identity")
        before = cluster.secrets.pop((NAMESPACE, secret))
        osdpl.observe_values_secret("MODIFIED", NAMESPACE, NAME)  # not a deletion: nothing to do
        osdpl.observe_values_secret("DELETED", NAMESPACE, "another-osdpl")  # not one this process has seen
        assert osdpl.queue.pending() == set()
        osdpl.observe_values_secret("DELETED", NAMESPACE, NAME)
        await osdpl.queue.join()
        assert cluster.writes == [f"secret {secret}"]  # only what was missing
        assert cluster.secrets[(NAMESPACE, secret)] == before
    run(catalog, scenario)


def test_the_processes_decode_any_object_the_api_server_stores() -> None:
    """Kopf decodes its LISTs and watch events with the json module: at Python's default recursion limit one osdpl
    1200 deep failed the whole watch (kube.decoding); the API server takes up to 10,000 levels."""
    text = '{"a":' * (API_SERVER_MAX_DEPTH - 10) + "1" + "}" * (API_SERVER_MAX_DEPTH - 10)
    previous = sys.getrecursionlimit()
    try:
        sys.setrecursionlimit(1000)
        with pytest.raises(RecursionError):
            json.loads('{"a":' * 1200 + "1" + "}" * 1200)
        decode_any_depth()
        assert json.loads(text)["a"]["a"]
        with ThreadPoolExecutor(1) as pool:  # as asyncio.to_thread runs pykube's reads
            assert pool.submit(json.loads, text).result()["a"]["a"]
    finally:
        sys.setrecursionlimit(previous)
