"""Persistence: the database (SQLite or PostgreSQL), its schema and migrations."""

from greenlight.store.blobs import BlobRef, BlobStore
from greenlight.store.db import Database, engine_for

__all__ = ["BlobRef", "BlobStore", "Database", "engine_for"]
