"""The transactional email outbox."""
