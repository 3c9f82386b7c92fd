"""A passkey in a real browser: Chromium's virtual authenticator (over the DevTools
protocol: a CTAP2 platform authenticator with user verification) enrols a passkey at the
first sign-in, and the next sign-in passes its second factor with it, all through the
pages and static/passkeys.js (@simplewebauthn/browser). Playwright drives Debian's
chromium as tests/web/test_browser.py does.

WebAuthn wants a secure context and a host name for its RP ID (an IP address is none):
the server listens on 127.0.0.1 and the browser reaches it as http://localhost, which
browsers treat as secure."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from custodes import bootstrap
from custodes.bootstrap import Vault
from custodes.config import Settings
from custodes.services import users
from custodes.services.audit import list_events
from custodes.web.app import create_app

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
VENDOR = ROOT / "src" / "custodes" / "web" / "static" / "vendor"
LIBRARY = VENDOR / "simplewebauthn-browser.umd.min.js"
PASSWORD = "correct horse battery staple"

if not CHROMIUM.exists() or not AXE.exists() or not LIBRARY.exists():  # pragma: no cover
    pytest.skip(  # `make install` puts all three
        "needs /usr/bin/chromium, node_modules/axe-core and @simplewebauthn/browser in "
        "static/vendor (run `make install`)",
        allow_module_level=True,
    )

from playwright.sync_api import Page, sync_playwright  # noqa: E402


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Vault, str]]:
    vault = bootstrap.init_vault(Settings(home=tmp_path_factory.mktemp("passkey") / "vault"))
    users.add_user(vault, "admin", "p.kim", "records", PASSWORD)
    port = _free_port()
    config = uvicorn.Config(
        create_app(vault), host="127.0.0.1", port=port, log_level="warning", proxy_headers=False
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield vault, f"http://localhost:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        vault.engine.dispose()


def _events(vault: Vault, action: str) -> list[dict[str, Any]]:
    with vault.uow(readonly=True) as uow:
        return [e for e in list_events(uow) if e["action"] == action]


def _accessible(page: Page) -> None:
    """No serious or critical axe-core violation (as tests/web/test_browser.py scans)."""
    if not page.evaluate("() => typeof window.axe === 'object'"):
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


def _password(page: Page, base: str) -> None:
    page.goto(base + "/sign-in")
    page.fill("#username", "p.kim")
    page.fill("#password", PASSWORD)
    page.keyboard.press("Enter")


def test_enrol_a_passkey_then_sign_in_with_it(served: tuple[Vault, str]) -> None:
    vault, base = served
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM))
        try:
            context = browser.new_context(viewport={"width": 1100, "height": 760})
            page = context.new_page()
            problems: list[str] = []
            page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda exc: problems.append(str(exc)))
            cdp = context.new_cdp_session(page)
            cdp.send("WebAuthn.enable")
            made = cdp.send(
                "WebAuthn.addVirtualAuthenticator",
                {
                    "options": {
                        "protocol": "ctap2",
                        "transport": "internal",
                        "hasResidentKey": True,
                        "hasUserVerification": True,
                        "isUserVerified": True,
                    }
                },
            )
            assert page.evaluate("() => window.isSecureContext") is False  # about:blank
            # The first sign-in: a passkey instead of TOTP.
            _password(page, base)
            page.wait_for_selector("#passkey-enrol:not([hidden])")
            assert page.evaluate("() => window.isSecureContext") is True
            _accessible(page)
            page.fill("#passkey-name", "test laptop")
            page.click("#passkey-enrol")
            page.wait_for_selector("#passkey-codes:not([hidden])")
            assert page.locator("#recovery-codes code").count() == 10
            _accessible(page)
            enrolled = _events(vault, "passkey-enrol")
            assert [(e["object_id"], e["details"]["name"]) for e in enrolled] == [
                ("p.kim", "test laptop")
            ]
            held = cdp.send("WebAuthn.getCredentials", {"authenticatorId": made["authenticatorId"]})
            assert len(held["credentials"]) == 1
            page.click("text=Continue")
            page.wait_for_url(base + "/dashboard")
            page.click("header >> text=Sign out")
            page.wait_for_url(base + "/sign-in")
            # The next sign-in: the passkey is the second factor.
            _password(page, base)
            page.wait_for_url(base + "/sign-in/second-factor?next=/dashboard")
            assert page.locator("#code").count() == 0  # no TOTP for this account
            page.wait_for_selector("#passkey-sign-in:not([hidden])")
            _accessible(page)
            page.click("#passkey-sign-in")
            page.wait_for_url(base + "/dashboard")
            used = _events(vault, "passkey-use")
            assert len(used) == 1 and used[0]["details"]["sign_count"] >= 1
            assert _events(vault, "sign-in")[-1]["details"]["second_factor"] == "passkey"
            # The user's own passkeys, renamed.
            page.goto(base + "/passkeys")
            assert "test laptop" in (page.text_content("#passkeys") or "")
            _accessible(page)
            pk = enrolled[0]["details"]["passkey"]
            page.fill(f"#name-{pk}", "work laptop")
            page.click(f"button[aria-label='Rename passkey {pk}']")
            page.wait_for_selector("#passkeys >> text=work laptop")
            assert problems == []
        finally:
            browser.close()
