"""InvitationsRepository: found by id, by its current token's hash and by address while
pending; listed by creation time with the status as of `now`; counted since a time; and the
two preconditions: one pending invitation an address, and an update only of the invitation as
it was read."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

from tenantry.domain.errors import Conflict
from tenantry.domain.ids import new_id
from tenantry.domain.invitations import Invitation, InvitationStatus
from tenantry.domain.model import Organisation
from tenantry.domain.roles import OrgRole
from tenantry.store.open import Store
from tests.contract.builders import AT, minutes
from tests.contract.steps import committed, given_org, given_user, read, refused
from tests.harness import unique_email

PENDING, ACCEPTED = InvitationStatus.PENDING, InvitationStatus.ACCEPTED


def make_invitation(org: Organisation, **changes: Any) -> Invitation:
    invitation = Invitation(
        id=new_id("inv"),
        org_id=org.id,
        email=unique_email("invited"),
        org_role=OrgRole.MEMBER,
        role_ids=(),
        team_id=None,
        team_role=None,
        invited_by=org.created_by,
        inviter_name="Ada",
        token_hash=new_id("hash"),
        status=PENDING,
        created_at=AT,
        expires_at=AT + timedelta(days=7),
        last_sent_at=AT,
    )
    return replace(invitation, **changes)


def given_invitation(store: Store, org: Organisation, **changes: Any) -> Invitation:
    invitation = make_invitation(org, **changes)
    committed(store, lambda uow: uow.invitations.add(invitation), org_id=org.id)
    return invitation


def an_org(store: Store) -> Organisation:
    inviter = given_user(store)
    return given_org(store, created_by=inviter.id)


def test_an_invitation_is_found_by_id_by_its_token_and_while_pending_by_its_address(
    store: Store,
) -> None:
    org = an_org(store)
    invitation = given_invitation(store, org, role_ids=("rol_a", "rol_b"))

    def lookups(uow: Any) -> tuple[object, ...]:
        return (
            uow.invitations.get(org.id, invitation.id),
            uow.invitations.get_by_token_hash(org.id, invitation.token_hash),
            uow.invitations.pending_for(org.id, invitation.email),
            uow.invitations.pending_for(org.id, "x" + invitation.email),
            uow.invitations.get_by_token_hash(org.id, "not-a-hash"),
        )

    assert read(store, lookups, org_id=org.id) == (invitation, invitation, invitation, None, None)


def test_a_second_pending_invitation_for_the_address_is_refused(store: Store) -> None:
    org = an_org(store)
    first = given_invitation(store, org)
    second = make_invitation(org, email=first.email)

    error = refused(store, lambda uow: uow.invitations.add(second), org_id=org.id)

    assert type(error) is Conflict
    assert error.code == "invitation_pending"
    assert read(store, lambda uow: uow.invitations.get(org.id, second.id), org_id=org.id) is None


def test_a_resend_moves_the_token_and_an_ended_invitation_frees_the_address(
    store: Store,
) -> None:
    org = an_org(store)
    invitation = given_invitation(store, org)
    resent = invitation.resent(new_id("hash"), now=AT + minutes(5), expires_at=AT + timedelta(8))
    committed(store, lambda uow: uow.invitations.update(resent, expected=invitation), org_id=org.id)
    accepted = replace(resent, status=ACCEPTED, accepted_by=org.created_by, ended_at=AT)
    committed(store, lambda uow: uow.invitations.update(accepted, expected=resent), org_id=org.id)
    again = given_invitation(store, org, email=invitation.email)

    def lookups(uow: Any) -> tuple[object, ...]:
        return (
            uow.invitations.get_by_token_hash(org.id, invitation.token_hash),
            uow.invitations.get_by_token_hash(org.id, resent.token_hash),
            uow.invitations.get(org.id, invitation.id),
            uow.invitations.pending_for(org.id, invitation.email),
        )

    assert read(store, lookups, org_id=org.id) == (None, accepted, accepted, again)


def test_an_update_of_an_invitation_changed_since_it_was_read_is_refused(store: Store) -> None:
    org = an_org(store)
    invitation = given_invitation(store, org)
    resent = invitation.resent(new_id("hash"), now=AT + minutes(5), expires_at=AT + timedelta(8))
    committed(store, lambda uow: uow.invitations.update(resent, expected=invitation), org_id=org.id)
    stale = replace(invitation, status=ACCEPTED, ended_at=AT)  # decided on the first read

    error = refused(
        store, lambda uow: uow.invitations.update(stale, expected=invitation), org_id=org.id
    )

    assert type(error) is Conflict
    assert error.code == "invitation_changed"
    assert read(store, lambda uow: uow.invitations.get(org.id, invitation.id), org_id=org.id) == (
        resent
    )


def test_the_list_pages_by_creation_time_with_the_status_as_of_now(store: Store) -> None:
    org = an_org(store)
    made = [
        given_invitation(store, org, created_at=AT + minutes(n), expires_at=AT + minutes(10 + n))
        for n in range(5)
    ]
    now = AT + minutes(11) + timedelta(seconds=30)  # the first two have expired by now
    first = read(
        store,
        lambda uow: uow.invitations.list(org.id, status=None, now=now, limit=3, cursor=None),
        org_id=org.id,
    )
    rest = read(
        store,
        lambda uow: uow.invitations.list(
            org.id, status=None, now=now, limit=3, cursor=first.next_cursor
        ),
        org_id=org.id,
    )
    expired = read(
        store,
        lambda uow: uow.invitations.list(
            org.id, status=InvitationStatus.EXPIRED, now=now, limit=10, cursor=None
        ),
        org_id=org.id,
    )
    pending = read(
        store,
        lambda uow: uow.invitations.list(org.id, status=PENDING, now=now, limit=10, cursor=None),
        org_id=org.id,
    )

    assert [i.id for i in first.items + rest.items] == [i.id for i in made]
    assert rest.next_cursor is None
    assert [i.id for i in expired.items] == [i.id for i in made[:2]]
    assert [i.id for i in pending.items] == [i.id for i in made[2:]]


def test_invitations_are_counted_from_a_time_on(store: Store) -> None:
    org = an_org(store)
    for n in range(4):
        given_invitation(store, org, created_at=AT + minutes(n))

    counted = read(
        store,
        lambda uow: uow.invitations.count_created_since(org.id, AT + minutes(2)),
        org_id=org.id,
    )

    assert counted == 2
