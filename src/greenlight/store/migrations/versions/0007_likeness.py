"""Likeness: sealed face and voice templates per performer reference, and scan findings.

``likeness_templates`` holds each reference's vectors sealed with AES-GCM (the
key stays in the data directory's ``keys/``), removed with their reference or
performer by the database itself (ON DELETE CASCADE). ``likeness_findings``
records what each run's likeness scan found, with its evidence frame.

Revision ID: 0007_likeness
Revises: 0006_prompt_log
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0007_likeness"
down_revision = "0006_prompt_log"
branch_labels = None
depends_on = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
_ID = sa.String(length=40)
_WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "likeness_templates",
        sa.Column("id", _ID, nullable=False),
        sa.Column("talent_id", _ID, nullable=False),
        sa.Column("reference_id", _ID, nullable=False),
        sa.Column("modality", sa.String(length=8), nullable=False),
        sa.Column("model", sa.String(length=100), nullable=False),
        sa.Column("vectors", sa.Integer(), nullable=False),
        sa.Column("key_id", sa.String(length=16), nullable=False),
        sa.Column("sealed", sa.LargeBinary(), nullable=False),
        sa.Column("kept_under", _ID, nullable=True),
        sa.Column("created_by", _ID, nullable=False),
        sa.Column("created_at", _WHEN, nullable=False),
        sa.ForeignKeyConstraint(
            ["talent_id"],
            ["talent.id"],
            name="fk_likeness_templates_talent_id_talent",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["reference_id"],
            ["talent_references.id"],
            name="fk_likeness_templates_reference_id_talent_references",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["kept_under"],
            ["consents.id"],
            name="fk_likeness_templates_kept_under_consents",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["created_by"], ["people.id"], name="fk_likeness_templates_created_by_people"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_likeness_templates"),
        sa.UniqueConstraint("reference_id", "model", name="uq_likeness_templates_reference_id"),
    )
    op.create_index("ix_likeness_templates_talent", "likeness_templates", ["talent_id"])
    op.create_table(
        "likeness_findings",
        sa.Column("id", _ID, nullable=False),
        sa.Column("request_id", _ID, nullable=False),
        sa.Column("run_id", _ID, nullable=False),
        sa.Column("asset_id", _ID, nullable=False),
        sa.Column("talent_id", _ID, nullable=False),
        sa.Column("modality", sa.String(length=8), nullable=False),
        sa.Column("model", sa.String(length=100), nullable=False),
        sa.Column("confidence", sa.Float(), nullable=False),
        sa.Column("covered", sa.Boolean(), nullable=False),
        sa.Column("frame", sa.Integer(), nullable=True),
        sa.Column("time_s", sa.Float(), nullable=True),
        sa.Column("end_s", sa.Float(), nullable=True),
        sa.Column("box", _JSON, nullable=True),
        sa.Column("evidence_sha256", sa.String(length=64), nullable=True),
        sa.Column("created_at", _WHEN, nullable=False),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["generation_requests.id"],
            name="fk_likeness_findings_request_id_generation_requests",
        ),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], name="fk_likeness_findings_run_id_runs"),
        sa.ForeignKeyConstraint(
            ["asset_id"], ["assets.id"], name="fk_likeness_findings_asset_id_assets"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_likeness_findings"),
    )
    op.create_index("ix_likeness_findings_request", "likeness_findings", ["request_id"])


def downgrade() -> None:
    op.drop_index("ix_likeness_findings_request", table_name="likeness_findings")
    op.drop_table("likeness_findings")
    op.drop_index("ix_likeness_templates_talent", table_name="likeness_templates")
    op.drop_table("likeness_templates")
