"""What a walk of the probe found, and the figures it prints."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tenantry.testing.oracles import Finding


@dataclass
class Report:
    routes: list[str]
    uncovered: list[str]  # served, and in no row of the matrix: fails the run
    not_served: list[str]
    exempt: dict[str, str]
    principals: list[str]
    not_set_up: dict[str, str]
    calls: int = 0
    pairs: int = 0
    audited: int = 0  # calls whose audit events were found and compared
    audit_unseen: int = 0  # calls audited on the system chain, which HTTP does not show
    attack_tokens: int = 0  # forged tokens tried (`tenantry.testing.attacks.forged`)
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.findings and not self.uncovered

    def summary(self) -> dict[str, Any]:
        return {
            "routes": len(self.routes),
            "routes_walked": len(self.routes) - len(self.uncovered) - len(self.exempt),
            "routes_exempt": len(self.exempt),
            "routes_uncovered": self.uncovered,
            "principals": self.principals,
            "principals_not_set_up": self.not_set_up,
            "calls": self.calls,
            "compared_with_a_random_id": self.pairs,
            "audit_events_compared": self.audited,
            "audit_not_visible_over_http": self.audit_unseen,
            "attack_tokens": self.attack_tokens,
            "leaks": len(self.findings),
        }
