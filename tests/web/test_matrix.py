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
from tests.web.conftest import ORIGIN, Web

ROLES = ["officer", "supervisor", "records", "prosecutor", "internal-affairs", "admin", "command"]

ALL = dict.fromkeys(ROLES, 200)


def _only(ok: set[str], allowed: int = 200, refused: int = 403) -> dict[str, int]:
    return {r: allowed if r in ok else refused for r in ROLES}


READERS = {"supervisor", "records", "internal-affairs", "admin"}  # vault:audit:read
PROVERS = {"records", "internal-affairs", "admin"}  # vault:audit:prove
INGESTERS = {"supervisor", "records", "admin"}  # case:evidence:ingest, reached
# (method, path template, expected status per role)
MATRIX: list[tuple[str, str, dict[str, int]]] = [
    ("GET", "/api/v1/me", ALL),
    ("GET", "/api/v1/cases", ALL),
    ("GET", "/api/v1/cases/{case}", _only(READERS | {"command"})),
    ("GET", "/api/v1/evidence", ALL),  # a listing leaves out what is not reached
    ("GET", "/api/v1/evidence?case={case}", _only(READERS)),
    ("GET", "/api/v1/evidence/{evidence}", _only(READERS)),
    ("GET", "/api/v1/exports", _only(READERS)),
    ("GET", "/api/v1/audit/events", _only(READERS)),
    ("GET", "/api/v1/audit/checkpoint", ALL),
    ("GET", "/api/v1/audit/pubkey", ALL),
    ("GET", "/api/v1/audit/proofs/inclusion?seq=0", _only(PROVERS)),
    ("GET", "/api/v1/audit/proofs/consistency?old_size={size}", _only(PROVERS)),
    ("GET", "/api/v1/alerts", _only({"records", "internal-affairs", "admin", "command"})),
    ("GET", "/api/v1/sessions", ALL),  # your own; an admin's: everyone's
    ("GET", "/api/v1/tokens", ALL),
    ("GET", "/api/v1/tokens?username={other}", _only({"admin"})),
    ("POST", "/api/v1/tokens", _only({"admin"}, 201)),  # a token for someone else
    ("DELETE", "/api/v1/sessions/NO-SUCH", _only({"admin"}, 404)),
    ("DELETE", "/api/v1/tokens/NO-SUCH", _only({"admin"}, 404)),
    # Jobs (routes/jobs.py): an export is asked for by those who may export the evidence
    # (an admin may not; the prosecutor and the officer do not reach the case).
    ("POST", "/api/v1/exports", _only({"supervisor", "records", "internal-affairs"}, 202)),
    ("GET", "/api/v1/jobs", ALL),  # yours; those of cases whose record you read; an admin's: all
    ("GET", "/api/v1/jobs/NO-SUCH", dict.fromkeys(ROLES, 404)),
    ("DELETE", "/api/v1/jobs/NO-SUCH", dict.fromkeys(ROLES, 404)),
    # Marked playback (issue 18): opening evidence starts a viewing; its stream is the
    # viewer's alone (the world's viewing was started by records).
    ("POST", "/api/v1/evidence/{evidence}/viewings", _only(READERS, 201)),
    ("GET", "/api/v1/viewings", _only(READERS)),
    ("GET", "/api/v1/viewings/{viewing}/playlist.m3u8", _only({"records"})),
    ("GET", "/api/v1/viewings/{viewing}/segments/0.ts", _only({"records"})),
    # Resumable uploads (tus): begun by those who may ingest into the case; an upload is
    # its owner's alone (the world's was begun by records).
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

#: The body of each POST of the matrix (default: a token for someone else).
BODIES: dict[str, dict[str, str]] = {
    "/api/v1/exports": {"evidence_id": "{evidence}", "recipient": "Deputy DA", "purpose": "matrix"},
}

#: Routes outside the matrix, tested in test_auth.py: the sign-in steps themselves.
SIGN_IN_ROUTES = {
    ("POST", "/api/v1/auth/sign-in"),
    ("POST", "/api/v1/auth/enrol"),
    ("POST", "/api/v1/auth/second-factor"),
    ("POST", "/api/v1/auth/sign-out"),
}


def test_the_matrix_covers_every_route(sqlite_web: Web) -> None:
    document = sqlite_web.client.get("/api/v1/openapi.json").json()
    routes = {(m.upper(), path) for path, item in document["paths"].items() for m in item}
    named = {
        (m, p.split("?")[0].replace("NO-SUCH", "{id}").replace("{case}", "{number}"))
        for m, p, _ in MATRIX
    }
    renamed = {
        "{session}": "{id}",
        "{token_id}": "{id}",
        "{job_id}": "{id}",
        "{evidence_id}": "{evidence}",
        "{viewing_id}": "{viewing}",
        "{upload_id}": "{upload}",
        "{n}": "0",
    }
    actual = set()
    for method, path in routes:
        for old, new in renamed.items():
            path = path.replace(old, new)
        actual.add((method, path))
    assert actual - SIGN_IN_ROUTES == named
    assert actual >= SIGN_IN_ROUTES
    assert set(ROLES) == {r.value for r in Role}


@pytest.fixture
def world(sqlite_web: Web, clips: dict[str, Path]) -> dict[str, str]:
    web = sqlite_web
    names = {role: web.user(role) for role in ROLES}
    rec = names["records"]
    number = "C-MATRIX"
    cases.add_case(web.vault, rec, number, "matrix")
    ev = evidence.ingest(web.vault, rec, clips["a"], number)
    seen = viewings.start_viewing(web.vault, rec, viewings.StartViewing(ev.evidence_id))
    upload = uploads.begin(web.vault, rec, uploads.NewUpload(10, number))
    with web.vault.uow(readonly=True) as uow:
        size = uow.audit.newest_checkpoint_size()
    return {
        **names,
        "case": number,
        "evidence": ev.evidence_id,
        "size": str(size),
        "viewing": seen.viewing_id,
        "upload": upload.upload_id,
    }


@pytest.mark.parametrize("role", ROLES)
def test_every_route_for_every_role(sqlite_web: Web, world: dict[str, str], role: str) -> None:
    web = sqlite_web
    user = world[role]
    other = world["records"] if role != "records" else world["officer"]
    client = web.sign_in(user)
    for method, template, expected in MATRIX:
        path = template.format(
            case=world["case"],
            evidence=world["evidence"],
            other=other,
            size=world["size"],
            viewing=world["viewing"],
            upload=world["upload"],
        )
        refused_as = REFUSED_AS.get((method, path), "access-refused")
        before = len(web.events(refused_as))
        if "/uploads" in path:
            r = client.request(method, path, headers={"Origin": ORIGIN, **TUS})
        elif method == "POST":
            body = BODIES.get(path, {"username": other, "expires": "1h"})
            body = {k: v.format(evidence=world["evidence"]) for k, v in body.items()}
            r = client.post(path, json=body, headers={"Origin": ORIGIN})
        else:
            r = client.request(method, path, headers={"Origin": ORIGIN})
        want = expected[role]
        assert r.status_code == want, (role, method, path, r.text)
        if want == 403:
            if method != "HEAD":  # a HEAD answer has no body
                assert r.json()["error"]["code"] == "access-denied"
            refused = web.events(refused_as)
            assert len(refused) == before + 1, (role, path)
            assert refused[-1]["actor"] == user
            assert refused[-1]["client"].startswith("web:session/")
            assert refused[-1]["client"].endswith(" from testclient")
        if want == 200 and path == "/api/v1/evidence":
            listed = {e["evidence_id"] for e in r.json()}
            assert (world["evidence"] in listed) is (role in READERS)


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
