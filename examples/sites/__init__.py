"""A small product API whose routes tenantry guards (see README.md)."""
