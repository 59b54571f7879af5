"""Managing an organisation's members: roles, removal, leaving, ownership, permissions."""
