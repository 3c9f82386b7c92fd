"""Is every fact the vault acts on vouched for by its signed log? (issue 22)

The log is replayed into the state it vouches for (``core.ledger``) and held against the
tables (``uow.state``): a row that an insider with the database file edited, deleted or
inserted without an event is named. ``verify`` runs this after checking the log itself.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from custodes.core.custody import Action, Problem, canonical_json, decode_entry
from custodes.core.errors import IntegrityFailure, InvalidInput
from custodes.core.jsontext import JSONObject
from custodes.core.ledger import (
    VOUCHED_ACTIONS,
    CaseState,
    DecisionState,
    EvidenceState,
    FingerprintState,
    Ledger,
    SecondFactorState,
    VaultState,
    alert_key,
    alert_state,
    compare,
    compare_fingerprints,
    decision_state,
    derivative_state,
    differing,
    export_state,
    passkey_state,
    password_state,
    request_state,
    session_state,
    token_state,
)
from custodes.core.records import (
    Alert,
    ApiToken,
    Case,
    Derivative,
    Evidence,
    Export,
    RecordedDecision,
    Request,
    StoredPasskey,
    TracedCopy,
    User,
    WebSession,
)
from custodes.storage.uow import UnitOfWork

_VIEW = str(Action.VIEW)


def check_state(uow: UnitOfWork) -> list[Problem]:
    """Every stored fact that the log does not vouch for, by row."""
    check = StateCheck(uow)
    for batch in uow.audit.iter_batches():
        check.feed_many(batch)
    return check.finish()


class StateCheck:
    """The tables held against the log, fed the same stream of stored events that the
    log check reads (``verify`` reads the log once for both)."""

    def __init__(self, uow: UnitOfWork) -> None:
        self._stored = uow.state.snapshot()
        self._fingerprints = uow.fingerprints.states()
        self._alerted = {getattr(a, "audit_seq", None) for a in self._stored.alerts.values()}
        self._ledger = Ledger()

    def feed_many(self, rows: Iterable[Sequence[Any]]) -> None:
        """Replay the events of ``rows`` (``(seq, entry, leaf_hash, actor, action, ...)``,
        as ``uow.audit.iter_batches`` gives them) that change a fact."""
        ledger, alerted, vouched = self._ledger, self._alerted, VOUCHED_ACTIONS
        for row in rows:
            action = row[4]
            if action not in vouched:
                continue  # refusals, proofs, verifications...: they change no fact
            raw = row[1]
            if type(raw) is not bytes:
                raw = bytes(raw)
            if action == _VIEW and _ALERT not in raw and _ALERTED not in raw:
                # Most events are views, and most views alert nobody: they are not decoded
                # (this loop runs once per event; it is kept to a few byte searches).
                if row[0] in alerted and _NO_ALERT not in raw and _NO_ALERT_OLD not in raw:
                    ledger.state.alerts_unknown.add(int(row[0]))  # an older view
                continue
            try:
                entry = decode_entry(raw)
            except InvalidInput:
                continue  # a malformed entry is reported by the log check itself
            ledger.apply(entry)

    def finish(self) -> list[Problem]:
        return [
            *self._ledger.problems,
            *compare(self._ledger.state, self._stored),
            *compare_fingerprints(self._ledger.state, self._fingerprints),
        ]


# What a view's canonical entry says of its alerts. A quote inside a JSON string is
# escaped, so these byte strings occur only as the keys and values themselves.
_ALERT = b'"alert":true'
_ALERTED = b'"alerted":{'
_NO_ALERT = b'"alerted":null'
_NO_ALERT_OLD = b'"alert":false'


def check_checkpoint_times(uow: UnitOfWork, now: datetime) -> list[Problem]:
    """Each stored checkpoint's ``created_at`` against what is signed: the note signs
    the size and root, not the time, so the time is held between the signed times of
    the events around it. A checkpoint is signed in the transaction of the last event it
    covers, after that event, and checkpoints are signed in order of size: so its time
    is no earlier than that event's ``at``, no later than the next checkpoint's time,
    and not in the future. A time moved within those bounds is not noticed."""
    problems: list[Problem] = []
    stored = uow.audit.checkpoints()
    times = uow.audit.checkpoint_event_times()
    later: datetime | None = now
    for cp in reversed(stored):
        name = f"checkpoint {cp.size}"
        try:
            at = _utc(cp.created_at)
        except ValueError:
            problems.append(Problem("checkpoint-time", f"{name}: created_at is not a time"))
            continue
        event_at = _time_or_none(times.get(cp.size))
        if event_at is not None and at < event_at:
            problems.append(
                Problem(
                    "checkpoint-time",
                    f"{name}: created_at {cp.created_at} is before the signed time of the "
                    "last event it covers",
                )
            )
        elif later is not None and at > later:
            problems.append(
                Problem(
                    "checkpoint-time",
                    f"{name}: created_at {cp.created_at} is after the time of a larger "
                    "checkpoint, or in the future",
                )
            )
        later = at
    return problems


def _utc(text: str) -> datetime:
    value = datetime.fromisoformat(text)
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _time_or_none(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        return _utc(text)
    except ValueError:
        return None  # the log check reports an entry and its column that disagree


def check_copies(
    uow: UnitOfWork, evidence_id: str, copies: Sequence[TracedCopy], start_s: float, end_s: float
) -> None:
    """Refuse to attribute a leak among ``copies`` (the export rows of ``evidence_id``
    that show some of ``start_s``-``end_s``) unless the signed log vouches for each of
    them, and for no other: a trace names the recipient of the signed export event,
    never a bare row (IntegrityFailure otherwise)."""
    signed: dict[str, tuple[JSONObject, str | None]] = {}
    for entry in uow.audit.fact_entries(EXPORT_ACTIONS, evidence_id=evidence_id):
        try:
            doc = decode_entry(entry)
            export_id, details = doc["object"]["id"], dict(doc["details"])
        except (InvalidInput, KeyError, TypeError, ValueError):
            continue  # a malformed entry is verify's to report; its copy stays unvouched
        reason = doc.get("reason")
        signed[str(export_id)] = (details, reason if isinstance(reason, str) else None)
    for copy in copies:
        event = signed.get(copy.id)
        if event is None:
            raise IntegrityFailure(
                f"export {copy.id} of {evidence_id} has no signed export event: refusing to "
                "name a recipient the audit log does not vouch for",
                advice="verify the vault",
            )
        differ = _differing_fields(copy, *event)
        if differ:
            raise IntegrityFailure(
                f"export {copy.id} of {evidence_id} differs from its signed export event in "
                f"{', '.join(differ)}: refusing to name a recipient the audit log does not "
                "vouch for",
                advice="verify the vault",
            )
    shown = {c.id for c in copies}
    for export_id, (details, _) in signed.items():
        lo, hi = _portion(details)
        if export_id not in shown and lo < end_s and hi > start_s:
            raise IntegrityFailure(
                f"export {export_id} of {evidence_id} is on the signed audit log but not in "
                "the vault's tables: a trace without it could name the wrong copy",
                advice="verify the vault",
            )


def _portion(details: JSONObject) -> tuple[float, float]:
    start, end = details.get("start_s"), details.get("end_s")
    if not isinstance(start, int | float) or not isinstance(end, int | float):
        return (0.0, 0.0)
    return float(start), float(end)


def _differing_fields(copy: TracedCopy, details: JSONObject, reason: str | None) -> list[str]:
    signed: dict[str, object] = {
        "recipient": details.get("recipient"),
        "purpose": reason,
        "output_sha256": details.get("output_sha256"),
        "key_version": details.get("key_version"),
    }
    stored: dict[str, object] = {
        "recipient": copy.recipient,
        "purpose": copy.purpose,
        "output_sha256": copy.output_sha256,
        "key_version": copy.key_version,
    }
    differ = [name for name in signed if signed[name] != stored[name]]
    if _portion(details) != (copy.start_s, copy.end_s):
        differ.append("portion")
    return differ


# What a use case acts on is checked against the events that set it, as it is read: the
# actor's role, the case's status, flags, members and restored reach, the evidence's case,
# hash and recording officer. A row edited behind the vault's back is refused, on record.
USER_ACTIONS = frozenset({str(Action.USER_ADD)})
CASE_ACTIONS = frozenset(
    str(a)
    for a in (
        Action.CASE_ADD,
        Action.CASE_STATUS,
        Action.CASE_FLAGS,
        Action.CASE_ASSIGN,
        Action.CASE_REACH_RESTORED,
    )
)
EVIDENCE_ACTIONS = frozenset({str(Action.INGEST)})
EXPORT_ACTIONS = frozenset({str(Action.EXPORT)})


def _replayed(entries: Iterable[bytes]) -> Ledger:
    ledger = Ledger()
    for entry in entries:
        try:
            ledger.apply(decode_entry(entry))
        except InvalidInput:
            continue  # a malformed entry is verify's to report
    return ledger


def _unvouched(what: str, differ: list[str] | None) -> IntegrityFailure:
    why = (
        "no signed event made it"
        if differ is None
        else f"it differs from its signed events in {', '.join(differ)}"
    )
    return IntegrityFailure(
        f"{what}: {why}; refusing to act on state the log does not vouch for",
        advice="verify the vault and restore the database from a backup",
    )


def _fields(want: object, have: object) -> list[str]:
    names = getattr(want, "__dataclass_fields__", {})
    return [n for n in names if getattr(want, n) != getattr(have, n)]


def vouch_user(uow: UnitOfWork, user: User) -> None:
    """Refuse (IntegrityFailure) a user whose stored role no signed event gave."""
    want = _replayed(uow.audit.fact_entries(USER_ACTIONS)).state.users.get(user.username)
    have = replace(want, role=user.role.value) if want is not None else None
    if want is None or want != have:
        raise _unvouched(f"user {user.username}", None if want is None else ["role"])


def vouch_case(uow: UnitOfWork, case: Case) -> None:
    """Refuse (IntegrityFailure) a case whose stored status, flags, members or restored
    reach are not what its signed events say."""
    ledger = _replayed(uow.audit.fact_entries(CASE_ACTIONS, case_number=case.number))
    want = ledger.state.cases.get(case.number)
    if want is None:
        raise _unvouched(f"case {case.number}", None)
    have = _case_state(case)
    if want != have:
        raise _unvouched(f"case {case.number}", _fields(want, have))


def vouch_evidence(uow: UnitOfWork, evidence: Evidence) -> None:
    """Refuse (IntegrityFailure) evidence whose stored case, hash, size or recording
    officer are not what its signed ingest event says."""
    ledger = _replayed(uow.audit.fact_entries(EVIDENCE_ACTIONS, evidence_id=evidence.id))
    want = ledger.state.evidence.get(evidence.id)
    if want is None:
        raise _unvouched(f"evidence {evidence.id}", None)
    have = EvidenceState(
        evidence.id, evidence.case_number, evidence.sha256, evidence.size, evidence.officer
    )
    if want != have:
        raise _unvouched(f"evidence {evidence.id}", _fields(want, have))


# Requests, decisions, derivatives and alerts are checked as the use cases that decide
# something read them: deciding and releasing read a vouched request (and its case), a
# release a vouched decision that is the latest one the log records on its request and
# vouched reviewed redactions, the policy pack vouched evidence flags; the alerts listing
# shows only alerts an event vouches for.
REQUEST_ACTIONS = frozenset({str(Action.REQUEST_ADD)})
DECISION_ACTIONS = frozenset({str(Action.REQUEST_DECIDE)})
DERIVATIVE_ACTIONS = frozenset({str(Action.REDACT)})
FLAG_ACTIONS = frozenset({str(Action.INGEST), str(Action.EVIDENCE_FLAGS)})
ALERT_ACTIONS = frozenset(
    str(a)
    for a in (
        Action.VIEW,
        Action.EXPORT,
        Action.REDACT,
        Action.REQUEST_DECIDE,
        Action.HOLD_REVIEW,
        Action.TRACE,
    )
)


def _vouch(what: str, want: object | None, have: object) -> None:
    if want is None:
        raise _unvouched(what, None)
    differ = differing(want, have)
    if differ:
        raise _unvouched(what, differ)


def vouch_request(uow: UnitOfWork, request: Request) -> None:
    """Refuse (IntegrityFailure) a request whose stored facts (case, requester, kind,
    dates, evidence, ranges, due date...) are not what its signed event says."""
    ledger = _replayed(uow.audit.fact_entries(REQUEST_ACTIONS))
    _vouch(f"request {request.id}", ledger.state.requests.get(request.id), request_state(request))


def vouch_decision(uow: UnitOfWork, decision: RecordedDecision, *, latest: bool = False) -> None:
    """Refuse (IntegrityFailure) a decision whose stored outcome, document, facts, pack or
    decider are not what its signed event says; with ``latest``, one that is not the last
    decision the log records on its request (a later one deleted, say)."""
    ledger = _replayed(uow.audit.fact_entries(DECISION_ACTIONS))
    decisions = ledger.state.decisions
    _vouch(f"decision {decision.id}", decisions.get(decision.id), decision_state(decision))
    if latest:
        last = max(
            (d for d in decisions.values() if d.request_id == decision.request_id),
            key=lambda d: d.audit_seq,
        )
        if last.decision_id != decision.id:
            raise IntegrityFailure(
                f"request {decision.request_id}: the last decision on the signed log is "
                f"{last.decision_id}, not {decision.id}; refusing to act on state the log "
                "does not vouch for",
                advice="verify the vault and restore the database from a backup",
            )


def vouch_derivative(uow: UnitOfWork, derivative: Derivative) -> None:
    """Refuse (IntegrityFailure) a derivative whose stored evidence, hash, sidecar,
    frames redacted or lineage are not what its signed redact event says."""
    entries = uow.audit.fact_entries(DERIVATIVE_ACTIONS, evidence_id=derivative.evidence_id)
    want = _replayed(entries).state.derivatives.get(derivative.id)
    _vouch(f"derivative {derivative.id}", want, derivative_state(derivative))


def vouch_evidence_flags(uow: UnitOfWork, evidence_ids: Iterable[str]) -> None:
    """Refuse (IntegrityFailure) recordings whose stored flags (a minor, a victim...: what
    the policy pack reads) are not what their signed events say."""
    for evidence_id in evidence_ids:
        entries = uow.audit.fact_entries(FLAG_ACTIONS, evidence_id=evidence_id)
        want = _replayed(entries).state.evidence.get(evidence_id)
        have = uow.evidence_flags.of([evidence_id])
        if want is None:
            raise _unvouched(f"evidence {evidence_id}", None)
        if want.flags != have:
            raise _unvouched(f"evidence {evidence_id}", ["flags"])


def vouched_alerts(uow: UnitOfWork, alerts: Sequence[Alert]) -> list[Alert]:
    """The alerts among ``alerts`` that a signed event vouches for (those of events
    recorded before events said what they alerted are kept, unvouched)."""
    ledger = _replayed(uow.audit.fact_entries(ALERT_ACTIONS))
    vouched, unknown = ledger.state.alerts, ledger.state.alerts_unknown
    return [
        a
        for a in alerts
        if a.audit_seq in unknown
        or vouched.get(alert_key(a.audit_seq, a.audience)) == alert_state(a)
    ]


# Listings print rows, and filter them on rows: an edited row could appear where it does
# not belong, or hide from where it does. Each listing replays the events of what it
# lists once per call and refuses (IntegrityFailure, on record by the caller) when a row
# it would list differs from them, or a row the log puts in it is not among them. The
# alerts listing marks rows instead (see :func:`vouched_alerts`): internal affairs must
# still see the alerts that are vouched.


def _refuse_listing(what: str, problems: Sequence[Problem]) -> None:
    if not problems:
        return
    shown = "; ".join(p.detail for p in problems[:3])
    more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
    raise IntegrityFailure(
        f"{what}: {shown}{more}; refusing to list state the log does not vouch for",
        advice="verify the vault and restore the database from a backup",
    )


def vouch_case_list(uow: UnitOfWork, cases: Sequence[Case]) -> None:
    """Refuse a case listing whose rows (every case, before authorization filters them)
    are not the cases the signed log vouches for."""
    vouched = _replayed(uow.audit.fact_entries(CASE_ACTIONS)).state
    stored = VaultState(cases={c.number: _case_state(c) for c in cases})
    _refuse_listing("case list", compare(VaultState(cases=vouched.cases), stored))


def vouch_evidence_list(
    uow: UnitOfWork, evidence: Sequence[Evidence], case_number: str | None
) -> None:
    """Refuse an evidence listing (of ``case_number``, or all) whose rows are not the
    evidence, with its case, hash, officer and flags, that the signed log vouches for."""
    entries = uow.audit.fact_entries(FLAG_ACTIONS, case_number=case_number)
    vouched = _replayed(entries).state
    flags = uow.evidence_flags.by_evidence(e.id for e in evidence)
    stored = VaultState(
        evidence={
            e.id: EvidenceState(
                e.id, e.case_number, e.sha256, e.size, e.officer, flags.get(e.id, frozenset())
            )
            for e in evidence
        }
    )
    _refuse_listing("evidence list", compare(VaultState(evidence=vouched.evidence), stored))


def vouch_export_list(uow: UnitOfWork, exports: Sequence[Export], evidence_id: str | None) -> None:
    """Refuse an export listing (of ``evidence_id``, or all; before cases are hidden)
    whose rows are not the exports the signed log vouches for."""
    vouched = _replayed(uow.audit.fact_entries(EXPORT_ACTIONS, evidence_id=evidence_id)).state
    stored = VaultState(exports={x.id: export_state(x) for x in exports})
    _refuse_listing("exports", compare(VaultState(exports=vouched.exports), stored))


def vouch_request_list(
    uow: UnitOfWork, requests: Sequence[Request], latest: Mapping[str, RecordedDecision | None]
) -> None:
    """Refuse a request listing whose rows are not the requests the signed log vouches
    for, or whose standing decision (``latest``, by request) is not the last one the log
    records on it, with its outcome."""
    vouched = _replayed(uow.audit.fact_entries(REQUEST_ACTIONS | DECISION_ACTIONS)).state
    stored = VaultState(requests={r.id: request_state(r) for r in requests})
    problems = compare(VaultState(requests=vouched.requests), stored)
    last: dict[str, DecisionState] = {}
    for d in sorted(vouched.decisions.values(), key=lambda d: d.audit_seq):
        last[d.request_id] = d
    for request_id, decision in latest.items():
        want = last.get(request_id)
        have = None if decision is None else (decision.id, decision.outcome)
        if (None if want is None else (want.decision_id, want.outcome)) != have:
            problems.append(
                Problem(
                    "state-row-altered",
                    f"request {request_id}: its standing decision differs from the log",
                )
            )
    _refuse_listing("request list", problems)


def _case_state(case: Case) -> CaseState:
    return CaseState(
        case.number,
        case.title,
        case.status.value,
        frozenset(f.value for f in case.flags),
        case.members,
        case.restored,
    )


def vouch_decisions_of(
    uow: UnitOfWork, request_id: str, decisions: Sequence[RecordedDecision]
) -> None:
    """Refuse a request's history whose decision rows are not every decision the signed
    log records on it, as it records them."""
    vouched = _replayed(uow.audit.fact_entries(DECISION_ACTIONS)).state.decisions
    want = {k: d for k, d in vouched.items() if d.request_id == request_id}
    stored = {d.id: decision_state(d) for d in decisions}
    problems = compare(VaultState(decisions=want), VaultState(decisions=stored))
    _refuse_listing(f"request {request_id}", problems)


# Web authentication (issue 18) is checked as each request is authenticated: a password
# hash, an enrolled second factor, a signed-in session and an API token must each be what
# their signed events bind (by the digest of the stored value, ``core.ledger``). Only the
# events of that user, session or token are decoded: those of its actor through the index,
# then those whose bytes name it.
PASSWORD_ACTIONS = frozenset({str(Action.USER_ADD), str(Action.PASSWORD_SET)})
SECOND_FACTOR_ACTIONS = frozenset({str(Action.MFA_ENROL), str(Action.RECOVERY_CODE_USED)})
SESSION_ACTIONS = frozenset({str(Action.SIGN_IN), str(Action.SSO_SIGN_IN)})
TOKEN_ACTIONS = frozenset({str(Action.TOKEN_CREATE), str(Action.TOKEN_REVOKE)})


def _naming(entries: Iterable[bytes], name: str) -> list[bytes]:
    """The entries whose canonical bytes hold the JSON string ``name`` (a cheap filter
    before decoding: the replay itself reads which object each event is about)."""
    quoted = canonical_json(name)
    return [e for e in entries if quoted in e]


def vouch_password(uow: UnitOfWork, username: str, password_hash: str | None) -> None:
    """Refuse (IntegrityFailure) a stored password hash that no signed ``user-add`` or
    ``password-set`` event of the user set (one set before events carried its digest is
    unvouched and let through)."""
    state = _replayed(_naming(uow.audit.fact_entries(PASSWORD_ACTIONS), username)).state
    if username in state.passwords_unknown:
        return
    want = state.passwords.get(username)
    _vouch(f"the password of user {username}", want, password_state(username, password_hash))


def vouch_second_factor(uow: UnitOfWork, stored: SecondFactorState) -> None:
    """Refuse (IntegrityFailure) a user's stored TOTP secret and recovery codes unless they
    are what the user's signed ``mfa-enrol`` and ``recovery-code-use`` events bind; a
    confirmed secret with no enrolment on the log is refused, and so is an enrolment the
    log records whose secret is gone or unconfirmed (it would be offered again)."""
    entries = uow.audit.fact_entries(SECOND_FACTOR_ACTIONS, actor=stored.username)
    want = _replayed(entries).state.second_factors.get(stored.username)
    if want is None and not stored.confirmed:
        return  # an enrolment under way (the secret shown at sign-in, not yet confirmed)
    _vouch(f"the second factor of user {stored.username}", want, stored)


def vouch_session(uow: UnitOfWork, session: WebSession) -> None:
    """Refuse (IntegrityFailure) a session that passed its second factor unless a signed
    ``sign-in`` event of its user made it, with its id (by digest) and factor."""
    entries = uow.audit.fact_entries(SESSION_ACTIONS, actor=session.username)
    want = _replayed(_naming(entries, session.short_id)).state.sessions.get(session.short_id)
    _vouch(f"web session {session.short_id}", want, session_state(session))


def vouch_token(uow: UnitOfWork, token: ApiToken) -> None:
    """Refuse (IntegrityFailure) an API token row unless its signed ``token-create`` event
    made it for that user, with that hash (by digest), expiry and creator, and no
    ``token-revoke`` event revoked it while the row says it is not."""
    entries = _naming(uow.audit.fact_entries(TOKEN_ACTIONS), token.id)
    want = _replayed(entries).state.tokens.get(token.id)
    _vouch(f"api token {token.id}", want, token_state(token))


PASSKEY_ACTIONS = frozenset(
    str(a)
    for a in (
        Action.PASSKEY_ENROL,
        Action.PASSKEY_USE,
        Action.PASSKEY_RENAME,
        Action.PASSKEY_REMOVE,
    )
)


def vouch_passkey(uow: UnitOfWork, passkey: StoredPasskey) -> None:
    """Refuse (IntegrityFailure) a passkey row unless its signed ``passkey-enrol`` event
    made it for that user, with that credential id and public key (by digest), and its
    signature counter is the one the latest ``passkey-enrol`` or ``passkey-use`` event
    recorded (a counter wound back would let a cloned authenticator in)."""
    entries = _naming(uow.audit.fact_entries(PASSKEY_ACTIONS), passkey.id)
    want = _replayed(entries).state.passkeys.get(passkey.id)
    _vouch(f"passkey {passkey.id}", want, passkey_state(passkey))


def vouch_passkeys(uow: UnitOfWork, username: str, stored: Sequence[StoredPasskey]) -> None:
    """Refuse (IntegrityFailure) a user's passkey rows unless they are every passkey the
    signed log gives the user, as it gives them: a passkey deleted behind the vault's back
    would otherwise leave a passkey-only account with no second factor, and the password
    alone would enrol a new one."""
    entries = _naming(uow.audit.fact_entries(PASSKEY_ACTIONS), username)
    vouched = _replayed(entries).state.passkeys
    want = {k: p for k, p in vouched.items() if p.username == username}
    have = {p.id: passkey_state(p) for p in stored}
    problems = compare(VaultState(passkeys=want), VaultState(passkeys=have))
    if problems:
        shown = "; ".join(p.detail for p in problems[:3])
        raise IntegrityFailure(
            f"the passkeys of user {username}: {shown}; refusing to act on state the log "
            "does not vouch for",
            advice="verify the vault and restore the database from a backup",
        )


# A trace locates a leak by the fingerprints of the evidence: it uses only rows that their
# latest ``fingerprint`` event vouches for, and recomputes any other from the re-hashed
# original (services/trace.py), so that an edited fingerprint cannot hide a source.
FINGERPRINT_ACTIONS = frozenset({str(Action.FINGERPRINT)})


def vouched_fingerprints(uow: UnitOfWork) -> dict[str, FingerprintState]:
    """The fingerprints the signed log vouches for, by key (``fingerprint_key``)."""
    return _replayed(uow.audit.fact_entries(FINGERPRINT_ACTIONS)).state.fingerprints
