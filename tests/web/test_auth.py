"""Signing in with a password and a second factor, sessions, lockout, CSRF, headers and
API tokens, each step on the audit log with the client's address."""

from __future__ import annotations

import dataclasses
import hashlib

import pyotp
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from custodes import bootstrap
from custodes.core.errors import InvalidInput
from custodes.services import auth as auth_svc
from custodes.services import verify
from custodes.web.app import create_app
from tests.web.conftest import ORIGIN, PASSWORD, Web, post

ADDRESS = "testclient"  # the client address Starlette's TestClient connects from


def test_first_sign_in_enrols_totp_then_signs_in_on_record(web: Web) -> None:
    ann = web.user("records")
    c = web.new_client()
    r = post(c, "/api/v1/auth/sign-in", {"username": ann, "password": PASSWORD})
    assert r.status_code == 200
    step = r.json()
    assert step["status"] == "enrol-required"
    assert step["provisioning_uri"].startswith("otpauth://totp/")
    assert pyotp.parse_uri(step["provisioning_uri"]).secret == step["secret"]
    cookie = r.headers["set-cookie"]
    for attribute in ("HttpOnly", "Secure", "SameSite=strict", "Path=/"):
        assert attribute.lower() in cookie.lower()
    # Before the second factor the cookie opens nothing.
    assert c.get("/api/v1/me").status_code == 401
    bad = post(c, "/api/v1/auth/enrol", {"code": "000000"})
    assert bad.status_code == 401 and bad.json()["error"]["code"] == "unauthenticated"
    code = pyotp.TOTP(step["secret"]).at(web.clock.now())
    half_signed_in = c.cookies.get("custodes_session")
    r = post(c, "/api/v1/auth/enrol", {"code": code})
    assert r.status_code == 200, r.text
    body = r.json()
    # The cookie's value changes with the privilege: the one known before is worth nothing.
    assert c.cookies.get("custodes_session") != half_signed_in
    stale = web.new_client()
    stale.cookies.set("custodes_session", half_signed_in)
    assert stale.get("/api/v1/me").status_code == 401
    assert body["status"] == "signed-in" and len(body["recovery_codes"]) == 10
    assert len(set(body["recovery_codes"])) == 10
    me = c.get("/api/v1/me").json()
    assert me["username"] == ann and me["role"] == "records"
    assert me["client"] == f"web:session/{body['session']} from {ADDRESS}"
    # On record: the failed code, the enrolment and the sign-in, with the address.
    failed, enrolled, signed = (
        web.events("sign-in-failed")[-1],
        web.events("mfa-enrol")[-1],
        web.events("sign-in")[-1],
    )
    assert failed["actor"] == ann and failed["details"]["step"] == "totp"
    assert failed["details"]["address"] == ADDRESS
    assert enrolled["actor"] == ann and enrolled["details"]["address"] == ADDRESS
    digest = signed["details"].pop("session_digest")  # binds the session row (issue 22)
    assert signed["details"] == {
        "address": ADDRESS,
        "user_agent": "testclient",
        "session": body["session"],
        "second_factor": "totp",
    }
    assert len(digest) == 64
    assert signed["client"] == me["client"]
    # The stored TOTP secret is not the secret itself.
    with web.vault.uow(readonly=True) as uow:
        stored = uow.auth.totp(uow.users.get(ann).id)
    assert stored is not None and step["secret"].encode() not in stored.secret


def test_second_sign_in_asks_the_code_and_refuses_a_replayed_one(web: Web) -> None:
    ann = web.user("supervisor")
    web.sign_in(ann)
    web.clock.advance(seconds=31)
    c = web.new_client()
    r = post(c, "/api/v1/auth/sign-in", {"username": ann, "password": PASSWORD})
    assert r.json()["status"] == "second-factor-required"
    assert r.json()["secret"] is None and r.json()["provisioning_uri"] is None
    code = web.code(ann)
    assert post(c, "/api/v1/auth/second-factor", {"code": code}).status_code == 200
    # The same code (the same time step) does not open a second session.
    c2 = web.new_client()
    post(c2, "/api/v1/auth/sign-in", {"username": ann, "password": PASSWORD})
    assert post(c2, "/api/v1/auth/second-factor", {"code": code}).status_code == 401
    assert c2.get("/api/v1/me").status_code == 401


def test_wrong_password_and_unknown_user_look_alike_and_are_on_record(web: Web) -> None:
    ann = web.user("officer")
    c = web.new_client()
    wrong = post(c, "/api/v1/auth/sign-in", {"username": ann, "password": "x" * 12})
    nobody = post(c, "/api/v1/auth/sign-in", {"username": "nobody", "password": "x" * 12})
    assert wrong.status_code == nobody.status_code == 401
    assert wrong.json() == nobody.json()
    assert wrong.json()["error"]["message"] == "wrong username or password"
    failed = web.events("sign-in-failed")
    assert [(e["actor"], e["details"]["why"]) for e in failed[-2:]] == [
        (ann, "wrong password"),
        ("nobody", "unknown user"),
    ]
    assert all(e["details"]["address"] == ADDRESS for e in failed[-2:])


def test_a_user_without_a_password_cannot_sign_in(web: Web) -> None:
    r = post(web.client, "/api/v1/auth/sign-in", {"username": "admin", "password": "x" * 12})
    assert r.status_code == 401
    assert web.events("sign-in-failed")[-1]["details"]["why"] == "no password set"


def test_recovery_code_signs_in_once(web: Web) -> None:
    ann = web.user("records")
    c = web.new_client()
    web.clock.advance(seconds=31)
    step = post(c, "/api/v1/auth/sign-in", {"username": ann, "password": PASSWORD}).json()
    web.secrets[ann] = step["secret"]
    codes = post(c, "/api/v1/auth/enrol", {"code": web.code(ann)}).json()["recovery_codes"]
    for attempt, expected in ((1, 200), (2, 401)):
        c2 = web.new_client()
        post(c2, "/api/v1/auth/sign-in", {"username": ann, "password": PASSWORD})
        r = post(c2, "/api/v1/auth/second-factor", {"recovery_code": codes[0].upper()})
        assert r.status_code == expected, (attempt, r.text)
    used = web.events("recovery-code-use")
    assert len(used) == 1 and len(used[0]["details"].pop("code_digest")) == 64
    assert used[0]["details"] == {"address": ADDRESS, "left": 9}
    assert web.events("sign-in")[-1]["details"]["second_factor"] == "recovery-code"
    # Neither both nor none.
    c3 = web.new_client()
    post(c3, "/api/v1/auth/sign-in", {"username": ann, "password": PASSWORD})
    r = post(c3, "/api/v1/auth/second-factor", {"code": "123456", "recovery_code": codes[1]})
    assert r.status_code == 422 and r.json()["error"]["field"] == "code"


def test_five_failures_lock_the_account_for_ten_minutes(web: Web) -> None:
    ann = web.user("records")
    web.sign_in(ann)
    c = web.new_client()
    for n in range(1, 6):
        r = post(c, "/api/v1/auth/sign-in", {"username": ann, "password": "wrong" * 3})
        assert r.status_code == (401 if n < 5 else 429), (n, r.text)
    assert r.json()["error"]["code"] == "account-locked"
    locked = web.events("account-locked")
    assert len(locked) == 1 and locked[0]["details"]["address"] == ADDRESS
    assert locked[0]["details"]["failures"] == 5
    # The right password is refused while locked, and the refusal is on record.
    r = post(c, "/api/v1/auth/sign-in", {"username": ann, "password": PASSWORD})
    assert r.status_code == 429
    assert web.events("sign-in-failed")[-1]["details"]["why"] == "account locked"
    web.clock.advance(minutes=9)
    assert post(c, "/api/v1/auth/sign-in", {"username": ann, "password": PASSWORD}).status_code == (
        429
    )
    web.clock.advance(minutes=1, seconds=1)
    web.sign_in(ann)  # unlocked after ten minutes, and the count starts again
    with web.vault.uow(readonly=True) as uow:
        assert uow.auth.failures(uow.users.get(ann).id) is None
    assert verify.verify_vault(web.vault, "admin").ok


def test_wrong_second_factor_codes_count_toward_the_lockout(web: Web) -> None:
    ann = web.user("records")
    web.sign_in(ann)
    c = web.new_client()
    for _ in range(4):
        post(c, "/api/v1/auth/sign-in", {"username": ann, "password": "wrong" * 3})
    web.clock.advance(seconds=31)
    assert post(c, "/api/v1/auth/sign-in", {"username": ann, "password": PASSWORD}).status_code == (
        200
    )
    r = post(c, "/api/v1/auth/second-factor", {"code": "000000"})
    assert r.status_code == 429
    # The half-open session went with the lock: a right code no longer opens it.
    assert post(c, "/api/v1/auth/second-factor", {"code": web.code(ann)}).status_code == 401


def test_idle_session_locks_after_thirty_minutes(web: Web) -> None:
    ann = web.user("records")
    c = web.sign_in(ann)
    web.clock.advance(minutes=29)
    assert c.get("/api/v1/me").status_code == 200  # activity keeps it open
    web.clock.advance(minutes=29)
    assert c.get("/api/v1/me").status_code == 200
    web.clock.advance(minutes=30, seconds=1)
    r = c.get("/api/v1/me")
    assert r.status_code == 401 and "30 minutes idle" in r.json()["error"]["message"]
    assert c.get("/api/v1/me").status_code == 401  # ended, not only refused once
    ended = web.events("session-end")[-1]
    assert ended["actor"] == ann and ended["details"]["why"] == "idle"
    assert ended["client"].startswith("web:session/")


def test_a_session_needs_signing_in_again_after_twelve_hours(web: Web) -> None:
    ann = web.user("records")
    c = web.sign_in(ann)
    for _ in range(24):
        web.clock.advance(minutes=29)
        assert c.get("/api/v1/me").status_code == 200
    web.clock.advance(minutes=25)  # 12 h 1 min after sign-in, never idle
    r = c.get("/api/v1/me")
    assert r.status_code == 401 and "12 hours" in r.json()["error"]["message"]
    assert web.events("session-end")[-1]["details"]["why"] == "reauthenticate"


def test_sign_out_ends_the_session(web: Web) -> None:
    ann = web.user("records")
    c = web.sign_in(ann)
    cookie = c.cookies.get("custodes_session")
    r = post(c, "/api/v1/auth/sign-out")
    assert r.status_code == 200 and r.json()["ended"] is True
    c.cookies.set("custodes_session", cookie)  # a kept copy of the cookie opens nothing
    assert c.get("/api/v1/me").status_code == 401
    out = web.events("sign-out")[-1]
    assert out["actor"] == ann and out["details"]["address"] == ADDRESS


def test_an_admin_lists_and_ends_sessions(web: Web) -> None:
    admin, ann = web.user("admin"), web.user("officer")
    a, c = web.sign_in(admin), web.sign_in(ann)
    listed = a.get("/api/v1/sessions").json()
    assert {s["username"] for s in listed} == {admin, ann}
    assert all(s["address"] == ADDRESS for s in listed)
    # An officer sees only their own, and may not end the admin's.
    own = c.get("/api/v1/sessions").json()
    assert [s["username"] for s in own] == [ann]
    theirs = next(s["session"] for s in listed if s["username"] == admin)
    r = c.delete(f"/api/v1/sessions/{theirs}", headers={"Origin": ORIGIN})
    assert r.status_code == 403 and r.json()["error"]["code"] == "access-denied"
    assert web.events("access-refused")[-1]["actor"] == ann
    # A session that never passed its second factor is listed only while it still may.
    post(web.new_client(), "/api/v1/auth/sign-in", {"username": ann, "password": PASSWORD})
    assert len(c.get("/api/v1/sessions").json()) == 2
    web.clock.advance(minutes=11)
    assert len(c.get("/api/v1/sessions").json()) == 1
    mine = own[0]["session"]
    r = a.delete(f"/api/v1/sessions/{mine}", headers={"Origin": ORIGIN})
    assert r.status_code == 200 and r.json()["ended"] is True
    assert c.get("/api/v1/me").status_code == 401
    ended = web.events("session-end")[-1]
    assert ended["actor"] == admin and ended["object_id"] == ann


@pytest.mark.parametrize(
    ("headers", "allowed"),
    [
        ({"Origin": ORIGIN}, True),
        ({"Sec-Fetch-Site": "same-origin"}, True),
        ({}, False),
        ({"Origin": "https://evil.example"}, False),
        ({"Origin": "http://testserver"}, False),  # another scheme is another origin
        ({"Sec-Fetch-Site": "cross-site"}, False),
        ({"Origin": "null"}, False),
    ],
)
def test_csrf_unsafe_requests_with_the_cookie_must_be_same_origin(
    web: Web, headers: dict[str, str], allowed: bool
) -> None:
    c = web.sign_in(web.user("records"))
    before = len(web.events("sign-out"))
    r = c.post("/api/v1/auth/sign-out", headers=headers)
    if allowed:
        assert r.status_code == 200
        assert len(web.events("sign-out")) == before + 1
    else:
        assert r.status_code == 403 and r.json()["error"]["code"] == "csrf"
        assert len(web.events("sign-out")) == before  # nothing was done
        assert c.get("/api/v1/me").status_code == 200


def test_a_third_party_page_cannot_sign_anyone_in_or_use_a_token(web: Web) -> None:
    ann = web.user("records")
    c = web.new_client()
    login = {"username": ann, "password": PASSWORD}
    for headers in ({"Origin": "https://evil.example"}, {"Sec-Fetch-Site": "cross-site"}):
        r = c.post("/api/v1/auth/sign-in", json=login, headers=headers)
        assert r.status_code == 403 and r.json()["error"]["code"] == "csrf"
        assert "custodes_session" not in c.cookies
    assert web.events("sign-in-failed") == []  # refused before the password was looked at
    token = auth_svc.create_token(web.vault, ann, ann, auth_svc.parse_duration("1h")).token
    bearer = {"Authorization": f"Bearer {token}"}
    r = c.post("/api/v1/tokens", json={"username": ann}, headers={**bearer, "Origin": "null"})
    assert r.status_code == 403
    r = c.post("/api/v1/tokens", json={"username": ann}, headers=bearer)  # a script
    assert r.status_code == 201


def test_behind_a_proxy_the_public_origin_is_the_one_unsafe_requests_must_come_from(
    web: Web,
) -> None:
    public = "https://vault.example.org"
    settings = web.vault.settings.model_copy(update={"public_origin": public + "/"})
    proxied = TestClient(
        create_app(dataclasses.replace(web.vault, settings=settings)),
        base_url="https://10.0.0.5:8000",  # what the proxy connects to
    )
    signed_in = web.sign_in(web.user("records"))
    proxied.cookies.set("custodes_session", signed_in.cookies["custodes_session"])
    r = proxied.post("/api/v1/auth/sign-out", headers={"Origin": "https://10.0.0.5:8000"})
    assert r.status_code == 403 and r.json()["error"]["code"] == "csrf"
    r = proxied.post("/api/v1/auth/sign-out", headers={"Origin": public})
    assert r.status_code == 200, r.text
    for bad in ("vault.example.org", "https://vault.example.org/app", "ftp://x"):
        with pytest.raises(InvalidInput):
            bootstrap.public_origin(settings.model_copy(update={"public_origin": bad}))


def test_security_headers_on_every_response(web: Web) -> None:
    c = web.sign_in(web.user("records"))
    for r in (
        c.get("/api/v1/me"),
        web.client.get("/api/v1/me"),  # 401
        web.client.get("/api/v1/nowhere"),  # 404
        web.client.get("/api/v1/openapi.json"),
        c.post("/api/v1/auth/sign-out", headers={"Origin": "https://evil.example"}),  # csrf
    ):
        h = r.headers
        assert h["content-security-policy"] == (
            "default-src 'self'; script-src 'self'; media-src 'self' blob:; "
            "frame-ancestors 'none'; object-src 'none'; base-uri 'none'"
        ), r.url
        assert h["x-content-type-options"] == "nosniff"
        assert h["referrer-policy"] == "no-referrer"
        assert h["cache-control"] == "no-store"
        assert h["strict-transport-security"].startswith("max-age=")  # https://testserver


def test_errors_share_one_shape(web: Web) -> None:
    c = web.sign_in(web.user("records"))
    unknown = c.get("/api/v1/nowhere")
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "not-found"
    method = c.put("/api/v1/me", headers={"Origin": ORIGIN})
    assert method.status_code == 405 and method.json()["error"]["code"] == "method-not-allowed"
    invalid = post(c, "/api/v1/auth/sign-in", {"username": "x"})
    assert invalid.status_code == 422
    assert invalid.json()["error"]["code"] == "invalid-input"
    assert invalid.json()["error"]["field"] == "password"
    paged = c.get("/api/v1/cases", params={"limit": 0})
    assert paged.status_code == 422 and paged.json()["error"]["field"] == "limit"
    missing = c.get("/api/v1/cases/NO-SUCH")
    assert missing.status_code == 404
    assert missing.json()["error"] == {
        "code": "not-found",
        "message": "no case 'NO-SUCH'",
        "field": None,
    }


def test_tokens_create_use_list_revoke_and_expire(web: Web) -> None:
    ann = web.user("records")
    other = web.user("officer")
    created = auth_svc.create_token(web.vault, ann, ann, auth_svc.parse_duration("1d"))
    assert created.token.startswith("cst_")
    bearer = {"Authorization": f"Bearer {created.token}"}
    me = web.client.get("/api/v1/me", headers=bearer)
    assert me.status_code == 200 and me.json()["token"] == created.token_id
    assert me.json()["client"] == f"web:token/{created.token_id} from {ADDRESS}"
    # Use is on record once an hour, not once a request.
    for _ in range(3):
        assert web.client.get("/api/v1/cases", headers=bearer).status_code == 200
    assert len(web.events("token-use")) == 1
    web.clock.advance(hours=1, seconds=1)
    web.client.get("/api/v1/cases", headers=bearer)
    uses = web.events("token-use")
    assert len(uses) == 2 and uses[-1]["details"]["address"] == ADDRESS
    # Stored hashed: the value is nowhere in the database.
    with web.vault.uow(readonly=True) as uow:
        assert uow.auth.token_by_hash(created.token) is None
    # A token-authenticated request carries no cookie and needs no Origin.
    c = web.new_client()
    r = c.post("/api/v1/tokens", json={"username": ann, "expires": "2h"}, headers=bearer)
    assert r.status_code == 201, r.text
    second = r.json()
    # Not for someone else, unless an admin.
    r = c.post("/api/v1/tokens", json={"username": other, "expires": "2h"}, headers=bearer)
    assert r.status_code == 403
    bad = c.post("/api/v1/tokens", json={"username": ann, "expires": "forever"}, headers=bearer)
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "expires"
    listed = web.client.get("/api/v1/tokens", headers=bearer).json()
    assert {t["token_id"] for t in listed} == {created.token_id, second["token_id"]}
    assert all("token" not in t for t in listed)
    # Revoked: refused on record.
    r = web.client.delete(f"/api/v1/tokens/{second['token_id']}", headers=bearer)
    assert r.status_code == 200
    r = web.client.get("/api/v1/me", headers={"Authorization": f"Bearer {second['token']}"})
    assert r.status_code == 401 and "revoked" in r.json()["error"]["message"]
    refused = web.events("sign-in-failed")[-1]
    assert refused["details"]["why"] == "revoked token"
    assert refused["details"]["token"] == second["token_id"]
    assert [e["details"]["token"] for e in web.events("token-revoke")] == [second["token_id"]]
    # Expired after its day.
    web.clock.advance(days=1)
    r = web.client.get("/api/v1/me", headers=bearer)
    assert r.status_code == 401 and "expired" in r.json()["error"]["message"]
    assert web.client.get("/api/v1/me", headers={"Authorization": "Bearer nope"}).status_code == (
        401
    )
    assert web.client.get("/api/v1/me", headers={"Authorization": "Basic x"}).status_code == 401
    # Everything above is on a log that still verifies (the events, the vouched tables).
    report = verify.verify_vault(web.vault, "admin")
    assert report.ok, report.problems


def test_a_token_or_session_the_log_does_not_vouch_for_is_refused(web: Web) -> None:
    """An insider with the database file points a token at a value they chose, or a live
    session at the admin: the request is refused with the `integrity` code, on record."""
    ann = web.user("records")
    created = auth_svc.create_token(web.vault, ann, ann, auth_svc.parse_duration("1d"))
    chosen = "cst_chosen-by-an-insider"
    c = web.sign_in(ann)
    with web.vault.uow() as uow:
        uow.conn.execute(
            text("UPDATE api_tokens SET token_hash = :h WHERE id = :t"),
            {"h": hashlib.sha256(chosen.encode()).hexdigest(), "t": created.token_id},
        )
        uow.conn.execute(
            text(
                "UPDATE web_sessions SET user_id = (SELECT id FROM users WHERE username = "
                "'admin') WHERE user_id = (SELECT id FROM users WHERE username = :u)"
            ),
            {"u": ann},
        )
        uow.commit()
    r = web.client.get("/api/v1/me", headers={"Authorization": f"Bearer {chosen}"})
    assert r.status_code == 500 and r.json()["error"]["code"] == "integrity", r.text
    assert f"api token {created.token_id}" in r.json()["error"]["message"]
    r = c.get("/api/v1/me")
    assert r.status_code == 500 and r.json()["error"]["code"] == "integrity", r.text
    # Its user's sign-in events say nothing of it (the admin's are the ones read).
    assert "web session" in r.json()["error"]["message"]
    refused = [e for e in web.events("sign-in-failed") if e["details"].get("code")]
    assert [e["details"]["step"] for e in refused] == ["token", "session"]
    assert all(e["details"]["code"] == "IntegrityFailure" for e in refused)
