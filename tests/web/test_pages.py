"""The pages in process (TestClient): forms, redirects, refusals as pages, and the audit
proof routes the audit page uses. The real browser runs in test_browser.py."""

from __future__ import annotations

import re
from pathlib import Path

import pyotp
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from custodes.services import auth as auth_svc
from custodes.services import cases, evidence, requests
from custodes.services import proofs as proof_svc
from custodes.web import pages
from custodes.web.routes import export_pages, request_pages, upload_pages
from custodes.web.routes import pages as page_routes
from tests.web.conftest import ORIGIN, PASSWORD, Web

FORM = {"Origin": ORIGIN}


def form(client: TestClient, path: str, data: dict[str, str], **kw: object) -> object:
    return client.post(path, data=data, headers=FORM, follow_redirects=False, **kw)  # type: ignore[arg-type]


def test_templates_and_scripts_keep_the_csp() -> None:
    """No inline script, no style attribute or element, no inline event handler: the CSP
    (script-src 'self', default-src 'self') would block them in the browser."""
    for template in (pages.HERE / "templates").glob("*.html"):
        text = template.read_text()
        for script in re.findall(r"<script[^>]*>", text):
            assert "src=" in script, (template.name, script)
        assert not re.search(r"\sstyle=|<style|\son[a-z]+=", text), template.name
    assert pages.qr_svg("otpauth://totp/x?secret=JBSWY3DPEHPK3PXP").startswith("<svg")
    assert "style" not in pages.qr_svg("otpauth://totp/x?secret=JBSWY3DPEHPK3PXP")


def test_signing_in_with_the_forms_enrols_then_signs_in(sqlite_web: Web) -> None:
    web = sqlite_web
    ann = web.user("records")
    c = web.new_client()
    assert c.get("/cases", follow_redirects=False).status_code == 404  # no such page
    r = c.get("/dashboard", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/sign-in?next=%2Fdashboard"
    r = form(c, "/sign-in", {"username": ann, "password": "wrong password!", "next": "/audit"})
    assert r.status_code == 401 and "wrong username or password" in r.text
    assert 'value="/audit"' in r.text
    r = form(c, "/sign-in", {"username": ann, "password": PASSWORD, "next": "//evil.example"})
    assert r.status_code == 200 and "set-cookie" in r.headers
    secret = re.search(r'id="totp-secret">([A-Z2-7]+)<', r.text)
    assert secret is not None and "<svg" in r.text
    # A wrong code shows the same secret again; the server checks against its own.
    bad = form(c, "/sign-in/enrol", {"code": "000000", "secret": secret[1], "uri": "otpauth://x"})
    assert bad.status_code == 400 and secret[1] in bad.text and "wrong totp code" in bad.text
    code = pyotp.TOTP(secret[1]).at(web.clock.now())
    r = form(c, "/sign-in/enrol", {"code": code, "next": "//evil.example"})
    assert r.status_code == 200, r.text
    codes = re.findall(r"<li><code>([^<]+)</code>", r.text)
    assert len(codes) == 10
    assert 'href="/dashboard"' in r.text  # not the other site
    assert c.get("/dashboard").status_code == 200
    assert web.events("mfa-enrol")[-1]["actor"] == ann
    # Signing out ends the session; the pages then send to the sign-in page again.
    r = form(c, "/sign-out", {})
    assert r.status_code == 303 and r.headers["location"] == "/sign-in"
    assert c.get("/dashboard", follow_redirects=False).status_code == 303
    # The second time: password, then a code on the second-factor page.
    web.clock.advance(seconds=31)
    r = form(c, "/sign-in", {"username": ann, "password": PASSWORD, "next": "/audit"})
    assert r.status_code == 303
    assert r.headers["location"] == "/sign-in/second-factor?next=/audit"
    r = form(c, "/sign-in/second-factor", {"code": "000000", "next": "/audit"})
    assert r.status_code == 401 and "wrong totp code" in r.text
    code = pyotp.TOTP(secret[1]).at(web.clock.now())
    r = form(c, "/sign-in/second-factor", {"code": code, "next": "/audit"})
    assert r.status_code == 303 and r.headers["location"] == "/audit"
    assert "Audit log" in c.get("/audit").text
    # A recovery code instead of the app's, once.
    form(c, "/sign-out", {})
    for code, status in [(codes[0], 303), (codes[0], 401)]:
        r = form(c, "/sign-in", {"username": ann, "password": PASSWORD})
        assert r.status_code == 303
        r = form(c, "/sign-in/second-factor", {"recovery_code": code})
        assert r.status_code == status, r.text
    assert web.events("recovery-code-use")[-1]["details"]["left"] == 9


def test_a_form_from_another_site_is_refused(sqlite_web: Web) -> None:
    web = sqlite_web
    c = web.sign_in(web.user("admin"))
    r = c.post(
        "/tokens",
        data={"expires": "1h"},
        headers={"Origin": "https://evil.example"},
        follow_redirects=False,
    )
    assert r.status_code == 403 and r.json()["error"]["code"] == "csrf"
    assert web.events("token-create") == []
    r = form(c, "/tokens", {"expires": "1h"})
    assert r.status_code == 201 and re.search(r'id="token-value">cst_', r.text)
    assert len(web.events("token-create")) == 1
    r = c.post("/tokens", content=b"expires=1h", headers={**FORM, "Content-Type": "text/plain"})
    assert r.status_code == 422 and "x-www-form-urlencoded" in r.text


def test_refusals_are_pages_on_record(sqlite_web: Web, clips: dict[str, Path]) -> None:
    web = sqlite_web
    rec, officer = web.user("records"), web.user("officer")
    cases.add_case(web.vault, rec, "C-PAGES", "pages")
    ev = evidence.ingest(web.vault, rec, clips["a"], "C-PAGES")
    c = web.sign_in(officer)
    before = len(web.events("access-refused"))
    r = c.get("/cases/C-PAGES")
    assert r.status_code == 403 and r.headers["content-type"].startswith("text/html")
    assert "access-denied" in r.text and "C-PAGES" in r.text
    assert "default-src 'self'" in r.headers["content-security-policy"]
    refused = web.events("access-refused")
    assert len(refused) == before + 1 and refused[-1]["actor"] == officer
    assert c.get(f"/evidence/{ev.evidence_id}").status_code == 403
    assert c.get("/users").status_code == 403
    assert c.get("/no/such/page").status_code == 404
    # Records opens it; a flagged case asks for the reason first, then alerts.
    cases.set_case(web.vault, rec, "C-PAGES", flag=["sensitive"], reason="the mayor's son")
    r2 = web.sign_in(rec)
    page = r2.get(f"/evidence/{ev.evidence_id}")
    assert page.status_code == 403 and 'name="reason"' in page.text
    views = len(web.events("view"))
    page = r2.post(f"/evidence/{ev.evidence_id}", data={"reason": "court order 12"}, headers=FORM)
    assert page.status_code == 200, page.text
    assert ev.sha256 in page.text and "Play the marked copy" in page.text
    assert len(web.events("view")) == views + 1
    assert web.events("view")[-1]["reason"] == "court order 12"
    case_page = r2.get("/cases/C-PAGES")
    assert case_page.status_code == 200 and ev.evidence_id in case_page.text


def test_the_proof_routes_give_bundles_an_outsider_can_check(sqlite_web: Web) -> None:
    web = sqlite_web
    ia, officer = web.user("internal-affairs"), web.user("officer")
    c = web.sign_in(ia)
    vkey = c.get("/api/v1/audit/pubkey").json()["vkey"]
    bundle = c.get("/api/v1/audit/proofs/inclusion", params={"seq": 1}).json()
    checked = proof_svc.verify_bundle(bundle, vkey, web.vault.verify_signature)
    assert checked.kind == "inclusion" and checked.event["seq"] == 1
    old = bundle["tree_size"]
    web.sign_in(officer)  # the log grows
    r = c.get("/api/v1/audit/proofs/consistency", params={"old_size": old})
    assert r.status_code == 200, r.text
    grown = proof_svc.verify_bundle(r.json(), vkey, web.vault.verify_signature)
    assert grown.kind == "consistency" and grown.new_size > old  # type: ignore[union-attr]
    issued = web.events("proof-issued")
    assert [e["details"]["kind"] for e in issued[-2:]] == ["inclusion", "consistency"]
    assert issued[-1]["client"].startswith("web:session/")
    assert c.get("/api/v1/audit/proofs/inclusion?seq=-1").status_code == 422
    far = c.get("/api/v1/audit/proofs/inclusion", params={"seq": 10**6})
    assert far.status_code == 404 and far.json()["error"]["code"] == "not-found"
    none = c.get("/api/v1/audit/proofs/consistency", params={"old_size": 10**6})
    assert none.status_code in (404, 422)
    refused = web.sign_in(officer, web.new_client()).get("/api/v1/audit/proofs/inclusion?seq=1")
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "access-denied"


def test_safe_next_stays_on_this_site() -> None:
    for bad in ("//evil.example", "https://evil.example", "/\\evil.example", "", None):
        assert pages.safe_next(bad) == "/dashboard"
    assert pages.safe_next("/cases/C-1") == "/cases/C-1"


def test_an_admin_ends_a_session_from_the_page(sqlite_web: Web) -> None:
    web = sqlite_web
    admin, ann = web.user("admin"), web.user("records")
    a = web.sign_in(admin)
    other = web.sign_in(ann)
    short = next(s.session for s in auth_svc.list_sessions(web.vault, admin) if s.username == ann)
    sessions = a.get("/sessions")
    assert sessions.status_code == 200 and short in sessions.text
    r = form(a, f"/sessions/{short}/end", {})
    assert r.status_code == 303 and r.headers["location"] == "/sessions"
    assert other.get("/dashboard", follow_redirects=False).status_code == 303
    assert web.events("session-end")[-1]["details"]["session"] == short


ROLES = ["officer", "supervisor", "records", "prosecutor", "internal-affairs", "admin", "command"]
READERS = {"supervisor", "records", "internal-affairs", "admin"}


def _only(ok: set[str], allowed: int = 200, refused: int = 403) -> dict[str, int]:
    return {r: allowed if r in ok else refused for r in ROLES}


ALL = dict.fromkeys(ROLES, 200)
#: Every page x every role, as the API's matrix (test_matrix.py) has it for the same use
#: cases. A page that leaves a section out for a role answers 200 for it.
PAGES: list[tuple[str, str, dict[str, int]]] = [
    ("GET", "/dashboard", ALL),
    ("GET", "/cases/{case}", _only(READERS | {"command"})),
    ("GET", "/cases/{case}/upload", _only(READERS | {"command"})),  # the case, as above
    ("GET", "/evidence/{evidence}", _only(READERS)),
    ("POST", "/evidence/{evidence}", _only(READERS)),
    ("GET", "/audit", ALL),
    ("GET", "/sessions", ALL),
    ("GET", "/tokens", ALL),
    ("POST", "/tokens", dict.fromkeys(ROLES, 201)),  # a token for yourself
    ("POST", "/tokens/NO-SUCH/revoke", _only({"admin"}, 404)),
    ("POST", "/sessions/NO-SUCH/end", _only({"admin"}, 404)),
    ("GET", "/passkeys", ALL),  # your own
    ("POST", "/passkeys/NO-SUCH/rename", dict.fromkeys(ROLES, 422)),  # the form names none
    ("POST", "/passkeys/NO-SUCH/remove", dict.fromkeys(ROLES, 404)),
    ("GET", "/users", _only({"admin"})),
    ("GET", "/exports", _only(READERS)),
    ("GET", "/requests", ALL),  # the requests you may see (none is refused, some left out)
    ("GET", "/requests/{request}", _only({"supervisor", "records", "internal-affairs", "command"})),
    ("POST", "/requests/{request}/decide", _only({"records"}, 303)),  # accepted, by a form
]
_NO_SUCH = {"tokens": "{token_id}", "passkeys": "{passkey_id}"}
#: Pages outside the matrix: the sign-in steps (above) and the redirect home.
SIGN_IN_PAGES = {
    ("GET", "/"),
    ("GET", "/sign-in"),
    ("POST", "/sign-in"),
    ("POST", "/sign-in/enrol"),
    ("GET", "/sign-in/second-factor"),
    ("POST", "/sign-in/second-factor"),
    ("POST", "/sign-out"),
}


def test_every_page_for_every_role(sqlite_web: Web, clips: dict[str, Path]) -> None:
    web = sqlite_web
    routes = {
        (method, route.path)
        for router in (
            page_routes.router,
            request_pages.router,
            export_pages.router,
            upload_pages.router,
        )
        for route in router.routes
        if isinstance(route, APIRoute)
        for method in route.methods
    }
    templates = {
        (
            m,
            p.replace("{case}", "{number}")
            .replace("{evidence}", "{evidence_id}")
            .replace("{request}", "{request_id}"),
        )
        for m, p, _ in PAGES
    }
    templates = {
        (m, p.replace("NO-SUCH", _NO_SUCH.get(p.split("/")[1], "{session}"))) for m, p in templates
    }
    assert routes - SIGN_IN_PAGES == templates
    names = {role: web.user(role) for role in ROLES}
    cases.add_case(web.vault, names["records"], "C-PM", "page matrix")
    ev = evidence.ingest(web.vault, names["records"], clips["b"], "C-PM")
    asked = requests.add_request(
        web.vault, names["records"], requests.AddRequest("C-PM", "Denver Post", "press")
    )
    for role in ROLES:
        client = web.sign_in(names[role])
        for method, template, expected in PAGES:
            path = template.format(case="C-PM", evidence=ev.evidence_id, request=asked.request_id)
            before = len(web.events("access-refused"))
            if method == "POST":
                data = {"expires": "1h", "reason": "the page matrix"}
                r = client.post(path, data=data, headers=FORM, follow_redirects=False)
            else:
                r = client.get(path, follow_redirects=False)
            assert r.status_code == expected[role], (role, method, path, r.text[:300])
            if r.status_code == 303:  # a form that did its work: back to its page
                assert r.headers["location"].startswith("/"), (role, path)
            else:
                assert r.headers["content-type"].startswith("text/html"), (role, path)
            if expected[role] == 403:
                assert "access-denied" in r.text
                refused = web.events("access-refused")
                assert len(refused) == before + 1, (role, path)
                assert refused[-1]["actor"] == names[role]
                assert refused[-1]["client"].startswith("web:session/")
