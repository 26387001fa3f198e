"""Credentials as stored, generated and rotated (core/secrets/credentials.py), and the check that none was lost."""

from __future__ import annotations

import json
from typing import Callable

from openstack_operator.core.catalog import Catalog
from openstack_operator.core.releases.bundles import OSDPL_LABEL
from openstack_operator.core.secrets import amphora_pki
from openstack_operator.core.secrets.credentials import (ADOPT_ANNOTATION, ALPHABET, OWNER_LABEL, PASSWORD_LENGTH,
                                                         PREVIOUS, SUFFIX_LENGTH, Assessment, Credential, Stored,
                                                         assess, digest, digests, earlier_records, end_rotation,
                                                         generated, holds, parse_secret, refusal, renew_due,
                                                         rotated, rotation_names, secret_data, start_rotation,
                                                         unowned, with_missing)

PASSWORD = "S3cretPassw0rdS3cretPassw0rdXYZ1"
OTHER = "An0therPassw0rdAn0therPassw0rdQ2"


def _json(username: str, password: str) -> str:
    return json.dumps({"username": username, "password": password})


def _scripted(*chars: str) -> Callable[[str], str]:
    """A `draw` returning `chars` in order (each must be in the alphabet asked), then the alphabet's first one."""
    queue = list("".join(chars))

    def draw(alphabet: str) -> str:
        char = queue.pop(0) if queue else alphabet[0]
        assert char in alphabet
        return char
    return draw


def test_parse_secret_reads_json_records(catalog: Catalog) -> None:
    stored = parse_secret(catalog, {"nova_db": _json("nova_a1b2c3", PASSWORD)})
    assert stored == Stored({"nova_db": Credential("nova_a1b2c3", PASSWORD)}, {})


def test_parse_secret_plain_value_takes_catalog_user_name(catalog: Catalog) -> None:
    stored = parse_secret(catalog, {"nova_db": PASSWORD, "metadata_secret": OTHER})
    assert stored.current == {"nova_db": Credential("nova", PASSWORD), "metadata_secret": Credential("", OTHER)}


def test_parse_secret_previous_keys(catalog: Catalog) -> None:
    stored = parse_secret(catalog, {"nova_db": _json("nova_zzzzzz", OTHER), "nova_db" + PREVIOUS: PASSWORD})
    assert stored.current == {"nova_db": Credential("nova_zzzzzz", OTHER)}
    assert stored.previous == {"nova_db": Credential("nova", PASSWORD)}


def test_secret_data_round_trip(catalog: Catalog) -> None:
    stored = Stored({"nova_db": Credential("nova_abc123", OTHER), "metadata_secret": Credential("", PASSWORD)},
                    {"nova_db": Credential("nova", PASSWORD)})
    data = secret_data(stored)
    assert set(data) == {"nova_db", "metadata_secret", "nova_db" + PREVIOUS}
    assert parse_secret(catalog, data) == stored


def test_generated_uses_catalog_user_and_32_letters_or_digits(catalog: Catalog) -> None:
    credential = generated(catalog, "nova_db")
    assert credential.username == "nova"
    assert len(credential.password) == PASSWORD_LENGTH == 32
    assert set(credential.password) <= set(ALPHABET) and credential.password.isalnum()
    assert generated(catalog, "nova_db").password != credential.password


def test_with_missing_keeps_stored_exactly_and_only_adds(catalog: Catalog) -> None:
    kept = Credential("nova_custom", PASSWORD)
    previous = {"glance_db": Credential("glance", OTHER)}
    result = with_missing(catalog, Stored({"nova_db": kept}, previous), ["nova_db", "glance_db"])
    assert result.current["nova_db"] is kept
    assert set(result.current) == {"nova_db", "glance_db"}
    assert result.current["glance_db"].username == "glance"
    assert result.previous == previous


def test_with_missing_adds_nothing_when_complete(catalog: Catalog) -> None:
    stored = Stored({"nova_db": Credential("nova", PASSWORD)})
    assert with_missing(catalog, stored, ["nova_db"]) == stored


def test_rotated_gives_new_user_name_and_password(catalog: Catalog) -> None:
    old = Credential("nova", PASSWORD)
    new = rotated(catalog, "nova_db", old)
    base, _, suffix = new.username.rpartition("_")
    assert base == "nova" and len(suffix) == SUFFIX_LENGTH and suffix.isalnum() and suffix == suffix.lower()
    assert new.username != old.username and new.password != old.password
    assert len(new.password) == PASSWORD_LENGTH


def test_rotated_draws_again_when_suffix_repeats_the_old_one(catalog: Catalog) -> None:
    old = Credential("nova_abc123", PASSWORD)
    new = rotated(catalog, "nova_db", old, _scripted("abc123", "xyz789", "P" * PASSWORD_LENGTH))
    assert new == Credential("nova_xyz789", "P" * PASSWORD_LENGTH)


def test_rotated_secret_kind_keeps_empty_user(catalog: Catalog) -> None:
    new = rotated(catalog, "metadata_secret", Credential("", PASSWORD))
    assert new.username == "" and new.password != PASSWORD and len(new.password) == PASSWORD_LENGTH


def test_rotation_names_only_needed_and_stored_of_the_group(catalog: Catalog) -> None:
    stored = Stored({name: Credential("u", PASSWORD)
                     for name in ("nova_db", "glance_db", "nova_messaging", "mariadb_admin")})
    needed = ["glance_db", "nova_db", "cinder_db", "nova_messaging", "mariadb_admin"]
    assert rotation_names(catalog, "database", stored, needed) == ["glance_db", "nova_db"]
    assert rotation_names(catalog, "messaging", stored, needed) == ["nova_messaging"]
    assert rotation_names(catalog, "database", stored, ["nova_db"]) == ["nova_db"]


def test_start_rotation_keeps_previous_and_end_rotation_drops_it(catalog: Catalog) -> None:
    old = Credential("nova", PASSWORD)
    untouched = Credential("glance", OTHER)
    started = start_rotation(catalog, Stored({"nova_db": old, "glance_db": untouched}), ["nova_db"])
    assert started.previous == {"nova_db": old}
    assert started.current["nova_db"] != old and started.current["nova_db"].username.startswith("nova_")
    assert started.current["glance_db"] is untouched
    ended = end_rotation(started)
    assert ended.previous == {} and ended.current == started.current


def test_digest_tells_user_and_password_changes_apart() -> None:
    base = digest(Credential("nova", PASSWORD))
    assert base == digest(Credential("nova", PASSWORD))
    assert digest(Credential("nova_abc123", PASSWORD)) != base
    assert digest(Credential("nova", OTHER)) != base


def test_digest_never_contains_the_password(catalog: Catalog) -> None:
    for _ in range(20):
        credential = generated(catalog, "nova_db")
        value = digest(credential)
        assert credential.password not in value and value not in credential.password


def _recorded(*credentials: tuple[str, Credential]) -> dict[str, str]:
    return digests(Stored(dict(credentials)))


def test_assess_absent_secret_is_lost_with_every_name_missing() -> None:
    recorded = _recorded(("nova_db", Credential("nova", PASSWORD)), ("glance_db", Credential("glance", OTHER)))
    assert assess(recorded, None, deleting=False) == Assessment(lost=True, missing=("glance_db", "nova_db"))


def test_assess_deleting_secret_is_lost() -> None:
    stored = Stored({"nova_db": Credential("nova", PASSWORD)})
    assert assess(digests(stored), stored, deleting=True) == Assessment(lost=True)


def test_assess_intact_secret_is_no_loss_even_with_extra_names() -> None:
    stored = Stored({"nova_db": Credential("nova", PASSWORD)})
    recorded = digests(stored)
    extra = Stored({**stored.current, "glance_db": Credential("glance", OTHER)})
    assert assess(recorded, stored, deleting=False) == Assessment(lost=False)
    assert assess(recorded, extra, deleting=False) == Assessment(lost=False)


def test_assess_lists_changed_and_missing_sorted() -> None:
    value = digest(Credential("u", PASSWORD))
    recorded = {"d_db": value, "c_db": value, "b_db": value, "a_db": value}  # not in sorted order
    stored = Stored({"d_db": Credential("u", OTHER), "b_db": Credential("u2", PASSWORD)})
    result = assess(recorded, stored, deleting=False)
    assert result == Assessment(lost=True, missing=("a_db", "c_db"), changed=("b_db", "d_db"))


def test_describe_names_problems_without_any_password() -> None:
    recorded = _recorded(("nova_db", Credential("nova", PASSWORD)), ("glance_db", Credential("glance", PASSWORD)))
    result = assess(recorded, Stored({"nova_db": Credential("nova", OTHER)}), deleting=False)
    text = result.describe("ns/osdpl-credentials")
    assert text == "Secret ns/osdpl-credentials: missing glance_db; changed nova_db"
    assert PASSWORD not in text and OTHER not in text
    stored = Stored({"nova_db": Credential("nova", PASSWORD)})
    assert assess(recorded, stored, deleting=True).describe("s") == "Secret s: deleted"


def test_credential_repr_hides_password() -> None:
    credential = Credential("nova", PASSWORD)
    assert PASSWORD not in repr(credential) and PASSWORD not in str(credential)
    assert "nova" in repr(credential)
    assert PASSWORD not in repr(Stored({"nova_db": credential}, {"nova_db": credential}))


# -- ownership and earlier copies (an osdpl without a record) ---------------------------------------------------------
def test_the_owner_label_is_the_label_every_osdpl_object_carries() -> None:
    assert OWNER_LABEL == OSDPL_LABEL


def test_a_secret_is_ours_with_our_label_or_the_admins_adopt_annotation_for_this_deployment() -> None:
    assert not unowned({"labels": {OSDPL_LABEL: "osh"}}, "ns", "osh")
    assert not unowned({"annotations": {ADOPT_ANNOTATION: "ns/osh"}}, "ns", "osh")
    assert unowned({}, "ns", "osh")
    assert unowned({"labels": {OSDPL_LABEL: "other"}, "annotations": {}}, "ns", "osh")
    assert unowned({"labels": None, "annotations": {ADOPT_ANNOTATION: "other-ns/osh"}}, "ns", "osh")
    assert unowned({"annotations": {ADOPT_ANNOTATION: "true"}}, "ns", "osh")


def test_the_refusal_names_the_secret_and_what_to_do() -> None:
    message = refusal(["osh-credentials"], "ns", "osh")
    assert message.startswith("Secret osh-credentials was not written by the operator for osdpl osh")
    assert f"kubectl -n ns annotate secret osh-credentials {ADOPT_ANNOTATION}=ns/osh" in message
    assert "delete it" in message
    assert f"annotate secret <name> {ADOPT_ANNOTATION}=ns/osh" in refusal(["a", "b"], "ns", "osh")


def test_earlier_records_keep_every_copy_the_credentials_secret_first() -> None:
    main = Stored({"nova_db": Credential("nova", PASSWORD)}, {"nova_db": Credential("nova_old", OTHER)})
    backup = Stored({"nova_db": Credential("nova", OTHER), "glance_db": Credential("glance", OTHER)})
    assert earlier_records(main, backup) == Stored(
        {"nova_db": Credential("nova", PASSWORD), "glance_db": Credential("glance", OTHER)},
        {"nova_db": Credential("nova_old", OTHER)})
    assert earlier_records(None, backup) == backup
    assert earlier_records(None, None) == Stored({})


def test_holds() -> None:
    main = Stored({"nova_db": Credential("nova", PASSWORD), "glance_db": Credential("glance", OTHER)})
    assert holds(main, Stored({"nova_db": Credential("nova", PASSWORD)})) and holds(main, None)
    assert not holds(main, Stored({"nova_db": Credential("nova", OTHER)}))
    assert not holds(None, Stored({"nova_db": Credential("nova", PASSWORD)}))


def test_the_amphora_pki_is_generated_as_one_record_and_its_client_certificate_renewed_before_it_expires(
        catalog: Catalog) -> None:
    stored = with_missing(catalog, Stored({}), ["octavia_amphora_pki", "octavia_heartbeat_key"])
    record = stored.current["octavia_amphora_pki"]
    assert record.username == "" and amphora_pki.files(record.password).files["server_ca.cert.pem"].startswith(
        "-----BEGIN CERTIFICATE-----")
    expiry = amphora_pki.not_after(record.password)
    assert renew_due(catalog, stored, expiry - amphora_pki.RENEW_BEFORE * 2) == (stored, [])
    renewed, names = renew_due(catalog, stored, expiry - amphora_pki.RENEW_BEFORE / 2)
    assert names == ["octavia_amphora_pki"] and renewed.previous == {}
    new = renewed.current["octavia_amphora_pki"].password
    assert amphora_pki.not_after(new) > expiry
    assert json.loads(new)["client_ca_cert"] == json.loads(record.password)["client_ca_cert"]  # the same CA
    assert renewed.current["octavia_heartbeat_key"] == stored.current["octavia_heartbeat_key"]
