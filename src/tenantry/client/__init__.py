"""A typed client for tenantry's v1 API (`pip install tenantry[client]`).

with TenantryClient("https://tenantry.example") as tenantry:
    pair = tenantry.login("ada@example.com", "…", organisation_id="org_…")
    answer = tenantry.authorize(pair.access_token, "org_…", "site:publish")
"""

from tenantry.client.aio import AsyncTenantryClient
from tenantry.client.calls import DEFAULT_TIMEOUT, EPOCH_HEADER, Retries
from tenantry.client.errors import (
    Conflict,
    Forbidden,
    Invalid,
    NotFound,
    RateLimited,
    TenantryProblem,
    Unauthorized,
    Unavailable,
)
from tenantry.client.models import Authorization, Decision, Grant, Me, TokenPair, Written
from tenantry.client.sync import TenantryClient

__all__ = [
    "DEFAULT_TIMEOUT",
    "EPOCH_HEADER",
    "AsyncTenantryClient",
    "Authorization",
    "Conflict",
    "Decision",
    "Forbidden",
    "Grant",
    "Invalid",
    "Me",
    "NotFound",
    "RateLimited",
    "Retries",
    "TenantryClient",
    "TenantryProblem",
    "TokenPair",
    "Unauthorized",
    "Unavailable",
    "Written",
]
