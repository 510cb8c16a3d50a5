"""Localization: each production's glossary and translation memory.

``glossary_entries`` says how a term must come out in a target language (a
given translation, or NULL: never translated) and whether its case must match;
``translation_memory`` keeps approved cue translations per production and
language pair, keyed by the SHA-256 of the source text.

Revision ID: 0008_localization
Revises: 0007_likeness
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op

revision = "0008_localization"
down_revision = "0007_likeness"
branch_labels = None
depends_on = None

_ID = sa.String(length=40)
_WHEN = sa.DateTime(timezone=True)
_LANGUAGE = sa.String(length=35)


def upgrade() -> None:
    op.create_table(
        "glossary_entries",
        sa.Column("production_id", _ID, nullable=False),
        sa.Column("target_language", _LANGUAGE, nullable=False),
        sa.Column("term_key", sa.String(length=200), nullable=False),
        sa.Column("term", sa.String(length=200), nullable=False),
        sa.Column("translation", sa.String(length=400), nullable=True),
        sa.Column("case_rule", sa.String(length=8), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("updated_by", _ID, nullable=False),
        sa.Column("updated_at", _WHEN, nullable=False),
        sa.ForeignKeyConstraint(
            ["production_id"],
            ["productions.id"],
            name="fk_glossary_entries_production_id_productions",
        ),
        sa.ForeignKeyConstraint(
            ["updated_by"], ["people.id"], name="fk_glossary_entries_updated_by_people"
        ),
        sa.PrimaryKeyConstraint(
            "production_id", "target_language", "term_key", name="pk_glossary_entries"
        ),
    )
    op.create_table(
        "translation_memory",
        sa.Column("production_id", _ID, nullable=False),
        sa.Column("source_language", _LANGUAGE, nullable=False),
        sa.Column("target_language", _LANGUAGE, nullable=False),
        sa.Column("source_key", sa.String(length=64), nullable=False),
        sa.Column("source_text", sa.Text(), nullable=False),
        sa.Column("target_text", sa.Text(), nullable=False),
        sa.Column("approved_by", _ID, nullable=False),
        sa.Column("approved_at", _WHEN, nullable=False),
        sa.ForeignKeyConstraint(
            ["production_id"],
            ["productions.id"],
            name="fk_translation_memory_production_id_productions",
        ),
        sa.ForeignKeyConstraint(
            ["approved_by"], ["people.id"], name="fk_translation_memory_approved_by_people"
        ),
        sa.PrimaryKeyConstraint(
            "production_id",
            "source_language",
            "target_language",
            "source_key",
            name="pk_translation_memory",
        ),
    )


def downgrade() -> None:
    op.drop_table("translation_memory")
    op.drop_table("glossary_entries")
