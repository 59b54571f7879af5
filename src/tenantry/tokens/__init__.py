"""Signing keys, their encryption at rest, and the access-token signer."""
