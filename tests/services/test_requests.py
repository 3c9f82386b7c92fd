"""Release requests through the policy pack: record, propose, accept, override, review."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from sqlalchemy import func, select

from custodes.bootstrap import Vault
from custodes.core.errors import CustodesError, InvalidInput, NotFound, PermissionDenied
from custodes.services import cases, evidence, requests
from custodes.services.audit import list_events
from custodes.storage import tables as t
from tests.factories import add_case, add_user


@pytest.fixture
def world(sqlite_vault: Vault, clips: dict[str, Path]):
    vault = sqlite_vault
    rec = add_user(vault, "records")
    number = add_case(vault, status="pending-prosecution")
    ev = evidence.ingest(vault, rec, clips["a"], number)
    return vault, rec, number, ev["evidence_id"]


def _count(vault: Vault, table) -> int:
    with vault.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar() or 0)


def test_request_hold_then_release_after_adjudication(world) -> None:
    vault, rec, number, ev = world
    r = requests.add_request(
        vault,
        rec,
        number,
        requester="Denver Post",
        kind="press",
        evidence=[ev],
        received_at="2026-11-20",
    )
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", r["due"])
    proposal = requests.decide_request(vault, rec, r["request_id"])
    assert proposal["outcome"] == "hold" and proposal["recorded"] is False
    assert proposal["rules"][0]["citation"].startswith("C.R.S.")
    assert proposal["review_at"] is not None
    assert _count(vault, t.decisions) == 0
    again = requests.decide_request(vault, rec, r["request_id"])
    assert again["rules"] == proposal["rules"]  # same facts, same pack: same outcome
    accepted = requests.decide_request(vault, rec, r["request_id"], accept=True)
    assert accepted["outcome"] == "hold" and accepted["recorded"]
    cases.set_case(vault, rec, number, status="adjudicated")
    reviewed = requests.review_due(vault, rec)
    assert [(x["request_id"], x["proposed"], x["changed"]) for x in reviewed] == [
        (r["request_id"], "release", True)
    ]
    shown = requests.show_request(vault, rec, r["request_id"])
    assert shown["decision"]["outcome"] == "hold"
    with vault.uow(readonly=True) as uow:
        actions = [e["action"] for e in list_events(uow.conn, case_number=number)]
    assert "request-add" in actions and "request-decide" in actions
    assert "hold-review" in actions


def test_override_needs_reason_and_alerts(world) -> None:
    vault, rec, number, ev = world
    ia = add_user(vault, "internal-affairs")
    r = requests.add_request(vault, rec, number, requester="J. Doe", kind="public")
    with pytest.raises(InvalidInput, match="written reason"):
        requests.decide_request(vault, rec, r["request_id"], override="release")
    out = requests.decide_request(
        vault, rec, r["request_id"], override="release", reason="mayor's office asked"
    )
    assert out["override"] and out["outcome"] == "release" and out["proposed_outcome"] == "hold"
    alerts = sorted((a["kind"], a["audience"]) for a in evidence.list_alerts(vault, ia))
    assert alerts == [("decision-override", "command"), ("decision-override", "internal-affairs")]


def test_decisions_outside_the_rules_are_refused(world) -> None:
    vault, rec, number, ev = world
    sup = add_user(vault, "supervisor")
    r = requests.add_request(vault, rec, number, requester="KUSA", kind="press")
    with pytest.raises(PermissionDenied):
        requests.decide_request(vault, sup, r["request_id"], override="release", reason="I say so")
    assert _count(vault, t.decisions) == 0
    with vault.uow(readonly=True) as uow:
        last = list_events(uow.conn)[-1]
    assert last["action"] == "access-refused" and last["actor"] == sup


@pytest.mark.parametrize(
    ("kwargs", "error", "needle"),
    [
        ({"case_number": "NOPE"}, NotFound, "no case"),
        ({"kind": "tabloid"}, InvalidInput, "unknown requester kind"),
        ({"received_at": "2099-01-01"}, InvalidInput, "in the future"),
        ({"received_at": "yesterday"}, InvalidInput, "not a date"),
        ({"ranges": ["90-30"]}, InvalidInput, "start must be"),
        ({"requester": "  "}, InvalidInput, "--requester"),
    ],
)
def test_bad_requests_leave_nothing(world, kwargs, error, needle) -> None:
    vault, rec, number, ev = world
    args = {"case_number": number, "requester": "X", "kind": "press", **kwargs}
    case_number = args.pop("case_number")
    with pytest.raises(error, match=needle):
        requests.add_request(vault, rec, case_number, **args)
    assert _count(vault, t.requests) == 0
    with vault.uow(readonly=True) as uow:
        assert list_events(uow.conn)[-1]["action"] == "access-refused"


def test_evidence_of_another_case_is_refused(world, clips) -> None:
    vault, rec, number, ev = world
    other = add_case(vault)
    other_ev = evidence.ingest(vault, rec, clips["b"], other)["evidence_id"]
    with pytest.raises(InvalidInput, match=f"belongs to case {other}"):
        requests.add_request(vault, rec, number, requester="X", kind="press", evidence=[other_ev])
    assert _count(vault, t.requests) == 0


def test_expired_pack_is_refused(world, tmp_path: Path, monkeypatch) -> None:
    vault, rec, number, ev = world
    text = (Path(requests.__file__).parents[1] / "packs" / "colorado.yaml").read_text()
    expired = re.sub(r"expires: *[0-9-]+", "expires: 2020-01-01", text)
    expired = re.sub(r"effective_from: *[0-9-]+", "effective_from: 2019-01-01", expired)
    pack = tmp_path / "old.yaml"
    pack.write_text(expired)
    monkeypatch.setattr(vault.settings, "policy_pack", str(pack))
    with pytest.raises(CustodesError, match=r"expire|in force"):
        requests.add_request(vault, rec, number, requester="X", kind="press")
    assert _count(vault, t.requests) == 0


def test_evidence_flags_feed_the_pack(world) -> None:
    vault, rec, number, ev = world
    out = requests.set_evidence_flags(vault, rec, ev, flag=["minor"])
    assert out["flags"] == ["minor"]
    with pytest.raises(InvalidInput, match="unknown evidence flag"):
        requests.set_evidence_flags(vault, rec, ev, flag=["celebrity"])
    cases.set_case(vault, rec, number, status="closed")
    r = requests.add_request(vault, rec, number, requester="X", kind="public")
    proposal = requests.decide_request(vault, rec, r["request_id"])
    assert proposal["facts"]["evidence_flags"] == ["minor"]
    assert proposal["outcome"] in ("partial", "deny")


def test_letters_say_why_and_how_to_appeal(world, tmp_path: Path) -> None:
    from custodes.core.errors import CustodyConflict

    vault, rec, number, ev = world
    r = requests.add_request(vault, rec, number, requester="Denver Post <b>", kind="press")
    with pytest.raises(CustodyConflict, match="no recorded decision"):
        requests.write_letter(vault, rec, r["request_id"], tmp_path)
    requests.decide_request(vault, rec, r["request_id"], accept=True)
    out = requests.write_letter(vault, rec, r["request_id"], tmp_path)
    html = Path(out["html"]).read_text()
    assert "Denver Post &lt;b&gt;" in html  # outside text is escaped
    assert "C.R.S. 24-72-305" in html and "district court" in html
    assert "review this decision again" in html
    assert Path(out["pdf"]).read_bytes().startswith(b"%PDF")
