"""custodes.services.state: rows the signed log does not vouch for are named (issue 22).

The hold-out: on a vault with users, a flagged case, evidence and a copy, every kind of
table the vault acts on is edited, emptied of a row, or given a row no event made, on the
database file itself, and each change is named.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from custodes.bootstrap import Vault
from custodes.services import cases, evidence, exports
from custodes.services.audit import list_events
from custodes.services.state import check_state
from tests.factories import add_case, add_user


def _get(result: Any, key: str) -> Any:
    return result[key] if isinstance(result, dict) else getattr(result, key)


@pytest.fixture
def world(sqlite_vault: Vault, clips: dict[str, Path], tmp_path: Path) -> tuple[Vault, str, str]:
    vault = sqlite_vault
    officer = add_user(vault, "officer")
    number = add_case(vault, members=(officer,))
    ev = _get(evidence.ingest(vault, "admin", clips["a"], number, officer=officer), "evidence_id")
    rec = add_user(vault, "records")
    ia = add_user(vault, "internal-affairs")
    cases.set_case(vault, ia, number, flag=["sensitive"], reason="witness is a minor")
    cmd = exports.ExportEvidence(
        ev, recipient="City Attorney Lowe", purpose="civil claim", out=tmp_path / "copy.mp4"
    )
    out = exports.export_evidence(vault, rec, cmd)
    return vault, ev, _get(out, "export_id")


def _problems(vault: Vault) -> list[tuple[str, str]]:
    with vault.uow(readonly=True) as uow:
        return [(p.kind, p.detail) for p in check_state(uow)]


def _sql(vault: Vault, statement: str, *args: object) -> None:
    if vault.settings.database_url:
        pytest.skip("SQLite only: tampers with the embedded vault's database file")
    db = sqlite3.connect(vault.settings.home / "vault.db")
    db.execute(statement, args)
    db.commit()
    db.close()


def test_a_vault_used_as_designed_is_vouched_for(world) -> None:
    vault, _, _ = world
    assert _problems(vault) == []


EDITS: list[tuple[str, Callable[[str, str], tuple[str, tuple[object, ...]]], str, str]] = [
    (
        "recipient",
        lambda ev, ex: ("UPDATE exports SET recipient = 'Deputy DA Ruiz' WHERE id = ?", (ex,)),
        "state-row-altered",
        "export {ex} differs from the log in recipient",
    ),
    (
        "export deleted",
        lambda ev, ex: ("DELETE FROM exports WHERE id = ?", (ex,)),
        "state-row-missing",
        "export {ex} is on the log but not in the tables",
    ),
    (
        "officer made admin",
        lambda ev, ex: ("UPDATE users SET role = 'admin' WHERE role = 'officer'", ()),
        "state-row-altered",
        "differs from the log in role",
    ),
    (
        "sensitive flag removed",
        lambda ev, ex: ("UPDATE cases SET flags = '' WHERE flags = 'sensitive'", ()),
        "state-row-altered",
        "differs from the log in flags",
    ),
    (
        "user inserted",
        lambda ev, ex: (
            "INSERT INTO users (username, role, active, created_at) "
            "VALUES ('mallory', 'admin', 1, '2026-01-01')",
            (),
        ),
        "state-row-unlogged",
        "user mallory is in the tables but no event made it",
    ),
    (
        "evidence hash",
        lambda ev, ex: ("UPDATE evidence SET sha256 = ? WHERE id = ?", ("0" * 64, ev)),
        "state-row-altered",
        "evidence {ev} differs from the log in sha256",
    ),
    (
        "evidence flag inserted",
        lambda ev, ex: (
            "INSERT INTO evidence_flags (evidence_id, flag) VALUES (?, 'minor')",
            (ev,),
        ),
        "state-row-altered",
        "evidence {ev} differs from the log in flags",
    ),
    (
        "member removed",
        lambda ev, ex: ("DELETE FROM case_members", ()),
        "state-row-altered",
        "differs from the log in members",
    ),
]


@pytest.mark.parametrize(("name", "edit", "kind", "detail"), EDITS, ids=[e[0] for e in EDITS])
def test_every_edit_to_the_tables_is_named(world, name, edit, kind, detail) -> None:
    vault, ev, ex = world
    statement, args = edit(ev, ex)
    _sql(vault, statement, *args)
    found = _problems(vault)
    assert any(k == kind and detail.format(ev=ev, ex=ex) in d for k, d in found), found


def test_verify_names_the_row_and_fails(world) -> None:
    from custodes.services import verify

    vault, ev, ex = world
    assert verify.verify_vault(vault, "admin").ok
    _sql(vault, "UPDATE exports SET recipient = 'Deputy DA Ruiz' WHERE id = ?", ex)
    report = verify.verify_vault(vault, "admin")
    assert not report.ok
    assert [p["detail"] for p in report.problems] == [
        f"export {ex} differs from the log in recipient"
    ]


def test_use_cases_refuse_to_act_on_rows_the_log_does_not_vouch_for(world) -> None:
    """Authorization reads the state the log vouches for: an officer made admin on the
    database file is refused, and so is a case stripped of its `sensitive` flag; both
    refusals are on record."""
    from custodes.core.errors import IntegrityFailure
    from custodes.services import cases, evidence

    vault, ev, ex = world
    officer = next(u.username for u in users_of(vault) if u.role.value == "officer")
    _sql(vault, "UPDATE users SET role = 'admin' WHERE username = ?", officer)
    differs = "it differs from its signed events in"
    with pytest.raises(IntegrityFailure, match=f"user {officer}: {differs} role"):
        cases.list_cases(vault, officer)
    _sql(vault, "UPDATE users SET role = 'officer' WHERE username = ?", officer)
    number = evidence.list_evidence(vault, "admin")[0].case
    _sql(vault, "UPDATE cases SET flags = '' WHERE number = ?", number)
    with pytest.raises(IntegrityFailure, match=f"case {number}: {differs} flags"):
        evidence.open_evidence(vault, "admin", ev)
    with pytest.raises(IntegrityFailure, match=f"case {number}: {differs} flags"):
        cases.show_case(vault, "admin", number)
    with vault.uow(readonly=True) as uow:
        refused = [
            e for e in list_events(uow.conn) if e["details"].get("code") == "IntegrityFailure"
        ]
    assert [e["details"]["attempted"] for e in refused][:1] == ["identify"]
    assert len(refused) == 3


def users_of(vault: Vault):
    with vault.uow(readonly=True) as uow:
        return uow.users.list()
