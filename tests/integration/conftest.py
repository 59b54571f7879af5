"""Fixtures for the integration tests that need a real `tenantry serve` process."""

from tests.servers import server  # noqa: F401 (a fixture: one server per store per module)
