"""The two ways a SQL write reports a failed precondition as a domain `Conflict`."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from tenantry.domain.errors import Conflict


def insert_or_conflict(db: sa.Connection, statement: sa.Insert, code: str, detail: str) -> None:
    """Run an insert whose uniqueness is its precondition.

    A savepoint keeps the transaction usable on PostgreSQL after the violation, though the
    edge rolls back on any `Conflict` anyway.
    """
    try:
        with db.begin_nested():
            db.execute(statement)
    except IntegrityError as error:
        raise Conflict(detail, code=code) from error


def require_one_row(result: sa.CursorResult[Any], code: str, detail: str) -> None:
    if result.rowcount != 1:
        raise Conflict(detail, code=code)
