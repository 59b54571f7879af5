"""An error's extra members join the problem+json body; they may not replace its own."""

from __future__ import annotations

import pytest

from tenantry.domain.errors import PROBLEM_MEMBERS, Conflict


@pytest.mark.parametrize("member", sorted(PROBLEM_MEMBERS))
def test_an_extra_member_named_like_a_problem_member_is_refused_when_raised(member: str) -> None:
    with pytest.raises(ValueError, match=member):
        Conflict("the invitation is accepted", code="invitation_not_pending", extra={member: 1})


def test_other_extra_members_are_kept() -> None:
    error = Conflict("taken", code="slug_taken", extra={"invitation_status": "ACCEPTED"})

    assert error.extra == {"invitation_status": "ACCEPTED"}
