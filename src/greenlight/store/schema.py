"""The platform's tables (SQLAlchemy Core). Migrations in ``migrations/`` create them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Numeric,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# --- ledger ---------------------------------------------------------------

# One row: the next index to hand out. Appenders bump it with
# UPDATE ... RETURNING, which also serializes them, so committed indexes are
# dense and commit in order.
ledger_head = Table(
    "ledger_head",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("next_index", BigInteger, nullable=False),
)

# On SQLite an INTEGER primary key is the rowid itself: one B-tree, not two.
Index64 = BigInteger().with_variant(Integer(), "sqlite")

ledger_entries = Table(
    "ledger_entries",
    metadata,
    Column("idx", Index64, primary_key=True, autoincrement=False),
    Column("leaf_hash", LargeBinary(32), nullable=False),
    Column("body", LargeBinary, nullable=False),  # canonical JSON (RFC 8785)
    Column("event_type", String(64), nullable=False),
    Column("production_id", String(64), nullable=True),
    Index("ix_ledger_entries_production", "production_id", "idx"),
)

# Leaf hash -> index, for proofs by leaf hash. Random keys make this the
# costliest index to maintain, so the integrator fills it in its large
# batches instead of every append paying for it; the key is the hash's first
# 8 bytes (a signed 64-bit integer), the full hash is checked on lookup.
ledger_leaf_index = Table(
    "ledger_leaf_index",
    metadata,
    Column("leaf_key", BigInteger, primary_key=True, autoincrement=False),
    Column("idx", BigInteger, primary_key=True, autoincrement=False),
    sqlite_with_rowid=False,
)

# One row: how much of the log the tree covers, and its root.
ledger_tree = Table(
    "ledger_tree",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("size", BigInteger, nullable=False),
    Column("root_hash", LargeBinary(32), nullable=False),
)

ledger_tiles = Table(
    "ledger_tiles",
    metadata,
    Column("level", Integer, primary_key=True, autoincrement=False),
    Column("tile_index", BigInteger, primary_key=True, autoincrement=False),
    Column("hashes", LargeBinary, nullable=False),
)

ledger_checkpoints = Table(
    "ledger_checkpoints",
    metadata,
    Column("size", BigInteger, primary_key=True, autoincrement=False),
    Column("root_hash", LargeBinary(32), nullable=False),
    Column("note", Text, nullable=False),
    Column("signed_at", DateTime(timezone=True), nullable=False),
)


# --- column types -----------------------------------------------------------


class UTCDateTime(TypeDecorator[datetime]):
    """A moment in UTC: stored naive-UTC on SQLite, ``timestamptz`` on PostgreSQL,
    always handed back timezone-aware."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("refusing a naive datetime; use greenlight.core.clock.utcnow()")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


Id = String(40)
Json = JSON().with_variant(JSONB(), "postgresql")


def _id(name: str = "id") -> Column[Any]:
    return Column(name, Id, primary_key=True)


def _ref(name: str, target: str, *, nullable: bool = False) -> Column[Any]:
    return Column(name, Id, ForeignKey(target), nullable=nullable)


def _created() -> Column[Any]:
    return Column("created_at", UTCDateTime(), nullable=False)


# --- people, sessions and tokens ---------------------------------------------

people = Table(
    "people",
    metadata,
    _id(),
    Column("email", String(254), nullable=False, unique=True),  # stored lower-cased
    Column("name", String(200), nullable=False),
    Column("password_hash", String(200), nullable=True),  # argon2id; NULL: token-only
    Column("is_admin", Boolean, nullable=False, default=False),
    _created(),
)

# Web sessions: the cookie carries a random token; only its SHA-256 is stored.
sessions = Table(
    "sessions",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    _ref("person_id", "people.id"),
    Column("csrf_token", String(64), nullable=False),
    _created(),
    Column("expires_at", UTCDateTime(), nullable=False),
    Index("ix_sessions_person", "person_id"),
)

# Personal API tokens for scripts, hashed at rest like sessions.
api_tokens = Table(
    "api_tokens",
    metadata,
    _id(),
    _ref("person_id", "people.id"),
    Column("name", String(100), nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),
    _created(),
    Column("last_used_at", UTCDateTime(), nullable=True),
    Column("revoked_at", UTCDateTime(), nullable=True),
    Index("ix_api_tokens_person", "person_id"),
)

# --- vendors and their tools, talent and consents ----------------------------

vendors = Table(
    "vendors",
    metadata,
    _id(),
    Column("name", String(200), nullable=False, unique=True),
    _created(),
)

tools = Table(
    "tools",
    metadata,
    _id(),
    _ref("vendor_id", "vendors.id"),
    Column("name", String(200), nullable=False),
    Column("version", String(100), nullable=False),
    Column("hosting", String(32), nullable=False),
    # Which backend runs it here ("inpaint-opencv"); NULL when the vendor delivers the work.
    Column("backend", String(64), nullable=True),
    Column("use_cases", Json, nullable=False),  # the use cases it is vetted for
    _created(),
    UniqueConstraint("vendor_id", "name", "version", name="uq_tools_vendor_name_version"),
)

talent = Table(
    "talent",
    metadata,
    _id(),
    Column("name", String(200), nullable=False),
    Column("union_affiliation", String(64), nullable=True),  # "SAG-AFTRA", ...
    _created(),
    # Added after the first release: server defaults fill the rows that were there.
    Column("union_member", Boolean, nullable=False, server_default=false()),
    Column("deceased", Boolean, nullable=False, server_default=false()),
    Column("authorized_representative", String(200), nullable=True),
    # performer | authorized_representative | union: who gives consent for them.
    Column("consent_from", String(32), nullable=False, server_default="performer"),
)

# Reference photos and voice samples (biometric data): the bytes live in the blob
# store by SHA-256; removing a reference removes its row, and its blob when unused.
talent_references = Table(
    "talent_references",
    metadata,
    _id(),
    _ref("talent_id", "talent.id"),
    Column("kind", String(16), nullable=False),  # photo | voice
    Column("sha256", String(64), nullable=False),
    Column("media_type", String(100), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("filename", String(255), nullable=False),
    _ref("added_by", "people.id"),
    _created(),
    UniqueConstraint("talent_id", "sha256", name="uq_talent_references_talent_sha256"),
    Index("ix_talent_references_sha256", "sha256"),
)

consents = Table(
    "consents",
    metadata,
    _id(),
    _ref("talent_id", "talent.id"),
    _ref("production_id", "productions.id"),  # where it was recorded
    Column("use_cases", Json, nullable=False),  # what the performer agreed to
    Column("granted_at", UTCDateTime(), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=True),
    Column("revoked_at", UTCDateTime(), nullable=True),
    Column("document_sha256", String(64), nullable=True),  # the signed consent, as a blob
    Column("note", Text, nullable=True),
    _created(),
    # Added after the first release (server defaults fill the rows that were there).
    Column("kind", String(32), nullable=False, server_default="digital_alteration"),
    Column("intended_use", Text, nullable=False, server_default=""),
    Column("media", Json, nullable=False, server_default=text("'[]'")),  # empty: any
    Column("territories", Json, nullable=False, server_default=text("'[]'")),  # empty: any
    Column("compensation_reference", String(200), nullable=True),
    Column("signed_on", Date, nullable=True),
    Column("given_by", String(32), nullable=False, server_default="performer"),
    Column("signatory", String(200), nullable=True),
    # Person ids; not foreign keys, because adding one to an existing SQLite table
    # means rebuilding it. The services only ever write ids of existing people.
    Column("recorded_by", Id, nullable=True),
    Column("revoked_by", Id, nullable=True),
    Column("revocation_reason", Text, nullable=True),
    Index("ix_consents_talent_production", "talent_id", "production_id"),
)

# Every production a consent covers (the one it was recorded on included).
consent_productions = Table(
    "consent_productions",
    metadata,
    Column("consent_id", Id, ForeignKey("consents.id"), primary_key=True),
    Column("production_id", Id, ForeignKey("productions.id"), primary_key=True),
    Index("ix_consent_productions_production", "production_id"),
)

# What a vendor attests, for one tool or (tool_id NULL) all its tools, for a period.
attestations = Table(
    "attestations",
    metadata,
    _id(),
    _ref("vendor_id", "vendors.id"),
    _ref("tool_id", "tools.id", nullable=True),
    Column("training_data", Json, nullable=False),  # [{"source", "licence"}]
    Column("trains_on_inputs", Boolean, nullable=False),
    Column("retains_data_days", Integer, nullable=False),
    Column("enclosed_environment", Boolean, nullable=False),
    Column("security_certification", String(100), nullable=True),  # "TPN Gold"
    Column("valid_from", UTCDateTime(), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=False),
    Column("document_sha256", String(64), nullable=True),
    _ref("recorded_by", "people.id"),
    _created(),
    Index("ix_attestations_vendor_tool", "vendor_id", "tool_id"),
)

# Which tools a production may use; removing one keeps the row (who and when).
tool_allowlist = Table(
    "tool_allowlist",
    metadata,
    _id(),
    _ref("production_id", "productions.id"),
    _ref("tool_id", "tools.id"),
    _ref("allowed_by", "people.id"),
    Column("allowed_at", UTCDateTime(), nullable=False),
    _ref("removed_by", "people.id", nullable=True),
    Column("removed_at", UTCDateTime(), nullable=True),
    Index("ix_tool_allowlist_production_tool", "production_id", "tool_id"),
)

audits = Table(
    "audits",
    metadata,
    _id(),
    _ref("vendor_id", "vendors.id"),
    _ref("tool_id", "tools.id", nullable=True),  # NULL: the vendor as a whole
    Column("scheduled_for", Date, nullable=False),
    Column("auditor", String(200), nullable=False),
    Column("status", String(16), nullable=False),  # scheduled | in_progress | completed
    Column("note", Text, nullable=False),
    _ref("scheduled_by", "people.id"),
    _created(),
    Column("completed_at", UTCDateTime(), nullable=True),
    Index("ix_audits_vendor", "vendor_id"),
)

audit_findings = Table(
    "audit_findings",
    metadata,
    _id(),
    _ref("audit_id", "audits.id"),
    Column("severity", String(16), nullable=False),
    Column("description", Text, nullable=False),
    Column("remediation", Text, nullable=False),  # what must be done
    Column("status", String(16), nullable=False),  # open | remediated
    _ref("recorded_by", "people.id"),
    _created(),
    Column("remediated_at", UTCDateTime(), nullable=True),
    _ref("remediated_by", "people.id", nullable=True),
    Column("remediation_note", Text, nullable=True),
    Index("ix_audit_findings_audit", "audit_id"),
)

# --- productions -----------------------------------------------------------

productions = Table(
    "productions",
    metadata,
    _id(),
    Column("code", String(32), nullable=False, unique=True),
    Column("title", String(200), nullable=False),
    Column("kind", String(16), nullable=False),
    _created(),
    # Who at the studio hears of every request (email or name); NULL: nobody named yet.
    Column("studio_contact", String(254), nullable=True),
)

# Per production: protected characters, franchises, real people and brands that
# prompts and references are screened against.
watchlist_entries = Table(
    "watchlist_entries",
    metadata,
    _id(),
    _ref("production_id", "productions.id"),
    Column("term", String(200), nullable=False),
    Column("category", String(32), nullable=False),
    Column("aliases", Json, nullable=False),
    Column("note", Text, nullable=False),
    _ref("added_by", "people.id"),
    _created(),
    Column("updated_at", UTCDateTime(), nullable=False),
    Column("removed_at", UTCDateTime(), nullable=True),
    _ref("removed_by", "people.id", nullable=True),
    Index("ix_watchlist_entries_production", "production_id"),
)

episodes = Table(
    "episodes",
    metadata,
    Column("production_id", Id, ForeignKey("productions.id"), primary_key=True),
    Column("number", Integer, primary_key=True, autoincrement=False),  # 101 = S1E01
    Column("title", String(200), nullable=False),
)

shots = Table(
    "shots",
    metadata,
    _id(),
    _ref("production_id", "productions.id"),
    Column("episode", Integer, nullable=True),
    Column("code", String(64), nullable=False),
    Column("frame_in", Integer, nullable=False),
    Column("frame_out", Integer, nullable=False),
    Column("status", String(32), nullable=False),
    _created(),
    UniqueConstraint("production_id", "code", name="uq_shots_production_code"),
)

# A person's roles on a production; a vendor's people also name their vendor.
memberships = Table(
    "memberships",
    metadata,
    Column("production_id", Id, ForeignKey("productions.id"), primary_key=True),
    Column("person_id", Id, ForeignKey("people.id"), primary_key=True),
    Column("role", String(32), primary_key=True),
    _ref("vendor_id", "vendors.id", nullable=True),
    _created(),
    Index("ix_memberships_person", "person_id"),
)

# --- requests and what happens to them ---------------------------------------

generation_requests = Table(
    "generation_requests",
    metadata,
    _id(),
    _ref("production_id", "productions.id"),
    _ref("shot_id", "shots.id", nullable=True),
    Column("use_case", String(32), nullable=False),
    _ref("tool_id", "tools.id"),
    Column("intent", String(32), nullable=False),
    Column("prompt", Text, nullable=False),
    Column("parameters", Json, nullable=False),
    Column("third_party_ip", Json, nullable=False),  # declared third-party material
    Column("state", String(32), nullable=False),
    Column("iteration", Integer, nullable=False),
    _ref("previous_request_id", "generation_requests.id", nullable=True),
    _ref("requested_by", "people.id"),
    _created(),
    Column("updated_at", UTCDateTime(), nullable=False),
    # What the requester declared (core.models.Disclosure); '{}' on rows from before it.
    Column("disclosure", Json, nullable=False, server_default=text("'{}'")),
    Index("ix_generation_requests_production_state", "production_id", "state", "id"),
)

request_talent = Table(
    "request_talent",
    metadata,
    Column("request_id", Id, ForeignKey("generation_requests.id"), primary_key=True),
    Column("talent_id", Id, ForeignKey("talent.id"), primary_key=True),
)

# Input assets in the order the backend takes them, each with its part ("plate", "mask").
request_inputs = Table(
    "request_inputs",
    metadata,
    Column("request_id", Id, ForeignKey("generation_requests.id"), primary_key=True),
    Column("position", Integer, primary_key=True, autoincrement=False),
    _ref("asset_id", "assets.id"),
    Column("part", String(32), nullable=False),
)

policy_decisions = Table(
    "policy_decisions",
    metadata,
    _id(),
    _ref("request_id", "generation_requests.id"),
    Column("outcome", String(16), nullable=False),
    Column("policy_version", String(64), nullable=False),
    Column("rules", Json, nullable=False),  # ids of the rules that fired
    Column("reasons", Json, nullable=False),  # one sentence per fired rule
    Column("required", Json, nullable=False),  # [{"roles": [...], "reason": ...}]
    _created(),
    # The self-contained policy document the decision was made on (written by the engine).
    Column("facts", Json, nullable=True),
    Index("ix_policy_decisions_request", "request_id"),
)

approvals = Table(
    "approvals",
    metadata,
    _id(),
    _ref("request_id", "generation_requests.id"),
    _ref("person_id", "people.id"),
    Column("role", String(32), nullable=False),
    Column("approved", Boolean, nullable=False),
    Column("note", Text, nullable=False),
    _created(),
    UniqueConstraint("request_id", "person_id", "role", name="uq_approvals_request_person_role"),
)

# The queue (engine/queue.py): a worker leases a queued job (lease_id, owner,
# expiry renewed by heartbeats); only the lease holder may record its outcome.
jobs = Table(
    "jobs",
    metadata,
    _id(),
    _ref("request_id", "generation_requests.id"),
    Column("state", String(16), nullable=False),  # queued | running | done | failed | cancelled
    Column("attempts", Integer, nullable=False),
    _created(),
    Column("updated_at", UTCDateTime(), nullable=False),
    Column("max_attempts", Integer, nullable=False, server_default=text("3")),
    Column("available_at", UTCDateTime(), nullable=True),  # not before (retry back-off)
    Column("lease_id", String(32), nullable=True),
    Column("lease_owner", String(200), nullable=True),  # host:pid/worker
    Column("lease_expires_at", UTCDateTime(), nullable=True),
    Column("run_id", Id, nullable=True),  # the run the lease holder is making
    Column("cancel_requested_by", Id, nullable=True),
    Column("cancel_requested_at", UTCDateTime(), nullable=True),
    Column("progress", Float, nullable=True),  # 0 to 1, as the backend reports it
    Column("stage", String(200), nullable=True),
    UniqueConstraint("request_id", name="uq_jobs_request_id"),
    Index("ix_jobs_state_available", "state", "available_at"),
)

# A production's place in the shared queue: higher goes first; ties by age.
queue_priorities = Table(
    "queue_priorities",
    metadata,
    Column("production_id", Id, ForeignKey("productions.id"), primary_key=True),
    Column("priority", Integer, nullable=False),
    _ref("set_by", "people.id"),
    Column("set_at", UTCDateTime(), nullable=False),
)

# One execution of a job: the prompt log (model, parameters, seed, timings, usage, cost).
runs = Table(
    "runs",
    metadata,
    _id(),
    _ref("job_id", "jobs.id"),
    Column("backend", String(64), nullable=False),
    Column("model", String(200), nullable=False),
    Column("model_version", String(100), nullable=False),
    Column("parameters", Json, nullable=False),
    Column("seed", BigInteger, nullable=True),
    Column("started_at", UTCDateTime(), nullable=False),
    Column("finished_at", UTCDateTime(), nullable=True),
    Column("duration_ms", Integer, nullable=True),
    Column("usage", Json, nullable=False),
    Column("cost_usd", Numeric(12, 6), nullable=True),
    Column("error", Text, nullable=True),
    Index("ix_runs_job", "job_id"),
)

# The rest of each run's prompt log, one row per run (migration 0006): the tool it
# ran for, the prompt and negative prompt sealed with AES-GCM (the key stays in the
# data directory's keys/, never in the database) with their SHA-256, the input
# hashes, when its job was queued, GPU-seconds, where the cost came from and the
# host it ran on. Kept beside ``runs`` rather than in it so that the ciphertext
# is never read by code that lists runs, and can be erased on its own.
prompt_logs = Table(
    "prompt_logs",
    metadata,
    Column("run_id", Id, ForeignKey("runs.id"), primary_key=True),
    _ref("tool_id", "tools.id"),
    Column("key_id", String(16), nullable=False),  # which prompt key sealed the texts
    Column("prompt_sealed", LargeBinary, nullable=False),
    Column("prompt_sha256", String(64), nullable=False),
    Column("negative_prompt_sealed", LargeBinary, nullable=True),
    Column("negative_prompt_sha256", String(64), nullable=True),
    Column("inputs", Json, nullable=False),  # [{"sha256", "part"}] in the backend's order
    Column("queued_at", UTCDateTime(), nullable=True),
    Column("gpu_seconds", Numeric(14, 3), nullable=True),
    Column("cost_source", String(16), nullable=True),  # rate_card | vendor; NULL: unknown
    Column("worker_host", String(255), nullable=True),
    _ref("delivered_by", "people.id", nullable=True),  # who uploaded a vendor's delivery
)

# What a tool costs, when the studio has agreed a price: per run, per output and
# per GPU-second (USD). Any part may be left out; a run's cost is their sum.
tool_rate_cards = Table(
    "tool_rate_cards",
    metadata,
    Column("tool_id", Id, ForeignKey("tools.id"), primary_key=True),
    Column("per_run_usd", Numeric(12, 6), nullable=True),
    Column("per_output_usd", Numeric(12, 6), nullable=True),
    Column("per_gpu_second_usd", Numeric(12, 6), nullable=True),
    Column("updated_at", UTCDateTime(), nullable=False),
    _ref("updated_by", "people.id", nullable=True),  # NULL: set by the operator
)

assets = Table(
    "assets",
    metadata,
    _id(),
    _ref("production_id", "productions.id"),
    Column("sha256", String(64), nullable=False),
    Column("media_type", String(100), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("filename", String(255), nullable=False),
    Column("origin", String(16), nullable=False),  # upload | output
    _ref("request_id", "generation_requests.id", nullable=True),
    _ref("run_id", "runs.id", nullable=True),
    Column("manifest_sha256", String(64), nullable=True),  # sidecar credentials, when not embedded
    _ref("created_by", "people.id"),
    _created(),
    # One row per uploaded content; outputs may repeat bytes (migration 0010).
    Index(
        "uq_assets_upload_sha256",
        "production_id",
        "sha256",
        unique=True,
        sqlite_where=text("origin = 'upload'"),
        postgresql_where=text("origin = 'upload'"),
    ),
    Index("ix_assets_request", "request_id"),
    Index("ix_assets_sha256", "sha256"),
)

# Lineage: which assets an asset was made from.
asset_parents = Table(
    "asset_parents",
    metadata,
    Column("asset_id", Id, ForeignKey("assets.id"), primary_key=True),
    Column("parent_id", Id, ForeignKey("assets.id"), primary_key=True),
)

reviews = Table(
    "reviews",
    metadata,
    _id(),
    _ref("request_id", "generation_requests.id"),
    _ref("reviewer_id", "people.id"),
    Column("role", String(32), nullable=False),
    Column("verdict", String(32), nullable=False),
    Column("note", Text, nullable=False),
    _created(),
    Index("ix_reviews_request", "request_id"),
)

deliveries = Table(
    "deliveries",
    metadata,
    _id(),
    _ref("request_id", "generation_requests.id"),
    _ref("delivered_by", "people.id"),
    Column("destination", String(200), nullable=False),
    Column("note", Text, nullable=False),
    _created(),
    UniqueConstraint("request_id", name="uq_deliveries_request_id"),
)

# Each request's ledger entries, in order: its timeline, and where to find each proof.
request_events = Table(
    "request_events",
    metadata,
    _ref("request_id", "generation_requests.id"),
    Column("ledger_index", Index64, primary_key=True, autoincrement=False),
    Column("event_type", String(64), nullable=False),
    Column("actor", String(64), nullable=False),
    Column("leaf_hash", LargeBinary(32), nullable=False),
    _created(),
    Index("ix_request_events_request", "request_id", "ledger_index"),
)

# Every request, disclosed to the production's studio contact: one row each.
disclosures = Table(
    "disclosures",
    metadata,
    _id(),
    _ref("request_id", "generation_requests.id"),
    _ref("production_id", "productions.id"),
    Column("studio_contact", String(254), nullable=True),
    Column("summary", Json, nullable=False),
    _created(),
    UniqueConstraint("request_id", name="uq_disclosures_request_id"),
    Index("ix_disclosures_production_created", "production_id", "created_at"),
)

# Replayed POSTs get the first answer back instead of doing the work twice.
idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("person_id", Id, ForeignKey("people.id"), primary_key=True),
    Column("key", String(200), primary_key=True),
    Column("fingerprint", String(64), nullable=False),  # SHA-256 of method, path and body
    Column("status_code", Integer, nullable=False),
    Column("response", Json, nullable=False),
    _created(),
)

# Moved by triggers on every registry change (migration 0004): what in-memory
# copies of registry rows are checked against (store/registry.py).
registry_state = Table(
    "registry_state",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("generation", BigInteger, nullable=False),
)

# --- likeness (migration 0007) --------------------------------------------------

# Face and voice templates (biometric data) made from a performer's references:
# the vectors are sealed with AES-GCM under keys/likeness.key (never in the
# database in the clear), read only by the scanner and by legal, never exported.
# They go with their reference or performer (ON DELETE CASCADE) and, when
# ``kept_under`` names the consent that lets the studio keep them, with that
# consent's revocation (engine/revocation.py).
likeness_templates = Table(
    "likeness_templates",
    metadata,
    _id(),
    Column("talent_id", Id, ForeignKey("talent.id", ondelete="CASCADE"), nullable=False),
    Column(
        "reference_id",
        Id,
        ForeignKey("talent_references.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("modality", String(8), nullable=False),  # face | voice
    Column("model", String(100), nullable=False),  # which encoder made the vectors
    Column("vectors", Integer, nullable=False),  # how many vectors the sealed value holds
    Column("key_id", String(16), nullable=False),  # which likeness key sealed them
    Column("sealed", LargeBinary, nullable=False),
    Column("kept_under", Id, ForeignKey("consents.id", ondelete="CASCADE"), nullable=True),
    _ref("created_by", "people.id"),
    _created(),
    UniqueConstraint("reference_id", "model", name="uq_likeness_templates_reference_id"),
    Index("ix_likeness_templates_talent", "talent_id"),
)

# What the scan of a run's outputs found: a registered performer's face (with the
# frame, time and box) or voice (with the time span), how sure, whether the
# request's consents covered it, and the evidence frame with the box drawn (a blob).
likeness_findings = Table(
    "likeness_findings",
    metadata,
    _id(),
    _ref("request_id", "generation_requests.id"),
    _ref("run_id", "runs.id"),
    _ref("asset_id", "assets.id"),
    Column("talent_id", Id, nullable=False),  # kept when the performer is removed
    Column("modality", String(8), nullable=False),
    Column("model", String(100), nullable=False),
    Column("confidence", Float, nullable=False),
    Column("covered", Boolean, nullable=False),
    Column("frame", Integer, nullable=True),
    Column("time_s", Float, nullable=True),
    Column("end_s", Float, nullable=True),
    Column("box", Json, nullable=True),  # [left, top, width, height] in pixels
    Column("evidence_sha256", String(64), nullable=True),
    _created(),
    Index("ix_likeness_findings_request", "request_id"),
)

# --- localization (migration 0008) ------------------------------------------------

# A production's glossary: how a term (a character's name, an invented word) must
# come out in one target language; ``translation`` NULL means never translated.
# One entry per term and language: ``term_key`` is the term case- and space-folded.
glossary_entries = Table(
    "glossary_entries",
    metadata,
    Column("production_id", Id, ForeignKey("productions.id"), primary_key=True),
    Column("target_language", String(35), primary_key=True),
    Column("term_key", String(200), primary_key=True),
    Column("term", String(200), nullable=False),
    Column("translation", String(400), nullable=True),
    Column("case_rule", String(8), nullable=False),  # exact | ignore
    Column("note", Text, nullable=False),
    _ref("updated_by", "people.id"),
    Column("updated_at", UTCDateTime(), nullable=False),
)

# Translation memory: approved cue translations per production and language pair,
# reused exactly (by ``source_key``, the SHA-256 of the cue's text with spacing
# folded) or offered as fuzzy matches. A newer approval of the same source replaces
# the older one.
translation_memory = Table(
    "translation_memory",
    metadata,
    Column("production_id", Id, ForeignKey("productions.id"), primary_key=True),
    Column("source_language", String(35), primary_key=True),
    Column("target_language", String(35), primary_key=True),
    Column("source_key", String(64), primary_key=True),
    Column("source_text", Text, nullable=False),
    Column("target_text", Text, nullable=False),
    _ref("approved_by", "people.id"),
    Column("approved_at", UTCDateTime(), nullable=False),
)

# --- human post-edit (migration 0009) ---------------------------------------------

# Each change a post-editor made to one event of a translated subtitle output while
# its request was in review: the text before and after, how far apart they are
# (Levenshtein distance in characters and in words), who and when. The output's
# signed bytes never change; the edited track is the output with these applied.
subtitle_edits = Table(
    "subtitle_edits",
    metadata,
    Column("id", Index64, primary_key=True, autoincrement=True),
    _ref("request_id", "generation_requests.id"),
    _ref("asset_id", "assets.id"),
    Column("event", Integer, nullable=False),  # 1-based, in the track's time order
    Column("before_text", Text, nullable=False),
    Column("after_text", Text, nullable=False),
    Column("char_distance", Integer, nullable=False),
    Column("word_distance", Integer, nullable=False),
    _ref("edited_by", "people.id"),
    Column("edited_at", UTCDateTime(), nullable=False),
    Index("ix_subtitle_edits_request", "request_id", "asset_id", "event"),
)
