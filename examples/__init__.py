"""Examples of products that use tenantry."""
