"""`POST …/invitations/bulk` with a CSV file as its body (`Content-Type: text/csv`), the flags
as query parameters: the same per-row results as JSON, the same file format as
`tenantry invite bulk FILE.csv`; a file that cannot be read is refused whole (422
`invalid_csv`) and changes nothing; other media types are 415."""

from __future__ import annotations

from typing import Any

from tenantry.domain.audit import Outcome
from tests import access_builders as access
from tests.harness import ON_EVERY_STORE_USED, Account, Api, StoreTarget, audit_events
from tests.harness import unique_email as new_email
from tests.integration.account_checks import assert_problem, audit_events_of
from tests.integration.test_invitations import statuses

pytestmark = ON_EVERY_STORE_USED

CSV = {"Content-Type": "text/csv; charset=utf-8"}


def bulk_csv(
    api: Api, inviter: Account, text: str | bytes, *, media: dict[str, str] = CSV, **flags: Any
) -> Any:
    path = access.org_path(inviter, "invitations", "bulk")
    query = {name: str(value).lower() for name, value in flags.items()}
    body = text.encode() if isinstance(text, str) else text
    return api.client.post(path, content=body, params=query, headers={**inviter.auth, **media})


def listed(api: Api, owner: Account) -> list[dict[str, Any]]:
    page = api.client.get(access.org_path(owner, "invitations"), headers=owner.auth)
    assert page.status_code == 200, page.text
    items: list[dict[str, Any]] = page.json()["items"]
    return items


def test_a_csv_file_gets_a_result_for_every_row_and_the_good_ones_are_written_and_mailed(
    api: Api, store_target: StoreTarget
) -> None:
    owner, org = api.owner_with_org()
    member = api.member_of(org["id"])
    team = access.made_team(api, owner, "Support")
    role = access.made_role(api, owner, "Biller", ["billing:read"])
    plain, teamed, twice = new_email("plain"), new_email("teamed"), new_email("twice")
    text = (
        "email,org_role,role_ids,team_id,team_role\n"
        f"{plain},,,,\n"
        f"{teamed},ADMIN,{role},{team},LEAD\n"
        f"{member.email},,,,\n"
        "not an address,,,,\n"
        f"{twice},,,,\n"
        f"{twice.upper()},,,,\n"
    )

    answer = bulk_csv(api, owner, text)

    assert statuses(answer) == [
        ("created", None),
        ("created", None),
        ("already_member", "already_member"),
        ("invalid", "invalid_email"),
        ("created", None),
        ("duplicate", "duplicate_row"),
    ]
    assert answer.json()["written"] is True
    made = {i["email"]: i for i in listed(api, owner)}
    assert set(made) == {plain, teamed, twice}
    assert made[plain]["org_role"] == "MEMBER"
    assert (made[teamed]["org_role"], made[teamed]["role_ids"]) == ("ADMIN", [role])
    assert (made[teamed]["team_id"], made[teamed]["team_role"]) == (team, "LEAD")
    assert [len(api.mailbox.messages_to(e)) for e in (plain, teamed, twice)] == [1, 1, 1]
    created = access.successes(store_target, org["id"], "invitation.create")
    assert set(created) == {i["id"] for i in made.values()}


def test_a_spreadsheet_export_with_a_byte_order_mark_crlf_and_quotes_is_read(api: Api) -> None:
    owner, _ = api.owner_with_org()
    first, second = new_email("first"), new_email("second")
    text = f'\ufeff"email","org_role"\r\n"{first}","ADMIN"\r\n{second}, MEMBER \r\n'

    answer = bulk_csv(api, owner, text)

    assert statuses(answer) == [("created", None), ("created", None)]
    roles = {i["email"]: i["org_role"] for i in listed(api, owner)}
    assert roles == {first: "ADMIN", second: "MEMBER"}


def test_the_flags_of_a_csv_body_are_query_parameters(api: Api) -> None:
    owner, org = api.owner_with_org()
    member = api.member_of(org["id"])
    dry, good = new_email("dry"), new_email("good")

    tried = bulk_csv(api, owner, f"email\n{dry}\n", dry_run=True)
    refused = bulk_csv(api, owner, f"email\n{good}\n{member.email}\n", all_or_nothing=True)

    assert statuses(tried) == [("created", None)]
    assert tried.json()["written"] is False
    assert statuses(refused) == [("created", None), ("already_member", "already_member")]
    assert refused.json()["written"] is False
    assert listed(api, owner) == []
    assert api.mailbox.messages_to(dry) == api.mailbox.messages_to(good) == []


def test_a_file_that_cannot_be_read_is_refused_whole_and_changes_nothing(
    api: Api, store_target: StoreTarget
) -> None:
    owner, org = api.owner_with_org()
    good = new_email("good")
    files: dict[str, str | bytes] = {
        "no email column": f"address\n{good}\n",
        "an unknown column": f"email,nickname\n{good},Ivy\n",
        "an unknown role": f"email,org_role\n{good},MEMBER\n{new_email()},EMPEROR\n",
        "more cells than the header": f"email\n{good}\n{new_email()},ADMIN\n",
        "not UTF-8": f"email\n{good}\n".encode() + b"\xff\xfe@example.com\n",
        "empty": "",
    }
    before = len(audit_events(store_target, org_id=org["id"]))

    answers = {name: bulk_csv(api, owner, text) for name, text in files.items()}

    details = {name: assert_problem(a, 422, "invalid_csv")["detail"] for name, a in answers.items()}
    assert "line 3" in details["an unknown role"]
    assert "line 3" in details["more cells than the header"]
    assert "nickname" in details["an unknown column"]
    assert listed(api, owner) == []
    assert api.mailbox.messages_to(good) == []
    assert len(audit_events(store_target, org_id=org["id"])) == before


def test_a_csv_file_over_the_row_limit_is_refused_whole(api: Api) -> None:
    owner, _ = api.owner_with_org()
    size = api.tenantry.settings.bulk_invitation_max
    text = "email\n" + "".join(f"{new_email()}\n" for _ in range(size + 1))

    assert_problem(bulk_csv(api, owner, text), 422, "too_many_rows")
    assert listed(api, owner) == []


def test_a_member_without_invitation_create_is_refused_a_csv_file_on_record(
    api: Api, store_target: StoreTarget
) -> None:
    _, org = api.owner_with_org()
    member = api.member_of(org["id"])

    answer = bulk_csv(api, member, f"email\n{new_email()}\n")

    assert_problem(answer, 403, "permission_denied")
    refused = audit_events_of(store_target, answer, org_id=org["id"])
    assert [(e.action, e.outcome) for e in refused] == [("invitation:create", Outcome.DENIED)]


def test_only_json_and_csv_are_taken_and_csv_only_by_bulk(api: Api) -> None:
    owner, _ = api.owner_with_org()
    email = new_email()

    as_text = bulk_csv(api, owner, f"email\n{email}\n", media={"Content-Type": "text/plain"})
    single = api.client.post(
        access.org_path(owner, "invitations"),
        content=f"email\n{email}\n",
        headers={**owner.auth, **CSV},
    )

    assert "text/csv" in assert_problem(as_text, 415, "unsupported_media_type")["detail"]
    assert "text/csv" not in assert_problem(single, 415, "unsupported_media_type")["detail"]
    assert listed(api, owner) == []


def test_a_json_body_is_still_validated_as_before(api: Api) -> None:
    owner, _ = api.owner_with_org()
    path = access.org_path(owner, "invitations", "bulk")
    json_type = {**owner.auth, "Content-Type": "application/json"}

    broken = api.client.post(path, content=b'{"invitations": [', headers=json_type)
    wrong = api.client.post(
        path,
        json={"invitations": [{"email": new_email(), "org_role": "EMPEROR"}]},
        headers=owner.auth,
    )
    empty = api.client.post(path, json={"invitations": []}, headers=owner.auth)

    assert_problem(broken, 400, "malformed_json")
    fields = assert_problem(wrong, 422, "validation_failed")["errors"]
    assert [f["field"] for f in fields] == ["invitations.0.org_role"]
    assert assert_problem(empty, 422, "validation_failed")["errors"][0]["field"] == "invitations"
    assert listed(api, owner) == []


def test_the_api_document_offers_both_bodies(api: Api) -> None:
    document = api.client.get("/openapi.json").json()

    body = document["paths"]["/v1/organisations/{org_id}/invitations/bulk"]["post"]["requestBody"]

    assert set(body["content"]) == {"application/json", "text/csv"}
    ref = body["content"]["application/json"]["schema"]["$ref"]
    schemas = document["components"]["schemas"]
    assert schemas[ref.rsplit("/", 1)[1]]["properties"]["invitations"]["items"]["$ref"]
    assert "InvitationIn" in schemas
    assert "x-tenantry-body-schemas" not in str(document)
