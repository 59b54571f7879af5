"""The aggressor walk: every route of the matrix, called by every principal of the attacking
tenant with the other tenant's ids, each call beside a twin that names a random id instead.

A call passes when its answer is the twin's (status, media type and body, the request id and
the ids sent aside: the target cannot tell a real object of another tenant from nothing),
when it is a refusal (404 for the organisation's routes), when it shows nothing of the other
tenant, when it is audited exactly as its twin (once in the caller's organisation, for a
member) and when the other tenant's state, read back after the route, has not moved.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import jwt

from tenantry.testing.attacks import LEEWAY_SECONDS, Attack, bearer_routes, forged
from tenantry.testing.cases import CASES, ORG_ID, Case, Oracle, inventory, random_like
from tenantry.testing.issuer import JwksServer
from tenantry.testing.oracles import (
    HOSTILE_ORIGIN,
    VOLATILE,
    Finding,
    Sent,
    code_of,
    secret_fields,
    shape,
    signature,
    unsafe_headers,
    without,
)
from tenantry.testing.report import Report
from tenantry.testing.wire import Client, json_of, new_request_id, send
from tenantry.testing.world import Kind, Principal, World, renew

# The events of the system chain (in the API's shape) whose `request_id` is one of these:
# the test suite reads them from the store; over HTTP nobody can.
SystemChain = Callable[[Collection[str]], list[dict[str, Any]]]
Progress = Callable[[str, int, int], None]

REFUSED_BY_ORGANISATION = {kind: 404 for kind in Kind} | {
    Kind.ANONYMOUS: 401,
    Kind.EXPIRED: 401,
    Kind.EXTERNAL: 401,  # only POST /v1/authorize takes another issuer's tokens
}

# How many events a refusal of an organisation's route leaves for a caller of no organisation:
# one on the system chain (a token that does not verify, a user of no organisation), none
# without a token.
_AUDITED_ONCE = {kind: 1 for kind in Kind} | {Kind.ANONYMOUS: 0}


@dataclass(frozen=True)
class Variant:
    what: str  # "its organisation", "its role_id in the caller's organisation", …
    real: dict[str, str]
    changed: tuple[str, ...] = ()  # the placeholders the twin gives random values; () = no twin

    def twin(self) -> dict[str, str]:
        return self.real | {name: random_like(self.real[name]) for name in self.changed}


class Probe:
    def __init__(
        self,
        client: Client,
        world: World,
        openapi: Mapping[str, Any],
        *,
        system_chain: SystemChain | None = None,
        now: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        expiry_wait_limit: float = 900.0,
        progress: Progress | None = None,
    ) -> None:
        self.client = client
        self.world = world
        self.system_chain = system_chain
        self.now, self.sleep, self.expiry_wait_limit = now, sleep, expiry_wait_limit
        self.progress = progress or (lambda route, done, total: None)
        self.state_before: list[tuple[str, Any]] | None = None  # the last route's "after"
        self.attacker_seq: int | None = None  # the attacker's chain, as far as it was read
        served = inventory(openapi)
        by_route = {case.route: case for case in CASES}
        self.cases = [by_route[r] for r in served if r in by_route]
        self.report = Report(
            routes=served,
            uncovered=[r for r in served if r not in by_route],
            not_served=[r for r in by_route if r not in served],
            exempt={c.route: c.why for c in self.cases if c.oracle is Oracle.EXEMPT},
            principals=[p.kind.value for p in [*world.principals, world.expired]],
            not_set_up={kind.value: why for kind, why in world.not_set_up.items()},
        )

    def run(self) -> Report:
        walked = [case for case in self.cases if case.oracle is not Oracle.EXEMPT]
        total = 2 * len(walked)
        for done, case in enumerate(walked):
            self.progress(case.route, done, total)
            self.walk(case, self.world.principals)
        if self.wait_for_expiry():
            for done, case in enumerate(walked, start=len(walked)):
                self.progress(f"{case.route} (expired token)", done, total)
                self.walk(case, [self.world.expired])
        self.progress("attack tokens", total, total)
        self.try_forged_tokens()
        self.progress("done", total, total)
        return self.report

    # --- one route ---------------------------------------------------------------------------

    def walk(self, case: Case, principals: list[Principal]) -> None:
        before = self.state_before or self.victim_state()
        mark = self.attacker_seq if self.attacker_seq is not None else self.attacker_head()
        pairs: list[tuple[Principal, Variant, Sent, Sent | None]] = []
        for principal in principals:
            for variant in self.variants(case, principal):
                real = self.call(case, principal, variant.real)
                twin = self.call(case, principal, variant.twin()) if variant.changed else None
                pairs.append((principal, variant, real, twin))
        events = self.events_of(mark, [s.request_id for *_, r, t in pairs for s in (r, t) if s])
        for principal, variant, real, twin in pairs:
            for problem in self.judge(case, principal, variant, real, twin, events):
                self.report.findings.append(
                    Finding(case.route, principal.kind.value, variant.what, problem)
                )
        after = self.state_before = self.victim_state()
        for (name, was), (_, now) in zip(before, after, strict=True):
            if was != now:
                self.report.findings.append(
                    Finding(case.route, "any", "all", f"the other tenant's {name} changed")
                )

    def variants(self, case: Case, principal: Principal) -> Iterator[Variant]:
        victim, attacker = self.world.victim.ids(), self.world.attacker.ids()
        own = principal.fill()
        match case.oracle:
            case Oracle.ORGANISATION:
                yield Variant("its organisation", victim | own, (ORG_ID,))
                if principal.audited_in_own_org:
                    for name in case.foreign():
                        inside = attacker | own | {name: victim[name]}
                        yield Variant(f"its {name} in the caller's organisation", inside, (name,))
            case Oracle.FOREIGN_ID:
                for name in case.foreign():
                    yield Variant(f"its {name}", attacker | own | {name: victim[name]}, (name,))
            case Oracle.NAMES_ORGANISATION if not principal.knows_victim:
                yield Variant("its organisation", victim | own, (ORG_ID,))
            case Oracle.PUBLIC if principal.kind is Kind.ANONYMOUS:
                yield Variant("its ids", victim | own, tuple(case.foreign()))
            case Oracle.OWN:
                yield Variant("the caller's own", victim | own)

    def call(self, case: Case, principal: Principal, values: dict[str, str]) -> Sent:
        path, body = case.request(values)
        request_id = new_request_id()
        response = send(
            self.client,
            case.method,
            path,
            token=principal.access_token,
            body=body,
            request_id=request_id,
            origin=HOSTILE_ORIGIN,
        )
        self.report.calls += 1
        return Sent(values, request_id, response)

    def try_forged_tokens(self) -> None:
        """The JWT attack corpus made from a member's token and the target's published keys:
        each one refused 401 with its code on an organisation's route and on the authorizer,
        audited once where the probe can see, and the `jku`/`x5u` lure never asked."""
        member = self.world.attacker.member
        assert member.access_token is not None
        renew(self.client, member)
        jwks = self.read_as(member, "/.well-known/jwks.json")[1]
        org_id = self.world.attacker.org_id
        with JwksServer("127.0.0.1", 0, {"keys": []}) as lure:
            for attack in forged(member.access_token, jwks, lure_url=lure.url):
                self.report.attack_tokens += 1
                for method, path, body in bearer_routes(org_id):
                    problem = self.refused_forged(attack, method, path, body)
                    if problem is not None:
                        route = f"{method} {path}"
                        self.report.findings.append(
                            Finding(route, "forged token", attack.name, problem)
                        )
        if lure.requests:
            fetched = f"the target fetched it {lure.requests} times"
            self.report.findings.append(
                Finding("jku/x5u", "forged token", "a URL in the header", fetched)
            )

    def refused_forged(self, attack: Attack, method: str, path: str, body: Any) -> str | None:
        """What is wrong with the target's answer to one forged token, if anything."""
        request_id = new_request_id()
        answer = send(
            self.client, method, path, token=attack.token, body=body, request_id=request_id
        )
        self.report.calls += 1
        code = code_of(answer)
        if (answer.status_code, code) != (401, attack.refused_as):
            return f"answered {answer.status_code} {code}"
        if self.system_chain is None:
            return None
        recorded = signature(self.system_chain([request_id]))
        if recorded != [("None", "auth.token", "FAILURE", code, "None")]:
            return f"audited as {recorded}"
        return None

    # --- the oracles -------------------------------------------------------------------------

    def judge(
        self,
        case: Case,
        principal: Principal,
        variant: Variant,
        real: Sent,
        twin: Sent | None,
        events: Mapping[str, list[dict[str, Any]]],
    ) -> Iterator[str]:
        status = real.response.status_code
        if status >= 500:
            yield f"answered {status}: {real.response.text[:200]}"
        yield from self.leaks(case, principal, real)
        yield from unsafe_headers(real.response)
        yield from secret_fields(real.response)
        if twin is None:
            return
        self.report.pairs += 1
        if shape(real, variant.changed) != shape(twin, variant.changed):
            yield (
                f"answered {status} {code_of(real.response)}, but {twin.response.status_code} "
                f"{code_of(twin.response)} for a random {', '.join(variant.changed)}"
            )
        if 200 <= status < 300 and not case.refuses_with_2xx:
            yield f"accepted ({status})"
        if case.oracle is Oracle.ORGANISATION and variant.changed == (ORG_ID,):
            expected = REFUSED_BY_ORGANISATION[principal.kind]
            if status != expected:
                yield f"answered {status}, not {expected}"
        if case.oracle is not Oracle.PUBLIC:  # the operator's record of a sign-up, not the caller's
            yield from self.audited(
                case, principal, variant, events[real.request_id], events[twin.request_id]
            )

    def leaks(self, case: Case, principal: Principal, sent: Sent) -> Iterator[str]:
        if case.oracle is Oracle.OWN and principal.knows_victim:
            return  # a member of the other tenant sees it in its own views, as it should
        response = sent.response
        exposed = response.text + " " + " ".join(response.headers.values())
        for secret in sorted(self.world.victim.secrets() - set(sent.values.values())):
            if secret in exposed:
                yield f"the answer reveals {secret!r} of the other tenant"

    def audited(
        self,
        case: Case,
        principal: Principal,
        variant: Variant,
        real: list[dict[str, Any]],
        twin: list[dict[str, Any]],
    ) -> Iterator[str]:
        if self.system_chain is None and not principal.audited_in_own_org:
            self.report.audit_unseen += 1
        self.report.audited += 1
        if signature(real) != signature(twin):
            yield f"audited as {signature(real)}, but as {signature(twin)} for a random id"
        if case.oracle is not Oracle.ORGANISATION:
            return
        own = [e for e in real if e["org_id"] == self.world.attacker.org_id]
        if principal.audited_in_own_org:
            refused = {"DENIED"} if variant.changed == (ORG_ID,) else {"DENIED", "FAILURE"}
            if len(own) != 1 or own[0]["outcome"] not in refused:
                yield f"audited {len(own)} times in the caller's organisation: {signature(own)}"
        elif self.system_chain is not None and len(real) != _AUDITED_ONCE[principal.kind]:
            yield f"audited {len(real)} times: {signature(real)}"

    # --- reading the target ------------------------------------------------------------------

    def victim_state(self) -> list[tuple[str, Any]]:
        """The other tenant as its owner reads it: what no call of the attacker may change."""
        victim = self.world.victim
        org = f"/v1/organisations/{victim.org_id}"
        reads = {
            "organisation": org,
            "members": org + "/members?limit=200",
            "member's permissions": f"{org}/members/{victim.member.user_id}/permissions",
            "roles": org + "/roles?limit=200",
            "teams": org + "/teams?limit=200",
            "team's members": f"{org}/teams/{victim.team_id}/members?limit=200",
            "invitations": org + "/invitations?limit=200",
            "audit log": org + "/audit-events?limit=1",
            "owner's sessions": "/v1/me/sessions?limit=200",
        }
        return [
            (name, without(self.read_as(victim.owner, path), VOLATILE))
            for name, path in reads.items()
        ]

    def read_as(self, owner: Principal, path: str) -> tuple[int, Any]:
        response = send(self.client, "GET", path, token=owner.access_token)
        body = json_of(response)
        return response.status_code, response.text if body is None else body

    def attacker_head(self) -> int:
        attacker = self.world.attacker
        page = self.read_as(
            attacker.owner, f"/v1/organisations/{attacker.org_id}/audit-events?limit=1"
        )[1]
        return int(page["items"][0]["seq"]) if page.get("items") else 0

    def events_of(self, after_seq: int, request_ids: list[str]) -> dict[str, list[dict[str, Any]]]:
        """The audit events each call caused: in the attacker's chain after `after_seq`, and in
        the system chain where the probe can read it. The newest seq read is where the next
        route's events begin."""
        found: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self.attacker_seq = after_seq
        for event in self.attacker_events(after_seq):
            found[event.get("request_id") or ""].append(event)
            self.attacker_seq = max(self.attacker_seq, int(event["seq"]))
        if self.system_chain is not None:
            for event in self.system_chain(request_ids):
                found[event["request_id"]].append(event)
        return found

    def attacker_events(self, after_seq: int) -> Iterator[dict[str, Any]]:
        attacker = self.world.attacker
        path = f"/v1/organisations/{attacker.org_id}/audit-events?limit=200"
        cursor: str | None = None
        while True:
            page = self.read_as(attacker.owner, path + (f"&cursor={cursor}" if cursor else ""))[1]
            for event in page["items"]:
                if event["seq"] <= after_seq:
                    return
                yield event
            cursor = page.get("next_cursor")
            if not cursor:
                return

    def wait_for_expiry(self) -> bool:
        """Wait until the expired principal's token is past its `exp` and the leeway; False
        (and said in the report) when that is further off than the probe may wait."""
        expired = self.world.expired
        assert expired.access_token is not None
        exp = jwt.decode(expired.access_token, options={"verify_signature": False})["exp"]
        wait = exp + LEEWAY_SECONDS + 1 - self.now()
        if wait > self.expiry_wait_limit:
            self.report.not_set_up[Kind.EXPIRED.value] = (
                f"its token expires in {wait:.0f} s: longer than the probe may wait "
                f"({self.expiry_wait_limit:.0f} s, --expiry-wait)"
            )
            return False
        if wait > 0:
            self.sleep(wait)
        for owner in (self.world.victim.owner, self.world.attacker.owner):
            renew(self.client, owner)
        self.state_before = None  # read again with the new tokens
        return True
