"""Organisation settings over HTTP: how PATCH merges them, and the limits a settings document
keeps (domain/org_settings.py). A refused patch changes nothing and records no update; the
organisation still reads 200 afterwards. On SQLite and on PostgreSQL with forced RLS."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tenantry.domain import org_settings
from tenantry.domain.model import Organisation
from tenantry.domain.organisations import revise
from tests.harness import ON_EVERY_STORE, Account, Api, StoreTarget, audit_events
from tests.integration.account_checks import assert_problem
from tests.org_builders import patch_org, stored_organisation

pytestmark = ON_EVERY_STORE


def nested(depth: int, bottom: Any = "bottom") -> Any:
    """`depth` objects inside one another: `nested(2)` is `{"a": {"a": "bottom"}}`."""
    value = bottom
    for _ in range(depth):
        value = {"a": value}
    return value


def patch_raw(api: Api, account: Account, org_id: str, text: str) -> Any:
    """A PATCH body as the client wrote it, escapes and NaN literals included."""
    return api.client.patch(
        f"/v1/organisations/{org_id}",
        content=text.encode(),
        headers={**account.auth, "Content-Type": "application/json"},
    )


def stored(api: Api, org_id: str) -> Organisation:
    org = stored_organisation(api.tenantry, org_id)
    assert org is not None
    return org


def updates(target: StoreTarget, org_id: str) -> list[Any]:
    return audit_events(target, org_id=org_id, action="organisation.update")


def assert_reads_still_answer(api: Api, owner: Account, org_id: str) -> dict[str, Any]:
    read = api.client.get(f"/v1/organisations/{org_id}", headers=owner.auth)
    mine = api.client.get("/v1/organisations", headers=owner.auth)
    assert (read.status_code, mine.status_code) == (200, 200), (read.text, mine.text)
    assert org_id in [org["id"] for org in mine.json()["items"]]
    body: dict[str, Any] = read.json()
    return body


def test_settings_nested_256_deep_are_refused_before_anything_is_written(
    api: Api, store_target: StoreTarget
) -> None:
    owner, org = api.owner_with_org()
    assert patch_org(api, owner, org["id"], {"settings": {"theme": "dark"}}).status_code == 200
    before, updates_before = stored(api, org["id"]), updates(store_target, org["id"])

    refused = patch_org(api, owner, org["id"], {"settings": {"deep": nested(256)}})

    body = assert_problem(refused, 422, "invalid_settings")
    # The settings object is level 1, so the 16th level is the 15th `a` under `deep`.
    assert body["path"] == "/deep" + "/a" * 15
    assert "16" in body["detail"]
    assert stored(api, org["id"]) == before
    assert updates(store_target, org["id"]) == updates_before
    assert assert_reads_still_answer(api, owner, org["id"])["settings"] == {"theme": "dark"}
    again = patch_org(api, owner, org["id"], {"settings": {"tz": "UTC"}})
    assert again.status_code == 200, again.text
    assert stored(api, org["id"]).settings == {"theme": "dark", "tz": "UTC"}


# Each as raw JSON text: the escapes and literals a client can send that no JSON encoder in
# Python would write from a str.
REFUSED = [
    ('{"settings": {"y": "\\ud800"}}', "/y", "unpaired surrogates"),
    ('{"settings": {"y": "a\\u0000b"}}', "/y", "NUL"),
    ('{"settings": {"k\\u0000": "v"}}', "/k\\u0000", "NUL"),
    ('{"settings": {"y": [1, {"z": "\\u0000"}]}}', "/y/1/z", "NUL"),
    ('{"settings": {"y": NaN}}', "/y", "finite"),
    ('{"settings": {"y": {"z": -Infinity}}}', "/y/z", "finite"),
    ('{"settings": {"y": 9007199254740992}}', "/y", "numbers must be within"),
    ('{"settings": {"y": -1' + "0" * 400 + "}}", "/y", "numbers must be within"),
    ('{"settings": {"y": [1e20]}}', "/y/0", "numbers must be within"),
    ('{"settings": {"y": {"z": null}}}', "/y/z", "null"),
    ('{"settings": {"": 1}}', "/", "keys"),
    ('{"settings": {"a/b~c": {"' + "k" * 129 + '": 1}}}', "/a~1b~0c/" + "k" * 40 + "…", "keys"),
    (json.dumps({"settings": {"s": "x" * 4097}}), "/s", "strings"),
    (json.dumps({"settings": {"wide": {f"k{n}": n for n in range(101)}}}), "/wide", "keys"),
]


@pytest.mark.parametrize(("text", "path", "reason"), REFUSED)
def test_a_value_that_is_not_plain_json_is_refused_and_named(
    api: Api, store_target: StoreTarget, text: str, path: str, reason: str
) -> None:
    owner, org = api.owner_with_org()
    before = stored(api, org["id"])

    refused = patch_raw(api, owner, org["id"], text)

    body = assert_problem(refused, 422, "invalid_settings")
    assert (body["path"], reason in body["detail"]) == (path, True), body
    assert stored(api, org["id"]) == before
    assert updates(store_target, org["id"]) == []
    assert assert_reads_still_answer(api, owner, org["id"])["settings"] == {}


def test_the_limits_themselves_are_allowed(api: Api, store_target: StoreTarget) -> None:
    owner, org = api.owner_with_org()
    at_the_limits = {
        "deep": nested(org_settings.MAX_DEPTH - 1),  # 16 levels with the settings object
        "k" * org_settings.MAX_KEY_LENGTH: "s" * org_settings.MAX_STRING_LENGTH,
        "wide": {f"k{n}": n for n in range(org_settings.MAX_KEYS_PER_OBJECT)},
        "numbers": [2**53 - 1, -(2**53 - 1), 1.5e15, -0.1, True, False, "ünïcødé 👩‍💻"],
    }

    accepted = patch_org(api, owner, org["id"], {"settings": at_the_limits})

    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["settings"] == at_the_limits
    assert stored(api, org["id"]).settings == at_the_limits
    assert assert_reads_still_answer(api, owner, org["id"])["settings"] == at_the_limits
    assert [e.details["fields"] for e in updates(store_target, org["id"])] == [["settings"]]


def test_patch_merges_shallowly_and_null_deletes_a_key(api: Api, store_target: StoreTarget) -> None:
    owner, org = api.owner_with_org()
    first = {"look": {"theme": "dark", "font": "serif"}, "tz": "UTC", "beta": True}
    assert patch_org(api, owner, org["id"], {"settings": first}).status_code == 200

    merged = patch_org(
        api, owner, org["id"], {"settings": {"look": {"theme": "light"}, "beta": None}}
    )

    assert merged.status_code == 200, merged.text
    # `look` is replaced whole (its `font` is gone), `beta` deleted, `tz` kept.
    expected = {"look": {"theme": "light"}, "tz": "UTC"}
    assert merged.json()["settings"] == expected
    assert stored(api, org["id"]).settings == expected
    assert len(updates(store_target, org["id"])) == 2


def test_merged_settings_over_16_kib_are_refused_as_too_large(
    api: Api, store_target: StoreTarget
) -> None:
    owner, org = api.owner_with_org()
    half = {f"part{n}": "x" * 2000 for n in range(4)}  # about 8 KB
    assert patch_org(api, owner, org["id"], {"settings": half}).status_code == 200
    before, updates_before = stored(api, org["id"]), updates(store_target, org["id"])

    refused = patch_org(
        api, owner, org["id"], {"settings": {f"more{n}": "y" * 2000 for n in range(5)}}
    )

    assert_problem(refused, 422, "settings_too_large")
    assert stored(api, org["id"]) == before
    assert updates(store_target, org["id"]) == updates_before


def test_a_stored_key_that_breaks_the_rules_is_named_and_can_be_deleted(
    api: Api, store_target: StoreTarget
) -> None:
    """Settings stored before the limits existed: the next patch names the key to delete."""
    owner, org = api.owner_with_org()
    current = stored(api, org["id"])
    with api.tenantry.store.unit_of_work(org_id=org["id"]) as uow:
        uow.organisations.update(
            revise(current, settings={"old": nested(20)}), expected_version=current.version
        )
        uow.commit()

    refused = patch_org(api, owner, org["id"], {"settings": {"new": 1}})
    deleted = patch_org(api, owner, org["id"], {"settings": {"old": None, "new": 1}})

    assert assert_problem(refused, 422, "invalid_settings")["path"] == "/old" + "/a" * 15
    assert deleted.status_code == 200, deleted.text
    assert stored(api, org["id"]).settings == {"new": 1}
    assert [e.details["fields"] for e in updates(store_target, org["id"])] == [["settings"]]
