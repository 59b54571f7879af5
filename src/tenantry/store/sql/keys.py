"""Signing keys on SQL."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from tenantry.domain.model import KeyState, SigningKey
from tenantry.store.sql.schema import Json, UtcDateTime, metadata
from tenantry.store.sql.writes import Expect, WriteBuffer

signing_keys = sa.Table(
    "signing_keys",
    metadata,
    sa.Column("kid", sa.String(40), primary_key=True),
    sa.Column("alg", sa.String(10), nullable=False),
    sa.Column("public_jwk", Json, nullable=False),
    sa.Column("private_key_encrypted", sa.Text, nullable=False),
    sa.Column("state", sa.String(10), nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("retired_at", UtcDateTime),
)


def _key(row: Any) -> SigningKey:
    return SigningKey(
        kid=row.kid,
        alg=row.alg,
        public_jwk=dict(row.public_jwk),
        private_key_encrypted=row.private_key_encrypted,
        state=KeyState(row.state),
        created_at=row.created_at,
        retired_at=row.retired_at,
    )


class SqlSigningKeys:
    def __init__(self, connection: sa.Connection, writes: WriteBuffer) -> None:
        self._db = connection
        self._writes = writes

    def list(self) -> list[SigningKey]:
        stmt = sa.select(signing_keys).order_by(signing_keys.c.created_at, signing_keys.c.kid)
        return [_key(row) for row in self._db.execute(stmt)]

    def add(self, key: SigningKey) -> None:
        self._writes.add(
            signing_keys.insert().values(
                kid=key.kid,
                alg=key.alg,
                public_jwk=key.public_jwk,
                private_key_encrypted=key.private_key_encrypted,
                state=key.state.value,
                created_at=key.created_at,
                retired_at=key.retired_at,
            )
        )

    def set_state(self, kid: str, *, expected: KeyState, new: KeyState, at: datetime) -> None:
        values: dict[str, Any] = {"state": new.value}
        if new is KeyState.RETIRED:
            values["retired_at"] = at
        stmt = (
            signing_keys.update()
            .where(signing_keys.c.kid == kid, signing_keys.c.state == expected.value)
            .values(values)
        )
        self._writes.add(stmt, expect=Expect.ONE_ROW, code="key_state_changed")
