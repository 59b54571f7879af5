"""Every table, gathered on one `metadata` for migrations and the tests; each is defined
beside its adapter."""

from tenantry.store.sql.accounts import one_time_tokens, users
from tenantry.store.sql.audit import audit_chains, audit_events
from tenantry.store.sql.identities import identity_links
from tenantry.store.sql.invitations import invitations
from tenantry.store.sql.jobs import jobs
from tenantry.store.sql.keys import signing_keys
from tenantry.store.sql.organisations import memberships, organisations
from tenantry.store.sql.outbox import outbox
from tenantry.store.sql.roles import role_assignments, roles
from tenantry.store.sql.schema import TENANT_POLICIES, TENANT_TABLES, metadata
from tenantry.store.sql.sessions import refresh_tokens, sessions
from tenantry.store.sql.teams import team_memberships, teams

__all__ = [
    "TENANT_POLICIES",
    "TENANT_TABLES",
    "audit_chains",
    "audit_events",
    "identity_links",
    "invitations",
    "jobs",
    "memberships",
    "metadata",
    "one_time_tokens",
    "organisations",
    "outbox",
    "refresh_tokens",
    "role_assignments",
    "roles",
    "sessions",
    "signing_keys",
    "team_memberships",
    "teams",
    "users",
]
