"""The API's write routes beyond who may call them (test_matrix.py): field errors in the
JSON error shape, hostile input, the published trust root, and the client address
behind a trusted proxy."""

from __future__ import annotations

import dataclasses
import ipaddress
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from custodes.media.redaction import RegionSeed
from custodes.services import cases, evidence, redaction
from custodes.services.redaction import RedactEvidence
from custodes.web.app import create_app
from custodes.web.deps import client_address
from tests.web.conftest import ORIGIN, Web, post

NET = [ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("::1/128")]


@pytest.mark.parametrize(
    ("peer", "forwarded", "trusted", "want"),
    [
        ("10.0.0.5", ["203.0.113.9"], [], "10.0.0.5"),  # no proxy trusted: the peer
        ("198.51.100.7", ["203.0.113.9"], NET, "198.51.100.7"),  # peer not a proxy
        ("10.0.0.5", ["203.0.113.9"], NET, "203.0.113.9"),
        ("10.0.0.5", ["1.2.3.4, 203.0.113.9, 10.0.0.6"], NET, "203.0.113.9"),  # chain
        ("10.0.0.5", ["1.2.3.4", "203.0.113.9"], NET, "203.0.113.9"),  # two headers
        ("10.0.0.5", ["10.0.0.7, 10.0.0.6"], NET, "10.0.0.7"),  # all proxies: leftmost
        ("10.0.0.5", ["evil, 203.0.113.9"], NET, "203.0.113.9"),  # left of it: the client's
        ("10.0.0.5", ["203.0.113.9, evil"], NET, "10.0.0.5"),  # garbage: believe none
        ("10.0.0.5", ["203.0.113.9:443"], NET, "10.0.0.5"),
        ("10.0.0.5", [",".join(["1.1.1.1"] * 40)], NET, "10.0.0.5"),  # too long
        ("::1", ["2001:db8::1"], NET, "2001:db8::1"),
        ("10.0.0.5", [], NET, "10.0.0.5"),
        (None, ["203.0.113.9"], NET, "unknown"),
    ],
)
def test_client_address_believes_only_trusted_proxies(
    peer: str | None, forwarded: list[str], trusted: list[ipaddress.IPv4Network], want: str
) -> None:
    assert client_address(peer, forwarded, trusted) == want


def test_the_audit_log_records_the_forwarded_address_only_behind_a_trusted_proxy(
    sqlite_web: Web,
) -> None:
    web = sqlite_web
    rec = web.user("records")
    spoof = {"X-Forwarded-For": "203.0.113.9"}
    # Default: no proxy trusted; the TestClient's peer is "testclient".
    client = web.sign_in(rec)
    assert post(client, "/api/v1/cases", {"number": "C-1"}, headers=spoof).status_code == 201
    assert web.events("case-add")[-1]["client"].endswith(" from testclient")
    # The peer trusted (TestClient's peer is not an address: trust every address, and
    # let the test client claim one through the ASGI scope).
    settings = web.vault.settings.model_copy(update={"trusted_proxies": "127.0.0.0/8"})
    vault = dataclasses.replace(web.vault, settings=settings)
    app = create_app(vault)
    behind = TestClient(app, base_url=ORIGIN, client=("127.0.0.1", 5000), headers=spoof)
    web.sign_in(rec, behind)
    r = post(behind, "/api/v1/cases", {"number": "C-2"})
    assert r.status_code == 201, r.text
    assert web.events("case-add")[-1]["client"].endswith(" from 203.0.113.9")
    assert web.events("sign-in")[-1]["details"]["address"] == "203.0.113.9"
    bad = vault.settings.model_copy(update={"trusted_proxies": "10.0.0.0/8, not-a-net"})
    with pytest.raises(Exception, match="not-a-net"):
        create_app(dataclasses.replace(vault, settings=bad))


def test_field_errors_name_the_json_field(sqlite_web: Web) -> None:
    web = sqlite_web
    client = web.sign_in(web.user("admin"))
    attempts = [
        ("/api/v1/users", {"username": "Bad Name!", "role": "officer"}, "username"),
        ("/api/v1/users", {"username": "ok", "role": "king"}, "role"),
        ("/api/v1/users", {"username": "ok2", "role": "officer", "password": "short"}, "password"),
        ("/api/v1/users", {"username": "ok3", "role": "officer", "extra": 1}, "extra"),
        ("/api/v1/cases", {"number": "../../etc/passwd"}, "number"),
        ("/api/v1/cases", {"number": "C-9", "status": "gone"}, "status"),
        ("/api/v1/cases", {"number": 12}, "number"),  # a number is not a string
        (
            "/api/v1/requests",
            {"case": "C-9", "requester": "x", "kind": "press", "received_at": "yesterday"},
            "received_at",
        ),
    ]
    for path, body, field in attempts:
        r = post(client, path, body)
        assert r.status_code == 422, (path, body, r.text)
        error = r.json()["error"]
        assert error["code"] == "invalid-input" and error["field"] == field, (body, error)
    r = client.request(
        "PATCH", "/api/v1/cases/C-9", json={"flags": ["sensitive"]}, headers={"Origin": ORIGIN}
    )
    assert r.status_code in (404, 422)
    r = client.put(
        "/api/v1/policy",
        json={"pack": "../../etc/passwd", "reason": "x"},
        headers={"Origin": ORIGIN},
    )
    assert r.status_code == 422 and r.json()["error"]["field"] == "pack"


def test_hostile_input_gets_a_json_error_not_a_crash(sqlite_web: Web) -> None:
    web = sqlite_web
    client = web.sign_in(web.user("admin"))
    big = b'{"number": "' + b"x" * (2 << 20) + b'"}'
    r = client.post(
        "/api/v1/cases", content=big, headers={"Origin": ORIGIN, "Content-Type": "application/json"}
    )
    assert r.status_code == 413 and r.json()["error"]["code"] == "too-large"

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
        for _ in range(40):
            yield b"x" * 65536

    r = client.post("/api/v1/cases", content=chunks(), headers={"Origin": ORIGIN})
    assert r.status_code == 413 and r.json()["error"]["code"] == "too-large"
    for raw in (b"{", b"[]", b"null", b'{"number": NaN}', b"\xff\xfe"):
        r = client.post(
            "/api/v1/cases",
            content=raw,
            headers={"Origin": ORIGIN, "Content-Type": "application/json"},
        )
        assert r.status_code == 422, (raw, r.text)
        assert r.json()["error"]["code"] == "invalid-input"
    for path in (
        "/api/v1/evidence/..%2F..%2Fetc%2Fpasswd",
        "/api/v1/requests/..%2Fvault.db",
        "/api/v1/cases/..%2F..%2Fetc%2Fpasswd",
        "/api/v1/evidence/%00",
        "/api/v1/evidence/" + "A" * 5000,
    ):
        r = client.get(path)
        assert r.status_code in (404, 422), (path, r.text)
        assert r.json()["error"]["code"] in ("not-found", "invalid-input")


def test_the_trust_root_is_published_without_signing_in(sqlite_web: Web) -> None:
    anonymous = sqlite_web.new_client()
    r = anonymous.get("/.well-known/custodes/trust-root.pem")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/x-pem-file")
    assert r.text.startswith("-----BEGIN CERTIFICATE-----")
    assert anonymous.get("/api/v1/policy").status_code == 401  # the rest is not public


def test_a_case_number_with_a_slash_is_reached_in_the_path(sqlite_web: Web) -> None:
    web = sqlite_web
    rec = web.user("records")
    officer = web.user("officer")
    client = web.sign_in(rec)
    assert post(client, "/api/v1/cases", {"number": "2024/0173"}).status_code == 201
    r = post(client, "/api/v1/cases/2024/0173/members", {"username": officer})
    assert r.status_code == 200 and r.json()["members"] == [officer]
    r = client.patch(
        "/api/v1/cases/2024%2F0173",
        json={"status": "pending-prosecution"},
        headers={"Origin": ORIGIN},
    )
    assert r.status_code == 200, r.text
    shown = client.get("/api/v1/cases/2024/0173").json()
    assert shown["status"] == "pending-prosecution" and shown["members"] == [officer]
    assert web.events("case-assign")[-1]["client"].startswith("web:session/")


def test_a_redaction_is_accepted_listed_and_shown_on_the_api(
    sqlite_web: Web, clips: dict[str, Path], tmp_path: Path
) -> None:
    web = sqlite_web
    rec = web.user("records")
    officer = web.user("officer")
    cases.add_case(web.vault, rec, "C-RD", "redaction")
    ev = evidence.ingest(web.vault, rec, clips["a"], "C-RD").evidence_id
    plate = RegionSeed(0.2, 40, 40, 60, 30, "plate")
    made = redaction.redact_evidence(
        web.vault, rec, RedactEvidence(ev, regions=[plate], out=tmp_path / "r.mp4")
    )
    client = web.sign_in(rec)
    rid = made.derivative_id
    r = post(client, f"/api/v1/redactions/{rid}/acceptances", {"covers": ["plates"], "reasn": 1})
    assert r.status_code == 422 and r.json()["error"]["field"] == "reasn"  # unknown field
    r = post(client, f"/api/v1/redactions/{rid}/acceptances", {"covers": ["plates"]})
    assert r.status_code == 201, r.text
    assert r.json()["covers"] == ["plates"] and r.json()["accepted_by"] == rec
    listed = client.get(f"/api/v1/evidence/{ev}/redactions").json()
    assert [x["derivative_id"] for x in listed] == [rid]
    shown = client.get(f"/api/v1/redactions/{rid}").json()
    assert shown["sha256"] == made.sha256
    assert [a["by"] for a in shown["acceptances"]] == [rec]
    # An officer not on the case is refused, on record.
    r = web.sign_in(officer).get(f"/api/v1/redactions/{rid}")
    assert r.status_code == 403 and web.events("access-refused")[-1]["actor"] == officer
