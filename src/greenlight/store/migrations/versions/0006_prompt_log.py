"""The prompt log: what every run was asked, ran on, cost and produced.

Revision ID: 0006_prompt_log
Revises: 0005_job_queue
Create Date: 2026-11-21
"""

revision = "0006_prompt_log"
down_revision = "0005_job_queue"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
