"""Email addresses: the one form an address is stored and looked up in, and the domains a new
account may use. Every edge goes through here: sign-up, login, password reset, verification
resend (HTTP) and `tenantry user create` (CLI)."""

from __future__ import annotations

import unicodedata

from email_validator import SPECIAL_USE_DOMAIN_NAMES, EmailNotValidError, validate_email

from tenantry.context import AccountPolicy
from tenantry.domain.errors import Invalid

# email-validator's list (arpa, invalid, local, localhost, onion, test) and the private-use
# top-level names it does not know yet: `.internal` (ICANN, 2024) and `.alt` (RFC 9476).
SPECIAL_USE_NAMES = frozenset({*SPECIAL_USE_DOMAIN_NAMES, "internal", "alt"})
# A public top-level name email-validator leaves alone, standing in for a special-use one
# while the rest of the address is checked (email-validator refuses special-use outright).
_STAND_IN = "example"


def normalise_email(email: str) -> str:
    """The address as stored: NFKC (so a full-width `a` is an `a`), checked and normalised by
    email-validator (its domain IDNA-normalised), then lower-cased. No DNS look-up.

    Raises `Invalid` `invalid_email` when it is not an address. Special-use domains pass
    here, so accounts made with them can still sign in; `check_new_account_email` decides
    whether a new account may use one.
    """
    text = unicodedata.normalize("NFKC", email).strip()
    local, at, domain = text.rpartition("@")
    special = _special_use_label(domain) if at else None
    checked = f"{local}@{domain[: -len(special)]}{_STAND_IN}" if special else text
    try:
        normalised = validate_email(
            checked, check_deliverability=False, globally_deliverable=False
        ).normalized
    except EmailNotValidError as refused:
        raise Invalid(f"not a valid email address: {refused}", code="invalid_email") from None
    if special:
        normalised = normalised[: -len(_STAND_IN)] + special
    return normalised.lower()


def check_new_account_email(email: str, policy: AccountPolicy) -> None:
    """A normalised address a new account may have: any, when special-use domains are allowed
    (`TENANTRY_ALLOW_SPECIAL_USE_EMAIL_DOMAINS`); else one with a public domain name."""
    if policy.allow_special_use_email_domains:
        return
    domain = email.rpartition("@")[2]
    if _special_use_label(domain) or "." not in domain:
        raise Invalid(
            f"{domain} is a special-use or private domain name (such as .test, .local, "
            ".internal or localhost), which this deployment refuses for accounts; "
            "TENANTRY_ALLOW_SPECIAL_USE_EMAIL_DOMAINS=true allows them",
            code="invalid_email",
        )


def _special_use_label(domain: str) -> str | None:
    """The domain's last label, as written, when it is a special-use name."""
    label = domain.rpartition(".")[2]
    return label if label.lower() in SPECIAL_USE_NAMES else None
