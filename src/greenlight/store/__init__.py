"""Persistence: the database (SQLite or PostgreSQL), its schema and migrations."""

from greenlight.store.db import Database, engine_for

__all__ = ["Database", "engine_for"]
