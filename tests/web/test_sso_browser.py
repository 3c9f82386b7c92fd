"""Single sign-on in a real browser (Debian's chromium, as tests/web/test_browser.py):
the provider on ``localhost`` and custodes on ``127.0.0.1`` are different sites, as a
department's provider and its vault are, so the cookies' SameSite rules apply as they
will in service. The pre-session cookie (Lax) must come back on the provider's redirect,
and the session cookie (Strict), set by a response to that cross-site redirect, must be
sent on the page custodes moves on to (a redirect chain begun on another site would not
carry it; the callback answers with a page that moves on by itself)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pyotp
import pytest
import uvicorn

from custodes import bootstrap
from custodes.config import Settings
from custodes.services import users
from custodes.services.audit import list_events
from custodes.web.app import create_app
from tests.web.oidc_provider import Person, Provider

CHROMIUM = Path("/usr/bin/chromium")
AXE = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"
ADDRESS = "127.0.0.1"

if not CHROMIUM.exists() or not AXE.exists():  # pragma: no cover
    pytest.skip(
        "needs /usr/bin/chromium and node_modules/axe-core (run `make install`)",
        allow_module_level=True,
    )

from playwright.sync_api import Page, sync_playwright  # noqa: E402


def _accessible(page: Page) -> None:
    """axe-core finds no serious or critical violation (as tests/web/test_browser.py)."""
    page.evaluate(AXE.read_text())
    found = page.evaluate(
        """async () => {
            const r = await axe.run(document, {runOnly: {type: "tag",
                values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]}});
            return r.violations.filter(v => v.impact === "serious" || v.impact === "critical")
                .map(v => `${v.impact} ${v.id}: ${v.help}`);
        }"""
    )
    assert found == [], (page.url, found)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((ADDRESS, 0))
        return int(s.getsockname()[1])


@pytest.fixture
def provider() -> Iterator[Provider]:
    p = Provider("custodes-browser", "browser-secret-" + "y" * 20, host="localhost").start()
    p.interactive = True  # the person approves on the provider's page
    yield p
    p.stop()


@pytest.mark.parametrize("trust_mfa", [True, False])
def test_the_button_signs_in_through_a_provider_on_another_site(
    tmp_path: Path, provider: Provider, trust_mfa: bool
) -> None:
    secret = tmp_path / "secret"
    secret.write_text(provider.client_secret)
    vault = bootstrap.init_vault(
        Settings(
            home=tmp_path / "vault",
            oidc_issuer=provider.issuer,
            oidc_client_id=provider.client_id,
            oidc_client_secret_file=secret,
            oidc_trust_mfa=trust_mfa,
            oidc_name="County IdP",
        )
    )
    users.add_user(vault, "admin", "o.brandt", "officer")  # no password: the provider only
    provider.person = Person("sub-1", {"preferred_username": "o.brandt", "amr": ["pwd", "otp"]})
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(vault), host=ADDRESS, port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    base = f"http://{ADDRESS}:{port}"
    provider.redirect_uris.add(base + "/sign-in/sso/callback")
    problems: list[str] = []
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(CHROMIUM))
            page = browser.new_context().new_page()
            page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
            page.goto(f"{base}/audit")
            assert page.url == f"{base}/sign-in?next=%2Faudit"
            _accessible(page)  # the button beside the password form
            page.click("text=Sign in with County IdP")
            page.wait_for_url(f"{provider.issuer}/authorize?*")
            page.click("text=Approve")  # a form on the provider's site: a cross-site way back
            if trust_mfa:
                page.wait_for_url(f"{base}/audit")  # through the provider, and on by itself
                assert "o.brandt" in (page.text_content("header") or "")
            else:
                page.wait_for_selector("#totp-secret")  # custodes' own second factor
                assert page.url.startswith(f"{base}/sign-in/sso/callback?code=")
                secret_text = page.text_content("#totp-secret") or ""
                page.fill("#code", pyotp.TOTP(secret_text).now())
                page.click("text=Confirm")  # the session cookie goes with the form
                assert page.locator("#recovery-codes code").count() == 10
                page.click("text=Continue")
                page.wait_for_url(f"{base}/audit")
                assert "o.brandt" in (page.text_content("header") or "")
            cookies = {c["name"]: c for c in page.context.cookies()}
            assert cookies["custodes_session"]["sameSite"] == "Strict"
            assert "custodes_sso" not in cookies
            browser.close()
    finally:
        server.should_exit = True
        thread.join(timeout=10)
    with vault.uow(readonly=True) as uow:
        [signed] = [e for e in list_events(uow) if e["action"] == "sso-sign-in"]
    want = "signed-in" if trust_mfa else "enrol-required"
    assert signed["details"]["status"] == want
    assert problems == []
    vault.engine.dispose()
