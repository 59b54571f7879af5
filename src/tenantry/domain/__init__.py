"""Pure rules of tenantry: standard library only, no I/O."""
