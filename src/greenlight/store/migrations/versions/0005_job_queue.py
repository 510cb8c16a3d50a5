"""The job queue: leases, heartbeats, priorities, retries and progress.

Revision ID: 0005_job_queue
Revises: 0004_registry_generation
Create Date: 2026-11-21
"""

import sqlalchemy as sa
from alembic import op

revision = "0005_job_queue"
down_revision = "0004_registry_generation"
branch_labels = None
depends_on = None

_COLUMNS = (
    "max_attempts",
    "available_at",
    "lease_id",
    "lease_owner",
    "lease_expires_at",
    "run_id",
    "cancel_requested_by",
    "cancel_requested_at",
    "progress",
    "stage",
)


def upgrade() -> None:
    # The OpenCV inpainting backend took its full name when PatchMatch joined it.
    op.execute("UPDATE tools SET backend = 'inpaint-opencv' WHERE backend = 'inpaint'")
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(
            sa.Column("max_attempts", sa.Integer(), nullable=False, server_default=sa.text("3"))
        )
        batch.add_column(sa.Column("available_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("lease_id", sa.String(length=32), nullable=True))
        batch.add_column(sa.Column("lease_owner", sa.String(length=200), nullable=True))
        batch.add_column(sa.Column("lease_expires_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("run_id", sa.String(length=40), nullable=True))
        batch.add_column(sa.Column("cancel_requested_by", sa.String(length=40), nullable=True))
        batch.add_column(
            sa.Column("cancel_requested_at", sa.DateTime(timezone=True), nullable=True)
        )
        batch.add_column(sa.Column("progress", sa.Float(), nullable=True))
        batch.add_column(sa.Column("stage", sa.String(length=200), nullable=True))
    op.create_index("ix_jobs_state_available", "jobs", ["state", "available_at"])
    op.create_table(
        "queue_priorities",
        sa.Column("production_id", sa.String(length=40), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("set_by", sa.String(length=40), nullable=False),
        sa.Column("set_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["production_id"],
            ["productions.id"],
            name=op.f("fk_queue_priorities_production_id_productions"),
        ),
        sa.ForeignKeyConstraint(
            ["set_by"], ["people.id"], name=op.f("fk_queue_priorities_set_by_people")
        ),
        sa.PrimaryKeyConstraint("production_id", name=op.f("pk_queue_priorities")),
    )


def downgrade() -> None:
    op.execute("UPDATE tools SET backend = 'inpaint' WHERE backend = 'inpaint-opencv'")
    op.drop_table("queue_priorities")
    op.drop_index("ix_jobs_state_available", table_name="jobs")
    with op.batch_alter_table("jobs") as batch:
        for name in reversed(_COLUMNS):
            batch.drop_column(name)
