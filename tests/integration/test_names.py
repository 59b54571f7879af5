"""Display names over HTTP (domain/names.py): a name must show at least one visible character
and hold no bidi control, so that what a member list or an email shows is what was typed.
Refused at sign-up, at organisation registration and at rename, with nothing stored."""

from __future__ import annotations

import pytest

from tests.harness import (
    ON_EVERY_STORE,
    Api,
    Mailbox,
    StoreTarget,
    audit_events,
    unique_email,
    unique_slug,
)
from tests.integration.account_checks import assert_problem, audit_events_of
from tests.org_builders import (
    membership_rows_of,
    organisation_rows_with_slug,
    organisations_created_by,
    patch_org,
    register_org,
    stored_organisation,
)

BAD_NAMES = {
    "zero-width spaces only": "\u200b\u200b",
    "zero-width joiner and BOM only": "\u200d\ufeff",
    "a combining mark alone": "\u0301",
    "Hangul filler": "\u3164",
    "right-to-left override": "Acme\u202egnp.exe",
    "left-to-right embedding": "\u202aAcme",
    "pop directional formatting": "Acme\u202c",
    "first strong isolate": "\u2068Acme\u2069",
    "right-to-left mark": "Acme\u200f",
    "arabic letter mark": "Acme\u061c",
    "an escape character": "Acme\x1b[31m",
}
GOOD_NAMES = {
    "accents": "Zoë Ångström",
    "CJK": "李小龍",
    "an emoji with a zero-width joiner": "👩\u200d💻 Dev Team",
    "Persian with a zero-width non-joiner": "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645",
    "Hebrew": "חברה בע״מ",
}

pytestmark = ON_EVERY_STORE


@pytest.mark.parametrize("name", BAD_NAMES.values(), ids=BAD_NAMES.keys())
def test_signup_with_an_invisible_or_bidi_name_is_refused_and_stores_no_user(
    api: Api, mailbox: Mailbox, store_target: StoreTarget, name: str
) -> None:
    email = unique_email("badname")

    response = api.signup(email, name=name)

    assert_problem(response, 422, "invalid_name")
    with api.tenantry.store.unit_of_work() as uow:
        assert uow.users.get_by_email(email) is None
    assert mailbox.deliver() == []
    assert audit_events_of(store_target, response) == []


@pytest.mark.parametrize("name", BAD_NAMES.values(), ids=BAD_NAMES.keys())
def test_an_organisation_with_an_invisible_or_bidi_name_is_not_created(
    api: Api, store_target: StoreTarget, name: str
) -> None:
    founder, slug = api.verified_account(), unique_slug("badname")

    response = register_org(api, founder, slug, name=name)

    assert_problem(response, 422, "invalid_name")
    assert organisation_rows_with_slug(store_target, slug) == []
    assert membership_rows_of(store_target, founder.user_id) == []
    assert organisations_created_by(store_target, founder.user_id) == []


@pytest.mark.parametrize("name", BAD_NAMES.values(), ids=BAD_NAMES.keys())
def test_renaming_an_organisation_to_an_invisible_or_bidi_name_changes_nothing(
    api: Api, store_target: StoreTarget, name: str
) -> None:
    owner, org = api.owner_with_org()
    before = stored_organisation(api.tenantry, org["id"])

    response = patch_org(api, owner, org["id"], {"name": name})

    assert_problem(response, 422, "invalid_name")
    assert stored_organisation(api.tenantry, org["id"]) == before
    assert audit_events(store_target, org_id=org["id"], action="organisation.update") == []


@pytest.mark.parametrize("name", GOOD_NAMES.values(), ids=GOOD_NAMES.keys())
def test_names_in_any_script_are_kept_as_written(
    api: Api, store_target: StoreTarget, name: str
) -> None:
    owner, org = api.owner_with_org()

    response = patch_org(api, owner, org["id"], {"name": name})

    assert response.status_code == 200, response.text
    assert response.json()["name"] == name
    stored = stored_organisation(api.tenantry, org["id"])
    assert stored is not None
    assert stored.name == name
    updates = audit_events(store_target, org_id=org["id"], action="organisation.update")
    assert [e.details["fields"] for e in updates] == [["name"]]
