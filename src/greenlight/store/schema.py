"""The platform's tables (SQLAlchemy Core). Migrations in ``migrations/`` create them."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
)

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# --- ledger ---------------------------------------------------------------

# One row: the next index to hand out. Appenders bump it with
# UPDATE ... RETURNING, which also serializes them, so committed indexes are
# dense and commit in order.
ledger_head = Table(
    "ledger_head",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("next_index", BigInteger, nullable=False),
)

# On SQLite an INTEGER primary key is the rowid itself: one B-tree, not two.
Index64 = BigInteger().with_variant(Integer(), "sqlite")

ledger_entries = Table(
    "ledger_entries",
    metadata,
    Column("idx", Index64, primary_key=True, autoincrement=False),
    Column("leaf_hash", LargeBinary(32), nullable=False),
    Column("body", LargeBinary, nullable=False),  # canonical JSON (RFC 8785)
    Column("event_type", String(64), nullable=False),
    Column("production_id", String(64), nullable=True),
    Index("ix_ledger_entries_production", "production_id", "idx"),
)

# Leaf hash -> index, for proofs by leaf hash. Random keys make this the
# costliest index to maintain, so the integrator fills it in its large
# batches instead of every append paying for it; the key is the hash's first
# 8 bytes (a signed 64-bit integer), the full hash is checked on lookup.
ledger_leaf_index = Table(
    "ledger_leaf_index",
    metadata,
    Column("leaf_key", BigInteger, primary_key=True, autoincrement=False),
    Column("idx", BigInteger, primary_key=True, autoincrement=False),
    sqlite_with_rowid=False,
)

# One row: how much of the log the tree covers, and its root.
ledger_tree = Table(
    "ledger_tree",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("size", BigInteger, nullable=False),
    Column("root_hash", LargeBinary(32), nullable=False),
)

ledger_tiles = Table(
    "ledger_tiles",
    metadata,
    Column("level", Integer, primary_key=True, autoincrement=False),
    Column("tile_index", BigInteger, primary_key=True, autoincrement=False),
    Column("hashes", LargeBinary, nullable=False),
)

ledger_checkpoints = Table(
    "ledger_checkpoints",
    metadata,
    Column("size", BigInteger, primary_key=True, autoincrement=False),
    Column("root_hash", LargeBinary(32), nullable=False),
    Column("note", Text, nullable=False),
    Column("signed_at", DateTime(timezone=True), nullable=False),
)
