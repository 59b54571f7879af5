"""The opaque cursors of every store's lists, and the page a list read ends with.

A cursor is the sort position of the last item a page showed: a time and an id, encoded.
Lists other than the member list also name themselves in their cursors (and, for the newer
ones, the organisation or team they list), so a cursor handed out by one list is refused by
another. Anything `encode_cursor` did not make is `Invalid` `invalid_cursor`, before it
reaches a query.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TypeVar

from tenantry.domain.errors import Invalid
from tenantry.domain.invitations import Invitation
from tenantry.domain.model import Membership, Page, Session
from tenantry.domain.roles import Role
from tenantry.domain.teams import Team, TeamMembership

T = TypeVar("T")
Position = tuple[datetime, str]

# The member list's cursors were shipped without a name; they keep that shape.
MEMBERS: str | None = None
SESSIONS = "sessions"
MEMBERSHIPS = "memberships"
TEAMS = "teams"
TEAM_MEMBERS = "team_members"
INVITATIONS = "invitations"
_MAX_KEY_LENGTH = 40  # ids fit the 40-character id columns


def scoped(kind: str, *ids: str) -> str:
    """The kind of one organisation's (or one team's) list: its cursors name what they page
    through, so a cursor of another organisation's list is refused like another list's."""
    return ":".join((kind, *ids))


def encode_cursor(position: Position, *, kind: str | None) -> str:
    moment, key = position
    fields = [moment.isoformat(), key] if kind is None else [kind, moment.isoformat(), key]
    return base64.urlsafe_b64encode(json.dumps(fields).encode()).decode().rstrip("=")


def decode_cursor(cursor: str, *, kind: str | None) -> Position:
    """The position `encode_cursor(position, kind=kind)` encoded, or `Invalid` `invalid_cursor`."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        fields = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (binascii.Error, ValueError, TypeError) as error:  # UnicodeError is a ValueError
        raise _invalid() from error
    prefix = [] if kind is None else [kind]
    if not isinstance(fields, list) or len(fields) != len(prefix) + 2:
        raise _invalid()
    if fields[: len(prefix)] != prefix:
        raise _invalid()
    moment, key = fields[-2:]
    if not isinstance(moment, str) or not _is_id(key):
        raise _invalid()
    try:
        when = datetime.fromisoformat(moment)
        # A naive time cannot be ordered against the stored (aware) ones; an aware one at the
        # edge of the calendar may not convert to UTC, where the stores compare.
        if when.tzinfo is None:
            raise ValueError("cursor time has no zone")
        return when.astimezone(UTC), key
    except (ValueError, OverflowError) as error:
        raise _invalid() from error


def member_position(membership: Membership) -> Position:
    """Where a member sorts in a member list: by join time, then user id."""
    return (membership.joined_at, membership.user_id)


def membership_position(membership: Membership) -> Position:
    """Where a membership sorts in a user's list: by join time, then organisation id."""
    return (membership.joined_at, membership.org_id)


def session_position(session: Session) -> Position:
    """Where a session sorts in a user's list: newest first, then by id."""
    return (session.created_at, session.id)


def team_position(team: Team) -> Position:
    """Where a team sorts in its organisation's list: by creation time, then id."""
    return (team.created_at, team.id)


def invitation_position(invitation: Invitation) -> Position:
    """Where an invitation sorts in its organisation's list: by creation time, then id."""
    return (invitation.created_at, invitation.id)


def team_member_position(membership: TeamMembership) -> Position:
    """Where a member sorts in a team's member list: by join time, then user id."""
    return (membership.joined_at, membership.user_id)


def role_order(role: Role) -> tuple[str, str]:
    """Where a role sorts in its organisation's list: by name ignoring case, then id. Every
    store sorts the (capped) list with this key, whatever its database's collation."""
    return (role.name.lower(), role.id)


def page_of(
    items: list[T], *, limit: int, position: Callable[[T], Position], kind: str | None
) -> Page[T]:
    """The first `limit` of `items` (the list from the cursor on, in its order; a store may
    stop reading after `limit + 1`), with a cursor after the last one if any item is left."""
    if len(items) <= limit:
        return Page(items)
    shown = items[:limit]
    return Page(shown, encode_cursor(position(shown[-1]), kind=kind))


def _is_id(key: object) -> bool:
    # Ids are short printable ASCII; anything else (NUL above all, which PostgreSQL text
    # cannot hold) is refused here rather than by the database.
    return (
        isinstance(key, str)
        and 0 < len(key) <= _MAX_KEY_LENGTH
        and key.isascii()
        and key.isprintable()
    )


def _invalid() -> Invalid:
    return Invalid("cursor is not valid", code="invalid_cursor")
