"""The policy pack in force: a vault setting on the signed log, set only by an admin,
named by every decision, re-reviewing open requests when it changes (issue 22)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from sqlalchemy import func, select

from custodes import bootstrap
from custodes.bootstrap import Vault
from custodes.config import Settings
from custodes.core.errors import (
    CustodyConflict,
    IntegrityFailure,
    InvalidInput,
    NotFound,
    PermissionDenied,
)
from custodes.services import cases, evidence, policy, requests, verify
from custodes.services.audit import list_events
from custodes.storage import tables as t
from tests.factories import add_case, add_user
from tests.factories.blobs import flip_byte, remove_blob
from tests.factories.packs import builtin_text, expired_pack, pack_sha256, put_in_force

STRICT = """\
# a strict test pack: nothing is released
custodes_pack: 1
name: strict
version: "1"
jurisdiction: Nowhere
effective_from: 2025-01-01
expires: 2030-01-01
disclaimer: A model for review by counsel, not legal advice.
deadline:
  respond_within: {days: 3, count: working, citation: "Sec. 1"}
rules:
  - id: closed
    priority: 10
    citation: "Sec. 2"
    when: 'case_status == "closed"'
    outcome: deny
    reason: Closed.
default:
  outcome: deny
  citation: "Sec. 3"
  reason: Denied.
"""


def _events(vault: Vault, action: str) -> list[dict]:
    with vault.uow(readonly=True) as uow:
        return [e for e in list_events(uow.conn) if e["action"] == action]


def _last_event(vault: Vault) -> dict:
    with vault.uow(readonly=True) as uow:
        return dict(list_events(uow.conn)[-1])


def _count(vault: Vault, table) -> int:
    with vault.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar() or 0)


def _file(folder: Path, text: str, name: str = "pack.yaml") -> Path:
    path = folder / name
    path.write_text(text)
    return path


def test_a_new_vault_starts_with_its_pack_on_record(sqlite_vault: Vault) -> None:
    vault = sqlite_vault
    shown = policy.show_policy(vault, "admin")
    assert (shown.name, shown.source, shown.set_by) == ("colorado", "colorado.yaml", "admin")
    assert shown.sha256 == hashlib.sha256(builtin_text("colorado").encode()).hexdigest()
    (event,) = _events(vault, "policy-set")
    assert event["details"]["sha256"] == shown.sha256 and event["seq"] == shown.seq
    assert event["details"]["name"] == "colorado" and event["details"]["version"]
    assert event["details"]["previous_sha256"] is None
    # Any vault user may see the written policy.
    off = add_user(vault, "officer")
    assert policy.show_policy(vault, off).sha256 == shown.sha256


def test_init_chooses_the_pack_and_a_bad_one_makes_nothing(tmp_path: Path) -> None:
    made = bootstrap.init_vault(Settings(home=tmp_path / "v1"), policy_pack="california")
    try:
        assert policy.show_policy(made, "admin").name == "california"
    finally:
        made.engine.dispose()
    bad = _file(tmp_path, STRICT.replace("outcome: deny\n  citation", "outcom: deny\n  citation"))
    for choice, error in [(str(bad), InvalidInput), ("atlantis", NotFound)]:
        home = tmp_path / f"bad-{error.__name__}"
        with pytest.raises(error):
            bootstrap.init_vault(Settings(home=home), policy_pack=choice)
        assert not home.exists()


def test_an_admin_changes_the_pack_on_record(sqlite_vault: Vault, tmp_path: Path) -> None:
    vault = sqlite_vault
    before = policy.show_policy(vault, "admin")
    out = put_in_force(vault, _file(tmp_path, STRICT), reason="counsel approved strict.yaml")
    assert (out.pack.name, out.pack.version, out.pack.source) == ("strict", "1", "pack.yaml")
    assert out.pack.sha256 == hashlib.sha256(STRICT.encode()).hexdigest()
    assert out.pack.previous_sha256 == before.sha256
    assert policy.show_policy(vault, "admin") == out.pack
    event = _events(vault, "policy-set")[-1]
    assert event["actor"] == "admin" and event["reason"] == "counsel approved strict.yaml"
    assert event["details"]["sha256"] == out.pack.sha256
    assert event["details"]["previous_sha256"] == before.sha256
    assert [p.name for p in policy.policy_history(vault, "admin")] == ["colorado", "strict"]
    # The same pack again changes nothing.
    with pytest.raises(CustodyConflict, match="already in force"):
        put_in_force(vault, _file(tmp_path, STRICT, "again.yaml"))
    assert verify.verify_vault(vault, "admin").ok


@pytest.mark.parametrize("role", ["records", "supervisor", "internal-affairs", "command"])
def test_only_an_admin_changes_the_pack_and_a_refusal_is_on_record(
    sqlite_vault: Vault, role: str
) -> None:
    vault = sqlite_vault
    user = add_user(vault, role)
    before = pack_sha256(vault)
    with pytest.raises(PermissionDenied):
        policy.set_policy(vault, user, "california", "I prefer it")
    last = _last_event(vault)
    assert (last["action"], last["actor"]) == ("access-refused", user)
    assert last["details"]["attempted"] == "vault:policy:set"
    assert pack_sha256(vault) == before


@pytest.mark.parametrize(
    ("make", "error", "needle"),
    [
        (lambda d: _file(d, STRICT.replace("default:", "defualt:")), InvalidInput, "pack.yaml:"),
        (lambda d: _file(d, "a: [unclosed\n"), InvalidInput, "malformed YAML"),
        (lambda d: d / "nope.yaml", NotFound, "no policy pack at"),
        (lambda d: d, InvalidInput, "is a folder"),
        (lambda d: expired_pack(d), InvalidInput, "expired on 2020-01-01"),
        (lambda d: "atlantis", NotFound, "no built-in policy pack 'atlantis'"),
    ],
)
def test_a_bad_pack_changes_nothing(sqlite_vault: Vault, tmp_path: Path, make, error, needle):
    vault = sqlite_vault
    before, events = pack_sha256(vault), _count(vault, t.audit_events)
    blobs = sorted(vault.blobs.iter_hashes())
    with pytest.raises(error, match=needle) as caught:
        put_in_force(vault, make(tmp_path))
    assert "\n" not in str(caught.value)
    assert pack_sha256(vault) == before and _count(vault, t.audit_events) == events
    assert sorted(vault.blobs.iter_hashes()) == blobs


def test_a_change_needs_a_reason(sqlite_vault: Vault) -> None:
    with pytest.raises(InvalidInput, match="reason"):
        policy.set_policy(sqlite_vault, "admin", "california", "  ")


@pytest.fixture
def world(sqlite_vault: Vault, clips: dict[str, Path]):
    """Requests in every state under Colorado's pack: undecided and held on a case pending
    prosecution, a decision to release on an adjudicated case, a denial."""
    vault = sqlite_vault
    rec = add_user(vault, "records")
    pending = add_case(vault, status="pending-prosecution")
    evidence.ingest(vault, rec, clips["a"], pending)
    done = add_case(vault, status="adjudicated")
    evidence.ingest(vault, rec, clips["b"], done)

    def add(number: str) -> str:
        cmd = requests.AddRequest(number, requester="KUSA", kind="press")
        return requests.add_request(vault, rec, cmd).request_id

    ids = {"undecided": add(pending), "held": add(pending), "released": add(done)}
    ids["denied"] = add(pending)
    assert requests.decide_request(vault, rec, ids["held"], accept=True).outcome == "hold"
    decided = requests.decide_request(vault, rec, ids["released"], accept=True)
    assert decided.outcome in ("release", "partial")
    requests.decide_request(vault, rec, ids["denied"], override="deny", reason="court order")
    return vault, rec, ids


def test_a_decision_names_the_pack_it_was_decided_under(world, tmp_path: Path) -> None:
    vault, rec, ids = world
    colorado = pack_sha256(vault)
    shown = requests.show_request(vault, rec, ids["held"])
    assert shown.decision is not None
    assert (shown.decision.pack, shown.decision.pack_sha256) == ("colorado", colorado)
    assert [d.pack_sha256 for d in shown.decisions] == [colorado]
    event = [e for e in _events(vault, "request-decide") if e["details"]["request"] == ids["held"]]
    assert event[0]["details"]["pack_sha256"] == colorado
    proposal = requests.decide_request(vault, rec, ids["undecided"])
    assert proposal.pack_sha256 == colorado
    # Under another pack, new decisions name it; the old one still names its own.
    put_in_force(vault, _file(tmp_path, STRICT))
    strict = pack_sha256(vault)
    again = requests.decide_request(vault, rec, ids["held"], accept=True)
    assert again.pack_sha256 == strict and again.outcome == "deny"
    shown = requests.show_request(vault, rec, ids["held"])
    assert [d.pack_sha256 for d in shown.decisions] == [colorado, strict]


def test_a_new_pack_rereviews_open_requests(world, tmp_path: Path) -> None:
    vault, rec, ids = world
    colorado = pack_sha256(vault)
    out = put_in_force(vault, _file(tmp_path, STRICT))
    # Every open request is re-evaluated (the denial is answered for good) and each
    # whose outcome changes, or whose decision releases something, is to decide again.
    assert out.rereviewed == 3
    assert sorted(out.needs_review) == sorted([ids["undecided"], ids["held"], ids["released"]])
    reviews = {e["object_id"]: e for e in _events(vault, "request-rereview")}
    assert set(reviews) == {ids["undecided"], ids["held"], ids["released"]}
    held = reviews[ids["held"]]["details"]
    assert (held["before"], held["after"], held["changed"]) == ("hold", "deny", True)
    assert held["pack_sha256"] == out.pack.sha256 and held["previous_pack_sha256"] == colorado
    assert reviews[ids["undecided"]]["details"]["before"] == "hold"
    assert reviews[ids["released"]]["actor"] == "admin"
    alerts = [a for a in evidence.list_alerts(vault, rec) if a.kind == "request-rereview"]
    assert len(alerts) == 3 and {a.audience for a in alerts} == {"records"}
    listed = {r.request_id: r for r in requests.list_requests(vault, rec)}
    assert {k for k, r in listed.items() if r.needs_review} == set(out.needs_review)
    assert ids["released"] in {
        r.request_id for r in requests.list_requests(vault, rec, open_only=True)
    }
    # Nothing is released under a decision made under a pack no longer in force...
    with pytest.raises(CustodyConflict, match="no longer in force"):
        requests.release_request(vault, rec, ids["released"], tmp_path / "package")
    last = _last_event(vault)
    assert last["action"] == "release-refused" and "no longer in force" in last["details"]["error"]
    assert not (tmp_path / "package").exists()
    # ... until a records user decides it again: then it no longer needs review.
    requests.decide_request(vault, rec, ids["released"], accept=True)
    assert not requests.show_request(vault, rec, ids["released"]).needs_review
    assert requests.show_request(vault, rec, ids["held"]).needs_review


def test_an_unchanged_outcome_needs_no_review_but_a_release_does(world, tmp_path: Path) -> None:
    vault, rec, ids = world
    # The same rules in another file (another hash): outcomes and deadlines stay.
    text = builtin_text("colorado").replace(
        "# custodes policy pack", "# custodes policy pack (copy)"
    )
    out = put_in_force(vault, _file(tmp_path, text))
    assert out.rereviewed == 3 and out.needs_review == [ids["released"]]
    review = {e["object_id"]: e["details"] for e in _events(vault, "request-rereview")}
    assert review[ids["held"]]["changed"] is False
    assert review[ids["undecided"]]["before"] == review[ids["undecided"]]["after"] == "hold"


def test_tampered_pack_bytes_are_refused(world) -> None:
    vault, rec, ids = world
    sha = pack_sha256(vault)
    flip_byte(vault, sha, 200)
    with pytest.raises(IntegrityFailure, match="no longer match the SHA-256"):
        requests.decide_request(vault, rec, ids["undecided"], accept=True)
    last = _last_event(vault)
    assert last["action"] == "access-refused" and last["details"]["code"] == "IntegrityFailure"
    assert _count(vault, t.decisions) == 3
    with pytest.raises(IntegrityFailure):
        policy.show_policy(vault, rec)
    number = requests.show_request(vault, rec, ids["undecided"]).case
    with pytest.raises(IntegrityFailure):
        requests.add_request(vault, rec, requests.AddRequest(number, requester="X", kind="press"))
    assert _last_event(vault)["action"] == "access-refused"
    report = verify.verify_vault(vault, "admin", blobs=False)
    assert "policy-pack-changed" in report.kinds
    # An admin may put a good pack in force again.
    put_in_force(vault, "california")
    assert requests.decide_request(vault, rec, ids["undecided"]).pack_sha256 == pack_sha256(vault)


def test_missing_pack_bytes_are_named_by_verify(sqlite_vault: Vault) -> None:
    vault = sqlite_vault
    remove_blob(vault, pack_sha256(vault))
    report = verify.verify_vault(vault, "admin", blobs=False)
    assert report.kinds == ["policy-pack-missing"]
    with pytest.raises(IntegrityFailure, match="are missing"):
        policy.show_policy(vault, "admin")


def test_a_case_change_reviews_holds_under_the_pack_in_force(world, tmp_path: Path) -> None:
    vault, rec, ids = world
    put_in_force(vault, _file(tmp_path, STRICT))
    number = requests.show_request(vault, rec, ids["held"]).case
    out = cases.set_case(vault, rec, number, status="closed")
    assert [(h.request_id, h.proposed) for h in out.holds_reviewed] == [(ids["held"], "deny")]
