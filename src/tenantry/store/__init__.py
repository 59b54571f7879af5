"""Stores: `sql` (SQLite, PostgreSQL) and `memory`, each implementing every port."""
