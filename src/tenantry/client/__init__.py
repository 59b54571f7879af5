"""A typed client for tenantry's v1 API (`pip install tenantry[client]`); docs/client.md.

with TenantryClient("https://tenantry.example") as tenantry:
    pair = tenantry.login("ada@example.com", "…", organisation_id="org_…")
    answer = tenantry.authorize(pair.access_token, "org_…", "site:publish")
"""

from tenantry.client.aio import AsyncTenantryClient
from tenantry.client.calls import DEFAULT_TIMEOUT, EPOCH_HEADER, Retries
from tenantry.client.errors import (
    Conflict,
    Forbidden,
    Gone,
    Invalid,
    NotFound,
    RateLimited,
    TenantryProblem,
    Unauthorized,
    Unavailable,
)
from tenantry.client.models import (
    Authorization,
    Decision,
    Grant,
    Jwk,
    Jwks,
    Me,
    OpenIdConfiguration,
    Page,
    Session,
    TokenPair,
    User,
    Written,
)
from tenantry.client.models_audit import AuditEvent, ChainBreak, ChainReport
from tenantry.client.models_invitations import (
    Acceptance,
    BulkResult,
    BulkRowResult,
    Invitation,
    InvitationPreview,
)
from tenantry.client.models_org import (
    AccessChange,
    Assignment,
    HeldPermission,
    Member,
    MemberPermissions,
    MyOrganisation,
    Organisation,
    Role,
    RolePreview,
    Team,
    TeamMember,
)
from tenantry.client.sync import TenantryClient

__all__ = [
    "DEFAULT_TIMEOUT",
    "EPOCH_HEADER",
    "Acceptance",
    "AccessChange",
    "Assignment",
    "AsyncTenantryClient",
    "AuditEvent",
    "Authorization",
    "BulkResult",
    "BulkRowResult",
    "ChainBreak",
    "ChainReport",
    "Conflict",
    "Decision",
    "Forbidden",
    "Gone",
    "Grant",
    "HeldPermission",
    "Invalid",
    "Invitation",
    "InvitationPreview",
    "Jwk",
    "Jwks",
    "Me",
    "Member",
    "MemberPermissions",
    "MyOrganisation",
    "NotFound",
    "OpenIdConfiguration",
    "Organisation",
    "Page",
    "RateLimited",
    "Retries",
    "Role",
    "RolePreview",
    "Session",
    "Team",
    "TeamMember",
    "TenantryClient",
    "TenantryProblem",
    "TokenPair",
    "Unauthorized",
    "Unavailable",
    "User",
    "Written",
]
