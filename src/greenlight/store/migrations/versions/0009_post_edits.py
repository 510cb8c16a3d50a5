"""Human post-edit: every change made to a translated subtitle event in review.

``subtitle_edits`` keeps, per request, output asset and event (1-based), the
text before and after, its character- and word-level edit distance, who made
the change and when.

Revision ID: 0009_post_edits
Revises: 0008_localization
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = "0009_post_edits"
down_revision = "0008_localization"
branch_labels = None
depends_on = None

_ID = sa.String(length=40)
_WHEN = sa.DateTime(timezone=True)
# On SQLite an INTEGER primary key is the rowid itself (and autoincrements).
_KEY = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "subtitle_edits",
        sa.Column("id", _KEY, autoincrement=True, nullable=False),
        sa.Column("request_id", _ID, nullable=False),
        sa.Column("asset_id", _ID, nullable=False),
        sa.Column("event", sa.Integer(), nullable=False),
        sa.Column("before_text", sa.Text(), nullable=False),
        sa.Column("after_text", sa.Text(), nullable=False),
        sa.Column("char_distance", sa.Integer(), nullable=False),
        sa.Column("word_distance", sa.Integer(), nullable=False),
        sa.Column("edited_by", _ID, nullable=False),
        sa.Column("edited_at", _WHEN, nullable=False),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["generation_requests.id"],
            name="fk_subtitle_edits_request_id_generation_requests",
        ),
        sa.ForeignKeyConstraint(
            ["asset_id"], ["assets.id"], name="fk_subtitle_edits_asset_id_assets"
        ),
        sa.ForeignKeyConstraint(
            ["edited_by"], ["people.id"], name="fk_subtitle_edits_edited_by_people"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_subtitle_edits"),
    )
    op.create_index(
        "ix_subtitle_edits_request", "subtitle_edits", ["request_id", "asset_id", "event"]
    )


def downgrade() -> None:
    op.drop_index("ix_subtitle_edits_request", table_name="subtitle_edits")
    op.drop_table("subtitle_edits")
