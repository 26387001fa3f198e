"""The values diff of `openstack-operator diff`: leaves added, removed and changed, lists whole, secrets masked."""

from __future__ import annotations

from openstack_operator.core.secrets.redact import MASK
from openstack_operator.core.rendering.values_diff import ABSENT, Change, describe, values_changes


def test_leaves_added_removed_and_changed_in_path_order() -> None:
    old = {"pod": {"replicas": {"api": 1}}, "conf": {"a": [1, 2], "gone": "x"}, "same": {"k": "v"}}
    new = {"pod": {"replicas": {"api": 2}}, "conf": {"a": [1, 2, 3], "new.key": True}, "same": {"k": "v"}}
    assert values_changes(old, new) == [
        Change('conf."new.key"', ABSENT, True),
        Change("conf.a", [1, 2], [1, 2, 3]),  # a list is one leaf: Helm replaces it whole
        Change("conf.gone", "x", ABSENT),
        Change("pod.replicas.api", 1, 2),
    ]
    assert values_changes(old, old) == []
    assert values_changes({"a": {"b": 1}}, {"a": 1}) == [Change("a", {"b": 1}, 1)]


def test_lines_show_json_values_and_mask_every_secret() -> None:
    assert describe(Change("pod.replicas.api", 1, 2), set()) == "~ pod.replicas.api: 1 -> 2"
    assert describe(Change("conf.x", ABSENT, "on"), set()) == '+ conf.x: "on"'
    assert describe(Change("conf.x", "on", ABSENT), set()) == '- conf.x: "on"'
    # A credential known to the caller, wherever it appears (here inside a connection string).
    line = describe(Change("conf.db", "mysql://u:OldPassw0rd@db", "mysql://u:NewPassw0rd@db"),
                    {"OldPassw0rd", "NewPassw0rd"})
    assert "Passw0rd" not in line and line.count(MASK) == 2
    # A value under a key that names a secret, even one the caller does not know.
    line = describe(Change("endpoints.identity.auth.admin.password", "s3cr3t-old", "s3cr3t-new"), set())
    assert "s3cr3t" not in line
    line = describe(Change("secrets", ABSENT, {"memcache_secret_key": "abcdefgh"}), set())
    assert "abcdefgh" not in line
