# ruff: noqa: E501  (the table of changes reads best one per line)
"""The hold-out of issue 22, table by table: on a copy of a used vault (users, a flagged
case, evidence with a flag, a copy, a view, a redaction, requests decided, accepted and
overridden, a release, a trace, the alerts they raised), each table has a row edited,
deleted or inserted on the database file itself, append-only triggers dropped, and
``verify`` fails naming that row. Deciding and releasing refuse altered requests and
decisions, on record."""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from custodes import bootstrap
from custodes.config import Settings
from custodes.core.errors import IntegrityFailure
from custodes.media.redaction import RegionSeed
from custodes.services import (
    cases,
    events,
    evidence,
    exports,
    redaction,
    requests,
    trace,
    verify,
)
from custodes.services.audit import list_events
from tests.factories import add_case, add_user


@dataclass(frozen=True)
class Used:
    home: Path
    ev: str
    ev2: str
    ex: str
    rd: str
    rq: str
    rq2: str
    dc: str
    dc2: str
    rl: str
    tr: str
    rec: str
    ia: str
    officer: str
    number: str


@pytest.fixture(scope="module")
def used(tmp_path_factory: pytest.TempPathFactory, clips: dict[str, Path]) -> Used:
    root = tmp_path_factory.mktemp("used")
    vault = bootstrap.init_vault(Settings(home=root / "vault"))
    try:
        officer = add_user(vault, "officer")
        rec = add_user(vault, "records")
        ia = add_user(vault, "internal-affairs")
        number = add_case(vault, members=(officer,))
        ev = evidence.ingest(vault, "admin", clips["a"], number, officer=officer).evidence_id
        cases.set_case(vault, ia, number, flag=["sensitive"], reason="witness is a minor")
        requests.set_evidence_flags(vault, rec, ev, flag=["minor"], reason="seen on review")
        copy = root / "copy.mp4"
        cmd = exports.ExportEvidence(
            ev, recipient="City Attorney Lowe", purpose="civil claim", out=copy
        )
        ex = exports.export_evidence(vault, rec, cmd).export_id
        evidence.open_evidence(vault, ia, ev, reason="review")
        rd = redaction.redact_evidence(
            vault,
            rec,
            redaction.RedactEvidence(
                ev,
                out=root / "red.mp4",
                regions=[RegionSeed(0.2, 40, 40, 60, 30, "plate")],
                reason="for release",
            ),
        ).derivative_id
        other = add_case(vault, status="adjudicated")
        ev2 = evidence.ingest(vault, rec, clips["b"], other).evidence_id
        rq = requests.add_request(
            vault,
            rec,
            requests.AddRequest(
                other, requester="Denver Post", kind="press", evidence=[ev2], ranges=[(0.5, 1.5)]
            ),
        ).request_id
        dc = requests.decide_request(vault, rec, rq, accept=True).decision_id
        rl = requests.release_request(vault, rec, rq, root / "pkg").release_id
        rq2 = requests.add_request(
            vault, rec, requests.AddRequest(other, requester="Jo Public", kind="public")
        ).request_id
        dc2 = requests.decide_request(
            vault, rec, rq2, override="deny", reason="a witness is at risk"
        ).decision_id
        (root / "reports").mkdir()
        tr = trace.trace_leak(vault, ia, copy, report_dir=root / "reports").trace_id
    finally:
        vault.engine.dispose()
    return Used(root / "vault", ev, ev2, ex, rd, rq, rq2, dc, dc2, rl, tr, rec, ia, officer, number)


@pytest.fixture
def copy(used: Used, tmp_path: Path) -> Iterator[bootstrap.Vault]:
    home = tmp_path / "vault"
    shutil.copytree(used.home, home)
    vault = bootstrap.open_vault(Settings(home=home))
    yield vault
    vault.engine.dispose()


def _sql(vault: bootstrap.Vault, statement: str, *args: object) -> None:
    db = sqlite3.connect(vault.settings.home / "vault.db")
    for table in ("audit_events", "checkpoints", "decisions"):
        for verb in ("update", "delete"):
            db.execute(f"DROP TRIGGER IF EXISTS {table}_no_{verb}")
    db.execute(statement, args)
    db.commit()
    db.close()


def _named(vault: bootstrap.Vault) -> list[str]:
    report = verify.verify_vault(vault, "admin", blobs=False)
    assert not report.ok
    return [f"{p['kind']}: {p['detail']}" for p in report.problems]


def test_the_used_vault_verifies(used: Used, copy: bootstrap.Vault) -> None:
    assert verify.verify_vault(copy, "admin", blobs=False).problems == []
    alerts = evidence.list_alerts(copy, used.ia)
    assert {a.kind for a in alerts} == {
        "sensitive-export",
        "sensitive-access",
        "sensitive-redact",
        "decision-override",
    }
    assert all(a.vouched for a in alerts)


# (name, SQL with {placeholders} of Used, the words verify must say)
CHANGES: list[tuple[str, str, str]] = [
    # users
    ("user role", "UPDATE users SET role='admin' WHERE username='{officer}'", "user {officer} differs from the log in role"),
    ("user deleted", "DELETE FROM users WHERE username='{ia}'", "user {ia} is on the log but not in the tables"),
    ("user inserted", "INSERT INTO users (username, role, active, created_at) VALUES ('mallory','admin',1,'x')", "user mallory is in the tables but no event made it"),
    # cases and members
    ("case flags", "UPDATE cases SET flags='' WHERE number='{number}'", "case {number} differs from the log in flags"),
    ("case status", "UPDATE cases SET status='closed' WHERE number='{number}'", "case {number} differs from the log in status"),
    ("case deleted", "DELETE FROM cases WHERE number='{number}'", "case {number} is on the log but not in the tables"),
    ("case inserted", "INSERT INTO cases (number, title, status, flags, created_at) VALUES ('C-X','','open','','x')", "case C-X is in the tables but no event made it"),
    ("member deleted", "DELETE FROM case_members", "case {number} differs from the log in members"),
    ("member inserted", "INSERT INTO case_members (case_id, user_id, reach_restored) SELECT c.id, u.id, 0 FROM cases c, users u WHERE c.number='{number}' AND u.username='{rec}'", "case {number} differs from the log in members"),
    ("reach restored", "UPDATE case_members SET reach_restored=1", "case {number} differs from the log in restored"),
    # evidence and its flags
    ("evidence hash", "UPDATE evidence SET sha256='{zeros}' WHERE id='{ev}'", "evidence {ev} differs from the log in sha256"),
    ("evidence officer", "UPDATE evidence SET officer_id=NULL WHERE id='{ev}'", "evidence {ev} differs from the log in officer"),
    ("evidence deleted", "DELETE FROM evidence WHERE id='{ev2}'", "evidence {ev2} is on the log but not in the tables"),
    ("evidence inserted", "INSERT INTO evidence (id, case_id, sha256, size, ingested_at, ingested_by, original_name, media) SELECT 'EV-X', case_id, '{zeros}', 1, 'x', ingested_by, 'x', media FROM evidence WHERE id='{ev}'", "evidence EV-X is in the tables but no event made it"),
    ("evidence flag deleted", "DELETE FROM evidence_flags WHERE evidence_id='{ev}'", "evidence {ev} differs from the log in flags"),
    ("evidence flag edited", "UPDATE evidence_flags SET flag='victim' WHERE evidence_id='{ev}'", "evidence {ev} differs from the log in flags"),
    ("evidence flag inserted", "INSERT INTO evidence_flags (evidence_id, flag) VALUES ('{ev2}', 'minor')", "evidence {ev2} differs from the log in flags"),
    # exports
    ("export recipient", "UPDATE exports SET recipient='Deputy DA Ruiz' WHERE id='{ex}'", "export {ex} differs from the log in recipient"),
    ("export lineage", "UPDATE exports SET lineage='{{}}' WHERE id='{ex}'", "export {ex} differs from the log in lineage_sha256"),
    ("export deleted", "DELETE FROM exports WHERE id='{ex}'", "export {ex} is on the log but not in the tables"),
    ("export inserted", "INSERT INTO exports SELECT 'EX-X', evidence_id, recipient, purpose, actor, created_at, start_s, end_s, width, height, visible_mark, key_version, output_sha256, output_size, lineage, audit_seq FROM exports WHERE id='{ex}'", "export EX-X is in the tables but no event made it"),
    # requests
    ("request kind", "UPDATE requests SET kind='prosecutor' WHERE id='{rq}'", "request {rq} differs from the log in kind"),
    ("request due", "UPDATE requests SET due='2099-01-01' WHERE id='{rq}'", "request {rq} differs from the log in due"),
    ("request critical incident", "UPDATE requests SET critical_incident=1 WHERE id='{rq}'", "request {rq} differs from the log in critical_incident"),
    ("request deleted", "DELETE FROM requests WHERE id='{rq2}'", "request {rq2} is on the log but not in the tables"),
    ("request inserted", "INSERT INTO requests SELECT 'RQ-X', case_id, requester, kind, received_at, evidence, ranges, misconduct_complaint, allegation_on, incident_on, critical_incident, due, actor, created_at FROM requests WHERE id='{rq}'", "request RQ-X is in the tables but no event made it"),
    # decisions
    ("decision outcome", "UPDATE decisions SET outcome='release' WHERE id='{dc2}'", "decision {dc2} differs from the log in outcome"),
    ("decision document", "UPDATE decisions SET decision='{{\"release\": {{\"evidence\": \"all\"}}}}' WHERE id='{dc}'", "decision {dc} differs from the log in document_sha256"),
    ("decision deleted", "DELETE FROM decisions WHERE id='{dc2}'", "decision {dc2} is on the log but not in the tables"),
    ("decision inserted", "INSERT INTO decisions SELECT 'DC-X', request_id, decided_at, decider, 'release', proposed_outcome, NULL, pack_name, pack_sha256, facts, decision, audit_seq FROM decisions WHERE id='{dc}'", "decision DC-X is in the tables but no event made it"),
    # releases
    ("release manifest", "UPDATE releases SET manifest='{{\"files\": []}}' WHERE id='{rl}'", "release {rl} differs from the log in files, manifest_sha256"),
    ("release deleted", "DELETE FROM releases WHERE id='{rl}'", "release {rl} is on the log but not in the tables"),
    ("release inserted", "INSERT INTO releases SELECT 'RL-X', request_id, decision_id, created_at, actor, manifest, audit_seq FROM releases WHERE id='{rl}'", "release RL-X is in the tables but no event made it"),
    # derivatives
    ("derivative frames", "UPDATE derivatives SET frames_redacted=0 WHERE id='{rd}'", "derivative {rd} differs from the log in frames_redacted"),
    ("derivative lineage", "UPDATE derivatives SET lineage='{{\"operations\": []}}' WHERE id='{rd}'", "derivative {rd} differs from the log in lineage_sha256"),
    ("derivative deleted", "DELETE FROM derivatives WHERE id='{rd}'", "derivative {rd} is on the log but not in the tables"),
    ("derivative inserted", "INSERT INTO derivatives SELECT 'RD-X', evidence_id, kind, created_at, actor, sha256, sidecar_sha256, frames_redacted, lineage, audit_seq FROM derivatives WHERE id='{rd}'", "derivative RD-X is in the tables but no event made it"),
    # traces
    ("trace verdict", "UPDATE traces SET verdict='no-export-matched' WHERE id='{tr}'", "trace {tr} differs from the log in verdict"),
    ("trace result", "UPDATE traces SET result='{{}}' WHERE id='{tr}'", "trace {tr} differs from the log in result_sha256"),
    ("trace deleted", "DELETE FROM traces WHERE id='{tr}'", "trace {tr} is on the log but not in the tables"),
    ("trace inserted", "INSERT INTO traces SELECT 'TR-X', actor, created_at, leak_sha256, leak_name, verdict, evidence_id, result, audit_seq FROM traces WHERE id='{tr}'", "trace TR-X is in the tables but no event made it"),
    # alerts
    ("alert reason", "UPDATE alerts SET reason='routine' WHERE kind='sensitive-export'", "differs from the log in reason"),
    ("alert deleted", "DELETE FROM alerts WHERE kind='sensitive-access'", "to internal-affairs is on the log but not in the tables"),
    ("alert inserted", "INSERT INTO alerts (at, audience, kind, actor, case_number, evidence_id, reason, audit_seq) VALUES ('x', 'internal-affairs', 'sensitive-access', 'admin', '{number}', '{ev}', 'x', 3)", "alert of event 3 to internal-affairs is in the tables but no event made it"),
    # the log's own tables
    ("checkpoint time", "UPDATE checkpoints SET created_at='2001-01-01T00:00:00+00:00' WHERE size=(SELECT max(size) FROM checkpoints)", "checkpoint-time"),
    ("checkpoint time later", "UPDATE checkpoints SET created_at='2999-01-01T00:00:00+00:00' WHERE size=(SELECT min(size) FROM checkpoints)", "after the time of a larger checkpoint"),
    ("checkpoint note", "UPDATE checkpoints SET note=replace(note, 'custodes', 'kustodes') WHERE size=(SELECT min(size) FROM checkpoints)", "checkpoint-signature"),
    ("event edited", "UPDATE audit_events SET actor='nobody' WHERE seq=2", "event 2"),
    ("event deleted", "DELETE FROM audit_events WHERE seq=(SELECT max(seq) FROM audit_events)", "log"),
    ("log state", "UPDATE log_state SET size=size+1", "log-state-mismatch"),
]  # fmt: skip


@pytest.mark.parametrize(("name", "sql", "said"), CHANGES, ids=[c[0] for c in CHANGES])
def test_verify_names_every_changed_row_of_every_table(
    used: Used, copy: bootstrap.Vault, name: str, sql: str, said: str
) -> None:
    values = {**vars(used), "zeros": "0" * 64}
    _sql(copy, sql.format(**values))
    named = _named(copy)
    assert any(said.format(**values) in p for p in named), named


def _refused(vault: bootstrap.Vault) -> list[str]:
    with vault.uow(readonly=True) as uow:
        events = list_events(uow.conn)
    return [e["action"] for e in events if e["details"].get("code") == "IntegrityFailure"]


def test_deciding_refuses_an_altered_request_on_record(used: Used, copy: bootstrap.Vault) -> None:
    _sql(copy, f"UPDATE requests SET kind='prosecutor' WHERE id='{used.rq2}'")
    with pytest.raises(IntegrityFailure, match=f"request {used.rq2}: .* in kind"):
        requests.decide_request(copy, used.rec, used.rq2)
    assert _refused(copy) == ["access-refused"]


def test_releasing_refuses_an_altered_request_on_record(
    used: Used, copy: bootstrap.Vault, tmp_path: Path
) -> None:
    _sql(copy, f"UPDATE requests SET ranges='[]' WHERE id='{used.rq}'")
    with pytest.raises(IntegrityFailure, match=f"request {used.rq}: .* in ranges"):
        requests.release_request(copy, used.rec, used.rq, tmp_path / "pkg")
    assert _refused(copy) == ["release-refused"]
    assert not (tmp_path / "pkg").exists()


def test_releasing_refuses_an_altered_decision_on_record(
    used: Used, copy: bootstrap.Vault, tmp_path: Path
) -> None:
    # A denial turned into a release on the database file.
    _sql(copy, f"UPDATE decisions SET outcome='release' WHERE id='{used.dc2}'")
    with pytest.raises(IntegrityFailure, match=f"decision {used.dc2}: .* in outcome"):
        requests.release_request(copy, used.rec, used.rq2, tmp_path / "pkg")
    assert _refused(copy) == ["release-refused"]


def test_releasing_refuses_a_decision_whose_later_denial_was_deleted(
    used: Used, copy: bootstrap.Vault, tmp_path: Path
) -> None:
    # The request released earlier is denied afterwards; deleting the denial's row
    # would let the earlier decision stand again.
    requests.decide_request(copy, used.rec, used.rq, override="deny", reason="court order")
    _sql(copy, f"DELETE FROM decisions WHERE request_id='{used.rq}' AND outcome='deny'")
    with pytest.raises(IntegrityFailure, match="the last decision on the signed log is"):
        requests.release_request(copy, used.rec, used.rq, tmp_path / "pkg")
    assert _refused(copy) == ["release-refused"]


def test_an_altered_alert_is_listed_as_unvouched(used: Used, copy: bootstrap.Vault) -> None:
    _sql(copy, "UPDATE alerts SET reason='routine' WHERE kind='sensitive-export'")
    listed = {a.kind: a.vouched for a in evidence.list_alerts(copy, used.ia)}
    assert listed["sensitive-export"] is False
    assert listed["sensitive-access"] is True


# Listings hold their rows against the log: an edited row neither appears where it does
# not belong nor hides from where it does; the listing is refused, on record.
LISTINGS = [
    (
        "evidence moved to another case",
        "UPDATE evidence SET case_id=(SELECT case_id FROM evidence WHERE id='{ev2}') WHERE id='{ev}'",
        lambda v, u: evidence.list_evidence(v, "admin", u.number),
        "evidence {ev} is on the log but not in the tables",
    ),
    (
        "evidence flag removed",
        "DELETE FROM evidence_flags WHERE evidence_id='{ev}'",
        lambda v, u: evidence.list_evidence(v, "admin"),
        "evidence {ev} differs from the log in flags",
    ),
    (
        "case unflagged",
        "UPDATE cases SET flags='' WHERE number='{number}'",
        lambda v, u: cases.list_cases(v, "admin"),
        "case {number} differs from the log in flags",
    ),
    (
        "export recipient",
        "UPDATE exports SET recipient='Deputy DA Ruiz' WHERE id='{ex}'",
        lambda v, u: exports.list_exports(v, "admin"),
        "export {ex} differs from the log in recipient",
    ),
    (
        "export deleted",
        "DELETE FROM exports WHERE id='{ex}'",
        lambda v, u: exports.list_exports(v, "admin", u.ev),
        "export {ex} is on the log but not in the tables",
    ),
    (
        "request requester",
        "UPDATE requests SET requester='Nobody' WHERE id='{rq}'",
        lambda v, u: requests.list_requests(v, u.rec),
        "request {rq} differs from the log in requester",
    ),
    (
        "event column edited",
        "UPDATE audit_events SET evidence_id='{ev2}' WHERE action='view' AND evidence_id='{ev}'",
        lambda v, u: events.list_audit(v, "admin", evidence_id=u.ev2),
        "is not of what was asked for, by its signed entry",
    ),
    (
        "denial deleted",
        "DELETE FROM decisions WHERE id='{dc2}'",
        lambda v, u: requests.list_requests(v, u.rec, open_only=True),
        "request {rq2}: its standing decision differs from the log",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("name", "sql", "listing", "said"), LISTINGS, ids=[x[0] for x in LISTINGS])
def test_listings_refuse_rows_the_log_does_not_vouch_for(
    used: Used, copy: bootstrap.Vault, name: str, sql: str, listing, said: str
) -> None:
    values = {**vars(used), "zeros": "0" * 64}
    listing(copy, used)  # as used, the listing is vouched for
    _sql(copy, sql.format(**values))
    with pytest.raises(IntegrityFailure, match="refusing to list") as caught:
        listing(copy, used)
    assert said.format(**values) in str(caught.value)
    assert _refused(copy) == ["access-refused"]


def test_a_requests_history_is_refused_when_a_decision_row_is_gone(
    used: Used, copy: bootstrap.Vault
) -> None:
    assert [d.decision_id for d in requests.show_request(copy, used.rec, used.rq2).decisions] == [
        used.dc2
    ]
    _sql(copy, f"DELETE FROM decisions WHERE id='{used.dc2}'")
    with pytest.raises(IntegrityFailure, match=f"decision {used.dc2} is on the log but not"):
        requests.show_request(copy, used.rec, used.rq2)
    assert _refused(copy) == ["access-refused"]


def test_an_older_decision_moved_forward_in_time_does_not_stand(
    used: Used, copy: bootstrap.Vault, tmp_path: Path
) -> None:
    """``decided_at`` is not on the log; which decision stands is the log's order."""
    requests.decide_request(copy, used.rec, used.rq, override="deny", reason="court order")
    _sql(copy, f"UPDATE decisions SET decided_at='2999-01-01' WHERE id='{used.dc}'")
    with pytest.raises(IntegrityFailure, match="the last decision on the signed log is"):
        requests.show_request(copy, used.rec, used.rq)
    with pytest.raises(IntegrityFailure, match="the last decision on the signed log is"):
        requests.release_request(copy, used.rec, used.rq, tmp_path / "pkg")


def test_releasing_refuses_an_altered_redaction_on_record(
    used: Used, copy: bootstrap.Vault, tmp_path: Path
) -> None:
    _sql(copy, f"UPDATE derivatives SET lineage='{{\"operations\": []}}' WHERE id='{used.rd}'")
    with pytest.raises(IntegrityFailure, match=f"derivative {used.rd}: .* in lineage_sha256"):
        requests.release_request(copy, used.rec, used.rq, tmp_path / "pkg", redactions=[used.rd])
    assert _refused(copy) == ["release-refused"]
