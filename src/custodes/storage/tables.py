"""The database schema (SQLAlchemy Core). Migrations in ``storage/alembic`` create it."""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    Float,
    ForeignKey,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.sql import false
from sqlalchemy.types import BigInteger

metadata = MetaData()

# SQLite only autoincrements INTEGER PRIMARY KEY; BigInteger elsewhere.
Id = BigInteger().with_variant(Integer(), "sqlite")

users = Table(
    "users",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("username", String(64), nullable=False, unique=True),
    Column("role", String(32), nullable=False),
    Column("password_hash", Text, nullable=True),
    Column("active", Boolean, nullable=False, default=True),
    Column("created_at", String(40), nullable=False),
)

cases = Table(
    "cases",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("number", String(64), nullable=False, unique=True),
    Column("title", Text, nullable=False, default=""),
    Column("status", String(32), nullable=False),
    Column("flags", Text, nullable=False, default=""),  # sorted, comma separated
    Column("created_at", String(40), nullable=False),
)

case_members = Table(
    "case_members",
    metadata,
    Column("case_id", ForeignKey("cases.id"), primary_key=True),
    Column("user_id", ForeignKey("users.id"), primary_key=True),
    # An officer on a case under internal-affairs investigation loses reach to it; IA
    # restores it (on record) by setting this.
    Column("reach_restored", Boolean, nullable=False, default=False, server_default=false()),
)

evidence = Table(
    "evidence",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("case_id", ForeignKey("cases.id"), nullable=False, index=True),
    Column("sha256", String(64), nullable=False, unique=True),
    Column("size", BigInteger, nullable=False),
    Column("officer_id", ForeignKey("users.id"), nullable=True, index=True),
    Column("device", String(128), nullable=True),
    Column("recorded_at", String(40), nullable=True),
    Column("ingested_at", String(40), nullable=False),
    Column("ingested_by", ForeignKey("users.id"), nullable=False),
    Column("original_name", Text, nullable=False),
    Column("media", Text, nullable=False),  # JSON of MediaInfo
)

audit_events = Table(
    "audit_events",
    metadata,
    # seq is the leaf index in the Merkle tree: 0, 1, 2, ... without gaps.
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("at", String(40), nullable=False),
    Column("actor", String(64), nullable=False),
    Column("action", String(64), nullable=False, index=True),
    Column("case_number", String(64), nullable=True, index=True),
    Column("evidence_id", String(32), nullable=True, index=True),
    Column("entry", LargeBinary, nullable=False),  # the canonical leaf bytes
    Column("leaf_hash", LargeBinary(32), nullable=False),
)

log_state = Table(
    "log_state",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("size", BigInteger, nullable=False),
    Column("compact_range", LargeBinary, nullable=False),
    Column("last_leaf_hash", LargeBinary(32), nullable=True),
)

checkpoints = Table(
    "checkpoints",
    metadata,
    Column("size", BigInteger, primary_key=True, autoincrement=False),
    Column("note", Text, nullable=False),
    Column("created_at", String(40), nullable=False),
)

alerts = Table(
    "alerts",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("at", String(40), nullable=False),
    Column("audience", String(32), nullable=False),
    Column("kind", String(64), nullable=False),
    Column("actor", String(64), nullable=False),
    Column("case_number", String(64), nullable=True),
    Column("evidence_id", String(32), nullable=True),
    Column("reason", Text, nullable=True),
    Column("audit_seq", BigInteger, nullable=False),
    UniqueConstraint("audit_seq", "audience"),
)

exports = Table(
    "exports",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("evidence_id", ForeignKey("evidence.id"), nullable=False, index=True),
    Column("recipient", String(128), nullable=False),
    Column("purpose", Text, nullable=False),
    Column("actor", String(64), nullable=False),
    Column("created_at", String(40), nullable=False),
    Column("start_s", Float, nullable=False),
    Column("end_s", Float, nullable=False),
    Column("width", Integer, nullable=False),
    Column("height", Integer, nullable=False),
    Column("visible_mark", Boolean, nullable=False),
    Column("key_version", Integer, nullable=False),
    Column("output_sha256", String(64), nullable=False),
    Column("output_size", BigInteger, nullable=False),
    Column("lineage", Text, nullable=False),
    Column("audit_seq", BigInteger, nullable=False),
)

viewings = Table(
    # Marked playback (issue 18): a viewing is bound to its signed ``viewing-started``
    # event; ``sent_*`` and ``recorded_to_s`` are operational (the run of segments sent
    # last, and how much of it ``viewing-range`` events already put on record).
    "viewings",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("evidence_id", ForeignKey("evidence.id"), nullable=False, index=True),
    Column("viewer", String(64), nullable=False),
    Column("purpose", Text, nullable=True),
    Column("created_at", String(40), nullable=False),
    Column("expires_at", String(40), nullable=False),
    Column("start_s", Float, nullable=False),
    Column("end_s", Float, nullable=False),
    Column("segment_s", Float, nullable=False),
    Column("width", Integer, nullable=False),
    Column("height", Integer, nullable=False),
    Column("key_version", Integer, nullable=False),
    Column("mark", Text, nullable=False),
    Column("visible_text", Text, nullable=False),
    Column("audit_seq", BigInteger, nullable=False),
    Column("sent_from_s", Float, nullable=True),
    Column("sent_to_s", Float, nullable=True),
    Column("recorded_to_s", Float, nullable=True),
)

fingerprints = Table(
    "fingerprints",
    metadata,
    Column("evidence_id", ForeignKey("evidence.id"), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("data", LargeBinary, nullable=False),
    Column("created_at", String(40), nullable=False),
)

archive_keys = Table(
    # The archive index's keys (issue 20): derived from the fingerprints, operational
    # (docs/audit-log.md), rebuilt by `custodes index --rebuild`.
    "archive_keys",
    metadata,
    Column("evidence_id", ForeignKey("evidence.id"), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("data", LargeBinary, nullable=False),
    Column("created_at", String(40), nullable=False),
)

traces = Table(
    "traces",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("actor", String(64), nullable=False),
    Column("created_at", String(40), nullable=False),
    Column("leak_sha256", String(64), nullable=False),
    Column("leak_name", Text, nullable=False),
    Column("verdict", String(32), nullable=False),
    Column("evidence_id", String(32), nullable=True),
    Column("result", Text, nullable=False),
    Column("audit_seq", BigInteger, nullable=False),
)

evidence_flags = Table(
    "evidence_flags",
    metadata,
    Column("evidence_id", ForeignKey("evidence.id"), primary_key=True),
    Column("flag", String(32), primary_key=True),
)

requests = Table(
    "requests",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("case_id", ForeignKey("cases.id"), nullable=False, index=True),
    Column("requester", String(200), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("received_at", String(10), nullable=False),
    Column("evidence", Text, nullable=False),
    Column("ranges", Text, nullable=False),
    Column("misconduct_complaint", Boolean, nullable=False),
    Column("allegation_on", String(10), nullable=True),
    Column("incident_on", String(10), nullable=True),
    Column("critical_incident", Boolean, nullable=False),
    Column("due", String(10), nullable=False),
    Column("actor", String(64), nullable=False),
    Column("created_at", String(40), nullable=False),
)

decisions = Table(
    "decisions",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("request_id", ForeignKey("requests.id"), nullable=False, index=True),
    Column("decided_at", String(40), nullable=False),
    Column("decider", String(64), nullable=False),
    Column("outcome", String(16), nullable=False),
    Column("proposed_outcome", String(16), nullable=False),
    Column("override_reason", Text, nullable=True),
    Column("pack_name", String(64), nullable=False),
    Column("pack_sha256", String(64), nullable=False),
    Column("facts", Text, nullable=False),
    Column("decision", Text, nullable=False),
    Column("audit_seq", BigInteger, nullable=False),
)

releases = Table(
    "releases",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("request_id", ForeignKey("requests.id"), nullable=False),
    Column("decision_id", ForeignKey("decisions.id"), nullable=False),
    Column("created_at", String(40), nullable=False),
    Column("actor", String(64), nullable=False),
    Column("manifest", Text, nullable=False),
    Column("audit_seq", BigInteger, nullable=False),
)

derivatives = Table(
    "derivatives",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("evidence_id", ForeignKey("evidence.id"), nullable=False, index=True),
    Column("kind", String(32), nullable=False),
    Column("created_at", String(40), nullable=False),
    Column("actor", String(64), nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("sidecar_sha256", String(64), nullable=False),
    Column("frames_redacted", Integer, nullable=False),
    Column("lineage", Text, nullable=False),
    Column("audit_seq", BigInteger, nullable=False),
)

# Web authentication (issue 18): the second factor, sessions, failed attempts, API tokens.
# Secrets are never stored as they are: session ids and tokens by their SHA-256, recovery
# codes by a keyed hash, TOTP secrets encrypted with a key derived from the vault's keys.
totp_secrets = Table(
    "totp_secrets",
    metadata,
    Column("user_id", ForeignKey("users.id"), primary_key=True),
    Column("secret", LargeBinary, nullable=False),  # nonce + AES-GCM ciphertext
    Column("created_at", String(40), nullable=False),
    Column("confirmed_at", String(40), nullable=True),  # NULL: enrolment not finished
    Column("last_step", BigInteger, nullable=True),  # the last time step used (no replay)
)

recovery_codes = Table(
    "recovery_codes",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("user_id", ForeignKey("users.id"), nullable=False, index=True),
    Column("code_hash", String(64), nullable=False, unique=True),
    Column("created_at", String(40), nullable=False),
    Column("used_at", String(40), nullable=True),
)

sign_in_failures = Table(
    "sign_in_failures",
    metadata,
    Column("user_id", ForeignKey("users.id"), primary_key=True),
    Column("failures", Integer, nullable=False),
    Column("first_at", String(40), nullable=False),
    Column("locked_until", String(40), nullable=True),
)

web_sessions = Table(
    "web_sessions",
    metadata,
    Column("id_hash", String(64), primary_key=True),  # SHA-256 of the cookie's value
    Column("short_id", String(16), nullable=False, unique=True),  # what the log names
    Column("user_id", ForeignKey("users.id"), nullable=False, index=True),
    Column("created_at", String(40), nullable=False),
    Column("last_seen_at", String(40), nullable=False),
    Column("address", String(64), nullable=False),
    Column("user_agent", Text, nullable=False),
    Column("second_factor_at", String(40), nullable=True),
    Column("second_factor", String(16), nullable=True),  # totp, recovery-code, (passkey)
    Column("ended_at", String(40), nullable=True),
    Column("ended_why", String(32), nullable=True),
)

api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("user_id", ForeignKey("users.id"), nullable=False, index=True),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("created_at", String(40), nullable=False),
    Column("created_by", String(64), nullable=False),
    Column("expires_at", String(40), nullable=False),
    Column("revoked_at", String(40), nullable=True),
    Column("last_used_at", String(40), nullable=True),
    Column("use_logged_at", String(40), nullable=True),  # the last token-use event
)

# Passkeys (WebAuthn, issue 18): a user's credentials beside TOTP. The credential id and
# public key are bound to the log by their digests (``passkey-enrol``), the signature
# counter by the latest ``passkey-enrol`` or ``passkey-use`` event; transports and times
# are operational.
webauthn_credentials = Table(
    "webauthn_credentials",
    metadata,
    Column("id", String(32), primary_key=True),  # PK-...: what the log and pages name
    Column("user_id", ForeignKey("users.id"), nullable=False, index=True),
    Column("credential_id", LargeBinary, nullable=False, unique=True),
    Column("public_key", LargeBinary, nullable=False),  # COSE_Key bytes
    Column("sign_count", BigInteger, nullable=False),
    Column("transports", String(200), nullable=False),  # comma-separated hints
    Column("name", String(64), nullable=False),
    Column("created_at", String(40), nullable=False),
    Column("last_used_at", String(40), nullable=True),
)

# A WebAuthn challenge handed to a session (by its short id), one at a time, used once.
webauthn_challenges = Table(
    "webauthn_challenges",
    metadata,
    Column("session", String(16), primary_key=True),
    Column("purpose", String(16), nullable=False),  # register, authenticate
    Column("challenge", String(128), nullable=False),  # base64url
    Column("created_at", String(40), nullable=False),
)

# Jobs (issues 18 and 19): long work requested now and run later, by the in-process
# runner or a worker. The row is written with its job-requested event (and, on
# PostgreSQL with Procrastinate, with the engine's queue entry) in one transaction.
jobs = Table(
    "jobs",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("kind", String(32), nullable=False),
    Column("params", Text, nullable=False),  # JSON: the use case's inputs, fixed
    Column("requested_by", String(64), nullable=False, index=True),
    Column("requested_at", String(40), nullable=False),
    Column("audit_seq", BigInteger, nullable=False),  # the job-requested event
    Column("case_number", String(64), nullable=True, index=True),
    Column("evidence_id", String(32), nullable=True),
    Column("status", String(16), nullable=False, index=True),
    Column("progress_label", String(64), nullable=True),
    Column("progress_done", Float, nullable=True),
    Column("progress_total", Float, nullable=True),
    Column("progress_unit", String(16), nullable=True),
    Column("attempts", Integer, nullable=False, default=0),
    Column("worker", String(128), nullable=True),
    Column("cancel_requested", Boolean, nullable=False, default=False, server_default=false()),
    Column("result", Text, nullable=True),  # JSON
    Column("error_code", String(64), nullable=True),
    Column("error_message", Text, nullable=True),
    Column("started_at", String(40), nullable=True),
    Column("finished_at", String(40), nullable=True),
    Column("updated_at", String(40), nullable=True),
)
