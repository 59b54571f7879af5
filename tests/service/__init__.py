"""Service tests on the in-memory store: the real app and use cases, no database."""
