"""The tables' state of what the signed log vouches for (``core.ledger``), read whole so
that ``verify`` can name every row that disagrees with the log."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.engine import Connection

from custodes.core.ledger import (
    CaseState,
    EvidenceState,
    UserState,
    VaultState,
    alert_key,
    alert_state,
    decision_state,
    derivative_state,
    export_state,
    job_state,
    passkey_state,
    password_state,
    release_state,
    request_state,
    second_factor_state,
    session_state,
    token_state,
    trace_state,
    viewing_state,
)
from custodes.core.records import StoredTotp
from custodes.storage import tables as t
from custodes.storage.repositories._base import split_flags
from custodes.storage.repositories.alerts import AlertRepository
from custodes.storage.repositories.auth import AuthRepository
from custodes.storage.repositories.decisions import DecisionRepository
from custodes.storage.repositories.derivatives import DerivativeRepository
from custodes.storage.repositories.exports import ExportRepository
from custodes.storage.repositories.jobs import JobRepository
from custodes.storage.repositories.passkeys import PasskeyRepository
from custodes.storage.repositories.releases import ReleaseRepository
from custodes.storage.repositories.requests import RequestRepository
from custodes.storage.repositories.traces import TraceRepository
from custodes.storage.repositories.viewings import ViewingRepository

S = TypeVar("S")


class UnreadableRow:
    """A row that cannot be read back as its record (a stored document edited into
    something else): it agrees with no state the log vouches for."""

    def __init__(self, error: Exception) -> None:
        self.error = error


def _read(row: Any, build: Callable[[Any], S]) -> S | UnreadableRow:
    try:
        return build(row)
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        return UnreadableRow(exc)


class StateRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def snapshot(self) -> VaultState:
        state = VaultState()
        conn = self._conn
        for u in conn.execute(select(t.users.c.username, t.users.c.role)):
            state.users[u.username] = UserState(u.username, u.role)
        members: dict[int, list[tuple[str, bool]]] = {}
        query = select(
            t.case_members.c.case_id, t.users.c.username, t.case_members.c.reach_restored
        ).join(t.users, t.users.c.id == t.case_members.c.user_id)
        for m in conn.execute(query):
            members.setdefault(int(m.case_id), []).append((m.username, bool(m.reach_restored)))
        numbers: dict[int, str] = {}
        for c in conn.execute(select(t.cases)):
            on = members.get(int(c.id), [])
            numbers[int(c.id)] = c.number
            state.cases[c.number] = CaseState(
                c.number,
                c.title,
                c.status,
                frozenset(split_flags(c.flags)),
                frozenset(name for name, _ in on),
                frozenset(name for name, restored in on if restored),
            )
        flags: dict[str, set[str]] = {}
        for f in conn.execute(select(t.evidence_flags)):
            flags.setdefault(f.evidence_id, set()).add(f.flag)
        officer = t.users.alias("officer")
        evidence = select(
            t.evidence.c.id,
            t.evidence.c.case_id,
            t.evidence.c.sha256,
            t.evidence.c.size,
            officer.c.username.label("officer"),
        ).outerjoin(officer, officer.c.id == t.evidence.c.officer_id)
        for e in conn.execute(evidence):
            state.evidence[e.id] = EvidenceState(
                e.id,
                numbers.get(int(e.case_id), f"(case id {e.case_id})"),
                e.sha256,
                int(e.size),
                e.officer,
                frozenset(flags.get(e.id, ())),
            )
        self._documents(state)
        self._auth(state)
        return state

    def _auth(self, state: VaultState) -> None:
        """Passwords, API tokens, second factors, signed-in web sessions and passkeys (issue
        18)."""
        conn, auth = self._conn, AuthRepository(self._conn)
        names: dict[int, str] = {}
        for u in conn.execute(select(t.users.c.id, t.users.c.username, t.users.c.password_hash)):
            names[int(u.id)] = u.username
            state.passwords[u.username] = password_state(u.username, u.password_hash)
        for token in auth.tokens():
            state.tokens[token.id] = token_state(token)
        totps: dict[int, StoredTotp] = {}
        for row in conn.execute(select(t.totp_secrets)):
            totps[int(row.user_id)] = StoredTotp(
                int(row.user_id), bytes(row.secret), row.created_at, row.confirmed_at, None
            )
        codes: dict[int, list[tuple[str, bool]]] = {}
        for c in conn.execute(select(t.recovery_codes)):
            codes.setdefault(int(c.user_id), []).append((c.code_hash, c.used_at is not None))
        for user_id in totps.keys() | codes.keys():
            name = names.get(user_id, f"(user id {user_id})")
            state.second_factors[name] = second_factor_state(
                name, totps.get(user_id), codes.get(user_id, [])
            )
        for session in auth.open_sessions(signed_in=True, ended=True):
            state.sessions[session.short_id] = session_state(session)
        for passkey in PasskeyRepository(conn).all():
            state.passkeys[passkey.id] = passkey_state(passkey)

    def _documents(self, state: VaultState) -> None:
        """Exports, requests, decisions, releases, derivatives, traces and alerts."""
        conn = self._conn
        stored: Any = state  # the tables' side may hold an UnreadableRow where a row is
        for x in conn.execute(select(t.exports)):
            stored.exports[x.id] = _read(x, lambda r: export_state(ExportRepository._export(r)))
        for v in conn.execute(select(t.viewings)):
            stored.viewings[v.id] = _read(v, lambda r: viewing_state(ViewingRepository._viewing(r)))
        query = select(t.requests, t.cases.c.number.label("case_number")).outerjoin(
            t.cases, t.cases.c.id == t.requests.c.case_id
        )
        for r in conn.execute(query):
            stored.requests[r.id] = _read(
                r, lambda row: request_state(RequestRepository._request(row))
            )
        for d in conn.execute(select(t.decisions)):
            stored.decisions[d.id] = _read(
                d, lambda row: decision_state(DecisionRepository._decision(row))
            )
        for rl in conn.execute(select(t.releases)):
            stored.releases[rl.id] = _read(
                rl, lambda row: release_state(ReleaseRepository._release(row))
            )
        for dv in conn.execute(select(t.derivatives)):
            stored.derivatives[dv.id] = _read(
                dv, lambda row: derivative_state(DerivativeRepository._derivative(row))
            )
        for tr in conn.execute(select(t.traces)):
            stored.traces[tr.id] = _read(tr, lambda row: trace_state(TraceRepository._trace(row)))
        for j in conn.execute(select(t.jobs)):
            stored.jobs[j.id] = _read(j, lambda row: job_state(JobRepository._job(row)))
        for a in conn.execute(select(t.alerts)):
            stored.alerts[alert_key(int(a.audit_seq), str(a.audience))] = _read(
                a, lambda row: alert_state(AlertRepository._alert(row))
            )
