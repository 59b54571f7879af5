"""Every key of the table, built here and nowhere else.

Items of an entity live under its own partition (`USER#…`, `ORG#…`); what must be unique
across the table has an item of its own (`EMAIL#…`, `SLUG#…`), written with
`attribute_not_exists(PK)` in the same transaction as the entity, so two writers of the same
address or slug cannot both commit.
"""

from __future__ import annotations

PROFILE = "PROFILE"
UNIQUE = "UNIQUE"

Key = dict[str, str]


def user(user_id: str) -> Key:
    return {"PK": f"USER#{user_id}", "SK": PROFILE}


def email(address: str) -> Key:
    """The item that holds an address for the one user who has it."""
    return {"PK": f"EMAIL#{address}", "SK": UNIQUE}


def organisation(org_id: str) -> Key:
    return {"PK": f"ORG#{org_id}", "SK": PROFILE}


def slug(value: str) -> Key:
    """The item that holds a slug for the one organisation that has it, deleted or not."""
    return {"PK": f"SLUG#{value}", "SK": UNIQUE}
