"""The decision: may this user do X in this organisation (and team)? Pure: computed from an
access snapshot compiled once, so a check is a dictionary lookup for an exact grant and a
walk of the (few) wildcard patterns, most specific first, otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from tenantry.domain.access import AccessSnapshot, Grant
from tenantry.domain.permissions import segments_match


class Reason(StrEnum):
    GRANTED = "granted"
    NO_MATCHING_PERMISSION = "no_matching_permission"
    NOT_A_MEMBER = "not_a_member"
    MEMBERSHIP_INACTIVE = "membership_inactive"
    ORG_INACTIVE = "org_inactive"
    ORG_MISMATCH = "org_mismatch"
    TOKEN_REVOKED = "token_revoked"  # noqa: S105 (a reason code, not a secret)
    TEAM_NOT_FOUND = "team_not_found"
    NOT_IN_TEAM = "not_in_team"


@dataclass(frozen=True, slots=True)
class Decision:
    permission: str
    allowed: bool
    reason: Reason
    grant: Grant | None = None


MAX_ANSWERS_PER_SNAPSHOT = 1024


@dataclass(frozen=True, slots=True)
class _Compiled:
    """One scope's grants (the organisation's, or one team's), ready to answer checks."""

    exact: dict[str, Grant]
    # Wildcard patterns, split once, in the order a match is reported (most specific first).
    patterns: tuple[tuple[tuple[str, ...], Grant], ...]

    @classmethod
    def of(cls, grants: list[Grant]) -> _Compiled:
        ordered = sorted(grants, key=lambda g: g.order)
        exact: dict[str, Grant] = {}
        patterns = []
        for grant in ordered:
            if "*" in grant.pattern:
                patterns.append((tuple(grant.pattern.split(":")), grant))
            else:
                exact.setdefault(grant.pattern, grant)  # the first is the best path
        return cls(exact, tuple(patterns))

    def best(self, permission: str, segments: tuple[str, ...]) -> Grant | None:
        found = self.exact.get(permission)
        if found is not None:
            return found  # no wildcard: nothing is more specific
        return next((g for parts, g in self.patterns if segments_match(parts, segments)), None)


@dataclass(frozen=True, slots=True)
class CompiledAccess:
    """An access snapshot compiled for checks. Build it once per snapshot (per epoch)."""

    snapshot: AccessSnapshot
    org: _Compiled
    teams: dict[str, _Compiled] = field(default_factory=dict)
    # Answers already given from this snapshot: it never changes, so neither do they. A warm
    # check is then two dictionary lookups. Bounded, since permissions come from callers.
    answers: dict[tuple[str, str | None, bool], Decision] = field(default_factory=dict)

    @classmethod
    def of(cls, snapshot: AccessSnapshot) -> CompiledAccess:
        by_team: dict[str, list[Grant]] = {}
        for grant in snapshot.grants:
            if grant.team_id is not None:
                by_team.setdefault(grant.team_id, []).append(grant)
        org = _Compiled.of([g for g in snapshot.grants if g.team_id is None])
        return cls(snapshot, org, {t: _Compiled.of(gs) for t, gs in by_team.items()})

    def decide(
        self, permission: str, team_id: str | None = None, *, team_exists: bool = True
    ) -> Decision:
        """`permission` must be well formed (`permissions.parse_permission`): a malformed
        string could match a pattern it should not (five segments under `*:*`)."""
        key = (permission, team_id, team_exists)
        known = self.answers.get(key)
        if known is None:
            known = self._decide(permission, team_id, team_exists)
            if len(self.answers) < MAX_ANSWERS_PER_SNAPSHOT:
                self.answers[key] = known
        return known

    def _decide(self, permission: str, team_id: str | None, team_exists: bool) -> Decision:
        segments = tuple(permission.split(":"))
        grant = self.org.best(permission, segments)
        in_team = self.teams.get(team_id) if team_id is not None else None
        if in_team is not None:
            team_grant = in_team.best(permission, segments)
            if team_grant is not None and (grant is None or team_grant.order < grant.order):
                grant = team_grant
        if grant is not None:
            return Decision(permission, True, Reason.GRANTED, grant)
        if team_id is not None and not team_exists:
            return Decision(permission, False, Reason.TEAM_NOT_FOUND)
        if team_id is not None and in_team is None:
            return Decision(permission, False, Reason.NOT_IN_TEAM)
        return Decision(permission, False, Reason.NO_MATCHING_PERMISSION)


def refused(permission: str, reason: Reason) -> Decision:
    """A decision made before any grant is consulted (no standing in the organisation)."""
    return Decision(permission, False, reason)
