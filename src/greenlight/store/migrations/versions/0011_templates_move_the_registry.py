"""Likeness templates move the registry generation too.

The scanner keeps the enrolled templates in memory, unsealed, for as long as
the registry generation stays the same (``likeness/scan.py``), instead of
reading and unsealing every template for every run. So enrolling a performer
(new templates), and forgetting their templates (a withdrawn reference, a
revoked consent they were kept under) must move the counter, in the same
transaction, like every other registry change (migration 0004).

Revision ID: 0011_templates_move_the_registry
Revises: 0010_output_assets_may_repeat
Create Date: 2026-12-08
"""

from alembic import op

revision = "0011_templates_move_the_registry"
down_revision = "0010_output_assets_may_repeat"
branch_labels = None
depends_on = None

_TABLE = "likeness_templates"
_BUMP = "UPDATE registry_state SET generation = generation + 1 WHERE id = 1"


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            f"CREATE TRIGGER registry_bump_{_TABLE} AFTER INSERT OR UPDATE OR DELETE "
            f"ON {_TABLE} FOR EACH STATEMENT EXECUTE FUNCTION registry_bump()"
        )
        return
    for change in ("INSERT", "UPDATE", "DELETE"):
        op.execute(
            f"CREATE TRIGGER registry_bump_{_TABLE}_{change.lower()} AFTER {change} "
            f"ON {_TABLE} FOR EACH ROW BEGIN {_BUMP}; END"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP TRIGGER registry_bump_{_TABLE} ON {_TABLE}")
        return
    for change in ("insert", "update", "delete"):
        op.execute(f"DROP TRIGGER registry_bump_{_TABLE}_{change}")
