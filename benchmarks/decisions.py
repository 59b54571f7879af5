"""Warm in-process decisions per second, side by side in one run: tenantry's compiled snapshot,
pycasbin on an equivalent RBAC-with-domains model, and a bare Python set lookup (the floor).

Run: .venv/bin/python -m pip install casbin && .venv/bin/python benchmarks/decisions.py

Dataset (issue 8): 1,000 organisations x 20 users x 3 custom roles of 15 permissions each,
wildcards included. Every user is a MEMBER and holds 3 of their organisation's 5 roles. The
queries are the same random (organisation, user, permission) triples for every contender (the
share allowed is reported). Written to docs/benchmarks.md between this script's markers.
"""

from __future__ import annotations

import os
import platform
import random
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from report import cpu_model, replace_section

from tenantry.authorizer.memory import SnapshotCache
from tenantry.domain.access import build_snapshot
from tenantry.domain.decision import CompiledAccess
from tenantry.domain.roles import OrgRole, Role, RoleAssignment, RoleScope

ORGS, USERS, ROLES_PER_ORG, ROLES_PER_USER, PERMISSIONS_PER_ROLE = 1000, 20, 5, 3, 15
QUERIES = 200_000
CASBIN_QUERIES = 20_000
RESOURCES = ["site", "page", "billing", "report", "team", "asset", "comment", "deploy"]
ACTIONS = ["read", "create", "update", "delete", "publish", "export", "approve", "view"]
NOW = datetime(2026, 1, 1, tzinfo=UTC)
Query = tuple[str, str, str]


def role_permissions(rng: random.Random) -> tuple[str, ...]:
    """15 distinct permissions, about one in five a wildcard (`site:*`, `*:read`, ...)."""
    chosen: set[str] = set()
    while len(chosen) < PERMISSIONS_PER_ROLE:
        resource, action = rng.choice(RESOURCES), rng.choice(ACTIONS)
        shape = rng.random()
        if shape < 0.1:
            chosen.add(f"{resource}:*")
        elif shape < 0.2:
            chosen.add(f"*:{action}")
        else:
            chosen.add(f"{resource}:{action}")
    return tuple(sorted(chosen))


def dataset(rng: random.Random) -> dict[tuple[str, str], CompiledAccess]:
    compiled = {}
    for o in range(ORGS):
        org_id = f"org_{o}"
        roles = {
            f"rol_{o}_{r}": Role(
                f"rol_{o}_{r}",
                org_id,
                f"Role {r}",
                role_permissions(rng),
                RoleScope.ORGANISATION,
                NOW,
            )
            for r in range(ROLES_PER_ORG)
        }
        for u in range(USERS):
            user_id = f"usr_{o}_{u}"
            held = rng.sample(sorted(roles), ROLES_PER_USER)
            snapshot = build_snapshot(
                org_id=org_id,
                user_id=user_id,
                org_role=OrgRole.MEMBER,
                epoch=1,
                roles=roles,
                assignments=[RoleAssignment(org_id, user_id, r, NOW, "bench") for r in held],
                team_memberships=[],
            )
            compiled[(org_id, user_id)] = CompiledAccess.of(snapshot)
    return compiled


def queries(rng: random.Random, count: int) -> list[Query]:
    """(organisation, one of its users, permission) triples, drawn at random."""
    asked = []
    for _ in range(count):
        o, u = rng.randrange(ORGS), rng.randrange(USERS)
        asked.append((f"org_{o}", f"usr_{o}_{u}", f"{rng.choice(RESOURCES)}:{rng.choice(ACTIONS)}"))
    return asked


def per_second(check: Callable[[str, str, str], bool], asked: list[Query]) -> float:
    started = time.perf_counter()
    for org_id, user_id, permission in asked:
        check(org_id, user_id, permission)
    return len(asked) / (time.perf_counter() - started)


CASBIN_MODEL = """
[request_definition]
r = sub, dom, obj
[policy_definition]
p = sub, dom, obj
[role_definition]
g = _, _, _
[policy_effect]
e = some(where (p.eft == allow))
[matchers]
m = g(r.sub, p.sub, r.dom) && r.dom == p.dom && keyMatch(r.obj, p.obj)
"""


def casbin_enforcer(compiled: dict[tuple[str, str], CompiledAccess]) -> object:
    """RBAC with domains: users get roles per organisation, roles hold (organisation,
    permission) policies, `keyMatch` plays the wildcard (a superset of our grammar's)."""
    import casbin
    from casbin import persist

    model = Path(tempfile.mkdtemp()) / "rbac_with_domains.conf"
    model.write_text(CASBIN_MODEL)
    # FastEnforcer indexes policies by domain (the second field): its fastest mode here.
    enforcer = casbin.FastEnforcer(str(model), persist.Adapter(), cache_key_order=[1])
    policies: set[tuple[str, str, str]] = set()
    groupings: set[tuple[str, str, str]] = set()
    for (org_id, user_id), access in compiled.items():
        for grant in access.snapshot.grants:
            groupings.add((user_id, grant.path, org_id))
            policies.add((grant.path, org_id, grant.pattern))
    enforcer.add_policies(sorted(policies))
    enforcer.add_grouping_policies(sorted(groupings))
    return enforcer


def main() -> None:
    rng = random.Random(7)
    built = time.perf_counter()
    compiled = dataset(rng)
    build_seconds = time.perf_counter() - built
    asked = queries(rng, QUERIES)
    cache = SnapshotCache(max_entries=ORGS * USERS)
    for access in compiled.values():
        cache.put(access)
    # The floor knows every answer in advance: the allowed permissions of each user, as a set.
    floor_sets: dict[tuple[str, str], set[str]] = {key: set() for key in compiled}
    for org_id, user_id, permission in asked:
        if compiled[(org_id, user_id)].decide(permission).allowed:
            floor_sets[(org_id, user_id)].add(permission)

    def tenantry_warm(org_id: str, user_id: str, permission: str) -> bool:
        found = cache.get(org_id, user_id, 1)
        assert found is not None
        return found.decide(permission).allowed

    def floor(org_id: str, user_id: str, permission: str) -> bool:
        return permission in floor_sets[(org_id, user_id)]

    allowed = sum(tenantry_warm(*q) for q in asked) / len(asked)
    results = {
        "bare set lookup (floor)": per_second(floor, asked),
        "tenantry, warm (cache hit + compiled decide)": per_second(tenantry_warm, asked),
    }
    results["pycasbin FastEnforcer (RBAC with domains)"] = casbin_per_second(compiled, asked)
    write_report(results, allowed, build_seconds)


def casbin_per_second(compiled: dict[tuple[str, str], CompiledAccess], asked: list[Query]) -> float:
    enforcer = casbin_enforcer(compiled)
    enforce = enforcer.enforce  # type: ignore[attr-defined]
    return per_second(lambda o, u, p: bool(enforce(u, o, p)), asked[:CASBIN_QUERIES])


def write_report(results: dict[str, float], allowed: float, build_seconds: float) -> None:
    floor = results["bare set lookup (floor)"]
    ours = results["tenantry, warm (cache hit + compiled decide)"]
    casbin = results["pycasbin FastEnforcer (RBAC with domains)"]
    lines = [
        "Written by `benchmarks/decisions.py`: one run, one machine, the same queries for",
        "every contender, so compare the ratios.",
        "",
        f"Machine: {cpu_model()} ({os.cpu_count()} cores), Python {platform.python_version()}.",
        f"Dataset: {ORGS} organisations x {USERS} users x {ROLES_PER_USER} roles x "
        f"{PERMISSIONS_PER_ROLE} permissions (wildcards included); {allowed:.0%} of the "
        f"queries allowed; compiling all {ORGS * USERS} snapshots took {build_seconds:.1f} s.",
        "",
        "| contender | decisions per second | against the floor |",
        "|---|---|---|",
        *[f"| {name} | {rate:,.0f} | {rate / floor:.0%} |" for name, rate in results.items()],
        "",
        f"tenantry / pycasbin: **{ours / casbin:,.0f}x** (goal: at least 100x); tenantry / "
        f"floor: **{ours / floor:.0%}** (goal: at least 40 %).",
    ]
    replace_section("decisions.py", "Authorization decisions in process", lines)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
