"""Display names of people and organisations."""

from tenantry.domain.errors import Invalid

MAX_NAME_LENGTH = 200


def clean_name(name: str) -> str:
    """Collapse runs of white space; refuse a name that is empty after that, or too long."""
    cleaned = " ".join(name.split())
    if not 1 <= len(cleaned) <= MAX_NAME_LENGTH:
        raise Invalid(
            f"name must have 1 to {MAX_NAME_LENGTH} visible characters", code="invalid_name"
        )
    return cleaned
