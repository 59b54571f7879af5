"""An organisation's settings: a small JSON document that every store holds, every client can
parse and every response can render.

A settings document is checked whole, and rebuilt from plain values, before anything is
written (`apply_patch`). What it lets through is exactly what JSON carries the same way
everywhere, so a committed change can always be read back and answered:

- objects (string keys) and lists, nested at most `MAX_DEPTH` levels (the settings object
  itself is level 1);
- strings of at most `MAX_STRING_LENGTH` characters, without NUL (PostgreSQL cannot store
  it) or unpaired surrogates (they have no UTF-8 form); keys likewise, at most
  `MAX_KEY_LENGTH` characters and never empty;
- numbers within ±(2**53 - 1), the integers every JSON parser (JavaScript's included) reads
  exactly; finite ones only (JSON has no NaN or Infinity). Floats obey the same bound because
  PostgreSQL's JSONB writes 1e20 back as the integer 100000000000000000000; booleans;
- at most `MAX_KEYS_PER_OBJECT` keys in an object, `MAX_KEYS` in the whole document, and
  `MAX_BYTES` of compact UTF-8 JSON (`settings_too_large`).

`null` is not a value: at the top level of a patch it deletes the key, anywhere else it is
refused. A refusal is `Invalid` `invalid_settings` whose `path` is a JSON Pointer (RFC 6901)
into the settings document, with any unprintable character shown as a `\\uXXXX` escape.
"""

from __future__ import annotations

import json
import math
import unicodedata
from collections.abc import Mapping
from typing import Any, NoReturn

from tenantry.domain.errors import Invalid

MAX_DEPTH = 16
MAX_KEYS_PER_OBJECT = 100
MAX_KEYS = 1000
MAX_KEY_LENGTH = 128
MAX_STRING_LENGTH = 4096
MAX_SAFE_INTEGER = 2**53 - 1
MAX_BYTES = 16 * 1024

_SHOWN_KEY_LENGTH = 40  # how much of a key a refusal's path shows


def apply_patch(current: Mapping[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    """`current` with `changes` merged in, shallowly: a top-level key of `changes` replaces
    the stored one whole, and a key set to None is removed. Both the changes and the merged
    document are checked (a stored key that breaks the rules is named, so it can be deleted)."""
    counted = _Count()
    kept = {
        key: None if value is None else _value(value, _pointer("", key), 2, counted)
        for key, value in _items(changes, "", counted)
    }
    merged = {**current, **kept}
    return validated({key: value for key, value in merged.items() if value is not None})


def validated(document: Mapping[str, Any]) -> dict[str, Any]:
    """A plain copy of `document` if it is a settings document by the rules above."""
    checked = _object(document, "", 1, _Count())
    size = len(json.dumps(checked, ensure_ascii=False, separators=(",", ":")).encode())
    if size > MAX_BYTES:
        raise Invalid(
            f"settings are too large ({size} bytes of JSON, at most {MAX_BYTES})",
            code="settings_too_large",
        )
    return checked


class _Count:
    """The keys seen so far in one document, against `MAX_KEYS`."""

    def __init__(self) -> None:
        self.keys = 0


def _value(value: Any, path: str, depth: int, counted: _Count) -> Any:
    # bool before int: True is an int to Python, and must stay a boolean.
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, int):
        _small_enough(value, path)
        return int(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            _refuse(path, "numbers must be finite (JSON has no NaN or Infinity)")
        _small_enough(value, path)
        return float(value)
    if isinstance(value, str):
        return _text(value, path, MAX_STRING_LENGTH, "strings")
    if isinstance(value, Mapping):
        return _object(value, path, depth, counted)
    if isinstance(value, list | tuple):
        _deep_enough(path, depth)
        return [_value(item, f"{path}/{n}", depth + 1, counted) for n, item in enumerate(value)]
    if value is None:
        _refuse(path, "null only deletes a top-level key; leave the key out instead")
    _refuse(path, f"a {type(value).__name__} is not a JSON value")


def _object(value: Mapping[str, Any], path: str, depth: int, counted: _Count) -> dict[str, Any]:
    _deep_enough(path, depth)
    return {
        key: _value(item, _pointer(path, key), depth + 1, counted)
        for key, item in _items(value, path, counted)
    }


def _items(value: Mapping[str, Any], path: str, counted: _Count) -> list[tuple[str, Any]]:
    if not isinstance(value, Mapping):
        _refuse(path, "settings must be a JSON object")
    if len(value) > MAX_KEYS_PER_OBJECT:
        _refuse(path, f"an object may have at most {MAX_KEYS_PER_OBJECT} keys")
    counted.keys += len(value)
    if counted.keys > MAX_KEYS:
        _refuse(path, f"settings may have at most {MAX_KEYS} keys in all")
    for key in value:
        if not isinstance(key, str) or not key:
            _refuse(_pointer(path, str(key)), "keys must be non-empty strings")
        _text(key, _pointer(path, key), MAX_KEY_LENGTH, "keys")
    return list(value.items())


def _small_enough(number: float, path: str) -> None:
    if abs(number) > MAX_SAFE_INTEGER:
        _refuse(path, f"numbers must be within ±{MAX_SAFE_INTEGER}")


def _deep_enough(path: str, depth: int) -> None:
    if depth > MAX_DEPTH:
        _refuse(path, f"settings may nest at most {MAX_DEPTH} levels")


def _text(value: str, path: str, limit: int, what: str) -> str:
    if len(value) > limit:
        _refuse(path, f"{what} may be at most {limit} characters")
    if "\x00" in value:
        _refuse(path, f"{what} must not contain a NUL character")
    if any(unicodedata.category(char) == "Cs" for char in value):
        _refuse(path, f"{what} must not contain unpaired surrogates (text that is not Unicode)")
    return str(value)


def _pointer(path: str, key: str) -> str:
    shown = key if len(key) <= _SHOWN_KEY_LENGTH else key[:_SHOWN_KEY_LENGTH] + "…"
    return f"{path}/{_printable(shown.replace('~', '~0').replace('/', '~1'))}"


def _printable(text: str) -> str:
    # The path goes back to the client in the refusal: it must itself be valid, visible text.
    return "".join(
        f"\\u{ord(char):04x}" if unicodedata.category(char) in {"Cc", "Cs"} else char
        for char in text
    )


def _refuse(path: str, reason: str) -> NoReturn:
    raise Invalid(f"settings{path}: {reason}", code="invalid_settings", extra={"path": path})
