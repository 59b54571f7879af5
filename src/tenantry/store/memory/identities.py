"""Identity links in memory."""

from __future__ import annotations

from tenantry.domain.errors import TenantryError
from tenantry.identities.ports import IdentityLink
from tenantry.store.memory.intents import Intent
from tenantry.store.memory.state import MemoryState
from tenantry.store.memory.table import Table
from tenantry.store.memory.transaction import Transaction

LinkKey = tuple[str, str]


def _links(state: MemoryState) -> dict[LinkKey, IdentityLink]:
    return state.identity_links


def _key(link: IdentityLink) -> LinkKey:
    return (link.issuer, link.subject)


class MemoryIdentityLinks:
    def __init__(self, transaction: Transaction) -> None:
        self._transaction = transaction
        self._table = Table(transaction, _links)

    def get(self, issuer: str, subject: str) -> IdentityLink | None:
        return self._table.get((issuer, subject))

    def list(
        self, *, user_id: str | None = None, after: tuple[str, str] | None = None, limit: int
    ) -> list[IdentityLink]:
        found = self._table.select(
            lambda link: (
                (user_id is None or link.user_id == user_id)
                and (after is None or _key(link) > after)
            )
        )
        return sorted(found, key=_key)[:limit]

    def add(self, link: IdentityLink, *, on_conflict: TenantryError | None = None) -> None:
        key = _key(link)

        def apply(state: MemoryState) -> bool:
            links = _links(state)
            if key in links:
                return False
            links[key] = link
            return True

        # `Table.insert` takes no `on_conflict`; the intent is the same insert with one.
        self._transaction.write(Intent(apply, "identity_already_linked", on_conflict))

    def remove(self, link: IdentityLink, *, on_conflict: TenantryError | None = None) -> None:
        key, code = _key(link), "identity_link_changed"
        self._table.require(
            key,
            lambda stored: stored.user_id == link.user_id,
            code=code,
            on_conflict=on_conflict,
        )
        self._table.delete(key, code=code, on_conflict=on_conflict)
