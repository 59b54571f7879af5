"""Every key of the table, built here and nowhere else.

Items of an entity live under its own partition (`USER#…`, `ORG#…`); what must be unique
across the table has an item of its own (`EMAIL#…`, `SLUG#…`), written with
`attribute_not_exists(PK)` in the same transaction as the entity, so two writers of the same
address or slug cannot both commit.
"""

from __future__ import annotations

from datetime import UTC, datetime

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


def membership(org_id: str, user_id: str) -> Key:
    return {"PK": f"ORG#{org_id}", "SK": f"MEMBER#{user_id}"}


MEMBER_PREFIX = "MEMBER#"
MEMBERSHIP_PREFIX = "MEMBERSHIP#"


def sortable(moment: datetime) -> str:
    """A time as text that sorts as the time does: UTC, fixed width, to the microsecond."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def membership_indexes(org_id: str, user_id: str, joined_at: datetime) -> dict[str, str]:
    """A membership in its user's list (GSI1, by join time then organisation) and in its
    organisation's member list (GSI2, by join time then user)."""
    joined = sortable(joined_at)
    return {
        "GSI1PK": f"USER#{user_id}",
        "GSI1SK": f"{MEMBERSHIP_PREFIX}{joined}#{org_id}",
        "GSI2PK": f"ORG#{org_id}#MEMBERS",
        "GSI2SK": f"{joined}#{user_id}",
    }


def after_prefix(prefix: str) -> str:
    """The first string past every string that starts with `prefix` ending in `#`."""
    return prefix[:-1] + chr(ord(prefix[-1]) + 1)


def one_time_token(token_id: str) -> Key:
    return {"PK": f"OTT#{token_id}", "SK": PROFILE}


def one_time_token_hash(token_hash: str) -> Key:
    """The item that names the one-time token with this hash."""
    return {"PK": f"OTTHASH#{token_hash}", "SK": UNIQUE}


def refresh_token(token_id: str) -> Key:
    return {"PK": f"RT#{token_id}", "SK": PROFILE}


def refresh_token_hash(token_hash: str) -> Key:
    """The item that names the refresh token with this hash."""
    return {"PK": f"RTHASH#{token_hash}", "SK": UNIQUE}


def session(session_id: str) -> Key:
    return {"PK": f"SESSION#{session_id}", "SK": PROFILE}


SESSION_PREFIX = "SESSION#"
# Past every character an inverted id is made of (each at most U+00FF).
_INVERTED_END = "\u0100"


def session_index(user_id: str, created_at: datetime, session_id: str) -> dict[str, str]:
    """A session in its user's list (GSI1), read newest first: by creation time descending,
    then by id ascending, so the id is written inverted (each character mirrored, then an end
    mark, so that a shorter id still sorts first)."""
    inverted = "".join(chr(0xFF - ord(c)) for c in session_id) + _INVERTED_END
    return {
        "GSI1PK": f"USER#{user_id}",
        "GSI1SK": f"{SESSION_PREFIX}{sortable(created_at)}#{inverted}",
    }


SIGNING_KEYS = "SIGNING_KEYS"


def signing_key(kid: str) -> Key:
    """The service's signing keys share one partition: the ring is one strongly consistent
    query (a handful of keys, read once per process and on rotation)."""
    return {"PK": SIGNING_KEYS, "SK": f"KEY#{kid}"}


def job(job_id: str) -> Key:
    return {"PK": f"JOB#{job_id}", "SK": PROFILE}


PENDING_JOBS, DONE_JOBS = "JOBS#PENDING", "JOBS#DONE"


def job_index(pending: bool, next_attempt_at: datetime, job_id: str) -> dict[str, str]:
    """A job in the list of pending ones (GSI3) by its next attempt, or out of it once done."""
    return {
        "GSI3PK": PENDING_JOBS if pending else DONE_JOBS,
        "GSI3SK": f"{sortable(next_attempt_at)}#{job_id}",
    }


def identity_link(issuer: str, subject: str) -> Key:
    return {"PK": f"IDENTITY#{issuer}", "SK": f"SUBJECT#{subject}"}


IDENTITY_LINKS = "IDENTITY_LINKS"


def identity_link_indexes(issuer: str, subject: str, user_id: str) -> dict[str, str]:
    """A link in the list of all links (GSI2) and of its user's (GSI1), by issuer then
    subject (code points: the issuer and subject are written as they are, joined by a NUL,
    which neither may hold)."""
    position = f"{issuer}\u0000{subject}"
    return {
        "GSI1PK": f"USER#{user_id}",
        "GSI1SK": f"{IDENTITY_PREFIX}{position}",
        "GSI2PK": IDENTITY_LINKS,
        "GSI2SK": position,
    }


IDENTITY_PREFIX = "IDENTITY#"


def role(org_id: str, role_id: str) -> Key:
    """An organisation's roles share its partition (at most MAX_ROLES_PER_ORG)."""
    return {"PK": f"ORG#{org_id}", "SK": f"ROLE#{role_id}"}


ROLE_PREFIX = "ROLE#"


def role_name(org_id: str, name: str) -> Key:
    """The item that holds a role name, ignoring case, for the one role of the organisation
    that has it."""
    return {"PK": f"ROLENAME#{org_id}#{name.lower()}", "SK": UNIQUE}


def role_assignment(org_id: str, user_id: str, role_id: str) -> Key:
    """A member's assignments share a partition: their roles are one query."""
    return {"PK": f"ORG#{org_id}#MEMBER#{user_id}", "SK": f"ROLE#{role_id}"}


def role_assignment_index(org_id: str, role_id: str, assigned_at: datetime, user_id: str) -> Key:
    """An assignment in the list of who holds the role (GSI1), by assignment time."""
    return {
        "GSI1PK": f"ORG#{org_id}#ROLE#{role_id}",
        "GSI1SK": f"{sortable(assigned_at)}#{user_id}",
    }


def team(org_id: str, team_id: str) -> Key:
    return {"PK": f"ORG#{org_id}", "SK": f"TEAM#{team_id}"}


TEAM_PREFIX = "TEAM#"


def team_index(org_id: str, created_at: datetime, team_id: str) -> Key:
    """A team in its organisation's list (GSI2), by creation time then id."""
    return {"GSI2PK": f"ORG#{org_id}#TEAMS", "GSI2SK": f"{sortable(created_at)}#{team_id}"}


def team_name(org_id: str, name: str) -> Key:
    return {"PK": f"TEAMNAME#{org_id}#{name.lower()}", "SK": UNIQUE}


def team_membership(org_id: str, team_id: str, user_id: str) -> Key:
    return {"PK": f"TEAM#{org_id}#{team_id}", "SK": f"MEMBER#{user_id}"}


def team_membership_indexes(
    org_id: str, team_id: str, user_id: str, team_role: str, joined_at: datetime
) -> Key:
    """A team member in the team's list by join time (GSI2), in the user's teams of the
    organisation by team (GSI1), and among who holds the team role, by team then user (GSI3)."""
    return {
        "GSI1PK": f"ORG#{org_id}#USER#{user_id}",
        "GSI1SK": f"TEAM#{team_id}",
        "GSI2PK": f"TEAM#{org_id}#{team_id}#MEMBERS",
        "GSI2SK": f"{sortable(joined_at)}#{user_id}",
        "GSI3PK": f"ORG#{org_id}#TEAMROLE#{team_role}",
        "GSI3SK": f"{team_id}#{user_id}",
    }


def invitation(org_id: str, invitation_id: str) -> Key:
    return {"PK": f"ORG#{org_id}", "SK": f"INVITATION#{invitation_id}"}


def invitation_index(org_id: str, created_at: datetime, invitation_id: str) -> Key:
    """An invitation in its organisation's list (GSI2), by creation time then id."""
    return {
        "GSI2PK": f"ORG#{org_id}#INVITATIONS",
        "GSI2SK": f"{sortable(created_at)}#{invitation_id}",
    }


def invitation_token(org_id: str, token_hash: str) -> Key:
    """The item that names the invitation with this token (its current one)."""
    return {"PK": f"INVTOKEN#{org_id}#{token_hash}", "SK": UNIQUE}


def pending_invitation(org_id: str, email: str) -> Key:
    """The item that names the one PENDING invitation of the organisation for the address."""
    return {"PK": f"INVPENDING#{org_id}#{email}", "SK": UNIQUE}


def outbox_entry(entry_id: str) -> Key:
    return {"PK": f"MSG#{entry_id}", "SK": PROFILE}


OUTBOX = "OUTBOX#"  # the outbox's lists by status: OUTBOX#PENDING, OUTBOX#DEAD, OUTBOX#SENT


def outbox_index(status: str, next_attempt_at: datetime, entry_id: str) -> Key:
    """An entry in its status's list (GSI3), by its next attempt then id: the pending ones in
    the order they are due, the dead ones in the order they died."""
    return {"GSI3PK": f"{OUTBOX}{status}", "GSI3SK": f"{sortable(next_attempt_at)}#{entry_id}"}


def audit_head(chain_id: str) -> Key:
    """A chain's head: its last seq and hash, how far it is archived, where it starts."""
    return {"PK": f"AUDIT#{chain_id}", "SK": "HEAD"}


AUDIT_EVENT_PREFIX = "SEQ#"
AUDIT_CHAINS = "AUDIT_CHAINS"


def audit_chain_entry(chain_id: str) -> Key:
    """A chain in the list of chains, written with its first event: the heads themselves
    each keep their own partition, so that chains never contend."""
    return {"PK": AUDIT_CHAINS, "SK": chain_id}


def seq_text(seq: int) -> str:
    """A seq as text that sorts as the number does."""
    return f"{seq:020d}"


def audit_event(chain_id: str, seq: int) -> Key:
    """A chain's events share its partition, in seq order."""
    return {"PK": f"AUDIT#{chain_id}", "SK": f"{AUDIT_EVENT_PREFIX}{seq_text(seq)}"}


def audit_list(chain_id: str, by: str, value: str) -> str:
    """The partition of a chain's events that share one value of a filter (`by`: ACTOR,
    RESOURCE, TYPE or REQUEST)."""
    return f"AUDIT#{chain_id}#{by}#{value}"


# The index of each list of a chain's events, and the event attribute it is by.
AUDIT_LISTS = {"REQUEST": "GSI4", "RESOURCE": "GSI2", "ACTOR": "GSI1", "TYPE": "GSI3"}


def audit_event_indexes(chain_id: str, seq: int, event_id: str, by: dict[str, str | None]) -> Key:
    """An event in its chain's lists (`by`: the value of each list's filter it has, in seq
    order), and found by its id (GSI5)."""
    indexes = {"GSI5PK": audit_event_by_id(event_id), "GSI5SK": chain_id}
    for name, value in by.items():
        if value is not None:
            index = AUDIT_LISTS[name]
            indexes[f"{index}PK"] = audit_list(chain_id, name, value)
            indexes[f"{index}SK"] = seq_text(seq)
    return indexes


def audit_event_by_id(event_id: str) -> str:
    return f"AUDITEVENT#{event_id}"
