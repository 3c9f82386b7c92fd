"""custodes.core.ledger: the state the signed log vouches for, and rows that disagree."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from custodes.core.ledger import (
    CaseState,
    EvidenceState,
    ExportState,
    Ledger,
    UserState,
    VaultState,
    compare,
)


def _entry(seq: int, action: str, **kw: Any) -> dict[str, Any]:
    return {
        "seq": seq,
        "action": action,
        "object": {"type": kw.pop("type", None), "id": kw.pop("id", None)},
        "case": kw.pop("case", None),
        "evidence": kw.pop("evidence", None),
        "reason": kw.pop("reason", None),
        "details": kw,
    }


LOG = [
    _entry(0, "vault-init", origin="x"),
    _entry(1, "user-add", type="user", id="admin", role="admin"),
    _entry(2, "user-add", type="user", id="ofc.lind", role="officer", password=False),
    _entry(3, "case-add", case="C-1", title="Stop", status="open"),
    _entry(4, "case-assign", case="C-1", user="ofc.lind"),
    _entry(5, "case-status-change", case="C-1", **{"from": "open", "to": "adjudicated"}),
    _entry(
        6,
        "ingest",
        case="C-1",
        evidence="EV-1",
        sha256="ab" * 32,
        size=10,
        officer="ofc.lind",
        device=None,
    ),
    _entry(7, "evidence-flag-change", case="C-1", evidence="EV-1", added=["minor"], removed=[]),
    _entry(
        8,
        "export",
        type="export",
        id="EX-1",
        case="C-1",
        evidence="EV-1",
        reason="civil claim",
        recipient="City Attorney Lowe",
        start_s=0.0,
        end_s=5.0,
        output_sha256="cd" * 32,
        key_version=1,
    ),
    _entry(
        9,
        "case-flag-change",
        case="C-1",
        added=["ia-investigation"],
        removed=[],
        flags=["ia-investigation"],
    ),
    _entry(10, "case-reach-restored", case="C-1", user="ofc.lind", assigned=False),
    _entry(11, "view", case="C-1", evidence="EV-1"),
]


def _vouched() -> VaultState:
    ledger = Ledger()
    ledger.feed(LOG)
    assert ledger.problems == []
    return ledger.state


def test_replaying_the_log_gives_the_state_it_vouches_for() -> None:
    state = _vouched()
    assert state.users == {
        "admin": UserState("admin", "admin"),
        "ofc.lind": UserState("ofc.lind", "officer"),
    }
    assert state.cases["C-1"] == CaseState(
        "C-1",
        "Stop",
        "adjudicated",
        frozenset({"ia-investigation"}),
        frozenset({"ofc.lind"}),
        frozenset({"ofc.lind"}),
    )
    assert state.evidence["EV-1"] == EvidenceState(
        "EV-1", "C-1", "ab" * 32, 10, "ofc.lind", frozenset({"minor"})
    )
    export = state.exports["EX-1"]
    assert export == ExportState(
        "EX-1", "EV-1", "City Attorney Lowe", "civil claim", 0.0, 5.0, "cd" * 32, 1, audit_seq=8
    )
    # An export event from before issue 22 does not say its size, mark or lineage: the
    # row is not held to them.
    assert export.unvouched == {"width", "height", "visible_mark", "lineage_sha256"}


def test_a_new_investigation_withdraws_restored_reach() -> None:
    ledger = Ledger()
    ledger.feed(
        [*LOG, _entry(12, "case-flag-change", case="C-1", flags=[], reach_withdrawn=["ofc.lind"])]
    )
    assert ledger.state.cases["C-1"].restored == frozenset()


def test_identical_tables_raise_nothing() -> None:
    assert compare(_vouched(), _vouched()) == []


def test_every_kind_of_altered_row_is_named() -> None:
    stored = _vouched()
    stored.exports["EX-1"] = replace(stored.exports["EX-1"], recipient="Deputy DA Ruiz")
    stored.users["ofc.lind"] = replace(stored.users["ofc.lind"], role="admin")
    stored.cases["C-1"] = replace(stored.cases["C-1"], flags=frozenset())
    problems = compare(_vouched(), stored)
    details = sorted(p.detail for p in problems)
    assert {p.kind for p in problems} == {"state-row-altered"}
    assert details == [
        "case C-1 differs from the log in flags",
        "export EX-1 differs from the log in recipient",
        "user ofc.lind differs from the log in role",
    ]


def test_deleted_and_inserted_rows_are_named() -> None:
    stored = _vouched()
    del stored.exports["EX-1"]
    stored.users["mallory"] = UserState("mallory", "admin")
    problems = {(p.kind, p.detail) for p in compare(_vouched(), stored)}
    assert problems == {
        ("state-row-missing", "export EX-1 is on the log but not in the tables"),
        ("state-row-unlogged", "user mallory is in the tables but no event made it"),
    }


def test_an_event_that_does_not_say_what_it_changed_is_a_problem() -> None:
    ledger = Ledger()
    ledger.feed([_entry(0, "case-status-change", case="C-404", to="closed")])
    [problem] = ledger.problems
    assert problem.kind == "state-event-unreadable" and problem.seq == 0


def test_an_unvouched_fact_is_not_held_against_the_row() -> None:
    stored = _vouched()
    stored.exports["EX-1"] = replace(stored.exports["EX-1"], width=1, lineage_sha256="x")
    assert compare(_vouched(), stored) == []
    stored.exports["EX-1"] = replace(stored.exports["EX-1"], audit_seq=3)
    [problem] = compare(_vouched(), stored)
    assert problem.detail == "export EX-1 differs from the log in audit_seq"


def test_requests_decisions_and_their_alerts_are_replayed() -> None:
    ledger = Ledger()
    request_add = _entry(
        12,
        "request-add",
        type="request",
        id="RQ-1",
        case="C-1",
        requester="Denver Post",
        kind="press",
        received_at="2026-01-02",
        ranges=[[0, 5]],
        misconduct_complaint=False,
        due="2026-01-05",
    )
    request_add["actor"] = "records"
    request_add["details"]["evidence"] = ["EV-1"]  # (the helper takes ``evidence`` as the event's)
    decide = _entry(
        13,
        "request-decide",
        type="decision",
        id="DC-1",
        case="C-1",
        reason="a witness is at risk",
        request="RQ-1",
        outcome="deny",
        proposed="release",
        override=True,
        pack="co",
        pack_sha256="ee" * 32,
        document_sha256="d1",
        facts_sha256="f1",
        alerted={
            "kind": "decision-override",
            "audiences": ["internal-affairs", "command"],
            "reason": "a witness is at risk",
        },
    )
    decide["actor"] = "records"
    ledger.feed([*LOG, request_add, decide])
    assert ledger.problems == []
    state = ledger.state
    request = state.requests["RQ-1"]
    assert (request.ranges, request.evidence) == (((0.0, 5.0),), ("EV-1",))
    # An older request event says nothing of the incident: those facts are unvouched.
    assert request.unvouched == {"allegation_on", "incident_on", "critical_incident"}
    decision = state.decisions["DC-1"]
    assert (decision.outcome, decision.override_reason) == ("deny", "a witness is at risk")
    assert sorted(state.alerts) == [
        "of event 13 to command",
        "of event 13 to internal-affairs",
    ]
    # The view of seq 11 says nothing of an alert (an older event): its alerts are unknown.
    assert 11 in state.alerts_unknown


def test_authentication_facts_are_bound_by_digest_and_old_events_leave_them_unvouched() -> None:
    from custodes.core.ledger import (
        PasswordState,
        SecondFactorState,
        SessionState,
        TokenState,
        stored_digest,
    )

    def state(*entries: dict[str, Any]) -> VaultState:
        ledger = Ledger()
        ledger.feed(entries)
        assert ledger.problems == []
        return ledger.state

    new = state(
        _entry(0, "user-add", type="user", id="ann", role="records", password_digest="p1"),
        _entry(1, "password-set", type="user", id="ann", password_digest="p2"),
        {
            **_entry(
                2,
                "token-create",
                type="user",
                id="ann",
                token="TK-1",
                expires_at="e",
                token_digest="t1",
            ),
            "actor": "admin",
        },
        _entry(3, "token-revoke", type="user", id="ann", token="TK-1"),
        _entry(4, "mfa-enrol", type="user", id="ann", secret_digest="s", codes_digest="c"),
        _entry(5, "recovery-code-use", type="user", id="ann", code_digest="u"),
        _entry(
            6,
            "sign-in",
            type="user",
            id="ann",
            session="ab",
            session_digest="d",
            second_factor="totp",
        ),
        _entry(7, "session-end", type="user", id="ann", session="ab", why="idle"),
        _entry(8, "session-end", type="user", id="ann", session="never-signed-in", why="idle"),
    )
    stored = VaultState(
        users={"ann": UserState("ann", "records")},
        passwords={"ann": PasswordState("ann", "p2")},
        tokens={"TK-1": TokenState("TK-1", "ann", "t1", "e", "admin", revoked=True)},
        second_factors={"ann": SecondFactorState("ann", "s", True, "c", frozenset({"u"}))},
        sessions={"ab": SessionState("ab", "ann", "d", "totp", ended=True)},
    )
    assert compare(new, stored) == []
    altered = VaultState(
        users={"ann": UserState("ann", "records")},
        passwords={"ann": PasswordState("ann", "p1")},
        tokens={"TK-1": TokenState("TK-1", "ann", "t1", "e", "admin", revoked=False)},
        second_factors={"ann": SecondFactorState("ann", "s", True, "c", frozenset())},
        sessions={"ab": SessionState("ab", "ann", "d", "totp", ended=False)},
    )
    assert [p.detail for p in compare(new, altered)] == [
        "password of user ann differs from the log in password_digest",
        "api token TK-1 differs from the log in revoked",
        "second factor of user ann differs from the log in codes_used",
        "web session ab differs from the log in ended",
    ]
    # Events from before they carried digests: the digests are unvouched, the rest is not.
    old = state(
        _entry(0, "user-add", type="user", id="ann", role="records", password=True),
        {
            **_entry(1, "token-create", type="user", id="ann", token="TK-1", expires_at="e"),
            "actor": "admin",
        },
        _entry(2, "mfa-enrol", type="user", id="ann", factor="totp"),
        _entry(3, "recovery-code-use", type="user", id="ann", left=9),
        _entry(4, "sign-in", type="user", id="ann", session="ab", second_factor="totp"),
    )
    anything = VaultState(
        users={"ann": UserState("ann", "records")},
        passwords={"ann": PasswordState("ann", stored_digest("any"))},
        tokens={"TK-1": TokenState("TK-1", "ann", "other", "e", "admin")},
        second_factors={"ann": SecondFactorState("ann", "x", True, "y", frozenset({"z"}))},
        sessions={"ab": SessionState("ab", "ann", "other", "totp")},
    )
    assert compare(old, anything) == []
    moved = replace(anything, tokens={"TK-1": TokenState("TK-1", "bob", "other", "e", "admin")})
    assert [p.detail for p in compare(old, moved)] == [
        "api token TK-1 differs from the log in username"
    ]


def test_passkeys_are_bound_with_their_last_counter() -> None:
    from custodes.core.ledger import PasskeyState, SecondFactorState

    enrol = {"type": "user", "id": "ann", "credential_digest": "c", "public_key_digest": "k"}
    ledger = Ledger()
    ledger.feed(
        [
            _entry(
                0,
                "mfa-enrol",
                type="user",
                id="ann",
                factor="passkey",
                secret_digest=None,
                codes_digest="r",
            ),
            _entry(1, "passkey-enrol", passkey="PK-1", name="a", sign_count=0, **enrol),
            _entry(2, "passkey-enrol", passkey="PK-2", name="b", sign_count=3, **enrol),
            _entry(3, "passkey-use", type="user", id="ann", passkey="PK-1", sign_count=7),
            _entry(4, "passkey-rename", type="user", id="ann", passkey="PK-1", name="phone"),
            _entry(5, "passkey-remove", type="user", id="ann", passkey="PK-2"),
        ]
    )
    assert ledger.problems == []
    assert ledger.state.passkeys == {"PK-1": PasskeyState("PK-1", "ann", "c", "k", "phone", 7)}
    # A first enrolment with a passkey confirms no TOTP secret.
    assert ledger.state.second_factors["ann"] == SecondFactorState("ann", None, False, "r")
    wound_back = VaultState(passkeys={"PK-1": PasskeyState("PK-1", "ann", "c", "k", "phone", 6)})
    assert [p.detail for p in compare(ledger.state, wound_back)][-1] == (
        "passkey PK-1 differs from the log in sign_count"
    )
    # A use of a passkey no event made is an unreadable event, named.
    ledger.apply(_entry(6, "passkey-use", type="user", id="ann", passkey="PK-9", sign_count=1))
    assert [p.kind for p in ledger.problems] == ["state-event-unreadable"]
