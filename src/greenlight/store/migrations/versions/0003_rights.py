"""The rights registry grows up: talent status and references, consent scope and
revocation, vendor attestations, audits and findings, per-production tool
allow-lists and watchlists, disclosures to the studio, a request's declared
disclosure and the policy document behind each decision.

Existing consents get a kind from their use cases (dubbing: voice; marketing
art: marketing likeness; crowd replication: replica use; anything else, de-aging
and cleanup included: digital alteration), their note (or a sentence naming
their use cases) as the intended use, and cover the production they were
recorded on.

Revision ID: 0003_rights
Revises: 0002_domain
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0003_rights"
down_revision = "0002_domain"
branch_labels = None
depends_on = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
_ID = sa.String(length=40)
_WHEN = sa.DateTime(timezone=True)

# The kind an old consent gets from its use cases: the first that applies.
_KIND_BY_USE_CASE = (
    ("dubbing", "voice"),
    ("marketing_art", "marketing_likeness"),
    ("crowd_replication", "replica_use"),
)


def upgrade() -> None:
    op.add_column(
        "talent", sa.Column("union_member", sa.Boolean(), server_default=sa.false(), nullable=False)
    )
    op.add_column(
        "talent", sa.Column("deceased", sa.Boolean(), server_default=sa.false(), nullable=False)
    )
    op.add_column(
        "talent", sa.Column("authorized_representative", sa.String(length=200), nullable=True)
    )
    op.add_column(
        "talent",
        sa.Column("consent_from", sa.String(length=32), server_default="performer", nullable=False),
    )
    talent = sa.table(
        "talent",
        sa.column("union_affiliation", sa.String),
        sa.column("union_member", sa.Boolean),
    )
    op.execute(
        talent.update().where(talent.c.union_affiliation.is_not(None)).values(union_member=True)
    )

    op.add_column("productions", sa.Column("studio_contact", sa.String(length=254), nullable=True))
    op.add_column(
        "generation_requests",
        sa.Column("disclosure", _JSON, server_default=sa.text("'{}'"), nullable=False),
    )
    op.add_column("policy_decisions", sa.Column("facts", _JSON, nullable=True))

    _upgrade_consents()

    op.create_table(
        "talent_references",
        sa.Column("id", _ID, nullable=False),
        sa.Column("talent_id", _ID, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("media_type", sa.String(length=100), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("added_by", _ID, nullable=False),
        sa.Column("created_at", _WHEN, nullable=False),
        sa.ForeignKeyConstraint(
            ["added_by"], ["people.id"], name=op.f("fk_talent_references_added_by_people")
        ),
        sa.ForeignKeyConstraint(
            ["talent_id"], ["talent.id"], name=op.f("fk_talent_references_talent_id_talent")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_talent_references")),
        sa.UniqueConstraint("talent_id", "sha256", name="uq_talent_references_talent_sha256"),
    )
    op.create_index("ix_talent_references_sha256", "talent_references", ["sha256"])

    op.create_table(
        "attestations",
        sa.Column("id", _ID, nullable=False),
        sa.Column("vendor_id", _ID, nullable=False),
        sa.Column("tool_id", _ID, nullable=True),
        sa.Column("training_data", _JSON, nullable=False),
        sa.Column("trains_on_inputs", sa.Boolean(), nullable=False),
        sa.Column("retains_data_days", sa.Integer(), nullable=False),
        sa.Column("enclosed_environment", sa.Boolean(), nullable=False),
        sa.Column("security_certification", sa.String(length=100), nullable=True),
        sa.Column("valid_from", _WHEN, nullable=False),
        sa.Column("expires_at", _WHEN, nullable=False),
        sa.Column("document_sha256", sa.String(length=64), nullable=True),
        sa.Column("recorded_by", _ID, nullable=False),
        sa.Column("created_at", _WHEN, nullable=False),
        sa.ForeignKeyConstraint(
            ["recorded_by"], ["people.id"], name=op.f("fk_attestations_recorded_by_people")
        ),
        sa.ForeignKeyConstraint(
            ["tool_id"], ["tools.id"], name=op.f("fk_attestations_tool_id_tools")
        ),
        sa.ForeignKeyConstraint(
            ["vendor_id"], ["vendors.id"], name=op.f("fk_attestations_vendor_id_vendors")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_attestations")),
    )
    op.create_index("ix_attestations_vendor_tool", "attestations", ["vendor_id", "tool_id"])

    op.create_table(
        "tool_allowlist",
        sa.Column("id", _ID, nullable=False),
        sa.Column("production_id", _ID, nullable=False),
        sa.Column("tool_id", _ID, nullable=False),
        sa.Column("allowed_by", _ID, nullable=False),
        sa.Column("allowed_at", _WHEN, nullable=False),
        sa.Column("removed_by", _ID, nullable=True),
        sa.Column("removed_at", _WHEN, nullable=True),
        sa.ForeignKeyConstraint(
            ["allowed_by"], ["people.id"], name=op.f("fk_tool_allowlist_allowed_by_people")
        ),
        sa.ForeignKeyConstraint(
            ["production_id"],
            ["productions.id"],
            name=op.f("fk_tool_allowlist_production_id_productions"),
        ),
        sa.ForeignKeyConstraint(
            ["removed_by"], ["people.id"], name=op.f("fk_tool_allowlist_removed_by_people")
        ),
        sa.ForeignKeyConstraint(
            ["tool_id"], ["tools.id"], name=op.f("fk_tool_allowlist_tool_id_tools")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tool_allowlist")),
    )
    op.create_index(
        "ix_tool_allowlist_production_tool", "tool_allowlist", ["production_id", "tool_id"]
    )

    op.create_table(
        "audits",
        sa.Column("id", _ID, nullable=False),
        sa.Column("vendor_id", _ID, nullable=False),
        sa.Column("tool_id", _ID, nullable=True),
        sa.Column("scheduled_for", sa.Date(), nullable=False),
        sa.Column("auditor", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("scheduled_by", _ID, nullable=False),
        sa.Column("created_at", _WHEN, nullable=False),
        sa.Column("completed_at", _WHEN, nullable=True),
        sa.ForeignKeyConstraint(
            ["scheduled_by"], ["people.id"], name=op.f("fk_audits_scheduled_by_people")
        ),
        sa.ForeignKeyConstraint(["tool_id"], ["tools.id"], name=op.f("fk_audits_tool_id_tools")),
        sa.ForeignKeyConstraint(
            ["vendor_id"], ["vendors.id"], name=op.f("fk_audits_vendor_id_vendors")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audits")),
    )
    op.create_index("ix_audits_vendor", "audits", ["vendor_id"])

    op.create_table(
        "audit_findings",
        sa.Column("id", _ID, nullable=False),
        sa.Column("audit_id", _ID, nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("remediation", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("recorded_by", _ID, nullable=False),
        sa.Column("created_at", _WHEN, nullable=False),
        sa.Column("remediated_at", _WHEN, nullable=True),
        sa.Column("remediated_by", _ID, nullable=True),
        sa.Column("remediation_note", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["audit_id"], ["audits.id"], name=op.f("fk_audit_findings_audit_id_audits")
        ),
        sa.ForeignKeyConstraint(
            ["recorded_by"], ["people.id"], name=op.f("fk_audit_findings_recorded_by_people")
        ),
        sa.ForeignKeyConstraint(
            ["remediated_by"], ["people.id"], name=op.f("fk_audit_findings_remediated_by_people")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_findings")),
    )
    op.create_index("ix_audit_findings_audit", "audit_findings", ["audit_id"])

    op.create_table(
        "watchlist_entries",
        sa.Column("id", _ID, nullable=False),
        sa.Column("production_id", _ID, nullable=False),
        sa.Column("term", sa.String(length=200), nullable=False),
        sa.Column("category", sa.String(length=32), nullable=False),
        sa.Column("aliases", _JSON, nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("added_by", _ID, nullable=False),
        sa.Column("created_at", _WHEN, nullable=False),
        sa.Column("updated_at", _WHEN, nullable=False),
        sa.Column("removed_at", _WHEN, nullable=True),
        sa.Column("removed_by", _ID, nullable=True),
        sa.ForeignKeyConstraint(
            ["added_by"], ["people.id"], name=op.f("fk_watchlist_entries_added_by_people")
        ),
        sa.ForeignKeyConstraint(
            ["production_id"],
            ["productions.id"],
            name=op.f("fk_watchlist_entries_production_id_productions"),
        ),
        sa.ForeignKeyConstraint(
            ["removed_by"], ["people.id"], name=op.f("fk_watchlist_entries_removed_by_people")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_watchlist_entries")),
    )
    op.create_index("ix_watchlist_entries_production", "watchlist_entries", ["production_id"])

    op.create_table(
        "disclosures",
        sa.Column("id", _ID, nullable=False),
        sa.Column("request_id", _ID, nullable=False),
        sa.Column("production_id", _ID, nullable=False),
        sa.Column("studio_contact", sa.String(length=254), nullable=True),
        sa.Column("summary", _JSON, nullable=False),
        sa.Column("created_at", _WHEN, nullable=False),
        sa.ForeignKeyConstraint(
            ["production_id"],
            ["productions.id"],
            name=op.f("fk_disclosures_production_id_productions"),
        ),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["generation_requests.id"],
            name=op.f("fk_disclosures_request_id_generation_requests"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_disclosures")),
        sa.UniqueConstraint("request_id", name="uq_disclosures_request_id"),
    )
    op.create_index(
        "ix_disclosures_production_created", "disclosures", ["production_id", "created_at"]
    )


def _upgrade_consents() -> None:
    """Scope and revocation columns on consents, filled in for the consents already there."""
    op.add_column(
        "consents",
        sa.Column(
            "kind", sa.String(length=32), server_default="digital_alteration", nullable=False
        ),
    )
    op.add_column(
        "consents", sa.Column("intended_use", sa.Text(), server_default="", nullable=False)
    )
    op.add_column(
        "consents", sa.Column("media", _JSON, server_default=sa.text("'[]'"), nullable=False)
    )
    op.add_column(
        "consents",
        sa.Column("territories", _JSON, server_default=sa.text("'[]'"), nullable=False),
    )
    op.add_column(
        "consents", sa.Column("compensation_reference", sa.String(length=200), nullable=True)
    )
    op.add_column("consents", sa.Column("signed_on", sa.Date(), nullable=True))
    op.add_column(
        "consents",
        sa.Column("given_by", sa.String(length=32), server_default="performer", nullable=False),
    )
    op.add_column("consents", sa.Column("signatory", sa.String(length=200), nullable=True))
    op.add_column("consents", sa.Column("recorded_by", _ID, nullable=True))
    op.add_column("consents", sa.Column("revoked_by", _ID, nullable=True))
    op.add_column("consents", sa.Column("revocation_reason", sa.Text(), nullable=True))

    op.create_table(
        "consent_productions",
        sa.Column("consent_id", _ID, nullable=False),
        sa.Column("production_id", _ID, nullable=False),
        sa.ForeignKeyConstraint(
            ["consent_id"], ["consents.id"], name=op.f("fk_consent_productions_consent_id_consents")
        ),
        sa.ForeignKeyConstraint(
            ["production_id"],
            ["productions.id"],
            name=op.f("fk_consent_productions_production_id_productions"),
        ),
        sa.PrimaryKeyConstraint("consent_id", "production_id", name=op.f("pk_consent_productions")),
    )
    op.create_index("ix_consent_productions_production", "consent_productions", ["production_id"])

    conn = op.get_bind()
    consents = sa.table(
        "consents",
        sa.column("id", sa.String),
        sa.column("production_id", sa.String),
        sa.column("use_cases", _JSON),
        sa.column("note", sa.Text),
        sa.column("kind", sa.String),
        sa.column("intended_use", sa.Text),
    )
    links = sa.table(
        "consent_productions", sa.column("consent_id", sa.String), sa.column("production_id")
    )
    rows = conn.execute(
        sa.select(consents.c.id, consents.c.production_id, consents.c.use_cases, consents.c.note)
    ).all()
    for row in rows:
        use_cases = list(row.use_cases or [])
        kind = next((k for u, k in _KIND_BY_USE_CASE if u in use_cases), "digital_alteration")
        intended = (row.note or "").strip() or (
            "Recorded before consents named their intended use; covers "
            + ", ".join(u.replace("_", " ") for u in use_cases)
            + " on this production."
        )
        conn.execute(
            consents.update()
            .where(consents.c.id == row.id)
            .values(kind=kind, intended_use=intended)
        )
        conn.execute(links.insert().values(consent_id=row.id, production_id=row.production_id))


def downgrade() -> None:
    op.drop_table("disclosures")
    op.drop_table("watchlist_entries")
    op.drop_table("audit_findings")
    op.drop_table("audits")
    op.drop_table("tool_allowlist")
    op.drop_table("attestations")
    op.drop_table("talent_references")
    op.drop_table("consent_productions")
    # Plain ALTER TABLE ... DROP COLUMN (SQLite 3.35+): none of these columns is
    # indexed or a key, and rebuilding tables others point at would trip their keys.
    for table, columns in (
        (
            "consents",
            (
                "revocation_reason",
                "revoked_by",
                "recorded_by",
                "signatory",
                "given_by",
                "signed_on",
                "compensation_reference",
                "territories",
                "media",
                "intended_use",
                "kind",
            ),
        ),
        ("policy_decisions", ("facts",)),
        ("generation_requests", ("disclosure",)),
        ("productions", ("studio_contact",)),
        ("talent", ("consent_from", "authorized_representative", "deceased", "union_member")),
    ):
        for column in columns:
            op.drop_column(table, column)
