"""The vault's state as its signed log tells it (issue 22: state bound to the log).

The tables are what the use cases read quickly; the log is what the vault can prove.
:class:`Ledger` replays decoded log entries (oldest first) into the state they vouch
for: users and roles, cases with their status, flags, members and restored reach,
evidence with its hash, recording officer and flags, exports with their recipient and
mark parameters, viewings (marked playback) with their viewer and mark, release
requests, decisions, releases, derivatives (redactions), traces and alerts.
:func:`compare` then names every row of the tables that disagrees with that state, is
missing from them, or is in them without an event that made it.

A stored JSON document (a decision, a lineage, a manifest, a trace's findings) is bound
by its digest (:func:`document_digest`), which events carry since issue 22. An event
recorded before then that does not carry a fact leaves that fact *unvouched*: the state
names it in ``unvouched`` and :func:`differing` does not hold the row to it.

Pure: entries come in as the dictionaries ``custody.decode_entry`` gives, the tables'
state as the same values built by the repositories.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields, is_dataclass, replace
from typing import Any

from custodes.core.authz import AlertKind, alert_audiences
from custodes.core.custody import Action, Problem, canonical_json
from custodes.core.records import (
    Alert,
    ApiToken,
    Derivative,
    Export,
    Job,
    RecordedDecision,
    Release,
    Request,
    StoredPasskey,
    StoredTotp,
    Trace,
    Viewing,
    WebSession,
)


def document_digest(document: object) -> str:
    """The SHA-256 of a JSON document in canonical form (sorted keys, no spaces): what an
    event carries of a document stored beside its row."""
    return hashlib.sha256(canonical_json(document)).hexdigest()


_NONE: frozenset[str] = frozenset()


@dataclass(frozen=True)
class UserState:
    username: str
    role: str


@dataclass(frozen=True)
class CaseState:
    number: str
    title: str
    status: str
    flags: frozenset[str] = frozenset()
    members: frozenset[str] = frozenset()
    restored: frozenset[str] = frozenset()


@dataclass(frozen=True)
class EvidenceState:
    evidence_id: str
    case: str
    sha256: str
    size: int
    officer: str | None
    flags: frozenset[str] = frozenset()


@dataclass(frozen=True)
class ExportState:
    export_id: str
    evidence_id: str
    recipient: str
    purpose: str | None
    start_s: float
    end_s: float
    output_sha256: str
    key_version: int
    actor: str | None = None
    width: int | None = None
    height: int | None = None
    visible_mark: bool | None = None
    audit_seq: int | None = None
    lineage_sha256: str | None = None
    unvouched: frozenset[str] = field(default=_NONE, compare=False)


@dataclass(frozen=True)
class ViewingState:
    """A viewing (marked playback, issue 18) as its ``viewing-started`` event says."""

    viewing_id: str
    evidence_id: str
    viewer: str
    purpose: str | None
    start_s: float
    end_s: float
    segment_s: float
    width: int
    height: int
    key_version: int
    mark_sha256: str
    visible_text: str
    expires_at: str
    audit_seq: int


@dataclass(frozen=True)
class RequestState:
    request_id: str
    case: str
    requester: str
    kind: str
    received_at: str
    evidence: tuple[str, ...]
    ranges: tuple[tuple[float, float], ...]
    misconduct_complaint: bool
    due: str
    actor: str
    allegation_on: str | None
    incident_on: str | None
    critical_incident: bool
    unvouched: frozenset[str] = field(default=_NONE, compare=False)


@dataclass(frozen=True)
class DecisionState:
    decision_id: str
    request_id: str
    decider: str
    outcome: str
    proposed_outcome: str
    override_reason: str | None
    pack_name: str
    pack_sha256: str
    audit_seq: int
    document_sha256: str | None
    facts_sha256: str | None
    unvouched: frozenset[str] = field(default=_NONE, compare=False)


@dataclass(frozen=True)
class ReleaseState:
    release_id: str
    request_id: str
    decision_id: str
    actor: str
    audit_seq: int
    files: tuple[tuple[str, str], ...]
    """(export id, sha256) of each copy, as the manifest lists them."""
    manifest_sha256: str | None
    unvouched: frozenset[str] = field(default=_NONE, compare=False)


@dataclass(frozen=True)
class DerivativeState:
    derivative_id: str
    evidence_id: str
    kind: str
    actor: str
    sha256: str
    sidecar_sha256: str
    frames_redacted: int
    audit_seq: int
    lineage_sha256: str | None
    unvouched: frozenset[str] = field(default=_NONE, compare=False)


@dataclass(frozen=True)
class TraceState:
    trace_id: str
    actor: str
    leak_sha256: str
    leak_name: str
    verdict: str
    evidence_id: str | None
    audit_seq: int
    result_sha256: str | None
    unvouched: frozenset[str] = field(default=_NONE, compare=False)


@dataclass(frozen=True)
class JobState:
    """A job as its signed events tell it: who asked for what (the digest of its
    parameters), and, once it ended, how (``outcome``: done, failed, cancelled; None
    while queued or running) with the digest of its result or its error's code. Progress,
    attempts, the worker and the times are operational (docs/audit-log.md)."""

    job_id: str
    kind: str
    requested_by: str
    params_sha256: str
    audit_seq: int
    outcome: str | None = None
    result_sha256: str | None = None
    error_code: str | None = None
    cancel_requested: bool = False


@dataclass(frozen=True)
class AlertState:
    """One alert, keyed by its event and audience (:func:`alert_key`)."""

    audit_seq: int
    audience: str
    kind: str
    actor: str
    case: str | None
    evidence_id: str | None
    reason: str | None


def alert_key(audit_seq: int, audience: str) -> str:
    return f"of event {audit_seq} to {audience}"


@dataclass(frozen=True)
class PasswordState:
    """A user's web password, as the SHA-256 of its stored argon2id hash (None: none)."""

    username: str
    password_digest: str | None


@dataclass(frozen=True)
class TokenState:
    token_id: str
    username: str
    token_digest: str | None
    """SHA-256 of the stored token hash (``api_tokens.token_hash``)."""
    expires_at: str
    created_by: str
    revoked: bool = False
    unvouched: frozenset[str] = field(default=_NONE, compare=False)


@dataclass(frozen=True)
class SecondFactorState:
    """A user's enrolled second factor: the SHA-256 of the stored sealed TOTP secret, of
    the stored set of recovery-code hashes (:func:`codes_digest`), and of each code hash
    used since."""

    username: str
    secret_digest: str | None
    confirmed: bool
    codes_digest: str | None
    codes_used: frozenset[str] = frozenset()
    unvouched: frozenset[str] = field(default=_NONE, compare=False)


@dataclass(frozen=True)
class SessionState:
    """A web session that passed its second factor: its user, the SHA-256 of its stored
    id hash (the cookie's value, hashed twice), the factor, and whether it ended."""

    short_id: str
    username: str
    session_digest: str | None
    second_factor: str | None
    ended: bool = False
    unvouched: frozenset[str] = field(default=_NONE, compare=False)


@dataclass(frozen=True)
class PasskeyState:
    """A passkey (WebAuthn credential): its user, the SHA-256 of its credential id and of
    its stored COSE public key, the name its user gave it, and the authenticator's
    signature counter as the last ``passkey-enrol`` or ``passkey-use`` event recorded it
    (a counter wound back in the tables would let a cloned authenticator in)."""

    passkey_id: str
    username: str
    credential_digest: str
    public_key_digest: str
    name: str
    sign_count: int


def stored_digest(value: str | bytes) -> str:
    """The SHA-256 (hex) of a stored secret's hash or ciphertext: what an event carries
    of it, so that the row is bound without the log holding the stored value itself."""
    return hashlib.sha256(value.encode() if isinstance(value, str) else value).hexdigest()


def codes_digest(code_hashes: Iterable[str]) -> str:
    """The SHA-256 of a user's stored recovery-code hashes, sorted, one a line."""
    return stored_digest("\n".join(sorted(code_hashes)))


@dataclass
class VaultState:
    """The facts the vault acts on, by key."""

    users: dict[str, UserState] = field(default_factory=dict)
    cases: dict[str, CaseState] = field(default_factory=dict)
    evidence: dict[str, EvidenceState] = field(default_factory=dict)
    exports: dict[str, ExportState] = field(default_factory=dict)
    viewings: dict[str, ViewingState] = field(default_factory=dict)
    requests: dict[str, RequestState] = field(default_factory=dict)
    decisions: dict[str, DecisionState] = field(default_factory=dict)
    releases: dict[str, ReleaseState] = field(default_factory=dict)
    derivatives: dict[str, DerivativeState] = field(default_factory=dict)
    traces: dict[str, TraceState] = field(default_factory=dict)
    alerts: dict[str, AlertState] = field(default_factory=dict)
    alerts_unknown: set[int] = field(default_factory=set)
    """Events recorded before events said whether they alerted: their alerts are
    unvouched (neither an edited nor an inserted alert of theirs can be named)."""
    passwords: dict[str, PasswordState] = field(default_factory=dict)
    passwords_unknown: set[str] = field(default_factory=set)
    """Users whose password an event recorded before events carried its digest set: their
    ``password_hash`` is unvouched."""
    tokens: dict[str, TokenState] = field(default_factory=dict)
    second_factors: dict[str, SecondFactorState] = field(default_factory=dict)
    sessions: dict[str, SessionState] = field(default_factory=dict)
    passkeys: dict[str, PasskeyState] = field(default_factory=dict)
    fingerprints: dict[str, FingerprintState] = field(default_factory=dict)
    jobs: dict[str, JobState] = field(default_factory=dict)
    fingerprints_bound: bool = False
    """Whether the log binds every fingerprint row (a vault made since ``fingerprint``
    events were recorded); in an older vault a row with no event is unvouched."""


class Ledger:
    """Replays log entries into the :class:`VaultState` they vouch for."""

    def __init__(self) -> None:
        self.state = VaultState()
        self.problems: list[Problem] = []

    def feed(self, entries: Iterable[Mapping[str, Any]]) -> None:
        for entry in entries:
            self.apply(entry)

    def apply(self, entry: Mapping[str, Any]) -> None:
        action = entry.get("action")
        details = entry.get("details") or {}
        handler = _HANDLERS.get(str(action))
        if handler is None:
            return
        try:
            handler(self.state, entry, details)
        except (KeyError, TypeError, ValueError) as exc:
            self.problems.append(
                Problem(
                    "state-event-unreadable",
                    f"event {entry.get('seq')} ({action}) does not say what it changed: {exc}",
                    entry.get("seq"),
                )
            )


def _user_add(state: VaultState, entry: Mapping[str, Any], details: Mapping[str, Any]) -> None:
    name = str(entry["object"]["id"])
    state.users[name] = UserState(name, str(details["role"]))
    _password_set(state, entry, details)


def _password_set(state: VaultState, entry: Mapping[str, Any], details: Mapping[str, Any]) -> None:
    name = str(entry["object"]["id"])
    if "password_digest" in details:
        state.passwords[name] = PasswordState(name, _str_or_none(details["password_digest"]))
        state.passwords_unknown.discard(name)
    else:  # before the event carried it
        state.passwords.pop(name, None)
        state.passwords_unknown.add(name)


def _token_create(state: VaultState, entry: Mapping[str, Any], details: Mapping[str, Any]) -> None:
    token_id = str(details["token"])
    missing: set[str] = set()
    state.tokens[token_id] = TokenState(
        token_id,
        str(entry["object"]["id"]),
        _str_or_none(_opt(details, "token_digest", missing)),
        str(details["expires_at"]),
        str(entry["actor"]),
        unvouched=frozenset(missing),
    )


def _token_revoke(state: VaultState, entry: Mapping[str, Any], details: Mapping[str, Any]) -> None:
    token_id = str(details["token"])
    state.tokens[token_id] = replace(state.tokens[token_id], revoked=True)


def _mfa_enrol(state: VaultState, entry: Mapping[str, Any], details: Mapping[str, Any]) -> None:
    name = str(entry["object"]["id"])
    missing: set[str] = set()
    secret = _opt(details, "secret_digest", missing)
    codes = _opt(details, "codes_digest", missing)
    if missing:
        missing.add("codes_used")
    # A first enrolment with a passkey (``factor``: passkey) makes recovery codes and
    # confirms no TOTP secret; the passkey itself is a ``passkey-enrol`` event's.
    state.second_factors[name] = SecondFactorState(
        name,
        _str_or_none(secret),
        str(details.get("factor", "totp")) == "totp",
        _str_or_none(codes),
        unvouched=frozenset(missing),
    )


def _recovery_code_use(
    state: VaultState, entry: Mapping[str, Any], details: Mapping[str, Any]
) -> None:
    name = str(entry["object"]["id"])
    factor = state.second_factors[name]
    if "code_digest" in details:
        used = factor.codes_used | {str(details["code_digest"])}
        state.second_factors[name] = replace(factor, codes_used=used)
    else:
        state.second_factors[name] = replace(factor, unvouched=factor.unvouched | {"codes_used"})


def _passkey_enrol(state: VaultState, entry: Mapping[str, Any], details: Mapping[str, Any]) -> None:
    passkey_id = str(details["passkey"])
    state.passkeys[passkey_id] = PasskeyState(
        passkey_id,
        str(entry["object"]["id"]),
        str(details["credential_digest"]),
        str(details["public_key_digest"]),
        str(details["name"]),
        int(details["sign_count"]),
    )


def _passkey_use(state: VaultState, entry: Mapping[str, Any], details: Mapping[str, Any]) -> None:
    passkey_id = str(details["passkey"])
    passkey = state.passkeys[passkey_id]
    state.passkeys[passkey_id] = replace(passkey, sign_count=int(details["sign_count"]))


def _passkey_rename(
    state: VaultState, entry: Mapping[str, Any], details: Mapping[str, Any]
) -> None:
    passkey_id = str(details["passkey"])
    passkey = state.passkeys[passkey_id]
    state.passkeys[passkey_id] = replace(passkey, name=str(details["name"]))


def _passkey_remove(
    state: VaultState, entry: Mapping[str, Any], details: Mapping[str, Any]
) -> None:
    del state.passkeys[str(details["passkey"])]


def _sign_in(state: VaultState, entry: Mapping[str, Any], details: Mapping[str, Any]) -> None:
    short_id = str(details["session"])
    missing: set[str] = set()
    state.sessions[short_id] = SessionState(
        short_id,
        str(entry["object"]["id"]),
        _str_or_none(_opt(details, "session_digest", missing)),
        _str_or_none(details.get("second_factor")),
        unvouched=frozenset(missing),
    )


def _sso_sign_in(state: VaultState, entry: Mapping[str, Any], details: Mapping[str, Any]) -> None:
    """A single sign-on makes a signed-in session only where the provider's multi-factor
    assertion stood for the second factor; otherwise custodes' own ``sign-in`` follows."""
    if details.get("status") == "signed-in":
        _sign_in(state, entry, details)


def _session_end(state: VaultState, entry: Mapping[str, Any], details: Mapping[str, Any]) -> None:
    short_id = str(details["session"])
    session = state.sessions.get(short_id)
    if session is not None:  # a session ended before its second factor is not a fact
        state.sessions[short_id] = replace(session, ended=True)


def _case_add(state: VaultState, entry: Mapping[str, Any], details: Mapping[str, Any]) -> None:
    number = str(entry["case"])
    state.cases[number] = CaseState(number, str(details["title"]), str(details["status"]))


def _case_status(state: VaultState, entry: Mapping[str, Any], details: Mapping[str, Any]) -> None:
    number = str(entry["case"])
    state.cases[number] = replace(state.cases[number], status=str(details["to"]))


def _case_flags(state: VaultState, entry: Mapping[str, Any], details: Mapping[str, Any]) -> None:
    number = str(entry["case"])
    case = state.cases[number]
    restored = frozenset() if "reach_withdrawn" in details else case.restored
    state.cases[number] = replace(
        case, flags=frozenset(str(f) for f in details["flags"]), restored=restored
    )


def _case_assign(state: VaultState, entry: Mapping[str, Any], details: Mapping[str, Any]) -> None:
    number = str(entry["case"])
    case = state.cases[number]
    state.cases[number] = replace(case, members=case.members | {str(details["user"])})


def _reach_restored(
    state: VaultState, entry: Mapping[str, Any], details: Mapping[str, Any]
) -> None:
    number = str(entry["case"])
    case = state.cases[number]
    user = str(details["user"])
    state.cases[number] = replace(
        case, members=case.members | {user}, restored=case.restored | {user}
    )


def _ingest(state: VaultState, entry: Mapping[str, Any], details: Mapping[str, Any]) -> None:
    evidence_id = str(entry["evidence"])
    officer = details.get("officer")
    state.evidence[evidence_id] = EvidenceState(
        evidence_id,
        str(entry["case"]),
        str(details["sha256"]),
        int(details["size"]),
        None if officer is None else str(officer),
    )


def _evidence_flags(
    state: VaultState, entry: Mapping[str, Any], details: Mapping[str, Any]
) -> None:
    evidence_id = str(entry["evidence"])
    ev = state.evidence[evidence_id]
    flags = (ev.flags | {str(f) for f in details["added"]}) - {str(f) for f in details["removed"]}
    state.evidence[evidence_id] = replace(ev, flags=frozenset(flags))


def _opt(details: Mapping[str, Any], key: str, missing: set[str], name: str | None = None) -> Any:
    """``details[key]``, or None with the fact's name added to ``missing`` when an older
    event does not carry it."""
    if key in details:
        return details[key]
    missing.add(name or key)
    return None


def _str_or_none(value: object) -> str | None:
    return None if value is None else str(value)


def _export(state: VaultState, entry: Mapping[str, Any], details: Mapping[str, Any]) -> None:
    export_id = str(entry["object"]["id"])
    missing: set[str] = set()
    width, height = _opt(details, "width", missing), _opt(details, "height", missing)
    mark = _opt(details, "visible_mark", missing)
    state.exports[export_id] = ExportState(
        export_id,
        str(entry["evidence"]),
        str(details["recipient"]),
        _str_or_none(entry.get("reason")),
        float(details["start_s"]),
        float(details["end_s"]),
        str(details["output_sha256"]),
        int(details["key_version"]),
        actor=_str_or_none(entry.get("actor")),
        width=None if width is None else int(width),
        height=None if height is None else int(height),
        visible_mark=None if mark is None else bool(mark),
        audit_seq=int(entry["seq"]),
        lineage_sha256=_str_or_none(_opt(details, "lineage_sha256", missing)),
        unvouched=frozenset(missing),
    )
    _alerts(state, entry, details)
    _job_done(state, details)


def _job_done(state: VaultState, details: Mapping[str, Any]) -> None:
    """A use case's own event that finished a job (``job``, ``job_result_sha256``)."""
    job_id = details.get("job")
    if job_id is None:
        return
    job = state.jobs.get(str(job_id))
    if job is None:
        raise ValueError(f"it finishes job {job_id}, which no job-requested event made")
    state.jobs[job.job_id] = replace(
        job, outcome="done", result_sha256=str(details["job_result_sha256"])
    )


def _job_done_event(
    state: VaultState, entry: Mapping[str, Any], details: Mapping[str, Any]
) -> None:
    """``job-done``: a job whose work has no event of its own (a segment) finished."""
    _job_done(state, details)


def _job_requested(state: VaultState, entry: Mapping[str, Any], details: Mapping[str, Any]) -> None:
    job_id = str(entry["object"]["id"])
    state.jobs[job_id] = JobState(
        job_id,
        str(details["kind"]),
        str(entry["actor"]),
        str(details["params_sha256"]),
        int(entry["seq"]),
    )


def _job_cancel(state: VaultState, entry: Mapping[str, Any], details: Mapping[str, Any]) -> None:
    job = state.jobs[str(entry["object"]["id"])]
    if details["status"] == "cancelled":  # it was queued: cancelled then and there
        state.jobs[job.job_id] = replace(job, outcome="cancelled", cancel_requested=True)
    else:  # running: its runner stops it at its next step (job-stopped), or it finishes
        state.jobs[job.job_id] = replace(job, cancel_requested=True)


def _job_stopped(state: VaultState, entry: Mapping[str, Any], details: Mapping[str, Any]) -> None:
    job = state.jobs[str(entry["object"]["id"])]
    state.jobs[job.job_id] = replace(
        job, outcome=str(details["status"]), error_code=_str_or_none(details.get("code"))
    )


def _alerts(state: VaultState, entry: Mapping[str, Any], details: Mapping[str, Any]) -> None:
    """The alerts an event raised, as it says (``alerted``: null, or the kind, audiences
    and reason); a view says ``alert`` (a bool) for its kind ``sensitive-access``."""
    seq = int(entry["seq"])
    if "alerted" in details:
        alerted = details["alerted"]
    elif entry.get("action") == str(Action.VIEW) and "alert" in details:
        alerted = (
            {
                "kind": AlertKind.SENSITIVE_ACCESS.value,
                "audiences": None,
                "reason": entry.get("reason"),
            }
            if details["alert"]
            else None
        )
    else:
        state.alerts_unknown.add(seq)
        return
    if alerted is None:
        return
    audiences = alerted["audiences"]
    if audiences is None:  # a view before issue 22 says only whether it alerted
        audiences = [a.value for a in alert_audiences(AlertKind.SENSITIVE_ACCESS)]
    for audience in audiences:
        state.alerts[alert_key(seq, str(audience))] = AlertState(
            seq,
            str(audience),
            str(alerted["kind"]),
            str(entry["actor"]),
            _str_or_none(entry.get("case")),
            _str_or_none(entry.get("evidence")),
            _str_or_none(alerted.get("reason")),
        )


def _viewing_start(state: VaultState, entry: Mapping[str, Any], details: Mapping[str, Any]) -> None:
    viewing_id = str(entry["object"]["id"])
    state.viewings[viewing_id] = ViewingState(
        viewing_id,
        str(entry["evidence"]),
        str(entry["actor"]),
        _str_or_none(entry.get("reason")),
        float(details["start_s"]),
        float(details["end_s"]),
        float(details["segment_s"]),
        int(details["width"]),
        int(details["height"]),
        int(details["key_version"]),
        document_digest(details["mark"]),
        str(details["visible_text"]),
        str(details["expires_at"]),
        int(entry["seq"]),
    )
    _alerts(state, entry, details)


def _request_add(state: VaultState, entry: Mapping[str, Any], details: Mapping[str, Any]) -> None:
    request_id = str(entry["object"]["id"])
    missing: set[str] = set()
    critical = _opt(details, "critical_incident", missing)
    state.requests[request_id] = RequestState(
        request_id,
        str(entry["case"]),
        str(details["requester"]),
        str(details["kind"]),
        str(details["received_at"]),
        tuple(str(e) for e in details["evidence"]),
        tuple((float(a), float(b)) for a, b in details["ranges"]),
        bool(details["misconduct_complaint"]),
        str(details["due"]),
        str(entry["actor"]),
        _str_or_none(_opt(details, "allegation_on", missing)),
        _str_or_none(_opt(details, "incident_on", missing)),
        bool(critical),
        unvouched=frozenset(missing),
    )


def _request_decide(
    state: VaultState, entry: Mapping[str, Any], details: Mapping[str, Any]
) -> None:
    decision_id = str(entry["object"]["id"])
    missing: set[str] = set()
    state.decisions[decision_id] = DecisionState(
        decision_id,
        str(details["request"]),
        str(entry["actor"]),
        str(details["outcome"]),
        str(details["proposed"]),
        _str_or_none(entry.get("reason")) if details["override"] else None,
        str(details["pack"]),
        str(details["pack_sha256"]),
        int(entry["seq"]),
        _str_or_none(_opt(details, "document_sha256", missing)),
        _str_or_none(_opt(details, "facts_sha256", missing)),
        unvouched=frozenset(missing),
    )
    if "alerted" in details or not details["override"]:
        _alerts(state, entry, details if "alerted" in details else {"alerted": None})
    else:  # an override before issue 22 told internal affairs and command staff
        state.alerts_unknown.add(int(entry["seq"]))


def _release(state: VaultState, entry: Mapping[str, Any], details: Mapping[str, Any]) -> None:
    release_id = str(entry["object"]["id"])
    missing: set[str] = set()
    state.releases[release_id] = ReleaseState(
        release_id,
        str(details["request"]),
        str(details["decision"]),
        str(entry["actor"]),
        int(entry["seq"]),
        tuple((str(f["export_id"]), str(f["sha256"])) for f in details["files"]),
        _str_or_none(_opt(details, "manifest_doc_sha256", missing, "manifest_sha256")),
        unvouched=frozenset(missing),
    )


def _redact(state: VaultState, entry: Mapping[str, Any], details: Mapping[str, Any]) -> None:
    derivative_id = str(entry["object"]["id"])
    missing: set[str] = set()
    state.derivatives[derivative_id] = DerivativeState(
        derivative_id,
        str(entry["evidence"]),
        "redaction",
        str(entry["actor"]),
        str(details["sha256"]),
        str(details["sidecar_sha256"]),
        int(details["frames_redacted"]),
        int(entry["seq"]),
        _str_or_none(_opt(details, "lineage_sha256", missing)),
        unvouched=frozenset(missing),
    )
    _alerts(state, entry, details)
    _job_done(state, details)


def _trace(state: VaultState, entry: Mapping[str, Any], details: Mapping[str, Any]) -> None:
    trace_id = str(entry["object"]["id"])
    missing: set[str] = set()
    state.traces[trace_id] = TraceState(
        trace_id,
        str(entry["actor"]),
        str(details["leak_sha256"]),
        str(details["leak_name"]),
        str(details["verdict"]),
        _str_or_none(entry.get("evidence")),
        int(entry["seq"]),
        _str_or_none(_opt(details, "result_sha256", missing)),
        unvouched=frozenset(missing),
    )
    if "alerted" in details or not details.get("attributed"):
        _alerts(state, entry, details if "alerted" in details else {"alerted": None})
    else:
        state.alerts_unknown.add(int(entry["seq"]))


def _view(state: VaultState, entry: Mapping[str, Any], details: Mapping[str, Any]) -> None:
    _alerts(state, entry, details)


def _hold_review(state: VaultState, entry: Mapping[str, Any], details: Mapping[str, Any]) -> None:
    _alerts(state, entry, details)


# ------------------------------------------------------------------------ fingerprints
# A fingerprint (coarse motion of a recording, what a trace locates a leak by) is derived
# data, cached in the ``fingerprints`` table. An edited one could make a trace miss its
# source, so each row written is recorded by a ``fingerprint`` event in its transaction,
# carrying the SHA-256 of the stored bytes; the latest event of a row is what it must be.

FINGERPRINTS_BOUND = "fingerprints"
"""What a ``vault-init`` event's ``binds`` names when every fingerprint row has an event."""


@dataclass(frozen=True)
class FingerprintState:
    """One fingerprint row: its evidence, format version and the SHA-256 of its bytes."""

    evidence_id: str
    version: int
    sha256: str


def fingerprint_key(evidence_id: str, version: int) -> str:
    return f"{evidence_id} (format {version})"


def fingerprint_state(evidence_id: str, version: int, data: bytes) -> FingerprintState:
    """A stored fingerprint row as the fact its event vouches for."""
    return FingerprintState(evidence_id, int(version), hashlib.sha256(data).hexdigest())


def _vault_init(state: VaultState, entry: Mapping[str, Any], details: Mapping[str, Any]) -> None:
    state.fingerprints_bound = FINGERPRINTS_BOUND in (details.get("binds") or ())


def _fingerprint(state: VaultState, entry: Mapping[str, Any], details: Mapping[str, Any]) -> None:
    fp = FingerprintState(
        str(entry["evidence"]), int(details["format_version"]), str(details["sha256"])
    )
    state.fingerprints[fingerprint_key(fp.evidence_id, fp.version)] = fp


_HANDLERS = {
    str(Action.USER_ADD): _user_add,
    str(Action.CASE_ADD): _case_add,
    str(Action.CASE_STATUS): _case_status,
    str(Action.CASE_FLAGS): _case_flags,
    str(Action.CASE_ASSIGN): _case_assign,
    str(Action.CASE_REACH_RESTORED): _reach_restored,
    str(Action.INGEST): _ingest,
    str(Action.EVIDENCE_FLAGS): _evidence_flags,
    str(Action.EXPORT): _export,
    str(Action.VIEWING_START): _viewing_start,
    str(Action.REQUEST_ADD): _request_add,
    str(Action.REQUEST_DECIDE): _request_decide,
    str(Action.RELEASE): _release,
    str(Action.REDACT): _redact,
    str(Action.TRACE): _trace,
    str(Action.VIEW): _view,
    str(Action.HOLD_REVIEW): _hold_review,
    # Re-reviews after the policy pack in force changes (issue 22's pack half, on its own
    # branch) alert records: until their events say what they alerted (``alert_note``),
    # their alerts are unvouched rather than reported as rows no event made.
    "request-rereview": _hold_review,
    # Web authentication (issue 18): what a sign-in is checked against.
    str(Action.PASSWORD_SET): _password_set,
    str(Action.TOKEN_CREATE): _token_create,
    str(Action.TOKEN_REVOKE): _token_revoke,
    str(Action.MFA_ENROL): _mfa_enrol,
    str(Action.RECOVERY_CODE_USED): _recovery_code_use,
    str(Action.SIGN_IN): _sign_in,
    str(Action.PASSKEY_ENROL): _passkey_enrol,
    str(Action.PASSKEY_USE): _passkey_use,
    str(Action.PASSKEY_RENAME): _passkey_rename,
    str(Action.PASSKEY_REMOVE): _passkey_remove,
    str(Action.SSO_SIGN_IN): _sso_sign_in,
    str(Action.SIGN_OUT): _session_end,
    str(Action.SESSION_END): _session_end,
    str(Action.VAULT_INIT): _vault_init,
    str(Action.FINGERPRINT): _fingerprint,
    str(Action.JOB_REQUESTED): _job_requested,
    str(Action.JOB_CANCEL): _job_cancel,
    str(Action.JOB_STOPPED): _job_stopped,
    str(Action.JOB_DONE): _job_done_event,
    # An index of fingerprints changes no fact of its own; one a job made finishes it.
    str(Action.INDEX): _job_done_event,
}


VOUCHED_ACTIONS = frozenset(_HANDLERS)
"""The actions whose events change a fact the vault acts on."""


def compare(vouched: VaultState, stored: VaultState) -> list[Problem]:
    """Every row of ``stored`` (the tables) that the log does not vouch for, by name."""
    problems: list[Problem] = []
    stored_alerts = {
        key: alert
        for key, alert in stored.alerts.items()
        if getattr(alert, "audit_seq", None) not in vouched.alerts_unknown
    }
    stored_passwords = {
        key: p for key, p in stored.passwords.items() if key not in vouched.passwords_unknown
    }
    # A secret shown at sign-in and not yet confirmed is an enrolment under way, not a fact
    # the log vouches for (until ``mfa-enrol``); once a user enrolled, the row is held to it.
    stored_factors = {
        key: f
        for key, f in stored.second_factors.items()
        if key in vouched.second_factors or getattr(f, "confirmed", True)
    }
    tables: tuple[tuple[str, Mapping[str, object], Mapping[str, object]], ...] = (
        ("user", vouched.users, stored.users),
        ("case", vouched.cases, stored.cases),
        ("evidence", vouched.evidence, stored.evidence),
        ("export", vouched.exports, stored.exports),
        ("viewing", vouched.viewings, stored.viewings),
        ("request", vouched.requests, stored.requests),
        ("decision", vouched.decisions, stored.decisions),
        ("release", vouched.releases, stored.releases),
        ("derivative", vouched.derivatives, stored.derivatives),
        ("trace", vouched.traces, stored.traces),
        ("alert", vouched.alerts, stored_alerts),
        ("password of user", vouched.passwords, stored_passwords),
        ("api token", vouched.tokens, stored.tokens),
        ("second factor of user", vouched.second_factors, stored_factors),
        ("web session", vouched.sessions, stored.sessions),
        ("passkey", vouched.passkeys, stored.passkeys),
        ("job", vouched.jobs, stored.jobs),
    )
    for kind, expected, actual in tables:
        problems.extend(_compare_table(kind, expected, actual))
    return problems


def differing(want: object, have: object) -> list[str]:
    """The facts in which ``have`` (a row) differs from ``want`` (what the log says),
    leaving out those the log left unvouched; empty when the row is vouched for."""
    if type(want) is not type(have) or not is_dataclass(want):
        return ["value"]
    unvouched: frozenset[str] = getattr(want, "unvouched", _NONE)
    names = [f.name for f in fields(want) if f.compare and f.name not in unvouched]
    return [n for n in names if getattr(want, n) != getattr(have, n)]


# -- the tables' rows as the same facts, so that a row and its events compare ------------


def export_state(x: Export) -> ExportState:
    return ExportState(
        x.id,
        x.evidence_id,
        x.recipient,
        x.purpose,
        float(x.start_s),
        float(x.end_s),
        x.output_sha256,
        int(x.key_version),
        actor=x.actor,
        width=int(x.width),
        height=int(x.height),
        visible_mark=bool(x.visible_mark),
        audit_seq=int(x.audit_seq),
        lineage_sha256=document_digest(x.lineage),
    )


def viewing_state(v: Viewing) -> ViewingState:
    return ViewingState(
        v.id,
        v.evidence_id,
        v.viewer,
        v.purpose,
        float(v.start_s),
        float(v.end_s),
        float(v.segment_s),
        int(v.width),
        int(v.height),
        int(v.key_version),
        document_digest(v.mark),
        v.visible_text,
        v.expires_at,
        int(v.audit_seq),
    )


def request_state(r: Request) -> RequestState:
    return RequestState(
        r.id,
        r.case_number,
        r.requester,
        r.kind,
        r.received_at.isoformat(),
        tuple(r.evidence),
        tuple((float(a), float(b)) for a, b in r.ranges),
        bool(r.misconduct_complaint),
        r.due.isoformat(),
        r.actor,
        None if r.allegation_on is None else r.allegation_on.isoformat(),
        None if r.incident_on is None else r.incident_on.isoformat(),
        bool(r.critical_incident),
    )


def decision_state(d: RecordedDecision) -> DecisionState:
    return DecisionState(
        d.id,
        d.request_id,
        d.decider,
        d.outcome,
        d.proposed_outcome,
        d.override_reason,
        d.pack_name,
        d.pack_sha256,
        int(d.audit_seq),
        document_digest(d.document),
        document_digest(d.facts),
    )


def release_state(r: Release) -> ReleaseState:
    files = r.manifest.get("files")
    listed = (
        tuple((str(f.get("export_id")), str(f.get("sha256"))) for f in files if isinstance(f, dict))
        if isinstance(files, list)
        else ()
    )
    return ReleaseState(
        r.id,
        r.request_id,
        r.decision_id,
        r.actor,
        int(r.audit_seq),
        listed,
        document_digest(r.manifest),
    )


def derivative_state(d: Derivative) -> DerivativeState:
    return DerivativeState(
        d.id,
        d.evidence_id,
        d.kind,
        d.actor,
        d.sha256,
        d.sidecar_sha256,
        int(d.frames_redacted),
        int(d.audit_seq),
        document_digest(d.lineage),
    )


def trace_state(t: Trace) -> TraceState:
    return TraceState(
        t.id,
        t.actor,
        t.leak_sha256,
        t.leak_name,
        t.verdict,
        t.evidence_id,
        int(t.audit_seq),
        document_digest(t.result),
    )


def job_state(j: Job) -> JobState:
    """A job row as the facts its events bind (queued and running are one: not ended)."""
    ended = j.status in ("done", "failed", "cancelled")
    return JobState(
        j.id,
        j.kind,
        j.requested_by,
        document_digest(j.params),
        int(j.audit_seq),
        outcome=j.status if ended else None,
        result_sha256=None if j.result is None else document_digest(j.result),
        error_code=j.error_code if ended else None,
        cancel_requested=j.cancel_requested,
    )


def alert_state(a: Alert) -> AlertState:
    return AlertState(
        int(a.audit_seq), a.audience, a.kind, a.actor, a.case_number, a.evidence_id, a.reason
    )


def password_state(username: str, password_hash: str | None) -> PasswordState:
    return PasswordState(username, None if password_hash is None else stored_digest(password_hash))


def token_state(token: ApiToken) -> TokenState:
    return TokenState(
        token.id,
        token.username,
        None if token.token_hash is None else stored_digest(token.token_hash),
        token.expires_at,
        token.created_by,
        token.revoked_at is not None,
    )


def second_factor_state(
    username: str, totp: StoredTotp | None, codes: Iterable[tuple[str, bool]]
) -> SecondFactorState:
    """A user's stored second factor: the TOTP row (or None) and each recovery-code hash
    with whether it was used."""
    codes = list(codes)
    return SecondFactorState(
        username,
        None if totp is None else stored_digest(totp.secret),
        totp is not None and totp.confirmed_at is not None,
        codes_digest(h for h, _ in codes),
        frozenset(stored_digest(h) for h, used in codes if used),
    )


def passkey_state(passkey: StoredPasskey) -> PasskeyState:
    """A stored passkey as the facts its events bind (its transports, times and last use
    are operational: docs/audit-log.md)."""
    return PasskeyState(
        passkey.id,
        passkey.username,
        stored_digest(passkey.credential_id),
        stored_digest(passkey.public_key),
        passkey.name,
        int(passkey.sign_count),
    )


def session_state(session: WebSession) -> SessionState:
    return SessionState(
        session.short_id,
        session.username,
        stored_digest(session.id_hash),
        session.second_factor,
        session.ended_at is not None,
    )


# ------------------------------------------------------------- the policy pack in force
# The pack in force is not a row: it is the latest signed ``policy-set`` event, which
# names the pack's SHA-256 (its bytes are kept in the blob store by that hash). Replaying
# those events gives the vault's whole policy history; the last one is in force.


@dataclass(frozen=True)
class PackSetting:
    """One ``policy-set`` event: which pack the vault put in force, when and by whom."""

    seq: int
    at: str
    actor: str
    name: str
    version: str
    sha256: str
    source: str
    """The file name the pack was read from (``colorado.yaml``, ``dept-2027.yaml``)."""
    size: int
    reason: str | None
    previous_sha256: str | None


def pack_setting(entry: Mapping[str, Any]) -> PackSetting:
    """The setting a decoded ``policy-set`` entry records; KeyError, TypeError or
    ValueError when it does not say (a malformed event)."""
    if entry.get("action") != str(Action.POLICY_SET):
        raise ValueError(f"event {entry.get('seq')} is not a policy-set event")
    details = entry["details"]
    sha = str(details["sha256"])
    if len(sha) != 64 or any(c not in "0123456789abcdef" for c in sha):
        raise ValueError(f"event {entry.get('seq')} names no SHA-256")
    previous = details.get("previous_sha256")
    reason = entry.get("reason")
    return PackSetting(
        seq=int(entry["seq"]),
        at=str(entry["at"]),
        actor=str(entry["actor"]),
        name=str(details["name"]),
        version=str(details["version"]),
        sha256=sha,
        source=str(details["source"]),
        size=int(details["size"]),
        reason=None if reason is None else str(reason),
        previous_sha256=None if previous is None else str(previous),
    )


def pack_history(entries: Iterable[Mapping[str, Any]]) -> tuple[list[PackSetting], list[Problem]]:
    """Every pack setting of decoded ``policy-set`` entries (oldest first), and a problem
    for each that does not say what it set; the last setting is the pack in force."""
    settings: list[PackSetting] = []
    problems: list[Problem] = []
    for entry in entries:
        try:
            settings.append(pack_setting(entry))
        except (KeyError, TypeError, ValueError) as exc:
            problems.append(
                Problem(
                    "state-event-unreadable",
                    f"event {entry.get('seq')} (policy-set) does not say which pack: {exc}",
                    entry.get("seq"),
                )
            )
    return settings, problems


def compare_fingerprints(
    vouched: VaultState, stored: Mapping[str, FingerprintState]
) -> list[Problem]:
    """Every fingerprint row that its latest ``fingerprint`` event does not vouch for:
    altered (its bytes' digest differs), missing, or unlogged (no event made it; in a
    vault older than these events, such a row is unvouched and not reported)."""
    rows = dict(stored)
    if not vouched.fingerprints_bound:
        rows = {k: v for k, v in rows.items() if k in vouched.fingerprints}
    return _compare_table("fingerprint", vouched.fingerprints, rows)


def _compare_table(
    kind: str, expected: Mapping[str, object], actual: Mapping[str, object]
) -> list[Problem]:
    problems: list[Problem] = []
    for key in sorted(expected.keys() - actual.keys()):
        problems.append(
            Problem("state-row-missing", f"{kind} {key} is on the log but not in the tables")
        )
    for key in sorted(actual.keys() - expected.keys()):
        problems.append(
            Problem("state-row-unlogged", f"{kind} {key} is in the tables but no event made it")
        )
    for key in sorted(expected.keys() & actual.keys()):
        differ = differing(expected[key], actual[key])
        if differ:
            problems.append(
                Problem(
                    "state-row-altered",
                    f"{kind} {key} differs from the log in {', '.join(differ)}",
                )
            )
    return problems
