"""`member_count` under random concurrent adds, removes and invitation accepts (a Hypothesis
stateful test): each step releases a batch of them at once, each on a member of its own,
through the HTTP app; after each, every answer is the one the model predicts (201 or 409 for
an add, 204 or 404 for a remove, 200 for an accept), the team's members are the model's, and
its `member_count` is their number: no drift."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from tenantry.bootstrap import Tenantry
from tests.access_builders import made_team, org_path, stored_team, stored_team_members
from tests.concurrency.racing import active_members, race_requests
from tests.concurrency.test_access_races import join_team, leave_team
from tests.harness import PASSWORD, Api, StoreTarget, bearer, unique_email

pytestmark = [pytest.mark.races, pytest.mark.smtp]

POOL = 8  # members of the organisation a batch adds and removes
BATCH = st.lists(
    st.tuples(st.sampled_from(["add", "remove"]), st.integers(0, POOL - 1)),
    min_size=2,  # a race needs two
    max_size=POOL,
    unique_by=lambda op: op[1],  # one operation a member a batch: the model stays exact
)


def test_member_count_never_drifts_under_random_concurrent_changes(
    api: Api, tenantry: Tenantry, store_target: StoreTarget
) -> None:
    owner, org = api.owner_with_org()
    pool = [user.id for user in active_members(tenantry, org["id"], POOL)]

    class Team(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.team_id = made_team(api, owner, f"Model {unique_email('t')[:12]}")
            self.members: set[str] = set()

        @rule(batch=BATCH, accepts=st.integers(0, 2))
        def change_at_once(self, batch: list[tuple[str, int]], accepts: int) -> None:
            links = [self.invited() for _ in range(accepts)]
            requests = [
                (join_team if kind == "add" else leave_team)(owner, self.team_id, pool[n])
                for kind, n in batch
            ] + [self.accept(link) for link in links]

            answers = race_requests(api.client.app, requests)

            expected = [self.predicted(kind, pool[n]) for kind, n in batch] + [200] * accepts
            assert [a.status_code for a in answers] == expected, [a.text for a in answers]
            for kind, n in batch:
                (self.members.add if kind == "add" else self.members.discard)(pool[n])
            for answer in answers[len(batch) :]:
                self.members.add(self.user_of(answer))

        def predicted(self, kind: str, user_id: str) -> int:
            if kind == "add":
                return 409 if user_id in self.members else 201
            return 204 if user_id in self.members else 404

        def invited(self) -> str:
            email = unique_email("model")
            made = api.client.post(
                org_path(owner, "invitations"),
                json={"email": email, "team_id": self.team_id},
                headers=owner.auth,
            )
            assert made.status_code == 201, made.text
            return api.mailbox.last_invitation_token(email)

        def accept(self, link: str) -> Any:
            body = {"name": "Model", "password": PASSWORD}
            return lambda client: client.post(f"/v1/invitations/{link}/accept", json=body)

        def user_of(self, answer: Any) -> str:
            me = api.client.get("/v1/me", headers=bearer(answer.json()["tokens"]["access_token"]))
            user_id: str = me.json()["id"]
            return user_id

        @invariant()
        def count_is_the_members(self) -> None:
            team = stored_team(tenantry, org["id"], self.team_id)
            assert team is not None
            listed = {m.user_id for m in stored_team_members(tenantry, org["id"], self.team_id)}
            assert listed == self.members
            assert team.member_count == len(listed)

    Team.TestCase.settings = settings(
        max_examples=10,
        stateful_step_count=4,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        database=None,
    )
    Team.TestCase().runTest()
