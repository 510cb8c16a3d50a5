"""The job queue: leases, heartbeats, priorities, retries and progress.

Revision ID: 0005_job_queue
Revises: 0004_registry_generation
Create Date: 2026-11-21
"""

revision = "0005_job_queue"
down_revision = "0004_registry_generation"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
