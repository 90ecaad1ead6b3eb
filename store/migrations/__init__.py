"""Alembic migrations of the store (run them with :mod:`store.migrate`)."""
