"""The opaque cursor of a member list: the (joined_at, user_id) of the last member shown."""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime

from tenantry.domain.errors import Invalid
from tenantry.domain.model import Membership

MemberPosition = tuple[datetime, str]


def member_position(membership: Membership) -> MemberPosition:
    """Where a member sorts in a member list."""
    return (membership.joined_at, membership.user_id)


def encode_cursor(position: MemberPosition) -> str:
    joined_at, user_id = position
    payload = json.dumps([joined_at.isoformat(), user_id]).encode()
    return base64.urlsafe_b64encode(payload).decode().rstrip("=")


def decode_cursor(cursor: str) -> MemberPosition:
    """Raises `Invalid` `invalid_cursor` for anything `encode_cursor` did not make."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        joined_at, user_id = json.loads(base64.urlsafe_b64decode(padded.encode()))
        position = (datetime.fromisoformat(joined_at), user_id)
    except (binascii.Error, ValueError, TypeError) as error:
        raise _invalid() from error
    # A naive time cannot be ordered against the stored (aware) ones.
    if position[0].tzinfo is None or not isinstance(user_id, str):
        raise _invalid()
    return position


def _invalid() -> Invalid:
    return Invalid("cursor is not valid", code="invalid_cursor")
