"""Every API route x every role: allowed or refused as the command line would, and every
refusal on the audit log with the session that asked.

The expectations are written out (from docs/security.md's table and case reach) rather
than derived from ``core.authz``, so that a change of either shows here. The case is
open, nobody is assigned to it, and its evidence was ingested by records with no
recording officer: an officer and a prosecutor do not reach it."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from custodes.core.authz import Role
from custodes.services import cases, evidence, uploads, viewings
from custodes.services import requests as req_svc
from tests.web.conftest import ORIGIN, Web

ROLES = ["officer", "supervisor", "records", "prosecutor", "internal-affairs", "admin", "command"]

ALL = dict.fromkeys(ROLES, 200)


def _only(ok: set[str], allowed: int = 200, refused: int = 403) -> dict[str, int]:
    return {r: allowed if r in ok else refused for r in ROLES}


READERS = {"supervisor", "records", "internal-affairs", "admin"}  # vault:audit:read
PROVERS = {"records", "internal-affairs", "admin"}  # vault:audit:prove
INGESTERS = {"supervisor", "records", "admin"}  # case:evidence:ingest, reached
REQUEST_VIEWERS = {"supervisor", "records", "internal-affairs", "command"}
FLAGGERS = {"supervisor", "records"}  # case:evidence:flag
CASE_WRITERS = {"supervisor", "records", "admin"}  # vault:case:add, set-status, assign
# (method, path template, expected status per role[, JSON body]). The writes run last,
# each role's on a case of its own (C-W-role; C-IA is under IA investigation), so that
# they change nothing the reads look at.
MATRIX: list[tuple[str, str, dict[str, int]] | tuple[str, str, dict[str, int], object]] = [
    ("GET", "/api/v1/me", ALL),
    ("GET", "/api/v1/cases", ALL),
    ("GET", "/api/v1/cases/{case}", _only(READERS | {"command"})),
    ("GET", "/api/v1/evidence", ALL),  # a listing leaves out what is not reached
    ("GET", "/api/v1/evidence?case={case}", _only(READERS)),
    ("GET", "/api/v1/evidence/{evidence}", _only(READERS)),
    ("GET", "/api/v1/evidence/{evidence}/flags", _only(FLAGGERS)),
    ("GET", "/api/v1/exports", _only(READERS)),
    ("GET", "/api/v1/evidence/{evidence}/redactions", _only(READERS)),  # case:audit:read
    ("GET", "/api/v1/redactions/RD-NO-SUCH", dict.fromkeys(ROLES, 404)),
    ("GET", "/api/v1/audit/events", _only(READERS)),
    ("GET", "/api/v1/audit/checkpoint", ALL),
    ("GET", "/api/v1/audit/pubkey", ALL),
    ("GET", "/api/v1/audit/proofs/inclusion?seq=0", _only(PROVERS)),
    ("GET", "/api/v1/audit/proofs/consistency?old_size={size}", _only(PROVERS)),
    ("GET", "/api/v1/alerts", _only({"records", "internal-affairs", "admin", "command"})),
    ("GET", "/api/v1/sessions", ALL),  # your own; an admin's: everyone's
    ("GET", "/api/v1/tokens", ALL),
    ("GET", "/api/v1/tokens?username={other}", _only({"admin"})),
    ("GET", "/api/v1/users", _only({"admin"})),
    ("GET", "/api/v1/requests", ALL),  # a listing leaves out what is not reached
    ("GET", "/api/v1/requests/{request}", _only(REQUEST_VIEWERS)),
    ("GET", "/api/v1/requests/{request}/proposal", _only(REQUEST_VIEWERS)),
    ("GET", "/api/v1/policy", ALL),
    ("GET", "/api/v1/policy/history", ALL),
    ("GET", "/api/v1/jobs", ALL),  # yours; those of cases whose record you read; an admin's: all
    ("GET", "/api/v1/jobs/NO-SUCH", dict.fromkeys(ROLES, 404)),
    # Marked playback (issue 18): the stream of a viewing is the viewer's alone (the
    # world's viewing was started by records).
    ("GET", "/api/v1/viewings", _only(READERS)),
    ("GET", "/api/v1/viewings/{viewing}/playlist.m3u8", _only({"records"})),
    ("GET", "/api/v1/viewings/{viewing}/segments/0.ts", _only({"records"})),
    ("POST", "/api/v1/tokens", _only({"admin"}, 201), {"username": "{other}", "expires": "1h"}),
    ("DELETE", "/api/v1/sessions/NO-SUCH", _only({"admin"}, 404)),
    ("DELETE", "/api/v1/tokens/NO-SUCH", _only({"admin"}, 404)),
    ("DELETE", "/api/v1/jobs/NO-SUCH", dict.fromkeys(ROLES, 404)),
    # Passkeys (routes/passkeys.py): everyone's own. The options hand the session a
    # challenge; an empty answer to it is refused (on record as passkey-refused).
    ("GET", "/api/v1/passkeys", ALL),
    ("POST", "/api/v1/passkeys/options", ALL),
    ("POST", "/api/v1/passkeys", dict.fromkeys(ROLES, 422), {"credential": {}}),
    ("PATCH", "/api/v1/passkeys/NO-SUCH", dict.fromkeys(ROLES, 404), {"name": "mine"}),
    ("DELETE", "/api/v1/passkeys/NO-SUCH", dict.fromkeys(ROLES, 404)),
    # Jobs (routes/jobs.py): an export is asked for by those who may export the evidence
    # (an admin may not; the prosecutor and the officer do not reach the case).
    (
        "POST",
        "/api/v1/exports",
        _only({"supervisor", "records", "internal-affairs"}, 202),
        {"evidence_id": "{evidence}", "recipient": "Deputy DA", "purpose": "matrix"},
    ),
    # A redaction is asked for by those who may redact the evidence (and reach its case).
    (
        "POST",
        "/api/v1/redactions",
        _only({"supervisor", "records"}, 202),
        {"evidence_id": "{evidence}", "regions": [{"t_s": 0, "x": 8, "y": 8, "w": 32, "h": 32}]},
    ),
    # Opening evidence starts a viewing (a reason given, in case a flag asks for one).
    ("POST", "/api/v1/evidence/{evidence}/viewings", _only(READERS, 201), {"reason": "matrix"}),
    (
        "POST",
        "/api/v1/users",
        _only({"admin"}, 201),
        {"username": "newcomer", "role": "officer", "password": "a first password 1"},
    ),
    (
        "PUT",
        "/api/v1/users/{officer}/password",
        _only({"admin", "officer"}),  # an admin's, or the officer's own
        {"password": "another password 2"},
    ),
    ("POST", "/api/v1/cases", _only(CASE_WRITERS, 201), {"number": "C-NEW-{role}", "title": "t"}),
    (
        "PATCH",
        "/api/v1/cases/C-W-{role}",
        _only(CASE_WRITERS),
        {"status": "pending-prosecution"},
    ),
    (
        "PATCH",
        "/api/v1/cases/C-W-{role}",
        _only({"records", "internal-affairs", "admin"}),
        {"flags": ["victim-privacy"], "reason": "a victim is filmed"},
    ),
    (
        "POST",
        "/api/v1/cases/C-W-{role}/members",
        _only(CASE_WRITERS),
        {"username": "{officer}", "reason": "on the scene"},
    ),
    (
        "POST",
        "/api/v1/cases/C-IA/members",
        _only({"internal-affairs"}),
        {"username": "{officer}", "reason": "cleared", "restore_reach": True},
    ),
    (
        "PATCH",
        "/api/v1/evidence/{evidence}/flags",
        _only(FLAGGERS),
        {"flags": ["minor"], "reason": "a child is seen"},
    ),
    (
        "POST",
        "/api/v1/redactions/RD-NO-SUCH/acceptances",
        dict.fromkeys(ROLES, 404),  # no redaction, so no case to ask about: not found
        {"covers": ["faces"]},
    ),
    (
        "POST",
        "/api/v1/requests",
        _only({"records"}, 201),
        {"case": "{case}", "requester": "Daily News", "kind": "press"},
    ),
    ("POST", "/api/v1/requests/{request}/decisions", _only({"records"}, 201), {"accept": True}),
    ("POST", "/api/v1/requests/review-due", ALL),  # what you may decide; none here
    (
        "PUT",
        "/api/v1/policy",
        _only({"admin"}),
        {"pack": "california", "reason": "the department moved"},
    ),
    # Resumable uploads (tus): begun by those who may ingest into the case; an upload is
    # its owner's alone (the world's was begun by records, whose turn comes last).
    ("OPTIONS", "/api/v1/uploads", dict.fromkeys(ROLES, 204)),
    ("POST", "/api/v1/uploads", _only(INGESTERS, 201)),
    ("HEAD", "/api/v1/uploads/{upload}", _only({"records"})),
    ("PATCH", "/api/v1/uploads/{upload}", _only({"records"}, 204)),
    ("GET", "/api/v1/uploads/{upload}", _only({"records"})),
    ("DELETE", "/api/v1/uploads/{upload}", _only({"records"}, 204)),  # last: it is gone
]

#: The headers of tus requests (an empty PATCH at offset 0; an upload of 10 bytes).
TUS = {
    "Tus-Resumable": "1.0.0",
    "Upload-Length": "10",
    "Upload-Metadata": "case " + base64.b64encode(b"C-MATRIX").decode(),
    "Upload-Offset": "0",
    "Content-Type": "application/offset+octet-stream",
}
#: A refusal put on record as another action than ``access-refused`` (as the CLI's).
REFUSED_AS = {("POST", "/api/v1/uploads"): "ingest-refused"}

#: Routes outside the matrix: the sign-in steps themselves (test_auth.py, and
#: test_passkeys.py for a passkey's), and the files
#: published for outsiders without signing in (test_api.py).
PUBLIC_ROUTES = {
    ("POST", "/api/v1/auth/sign-in"),
    ("POST", "/api/v1/auth/enrol"),
    ("POST", "/api/v1/auth/second-factor"),
    ("POST", "/api/v1/auth/sign-out"),
    ("POST", "/api/v1/auth/passkeys/enrol-options"),
    ("POST", "/api/v1/auth/passkeys/enrol"),
    ("POST", "/api/v1/auth/passkeys/sign-in-options"),
    ("POST", "/api/v1/auth/passkeys/sign-in"),
    ("GET", "/.well-known/custodes/trust-root.pem"),
}
RENAMED = {
    "{session}": "{id}",
    "{token_id}": "{id}",
    "{passkey_id}": "{id}",
    "{evidence_id}": "{evidence}",
    "{job_id}": "{id}",
    "{viewing_id}": "{viewing}",
    "{upload_id}": "{upload}",
    "{n}": "0",
    "{request_id}": "{request}",
    "{derivative_id}": "{id}",
    "{username}": "{other}",
    "{number}": "{case}",
}


def _route(path: str) -> str:
    """A matrix path as the OpenAPI document names its route."""
    path = path.split("?")[0].replace("RD-NO-SUCH", "{id}").replace("NO-SUCH", "{id}")
    path = path.replace("users/{officer}", "users/{other}")
    return path.replace("C-W-{role}", "{case}").replace("C-IA", "{case}")


def test_the_matrix_covers_every_route(sqlite_web: Web) -> None:
    document = sqlite_web.client.get("/api/v1/openapi.json").json()
    routes = {(m.upper(), path) for path, item in document["paths"].items() for m in item}
    named = {(row[0], _route(row[1])) for row in MATRIX}
    actual = set()
    for method, path in routes:
        for old, new in RENAMED.items():
            path = path.replace(old, new)
        actual.add((method, path))
    assert actual - PUBLIC_ROUTES == named
    assert actual >= PUBLIC_ROUTES
    assert set(ROLES) == {r.value for r in Role}


@pytest.fixture
def world(sqlite_web: Web, clips: dict[str, Path]) -> dict[str, str]:
    web = sqlite_web
    names = {role: web.user(role) for role in ROLES}
    rec = names["records"]
    number = "C-MATRIX"
    cases.add_case(web.vault, rec, number, "matrix")
    for role in ROLES:
        cases.add_case(web.vault, rec, f"C-W-{role}", "the writes' case")
    cases.add_case(web.vault, rec, "C-IA", "under investigation")
    cases.set_case(
        web.vault, names["internal-affairs"], "C-IA", flag=["ia-investigation"], reason="IA-7"
    )
    ev = evidence.ingest(web.vault, rec, clips["a"], number)
    asked = req_svc.add_request(
        web.vault, rec, req_svc.AddRequest(case_number=number, requester="Courier", kind="press")
    )
    seen = viewings.start_viewing(web.vault, rec, viewings.StartViewing(ev.evidence_id))
    upload = uploads.begin(web.vault, rec, uploads.NewUpload(10, number))
    with web.vault.uow(readonly=True) as uow:
        size = uow.audit.newest_checkpoint_size()
    return {
        **names,
        "case": number,
        "evidence": ev.evidence_id,
        "request": asked.request_id,
        "size": str(size),
        "viewing": seen.viewing_id,
        "upload": upload.upload_id,
    }


def _fill(value: object, names: dict[str, str]) -> object:
    if isinstance(value, str):
        return value.format(**names)
    if isinstance(value, dict):
        return {k: _fill(v, names) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, names) for v in value]
    return value


def test_every_route_for_every_role(sqlite_web: Web, world: dict[str, str]) -> None:
    """One vault for all the roles (a world costs an ingest and seven password hashes);
    each role's writes touch its own case, so that the order of the roles matters only
    where it is meant to (one records user decides the request, one admin the pack;
    records goes last, since it ends the world's upload; the admin changes the password
    of the officer, who went first)."""
    for role in sorted(ROLES, key=lambda r: r == "records"):
        _every_route(sqlite_web, world, role)


def _every_route(web: Web, world: dict[str, str], role: str) -> None:
    user = world[role]
    other = world["records"] if role != "records" else world["officer"]
    names = {**world, "other": other, "role": role}
    client = web.sign_in(user)
    for row in MATRIX:
        method, template, expected = row[0], row[1], row[2]
        path = template.format(**names)
        body = _fill(row[3], names) if len(row) > 3 else None
        want = expected[role]
        refused_as = REFUSED_AS.get((method, path), "access-refused")
        before = len(web.events(refused_as)) if want == 403 else 0
        if "/uploads" in path:
            r = client.request(method, path, headers={"Origin": ORIGIN, **TUS})
        else:
            r = client.request(method, path, json=body, headers={"Origin": ORIGIN})
        assert r.status_code == want, (role, method, path, r.text)
        if want == 403:
            if method != "HEAD":  # a HEAD answer has no body
                assert r.json()["error"]["code"] == "access-denied"
            refused = web.events(refused_as)
            assert len(refused) == before + 1, (role, path)
            assert refused[-1]["actor"] == user
            assert refused[-1]["client"].startswith("web:session/")
            assert refused[-1]["client"].endswith(" from testclient")
        if want == 200 and path in ("/api/v1/evidence", "/api/v1/requests"):
            listed = {e.get("evidence_id") or e.get("request_id") for e in r.json()}
            reach = READERS if path == "/api/v1/evidence" else REQUEST_VIEWERS
            assert ({world["evidence"], world["request"]} & listed != set()) is (role in reach)


def test_opening_evidence_on_the_web_is_a_view_on_record(
    sqlite_web: Web, world: dict[str, str]
) -> None:
    web = sqlite_web
    client = web.sign_in(world["records"])
    r = client.get(f"/api/v1/evidence/{world['evidence']}")
    assert r.status_code == 200 and "path" not in r.json()
    view = web.events("view")[-1]
    assert view["actor"] == world["records"] and view["evidence"] == world["evidence"]
    assert view["client"].startswith("web:session/")
