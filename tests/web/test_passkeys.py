"""Passkeys over the API and the pages, in process (the browser's part is played by the
tests' software authenticator; tests/web/test_passkeys_browser.py has Chromium's): the
first sign-in enrols one, the next signs in with it, the session's cookie is renewed,
and the pages offer what the account has."""

from __future__ import annotations

from custodes.services import passkeys as passkey_svc
from tests.factories.authenticator import SoftAuthenticator
from tests.web.conftest import ORIGIN, PASSWORD, Web, post


def test_enrol_and_sign_in_with_a_passkey_over_the_api(sqlite_web: Web) -> None:
    web = sqlite_web
    name = web.user("records")
    client = web.new_client()
    r = post(client, "/api/v1/auth/sign-in", {"username": name, "password": PASSWORD})
    assert r.json()["status"] == "enrol-required"
    page = client.get("/sign-in/second-factor")  # nothing enrolled: TOTP's form, no passkey
    assert 'id="passkey-sign-in"' not in page.text
    key = SoftAuthenticator(ORIGIN)
    options = post(client, "/api/v1/auth/passkeys/enrol-options").json()
    assert options["rp"]["id"] == "testserver"
    before = client.cookies.get("custodes_session")
    r = post(client, "/api/v1/auth/passkeys/enrol", {"credential": key.create(options)})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "signed-in" and len(r.json()["recovery_codes"]) == 10
    assert client.cookies.get("custodes_session") != before
    listed = client.get("/api/v1/passkeys").json()
    assert [p["name"] for p in listed] == ["Passkey 1"]
    assert "Passkey 1" in client.get("/passkeys").text
    # Signing in again: the page offers the passkey and no TOTP form.
    again = web.new_client()
    r = post(again, "/api/v1/auth/sign-in", {"username": name, "password": PASSWORD})
    assert (r.json()["status"], r.json()["passkeys"], r.json()["totp"]) == (
        "second-factor-required",
        1,
        False,
    )
    page = again.get("/sign-in/second-factor")
    assert 'id="passkey-sign-in"' in page.text and 'name="code"' not in page.text
    options = post(again, "/api/v1/auth/passkeys/sign-in-options").json()
    r = post(again, "/api/v1/auth/passkeys/sign-in", {"credential": key.get(options)})
    assert r.status_code == 200, r.text
    assert again.get("/api/v1/me").json()["username"] == name
    # A replayed answer is refused, 401, on record.
    third = web.new_client()
    post(third, "/api/v1/auth/sign-in", {"username": name, "password": PASSWORD})
    r = post(third, "/api/v1/auth/passkeys/sign-in", {"credential": key.get(options)})
    assert r.status_code == 401
    assert web.events("sign-in-failed")[-1]["details"]["step"] == "passkey"
    # The last second factor stays.
    r = again.delete(f"/api/v1/passkeys/{listed[0]['passkey_id']}", headers={"Origin": ORIGIN})
    assert r.status_code == 409


def test_a_cross_site_passkey_request_is_refused(sqlite_web: Web) -> None:
    web = sqlite_web
    name = web.user("officer")
    client = web.new_client()
    post(client, "/api/v1/auth/sign-in", {"username": name, "password": PASSWORD})
    r = client.post(
        "/api/v1/auth/passkeys/enrol-options", json={}, headers={"Origin": "https://evil.test"}
    )
    assert r.status_code == 403 and r.json()["error"]["code"] == "csrf"
    assert passkey_svc.CHALLENGE_LIFE.total_seconds() == 300
