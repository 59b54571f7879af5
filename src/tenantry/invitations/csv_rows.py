"""A CSV file of invitations, read the same way for `tenantry invite bulk FILE.csv` and for a
`text/csv` body of `POST …/invitations/bulk`.

The header names the columns, `email` required, the others optional; a row's address is not
checked here but by the bulk use case, so a bad address is a row result (`invalid`), as in
JSON. What makes the file itself unreadable (an unknown column, an unknown organisation role,
more cells than the header, bytes that are not UTF-8) refuses the whole file: 422
`invalid_csv`, naming the lines.
"""

from __future__ import annotations

import csv
import io

from tenantry.domain.errors import Invalid
from tenantry.domain.roles import OrgRole
from tenantry.invitations.bulk import BulkRow
from tenantry.invitations.service import Binding

CSV_COLUMNS = ("email", "org_role", "role_ids", "team_id", "team_role")
ROLES = tuple(OrgRole.__members__)
CSV_MEDIA_TYPE = "text/csv"


def rows_from_csv_bytes(data: bytes) -> list[BulkRow]:
    """The rows of a CSV body: UTF-8, with or without a byte-order mark."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise _invalid(f"the file is not UTF-8 (byte {error.start})") from None
    return rows_from_csv(text)


def rows_from_csv(text: str) -> list[BulkRow]:
    """The rows of the file, in order; line numbers in errors count the header as line 1."""
    try:
        reader = csv.DictReader(io.StringIO(text, newline=""))
        header = tuple(reader.fieldnames or ())
        _check_header(header)
        lines = list(reader)
    except csv.Error as error:
        raise _invalid(f"the file is not CSV: {error}") from None
    _check_lines(lines)
    return [_row(line) for line in lines]


def _check_header(header: tuple[str, ...]) -> None:
    unknown = [name for name in header if name not in CSV_COLUMNS]
    if "email" not in header or unknown:
        raise _invalid(
            f"the header must name `email` and may name {', '.join(CSV_COLUMNS[1:])}; "
            f"found {', '.join(header) or 'nothing'}"
        )


def _check_lines(lines: list[dict[str | None, str | None]]) -> None:
    # DictReader files cells beyond the header under the key None.
    too_long = [n + 2 for n, line in enumerate(lines) if line.get(None)]
    if too_long:
        raise _invalid(f"more cells than the header on line {_numbers(too_long)}")
    bad_role = [n + 2 for n, line in enumerate(lines) if _org_role(line) not in ROLES]
    if bad_role:
        raise _invalid(f"org_role is not one of {', '.join(ROLES)} on line {_numbers(bad_role)}")


def _row(line: dict[str | None, str | None]) -> BulkRow:
    binding = Binding(
        org_role=OrgRole(_org_role(line)),
        role_ids=tuple((_cell(line, "role_ids") or "").split()),
        team_id=_cell(line, "team_id"),
        team_role=_cell(line, "team_role"),
    )
    return BulkRow(_cell(line, "email") or "", binding)


def _cell(line: dict[str | None, str | None], name: str) -> str | None:
    value = line.get(name)
    return (value.strip() if isinstance(value, str) else "") or None


def _org_role(line: dict[str | None, str | None]) -> str:
    return _cell(line, "org_role") or OrgRole.MEMBER.value


def _numbers(lines: list[int]) -> str:
    shown = ", ".join(map(str, lines[:10]))
    return shown if len(lines) <= 10 else f"{shown} and {len(lines) - 10} more"


def _invalid(detail: str) -> Invalid:
    return Invalid(detail, code="invalid_csv")
