"""The ledger: entries, the tree's tiles and signed checkpoints.

Revision ID: 0001_ledger
Revises:
Create Date: 2026-11-21
"""

import hashlib

import sqlalchemy as sa
from alembic import op

revision = "0001_ledger"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    head = op.create_table(
        "ledger_head",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("next_index", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "ledger_entries",
        sa.Column(
            "idx",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            primary_key=True,
            autoincrement=False,
        ),
        sa.Column("leaf_hash", sa.LargeBinary(32), nullable=False),
        sa.Column("body", sa.LargeBinary, nullable=False),
        sa.Column("event_type", sa.String(64), nullable=False),
        sa.Column("production_id", sa.String(64), nullable=True),
    )
    op.create_table(
        "ledger_leaf_index",
        sa.Column("leaf_key", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("idx", sa.BigInteger, primary_key=True, autoincrement=False),
        sqlite_with_rowid=False,
    )
    op.create_index("ix_ledger_entries_production", "ledger_entries", ["production_id", "idx"])
    tree = op.create_table(
        "ledger_tree",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("root_hash", sa.LargeBinary(32), nullable=False),
    )
    op.create_table(
        "ledger_tiles",
        sa.Column("level", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("tile_index", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("hashes", sa.LargeBinary, nullable=False),
    )
    op.create_table(
        "ledger_checkpoints",
        sa.Column("size", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("root_hash", sa.LargeBinary(32), nullable=False),
        sa.Column("note", sa.Text, nullable=False),
        sa.Column("signed_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.bulk_insert(head, [{"id": 1, "next_index": 0}])
    op.bulk_insert(tree, [{"id": 1, "size": 0, "root_hash": hashlib.sha256(b"").digest()}])


def downgrade() -> None:
    for table in (
        "ledger_checkpoints",
        "ledger_tiles",
        "ledger_tree",
        "ledger_entries",
        "ledger_head",
    ):
        op.drop_table(table)
