"""Release requests through the policy pack: record, propose, accept, override, review."""

from __future__ import annotations

import math
import re
from datetime import UTC, date, datetime
from html import unescape
from pathlib import Path

import pytest
from sqlalchemy import func, select

from custodes.bootstrap import Vault
from custodes.core.errors import CustodesError, InvalidInput, NotFound, PermissionDenied
from custodes.services import cases, evidence, requests
from custodes.services.audit import list_events
from custodes.storage import tables as t
from tests.factories import add_case, add_user
from tests.factories.blobs import remove_blob
from tests.factories.packs import expired_pack, pack_sha256, put_in_force


@pytest.fixture
def world(sqlite_vault: Vault, clips: dict[str, Path]):
    vault = sqlite_vault
    rec = add_user(vault, "records")
    number = add_case(vault, status="pending-prosecution")
    ev = evidence.ingest(vault, rec, clips["a"], number)
    return vault, rec, number, ev.evidence_id


def _add(vault: Vault, actor: str, number: str, **kwargs) -> requests.RequestAdded:
    return requests.add_request(vault, actor, requests.AddRequest(number, **kwargs))


def _count(vault: Vault, table) -> int:
    with vault.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar() or 0)


def test_request_hold_then_release_after_adjudication(world) -> None:
    vault, rec, number, ev = world
    r = _add(
        vault,
        rec,
        number,
        requester="Denver Post",
        kind="press",
        evidence=[ev],
        received_at=date(2026, 11, 20),
    )
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", r.due.isoformat())
    proposal = requests.decide_request(vault, rec, r.request_id)
    assert proposal.outcome == "hold" and proposal.recorded is False
    assert str(proposal.rules[0]["citation"]).startswith("C.R.S.")
    assert proposal.review_at is not None
    assert _count(vault, t.decisions) == 0
    again = requests.decide_request(vault, rec, r.request_id)
    assert again.rules == proposal.rules  # same facts, same pack: same outcome
    accepted = requests.decide_request(vault, rec, r.request_id, accept=True)
    assert accepted.outcome == "hold" and accepted.recorded
    cases.set_case(vault, rec, number, status="adjudicated")
    reviewed = requests.review_due(vault, rec)
    assert [(x.request_id, x.proposed, x.changed) for x in reviewed] == [
        (r.request_id, "release", True)
    ]
    shown = requests.show_request(vault, rec, r.request_id)
    assert shown.decision is not None and shown.decision.outcome == "hold"
    with vault.uow(readonly=True) as uow:
        actions = [e["action"] for e in list_events(uow.conn, case_number=number)]
    assert "request-add" in actions and "request-decide" in actions
    assert "hold-review" in actions


def test_override_needs_reason_and_alerts(world) -> None:
    vault, rec, number, ev = world
    ia = add_user(vault, "internal-affairs")
    r = _add(vault, rec, number, requester="J. Doe", kind="public")
    with pytest.raises(InvalidInput, match="written reason"):
        requests.decide_request(vault, rec, r.request_id, override="release")
    out = requests.decide_request(
        vault, rec, r.request_id, override="release", reason="mayor's office asked"
    )
    assert isinstance(out, requests.Decided)
    assert out.override and out.outcome == "release" and out.proposed_outcome == "hold"
    alerts = sorted((a.kind, a.audience) for a in evidence.list_alerts(vault, ia))
    assert alerts == [("decision-override", "command"), ("decision-override", "internal-affairs")]


def test_decisions_outside_the_rules_are_refused(world) -> None:
    vault, rec, number, ev = world
    sup = add_user(vault, "supervisor")
    r = _add(vault, rec, number, requester="KUSA", kind="press")
    with pytest.raises(PermissionDenied):
        requests.decide_request(vault, sup, r.request_id, override="release", reason="I say so")
    assert _count(vault, t.decisions) == 0
    with vault.uow(readonly=True) as uow:
        last = list_events(uow.conn)[-1]
    assert last["action"] == "access-refused" and last["actor"] == sup


@pytest.mark.parametrize(
    ("kwargs", "error", "needle"),
    [
        ({"case_number": "NOPE"}, NotFound, "no case"),
        ({"kind": "tabloid"}, InvalidInput, "unknown requester kind"),
        ({"received_at": date(2099, 1, 1)}, InvalidInput, "in the future"),
        ({"ranges": [(90.0, 30.0)]}, InvalidInput, "start must be"),
        (
            {"ranges": [(100.0, 200.0)]},
            InvalidInput,
            r"100-200 is past the end of EV-\w+ \(2.00 s\)",
        ),
        ({"ranges": [(1.0, 2.5)]}, InvalidInput, "past the end"),
        ({"ranges": [(1.0, math.inf)]}, InvalidInput, "finite"),
        ({"received_at": date(1, 1, 1)}, InvalidInput, "more than ten years ago"),
        ({"requester": "  "}, InvalidInput, "^requester must be printable"),
    ],
)
def test_bad_requests_leave_nothing(world, kwargs, error, needle) -> None:
    vault, rec, number, ev = world
    args = {"case_number": number, "requester": "X", "kind": "press", **kwargs}
    case_number = args.pop("case_number")
    with pytest.raises(error, match=needle):
        _add(vault, rec, case_number, **args)
    assert _count(vault, t.requests) == 0
    with vault.uow(readonly=True) as uow:
        # Bad input is on record, but it is not a refusal of access (issue 22).
        action = "input-refused" if error is InvalidInput else "access-refused"
        assert list_events(uow.conn)[-1]["action"] == action


def test_evidence_of_another_case_is_refused(world, clips) -> None:
    vault, rec, number, ev = world
    other = add_case(vault)
    other_ev = evidence.ingest(vault, rec, clips["b"], other).evidence_id
    with pytest.raises(InvalidInput, match=f"belongs to case {other}"):
        _add(vault, rec, number, requester="X", kind="press", evidence=[other_ev])
    assert _count(vault, t.requests) == 0
    with vault.uow(readonly=True) as uow:
        last = list_events(uow.conn)[-1]
    # The refusal is on the record of the evidence named, under the case asked about.
    assert (last["action"], last["evidence"], last["case"]) == ("input-refused", other_ev, number)
    # A case the actor may not see is not named.
    ia = add_user(vault, "internal-affairs")
    cases.set_case(vault, ia, other, flag=["ia-investigation"], reason="complaint")
    with pytest.raises(InvalidInput, match="belongs to another case") as caught:
        _add(vault, rec, number, requester="X", kind="press", evidence=[other_ev])
    assert other not in str(caught.value)


def test_expired_pack_is_refused(world, tmp_path: Path) -> None:
    vault, rec, number, ev = world
    # Put in force while it was current; it has expired since.
    put_in_force(vault, expired_pack(tmp_path), on=datetime(2019, 6, 1, tzinfo=UTC))
    with pytest.raises(CustodesError, match=r"expire|in force"):
        _add(vault, rec, number, requester="X", kind="press")
    assert _count(vault, t.requests) == 0


def test_evidence_flags_feed_the_pack(world) -> None:
    vault, rec, number, ev = world
    out = requests.set_evidence_flags(vault, rec, ev, flag=["minor"], reason="seen on review")
    assert out.flags == ["minor"]
    with pytest.raises(InvalidInput, match="unknown evidence flag"):
        requests.set_evidence_flags(vault, rec, ev, flag=["celebrity"], reason="seen on review")
    cases.set_case(vault, rec, number, status="closed")
    r = _add(vault, rec, number, requester="X", kind="public")
    proposal = requests.decide_request(vault, rec, r.request_id)
    assert proposal.facts["evidence_flags"] == ["minor"]
    assert proposal.outcome in ("partial", "deny")


def test_letters_say_why_and_how_to_appeal(world, tmp_path: Path) -> None:
    from custodes.core.errors import CustodyConflict

    vault, rec, number, ev = world
    r = _add(vault, rec, number, requester="Denver Post <b>", kind="press")
    with pytest.raises(CustodyConflict, match="no recorded decision"):
        requests.write_letter(vault, rec, r.request_id, tmp_path)
    requests.decide_request(vault, rec, r.request_id, accept=True)
    out = requests.write_letter(vault, rec, r.request_id, tmp_path)
    html = Path(out.html).read_text()
    assert "Denver Post &lt;b&gt;" in html  # outside text is escaped
    assert "C.R.S. 24-72-305" in html and "district court" in html
    assert "review this decision again" in html
    assert Path(out.pdf).read_bytes().startswith(b"%PDF")


def _reasons(html: str) -> list[tuple[str, str | None]]:
    """The letter's reasons and the citation printed beside each."""
    section = html.split("<h2>The reasons and the law</h2>", 1)[1].split("</ul>", 1)[0]
    out = []
    for item in re.findall(r"<li>(.*?)</li>", section, re.S):
        cited = re.search(r" <i>\((.*)\)</i>$", item, re.S)
        text = item[: cited.start()] if cited else item
        out.append((unescape(" ".join(text.split())), unescape(cited.group(1)) if cited else None))
    return out


@pytest.mark.parametrize(
    ("pack", "more"),
    [("colorado", {}), ("california", {"critical_incident": True})],
)
def test_each_reason_in_the_letter_beside_its_own_rule(
    world, tmp_path: Path, pack: str, more: dict
) -> None:
    from custodes.storage.packs import builtin_pack

    vault, rec, number, ev = world
    if pack != "colorado":  # the vault starts with colorado in force
        put_in_force(vault, pack)
    rules = {r.id: r for r in builtin_pack(pack).rules}
    rules["default"] = builtin_pack(pack).default
    requests.set_evidence_flags(
        vault, rec, ev, flag=["bystander-face", "plate", "minor"], reason="seen on review"
    )
    cases.set_case(vault, rec, number, status="closed")
    r = _add(vault, rec, number, requester="J. Doe", kind="public", **more)
    decided = requests.decide_request(vault, rec, r.request_id, accept=True)
    fired = [str(g["rule"]) for g in decided.grounds if g["kind"] == "rule"]
    assert len(fired) >= 3  # the deciding rule and two redactions, in the reasons' order
    html = Path(requests.write_letter(vault, rec, r.request_id, tmp_path).html).read_text()
    shown = _reasons(html)
    for rule in fired:
        assert (" ".join(rules[rule].reason.split()), rules[rule].citation) in shown, rule


def test_an_override_letter_states_the_decision_made_and_nothing_internal(
    world, tmp_path: Path
) -> None:
    vault, rec, number, ev = world  # the case is pending prosecution: the pack holds
    r = _add(vault, rec, number, requester="J. Doe", kind="public")
    assert requests.decide_request(vault, rec, r.request_id).outcome == "hold"
    requests.decide_request(
        vault, rec, r.request_id, override="release", reason="the mayor's office asked"
    )
    html = Path(requests.write_letter(vault, rec, r.request_id, tmp_path).html).read_text()
    text = " ".join(html.split())
    assert "released in full" in text
    assert "prosecution is pending" not in text  # the reason of the outcome replaced
    assert "mayor" not in text  # the internal reason stays on the record
    assert "notified" not in text and "command staff" not in text
    assert "decided by the records custodian" in text and "proposed another (hold)" in text
    # The internal reason is on the record, and alerted, as before.
    shown = requests.show_request(vault, rec, r.request_id)
    assert shown.decision is not None
    with vault.uow(readonly=True) as uow:
        last = uow.decisions.latest(r.request_id)
    assert last is not None and last.override_reason == "the mayor's office asked"


# --------------------------------------------------------------------------- fact changes


def _held(vault: Vault, rec: str, number: str, **kwargs) -> str:
    """A request on ``number`` whose recorded decision is a hold."""
    r = _add(
        vault,
        rec,
        number,
        requester="Denver Post",
        kind="press",
        received_at=date(2026, 11, 20),
        **kwargs,
    )
    assert requests.decide_request(vault, rec, r.request_id, accept=True).outcome == "hold"
    return r.request_id


def _reviews(vault: Vault, number: str) -> list[dict]:
    with vault.uow(readonly=True) as uow:
        return [
            e for e in list_events(uow.conn, case_number=number) if e["action"] == "hold-review"
        ]


def test_adjudication_re_evaluates_the_hold(world) -> None:
    vault, rec, number, ev = world
    rq = _held(vault, rec, number, evidence=[ev])
    out = cases.set_case(vault, rec, number, status="adjudicated", reason="verdict")
    assert out.warnings == []
    assert [(h.request_id, h.proposed, h.changed) for h in out.holds_reviewed] == [
        (rq, "release", True)
    ]
    trigger = {"case_status": ["pending-prosecution", "adjudicated"]}
    assert out.holds_reviewed[0].trigger == trigger
    (review,) = _reviews(vault, number)
    assert review["actor"] == rec and review["object_id"] == rq
    assert review["details"]["trigger"] == trigger
    assert review["details"]["proposed"] == "release" and review["details"]["rules"]
    # Records is told; deciding stays a person's act: the hold is still the decision.
    (alert,) = evidence.list_alerts(vault, rec)
    assert (alert.kind, alert.audience, alert.case) == ("hold-review", "records", number)
    assert alert.audit_seq == review["seq"] and rq in alert.reason
    shown = requests.show_request(vault, rec, rq).decision
    assert shown is not None and shown.outcome == "hold"
    assert _count(vault, t.decisions) == 1


def test_evidence_flag_that_ends_a_hold_is_reviewed(world) -> None:
    vault, rec, number, ev = world
    rq = _held(vault, rec, number)
    out = requests.set_evidence_flags(vault, rec, ev, flag=["informant"], reason="seen on review")
    assert [(h.request_id, h.proposed) for h in out.holds_reviewed] == [(rq, "deny")]
    assert out.holds_reviewed[0].trigger == {
        "evidence_id": ev,
        "evidence_flags": [[], ["informant"]],
    }
    assert [a.kind for a in evidence.list_alerts(vault, rec)] == ["hold-review"]


def test_closing_the_ia_investigation_re_evaluates_the_hold(sqlite_vault: Vault, clips) -> None:
    vault = sqlite_vault
    rec = add_user(vault, "records")
    ia = add_user(vault, "internal-affairs")
    number = add_case(vault, status="adjudicated", members=(rec,))
    cases.set_case(vault, ia, number, flag=["ia-investigation"], reason="complaint")
    rq = _held(vault, rec, number)
    out = cases.set_case(vault, ia, number, unflag=["ia-investigation"], reason="closed")
    assert [(h.request_id, h.proposed) for h in out.holds_reviewed] == [(rq, "release")]
    assert out.holds_reviewed[0].trigger == {"case_flags": [["ia-investigation"], []]}
    assert _reviews(vault, number)[0]["actor"] == ia


def test_a_change_that_keeps_the_hold_records_nothing(world) -> None:
    vault, rec, number, ev = world
    _held(vault, rec, number)
    flagged = cases.set_case(vault, rec, number, flag=["sensitive"], reason="r")
    assert flagged.holds_reviewed == []
    minor = requests.set_evidence_flags(vault, rec, ev, flag=["minor"], reason="seen on review")
    assert minor.holds_reviewed == []
    assert cases.set_case(vault, rec, number, status="pending-prosecution").changed == []
    assert _reviews(vault, number) == []
    assert evidence.list_alerts(vault, "admin") == []


def test_the_person_changing_the_case_still_needs_their_own_permission(world) -> None:
    vault, rec, number, ev = world
    _held(vault, rec, number)
    prosecutor = add_user(vault, "prosecutor")
    with pytest.raises(PermissionDenied):
        cases.set_case(vault, prosecutor, number, status="adjudicated")
    with vault.uow(readonly=True) as uow:
        last = list_events(uow.conn)[-1]
    assert (last["action"], last["actor"]) == ("access-refused", prosecutor)
    assert _reviews(vault, number) == [] and evidence.list_alerts(vault, "admin") == []
    assert cases.show_case(vault, rec, number).status == "pending-prosecution"
    # A supervisor may set the status without any right over requests: the review that
    # follows is the consequence of the change, not a decision of theirs.
    sup = add_user(vault, "supervisor")
    out = cases.set_case(vault, sup, number, status="adjudicated")
    assert [h.proposed for h in out.holds_reviewed] == ["release"]
    assert _reviews(vault, number)[0]["actor"] == sup


@pytest.mark.parametrize("problem", ["expired", "missing"])
def test_a_bad_pack_never_blocks_a_case_change(world, tmp_path: Path, problem) -> None:
    vault, rec, number, ev = world
    _held(vault, rec, number)
    if problem == "expired":
        put_in_force(vault, expired_pack(tmp_path), on=datetime(2019, 6, 1, tzinfo=UTC))
    else:  # the kept bytes of the pack in force are gone from the blob store
        remove_blob(vault, pack_sha256(vault))
    out = cases.set_case(vault, rec, number, status="adjudicated")
    assert out.status == "adjudicated" and out.holds_reviewed == []
    (warning,) = out.warnings
    assert "not re-evaluated" in warning
    assert ("expired" if problem == "expired" else "are missing") in warning
    assert _reviews(vault, number) == []
    assert [a for a in evidence.list_alerts(vault, "admin") if a.kind == "hold-review"] == []
    assert cases.show_case(vault, rec, number).status == "adjudicated"
    flagged = requests.set_evidence_flags(vault, rec, ev, flag=["informant"], reason="seen")
    assert flagged.flags == ["informant"] and flagged.holds_reviewed == []
    assert len(flagged.warnings) == 1


def test_records_read_only_the_alerts_addressed_to_them(world) -> None:
    vault, rec, number, ev = world
    rq = _held(vault, rec, number)
    requests.decide_request(vault, rec, rq, override="release", reason="court order")
    other = _add(vault, rec, number, requester="X", kind="press").request_id
    requests.decide_request(vault, rec, other, accept=True)
    cases.set_case(vault, rec, number, status="closed")
    assert [a.kind for a in evidence.list_alerts(vault, rec)] == ["hold-review"]
    assert {a.kind for a in evidence.list_alerts(vault, "admin")} == {
        "decision-override",
        "hold-review",
    }


@pytest.mark.parametrize(("flag", "unflag"), [(["minor"], []), ([], ["minor"])])
def test_evidence_flags_need_a_stated_reason(world, flag: list[str], unflag: list[str]) -> None:
    vault, rec, number, ev = world
    if unflag:
        requests.set_evidence_flags(vault, rec, ev, flag=unflag, reason="a child is seen")
    before = requests.set_evidence_flags(vault, rec, ev).flags
    for reason in (None, "  "):
        with pytest.raises(InvalidInput, match=r"needs a stated reason \(reason\)"):
            requests.set_evidence_flags(vault, rec, ev, flag=flag, unflag=unflag, reason=reason)
    assert requests.set_evidence_flags(vault, rec, ev).flags == before
    requests.set_evidence_flags(vault, rec, ev, flag=flag, unflag=unflag, reason="on review")
    with vault.uow(readonly=True) as uow:
        last = list_events(uow.conn, evidence_id=ev)[-1]
    assert (last["action"], last["reason"]) == ("evidence-flag-change", "on review")


def test_command_staff_read_the_alerts_addressed_to_command(world) -> None:
    vault, rec, number, ev = world
    chief = add_user(vault, "command")
    r = _add(vault, rec, number, requester="J. Doe", kind="public")
    requests.decide_request(vault, rec, r.request_id, override="release", reason="asked")
    assert [(a.kind, a.audience) for a in evidence.list_alerts(vault, chief)] == [
        ("decision-override", "command")
    ]
    assert evidence.list_alerts(vault, rec) == []  # records: not theirs
    # Command staff view cases and requests, and touch no footage.
    assert requests.show_request(vault, chief, r.request_id).request_id == r.request_id
    assert cases.show_case(vault, chief, number).case == number
    with pytest.raises(PermissionDenied):
        evidence.open_evidence(vault, chief, ev)
    with pytest.raises(PermissionDenied):
        _add(vault, chief, number, requester="x", kind="press")
