"""tenantry: multi-tenant access management."""

__version__ = "0.1.0"
