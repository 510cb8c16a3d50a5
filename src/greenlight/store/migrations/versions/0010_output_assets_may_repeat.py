"""Outputs may repeat bytes already in the production; uploads stay unique.

Text outputs carry their credentials in a sidecar, so signing does not change
their bytes: a re-run, a new iteration with unchanged machine translation, or
two reports with the same content produce an output whose SHA-256 an earlier
asset already has. Each is its own asset (its own run, parents and
credentials), so only uploads keep one row per content and production.

Revision ID: 0010_output_assets_may_repeat
Revises: 0009_post_edits
Create Date: 2026-11-21
"""

import sqlalchemy as sa
from alembic import op

revision = "0010_output_assets_may_repeat"
down_revision = "0009_post_edits"
branch_labels = None
depends_on = None

_UPLOADS = sa.text("origin = 'upload'")


def upgrade() -> None:
    with op.batch_alter_table("assets") as batch:
        batch.drop_constraint("uq_assets_production_sha256", type_="unique")
    op.create_index(
        "uq_assets_upload_sha256",
        "assets",
        ["production_id", "sha256"],
        unique=True,
        sqlite_where=_UPLOADS,
        postgresql_where=_UPLOADS,
    )


def downgrade() -> None:
    op.drop_index("uq_assets_upload_sha256", table_name="assets")
    with op.batch_alter_table("assets") as batch:
        batch.create_unique_constraint("uq_assets_production_sha256", ["production_id", "sha256"])
