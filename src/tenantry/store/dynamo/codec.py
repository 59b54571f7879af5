"""Python values to DynamoDB's attribute values and back: boto3's serializer, with datetimes
as RFC 3339 text (UTC) and numbers read back as `int` (tenantry stores no floats here)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()

Item = dict[str, Any]


def encode(values: dict[str, Any]) -> Item:
    """An item's attributes; None values are left out (DynamoDB has no use for them)."""
    return {name: _serializer.serialize(plain(v)) for name, v in values.items() if v is not None}


def decode(item: Item) -> dict[str, Any]:
    return {name: _python(_deserializer.deserialize(value)) for name, value in item.items()}


def value(python: Any) -> Any:
    """One attribute value, for an expression's placeholders."""
    return _serializer.serialize(plain(python))


def moment(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text is not None else None


def required_moment(text: str) -> datetime:
    """A time every item of its kind has."""
    return datetime.fromisoformat(text)


def plain(python: Any) -> Any:
    """A value as it reads back (a datetime as its text), to compare with a decoded item."""
    if isinstance(python, datetime):
        return python.isoformat()
    return python


def _python(stored: Any) -> Any:
    if isinstance(stored, Decimal):
        return int(stored)
    return stored
