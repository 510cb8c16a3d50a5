"""A registry generation: one counter that every registry change moves.

Registry rows (productions, people and memberships, tools and their standing,
talent and consents, watchlists) are read on every submission and change
rarely. Triggers bump ``registry_state.generation`` in the same transaction as
any such change, from any process or tool, so an in-memory copy stays valid
exactly as long as the generation it was read at (see ``store/registry.py``).

Token use (``api_tokens.last_used_at``) and password changes do not count:
only the columns that decide who may do what move the counter.

Revision ID: 0004_registry_generation
Revises: 0003_rights
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0004_registry_generation"
down_revision = "0003_rights"
branch_labels = None
depends_on = None

# table -> the columns whose update counts (None: any update does).
WATCHED: dict[str, tuple[str, ...] | None] = {
    "people": ("email", "name", "is_admin"),
    "api_tokens": ("revoked_at", "person_id"),
    "memberships": None,
    "productions": None,
    "episodes": None,
    "shots": None,
    "vendors": None,
    "tools": None,
    "attestations": None,
    "tool_allowlist": None,
    "audits": None,
    "audit_findings": None,
    "talent": None,
    "talent_references": None,
    "consents": None,
    "consent_productions": None,
    "watchlist_entries": None,
}
_BUMP = "UPDATE registry_state SET generation = generation + 1 WHERE id = 1"


def upgrade() -> None:
    op.create_table(
        "registry_state",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("generation", sa.BigInteger(), nullable=False),
    )
    op.execute("INSERT INTO registry_state (id, generation) VALUES (1, 0)")
    postgres = op.get_bind().dialect.name == "postgresql"
    if postgres:
        op.execute(
            "CREATE FUNCTION registry_bump() RETURNS trigger LANGUAGE plpgsql AS "
            f"$$ BEGIN {_BUMP}; RETURN NULL; END $$"
        )
    for table, columns in WATCHED.items():
        update = f"UPDATE OF {', '.join(columns)}" if columns else "UPDATE"
        if postgres:
            op.execute(
                f"CREATE TRIGGER registry_bump_{table} AFTER INSERT OR {update} OR DELETE "
                f"ON {table} FOR EACH STATEMENT EXECUTE FUNCTION registry_bump()"
            )
            continue
        for change in ("INSERT", update, "DELETE"):
            name = f"registry_bump_{table}_{change.split()[0].lower()}"
            op.execute(
                f"CREATE TRIGGER {name} AFTER {change} ON {table} FOR EACH ROW BEGIN {_BUMP}; END"
            )


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for table in WATCHED:
        if postgres:
            op.execute(f"DROP TRIGGER registry_bump_{table} ON {table}")
            continue
        for change in ("insert", "update", "delete"):
            op.execute(f"DROP TRIGGER registry_bump_{table}_{change}")
    if postgres:
        op.execute("DROP FUNCTION registry_bump()")
    op.drop_table("registry_state")
