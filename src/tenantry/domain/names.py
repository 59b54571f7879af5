"""Display names of people and organisations.

A name is shown to other people (member lists, emails, consoles), so it must show what it is:
at least one visible character, and none of the characters that change how the text around
them is displayed or that no store or encoding can carry.
"""

import unicodedata

from tenantry.domain.errors import Invalid

MAX_NAME_LENGTH = 200

# Unicode's Bidi_Control characters (ALM, LRM, RLM, the embeddings and overrides LRE..RLO,
# the isolates LRI..PDI): they reorder the text around them, so "Acme\u202egnp.exe" shows as
# "Acmeexe.png" ("Trojan Source", CVE-2021-42574). A client isolates a name when it renders it.
BIDI_CONTROLS = frozenset(
    "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)

# Letters and symbols that render as blank space: a name of these alone shows nothing.
_BLANK_GRAPHEMES = frozenset("\u115f\u1160\u3164\uffa0\u2800")


def clean_name(name: str, *, max_length: int = MAX_NAME_LENGTH) -> str:
    """Collapse runs of white space; refuse a name that is empty after that or too long, that
    has no visible character, or that holds a bidi control, a control character or an
    unpaired surrogate."""
    cleaned = " ".join(name.split())
    if not 1 <= len(cleaned) <= max_length:
        raise Invalid(f"name must have 1 to {max_length} visible characters", code="invalid_name")
    if any(char in BIDI_CONTROLS for char in cleaned):
        raise Invalid("name must not contain bidirectional control characters", code="invalid_name")
    if any(unicodedata.category(char) in {"Cc", "Cs"} for char in cleaned):
        raise Invalid(
            "name must not contain control characters or unpaired surrogates",
            code="invalid_name",
        )
    if not any(_is_visible(char) for char in cleaned):
        raise Invalid("name must have at least one visible character", code="invalid_name")
    return cleaned


def _is_visible(char: str) -> bool:
    # Letters, numbers, punctuation and symbols; not marks (nothing to sit on), separators,
    # or format, private-use and unassigned code points.
    return unicodedata.category(char)[0] in "LNPS" and char not in _BLANK_GRAPHEMES


def clean_description(text: str, *, max_length: int) -> str:
    """A free-text description: trimmed, at most `max_length` characters, line breaks and
    tabs allowed, no other control character and no bidi control (as for names)."""
    cleaned = text.strip()
    if len(cleaned) > max_length:
        raise Invalid(
            f"description must have at most {max_length} characters", code="invalid_description"
        )
    if any(
        char in BIDI_CONTROLS or (unicodedata.category(char) in {"Cc", "Cs"} and char not in "\n\t")
        for char in cleaned
    ):
        raise Invalid(
            "description must not contain control or bidirectional control characters",
            code="invalid_description",
        )
    return cleaned
