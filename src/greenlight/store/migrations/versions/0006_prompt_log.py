"""The prompt log: what every run was asked, ran on, cost and produced.

``prompt_logs`` completes each run's record (one row per run, beside ``runs``):
the tool, the sealed prompt and negative prompt with their SHA-256, the input
hashes, when the job was queued, GPU-seconds, where the cost came from and the
worker host. ``tool_rate_cards`` holds what a tool costs per run, per output and
per GPU-second. Runs from before this revision have no prompt log row.

Revision ID: 0006_prompt_log
Revises: 0005_job_queue
Create Date: 2026-11-21
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0006_prompt_log"
down_revision = "0005_job_queue"
branch_labels = None
depends_on = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
_ID = sa.String(length=40)
_WHEN = sa.DateTime(timezone=True)
_USD = sa.Numeric(12, 6)


def upgrade() -> None:
    op.create_table(
        "prompt_logs",
        sa.Column("run_id", _ID, nullable=False),
        sa.Column("tool_id", _ID, nullable=False),
        sa.Column("key_id", sa.String(length=16), nullable=False),
        sa.Column("prompt_sealed", sa.LargeBinary(), nullable=False),
        sa.Column("prompt_sha256", sa.String(length=64), nullable=False),
        sa.Column("negative_prompt_sealed", sa.LargeBinary(), nullable=True),
        sa.Column("negative_prompt_sha256", sa.String(length=64), nullable=True),
        sa.Column("inputs", _JSON, nullable=False),
        sa.Column("queued_at", _WHEN, nullable=True),
        sa.Column("gpu_seconds", sa.Numeric(14, 3), nullable=True),
        sa.Column("cost_source", sa.String(length=16), nullable=True),
        sa.Column("worker_host", sa.String(length=255), nullable=True),
        sa.Column("delivered_by", _ID, nullable=True),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], name="fk_prompt_logs_run_id_runs"),
        sa.ForeignKeyConstraint(["tool_id"], ["tools.id"], name="fk_prompt_logs_tool_id_tools"),
        sa.ForeignKeyConstraint(
            ["delivered_by"], ["people.id"], name="fk_prompt_logs_delivered_by_people"
        ),
        sa.PrimaryKeyConstraint("run_id", name="pk_prompt_logs"),
    )
    op.create_table(
        "tool_rate_cards",
        sa.Column("tool_id", _ID, nullable=False),
        sa.Column("per_run_usd", _USD, nullable=True),
        sa.Column("per_output_usd", _USD, nullable=True),
        sa.Column("per_gpu_second_usd", _USD, nullable=True),
        sa.Column("updated_at", _WHEN, nullable=False),
        sa.Column("updated_by", _ID, nullable=True),
        sa.ForeignKeyConstraint(["tool_id"], ["tools.id"], name="fk_tool_rate_cards_tool_id_tools"),
        sa.ForeignKeyConstraint(
            ["updated_by"], ["people.id"], name="fk_tool_rate_cards_updated_by_people"
        ),
        sa.PrimaryKeyConstraint("tool_id", name="pk_tool_rate_cards"),
    )


def downgrade() -> None:
    op.drop_table("tool_rate_cards")
    op.drop_table("prompt_logs")
