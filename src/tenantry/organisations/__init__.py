"""Organisations: registration, life cycle, settings, members, provisioning."""
