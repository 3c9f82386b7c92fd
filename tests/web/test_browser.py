"""The pages in a real browser: Playwright driving Debian's chromium (``make install`` puts
it at /usr/bin/chromium; Playwright never downloads one) against uvicorn on a free
loopback port, on an embedded vault.

One browser and one server for the module. Sign-in with a password and TOTP (pyotp
computes the codes), enrolment on first sign-in, lockout after five failures, an officer
refused a case he is not on, and the audit page checking a proof in the browser (Ed25519
in WebCrypto, SHA-256 Merkle paths) and refusing a tampered one. Every page is scanned
with axe-core (``npm ci`` from package-lock.json) for serious or critical violations, and
no page logs an error (a CSP violation would). The screenshots in docs/img/ come from here.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import socket
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pyotp
import pytest
import uvicorn

from custodes import bootstrap
from custodes.bootstrap import Vault
from custodes.config import Settings
from custodes.media.synth import write_bodycam_clip
from custodes.services import auth as auth_svc
from custodes.services import cases, evidence, trace, users
from custodes.services import requests as request_svc
from custodes.services.audit import list_events
from custodes.web.app import create_app

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
HLS = ROOT / "src" / "custodes" / "web" / "static" / "vendor" / "hls.light.min.mjs"
# `make screenshots` writes them into docs/img (CUSTODES_SCREENSHOTS); a plain test run
# takes them in a scratch folder, so running the tests leaves the working tree as it was.
SHOTS = Path(
    os.environ.get("CUSTODES_SCREENSHOTS")
    or Path(tempfile.gettempdir()) / f"custodes-screenshots-{os.getpid()}"
)
PASSWORD = "correct horse battery staple"
ADDRESS = "127.0.0.1"

if not CHROMIUM.exists() or not AXE.exists() or not HLS.exists():  # pragma: no cover
    pytest.skip(  # `make install` puts all three
        "needs /usr/bin/chromium, node_modules/axe-core and the player's hls.js"
        " (run `make install`)",
        allow_module_level=True,
    )

from playwright.sync_api import (  # noqa: E402
    Browser,
    BrowserContext,
    Page,
    Response,
    Route,
    sync_playwright,
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((ADDRESS, 0))
        return int(s.getsockname()[1])


class UploadBytes:
    """The app, counting what the server receives of the tus API: the requests by method,
    the body bytes of every PATCH, and the PATCHes whose body is arriving now."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.requests: Counter[str] = Counter()
        self.patch_bytes = 0
        self.midway = 0  # PATCHes whose body has begun to arrive and not ended

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/api/v1/uploads"):
            await self.app(scope, receive, send)
            return
        self.requests[scope["method"]] += 1
        if scope["method"] != "PATCH":
            await self.app(scope, receive, send)
            return

        began = ended = False

        async def counting() -> Any:
            nonlocal began, ended
            message = await receive()
            if ended:
                return message
            if message["type"] == "http.request":
                self.patch_bytes += len(message.get("body", b""))
                ended = not message.get("more_body", False)
            elif message["type"] == "http.disconnect":
                ended = True
            if not began and not ended:
                self.midway += 1
            elif began and ended:
                self.midway -= 1
            began = True
            return message

        try:
            await self.app(scope, counting, send)
        finally:
            if began and not ended:
                self.midway -= 1


class Site:
    """The vault, the server's address and who is in it."""

    def __init__(
        self, vault: Vault, base: str, evidence_id: str, watched_id: str, uploads: UploadBytes
    ) -> None:
        self.vault = vault
        self.base = base
        self.evidence_id = evidence_id
        self.watched_id = watched_id  # 6 s, on a case flagged sensitive: played and traced
        self.uploads = uploads  # what the server received of tus uploads

    def url(self, path: str) -> str:
        return self.base + path

    def events(self, action: str) -> list[dict[str, Any]]:
        with self.vault.uow(readonly=True) as uow:
            return [e for e in list_events(uow) if e["action"] == action]

    def enrolled(self, username: str) -> tuple[str, str]:
        """Sign ``username`` in on the service (password, then TOTP enrolment): the signed-in
        session's cookie and the TOTP secret."""
        started = auth_svc.sign_in(self.vault, username, PASSWORD, ADDRESS, "test")
        secret = started.step.secret
        assert secret is not None
        done = auth_svc.enrol(self.vault, started.cookie, pyotp.TOTP(secret).now(), ADDRESS)
        return done.cookie, secret


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, clips: dict[str, Path]) -> Iterator[Site]:
    home = tmp_path_factory.mktemp("browser") / "vault"
    vault = bootstrap.init_vault(Settings(home=home))
    for name, role in [
        ("r.okafor", "records"),
        ("i.adler", "internal-affairs"),
        ("o.brandt", "officer"),
        ("o.locke", "officer"),
        ("a.min", "admin"),
        ("r.vance", "records"),
        ("r.quinn", "records"),
        ("r.hale", "records"),
    ]:
        users.add_user(vault, "admin", name, role, PASSWORD)
    cases.add_case(vault, "r.okafor", "2026-0415", "Traffic stop, Elm St")
    ev = evidence.ingest(vault, "r.okafor", clips["a"], "2026-0415")
    cases.add_case(vault, "r.okafor", "2026-0502", "Use of force, Harbor Rd")
    six = write_bodycam_clip(
        home.parent / "six.mp4", seconds=6, width=320, height=180, fps=15, seed=8
    )
    watched = evidence.ingest(vault, "r.okafor", six, "2026-0502")
    cases.set_case(
        vault, "r.okafor", "2026-0502", flag=["sensitive"], reason="an officer's relative"
    )
    port = _free_port()
    counted = UploadBytes(create_app(vault))
    config = uvicorn.Config(
        counted, host=ADDRESS, port=port, log_level="warning", proxy_headers=False
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield Site(vault, f"http://{ADDRESS}:{port}", ev.evidence_id, watched.evidence_id, counted)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        vault.engine.dispose()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=str(CHROMIUM))
        yield launched
        launched.close()


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    ctx = browser.new_context(viewport={"width": 1100, "height": 760}, locale="en-US")
    yield ctx
    ctx.close()


@pytest.fixture
def page(context: BrowserContext) -> Iterator[Page]:
    """A page that fails the test on any console error (a CSP violation among them)."""
    opened = context.new_page()
    problems: list[str] = []
    # A refused page or form (401, 403, 429) is what some tests ask for: the console names
    # its status; so is a network taken offline (the upload test): the request it cut.
    # Anything else logged as an error fails the test.
    expected = (
        "Failed to load resource: the server responded with a status of",
        "Failed to load resource: net::ERR_INTERNET_DISCONNECTED",
    )
    opened.on(
        "console",
        lambda msg: (
            problems.append(msg.text)
            if msg.type == "error" and not msg.text.startswith(expected)
            else None
        ),
    )
    opened.on("pageerror", lambda exc: problems.append(str(exc)))
    yield opened
    assert problems == []


def signed_in_as(site: Site, context: BrowserContext, username: str) -> str:
    """Put a signed-in session's cookie (made on the service) into the browser."""
    cookie, secret = site.enrolled(username)
    context.add_cookies(
        [
            {
                "name": "custodes_session",
                "value": cookie,
                "url": site.base,
                "httpOnly": True,
                "secure": True,
                "sameSite": "Strict",
            }
        ]
    )
    return secret


_AXE_SOURCE: list[str] = []


def accessible(page: Page) -> None:
    """axe-core finds no serious or critical violation on the page (WCAG 2.x A and AA).
    The script is evaluated over the DevTools protocol, which the page's CSP does not
    govern; the page itself never runs inline script."""
    if not _AXE_SOURCE:
        _AXE_SOURCE.append(AXE.read_text())
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.evaluate(_AXE_SOURCE[0])
    found = page.evaluate(
        """async () => {
            const r = await axe.run(document, {runOnly: {type: "tag",
                values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]}});
            return r.violations.filter(v => v.impact === "serious" || v.impact === "critical")
                .map(v => `${v.impact} ${v.id}: ${v.help} `
                    + `(${v.nodes.map(n => n.target).join(" ")})`);
        }"""
    )
    assert found == [], (page.url, found)


TAKEN: list[str] = []


def shot(page: Page, name: str) -> None:
    """A screenshot of the viewport for docs/ (docs/web.md shows them)."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"))
    TAKEN.append(name)


def test_enrolment_on_first_sign_in_then_the_case_and_evidence_pages(
    site: Site, page: Page
) -> None:
    page.goto(site.url(f"/evidence/{site.evidence_id}"))
    assert page.url == site.url(f"/sign-in?next=%2Fevidence%2F{site.evidence_id}")
    accessible(page)
    shot(page, "sign-in")
    page.fill("#username", "r.okafor")
    page.fill("#password", PASSWORD)
    page.keyboard.press("Enter")  # usable with a keyboard: Enter submits
    page.wait_for_selector("#totp-secret")
    secret = page.text_content("#totp-secret") or ""
    assert pyotp.parse_uri(page.text_content("#totp-uri") or "").secret == secret
    assert page.locator("svg.qr").count() == 1
    accessible(page)
    shot(page, "enrol")
    page.fill("#code", pyotp.TOTP(secret).now())
    page.click("text=Confirm")
    codes = page.locator("#recovery-codes code").all_text_contents()
    assert len(codes) == 10
    accessible(page)
    page.click("text=Continue")
    # Back where it was going: the evidence page, a view on record.
    assert page.url == site.url(f"/evidence/{site.evidence_id}")
    assert page.text_content("#sha256") == site.events("ingest")[0]["details"]["sha256"]
    assert page.locator("#player-slot").count() == 1
    accessible(page)
    view = site.events("view")[-1]
    assert view["actor"] == "r.okafor" and view["client"].startswith("web:session/")
    assert view["client"].endswith(" from 127.0.0.1")
    page.click("text=2026-0415")
    page.wait_for_selector("#evidence")
    assert site.evidence_id in (page.text_content("#evidence") or "")
    accessible(page)
    shot(page, "case")
    page.click("nav >> text=Dashboard")
    assert "2026-0415" in (page.text_content("#cases") or "")
    accessible(page)
    shot(page, "dashboard")
    # A keyboard reaches the content first: Tab lands on the skip link, Enter jumps past
    # the navigation, and the next Tab is the first link of the page's own content.
    page.keyboard.press("Tab")
    assert page.evaluate("() => document.activeElement.className") == "skip"
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")
    assert page.evaluate("() => document.activeElement.textContent") == "2026-0415"
    assert site.events("mfa-enrol")[-1]["actor"] == "r.okafor"
    # The case is flagged: the evidence page first asks why, then tells internal affairs.
    cases.set_case(site.vault, "r.okafor", "2026-0415", flag=["sensitive"], reason="a relative")
    page.goto(site.url(f"/evidence/{site.evidence_id}"))
    page.wait_for_selector("#reason")
    accessible(page)
    page.fill("#reason", "preparing the release decision")
    page.click("text=Open the evidence")
    page.wait_for_selector("#sha256")
    assert "internal-affairs" in (page.text_content("main") or "")
    assert site.events("view")[-1]["reason"] == "preparing the release decision"


def _tamper(change: Callable[[dict[str, Any]], None]) -> Callable[[Route], None]:
    def handle(route: Route) -> None:
        response = route.fetch()
        bundle = response.json()
        change(bundle)
        route.fulfill(response=response, body=json.dumps(bundle))

    return handle


def _verify(page: Page, seq: int) -> tuple[str, str]:
    page.evaluate("() => { delete document.getElementById('verify-result').dataset.outcome; }")
    page.click(f"#event-{seq} button.verify")
    page.wait_for_selector("#verify-result[data-outcome]")
    outcome = page.get_attribute("#verify-result", "data-outcome") or ""
    return outcome, page.text_content("#verify-result") or ""


def test_sign_in_with_totp_and_the_audit_page_verifies_in_the_browser(
    site: Site, page: Page
) -> None:
    _, secret = site.enrolled("i.adler")  # enrolled earlier; this time steps 1 and 2
    page.goto(site.url("/audit"))
    page.fill("#username", "i.adler")
    page.fill("#password", PASSWORD)
    page.click("text=Continue")
    page.wait_for_selector("#code")
    assert "/sign-in/second-factor" in page.url
    accessible(page)
    # The code of the next time step (the one of enrolment was used; each is good once).
    page.fill("#code", pyotp.TOTP(secret).at(time.time() + 30))
    page.click("button >> text=Sign in")
    page.wait_for_selector("body[data-audit-ready]")
    assert page.url == site.url("/audit")
    signed = site.events("sign-in")[-1]
    assert signed["actor"] == "i.adler" and signed["details"]["second_factor"] == "totp"

    seq = site.events("ingest")[0]["seq"]
    outcome, text = _verify(page, seq)
    assert outcome == "verified", text
    assert f"Event {seq}: ingest by r.okafor" in text
    accessible(page)
    shot(page, "audit-verified")

    # A proof whose entry was altered on the way (the actor's name) no longer leads to
    # the signed root; a checkpoint with another root fails its signature; a key other
    # than the vault's opens nothing.
    def other_actor(bundle: dict[str, Any]) -> None:
        entry = base64.b64decode(bundle["entry"]).replace(b"r.okafor", b"x.nobody")
        bundle["entry"] = base64.b64encode(entry).decode()

    page.route("**/api/v1/audit/proofs/inclusion*", _tamper(other_actor))
    outcome, text = _verify(page, seq)
    assert outcome == "failed" and "does not lead to the signed root" in text, text
    shot(page, "audit-tampered")
    page.unroute("**/api/v1/audit/proofs/inclusion*")

    def other_root(bundle: dict[str, Any]) -> None:
        origin, size, root, rest = bundle["checkpoint"].split("\n", 3)
        forged = base64.b64encode(bytes(32)).decode()
        bundle["checkpoint"] = "\n".join([origin, size, forged, rest])

    page.route("**/api/v1/audit/proofs/inclusion*", _tamper(other_root))
    outcome, text = _verify(page, seq)
    assert outcome == "failed" and "invalid signature" in text, text
    page.unroute("**/api/v1/audit/proofs/inclusion*")

    page.fill("#vkey", "other+" + "0" * 8 + "+A" + "A" * 42 + "=")
    outcome, text = _verify(page, seq)
    assert outcome == "failed" and "verifier key" in text, text

    # The log only grew since the checkpoint this browser saw on its first visit (the page
    # remembers it and fills it in); the proofs issued since put more events on it.
    seen = int((page.text_content("#checkpoint") or "").split("\n")[1])
    page.reload()
    page.wait_for_selector("body[data-audit-ready]")
    size = int(page.input_value("#old-size"))
    assert size == seen and seen < int((page.text_content("#checkpoint") or "").split("\n")[1])
    page.focus("#consistency-form button")  # nothing needs a mouse: Enter on the button
    page.keyboard.press("Enter")
    page.wait_for_selector("#verify-result[data-outcome]")
    assert page.get_attribute("#verify-result", "data-outcome") == "verified"
    assert f"extends the one of {size}" in (page.text_content("#verify-result") or "")


def _segment_number(url: str) -> int:
    return int(url.rsplit("/", 1)[1].removesuffix(".ts"))


def test_playback_of_sensitive_evidence_is_marked_and_traced_to_the_viewer(
    site: Site, context: BrowserContext, page: Page, tmp_path: Path
) -> None:
    """The player asks the reason first, plays a viewing (time advances), and the segments
    the browser received, joined, are traced back to that viewing and its viewer."""
    signed_in_as(site, context, "r.vance")
    received: list[Response] = []
    page.on(
        "response",
        lambda r: received.append(r) if "/segments/" in r.url and r.url.endswith(".ts") else None,
    )
    page.goto(site.url(f"/evidence/{site.watched_id}"))
    page.fill("#reason", "checking the use-of-force report")
    page.click("text=Open the evidence")
    page.wait_for_selector("#player-slot[data-state=idle]")
    # The reason given to open the page is the one the viewing will carry; the viewer may
    # change it. Everything by keyboard: focus the button and press Enter.
    assert page.input_value("#player-reason") == "checking the use-of-force report"
    page.fill("#player-reason", "")
    page.focus("#player-start")
    page.keyboard.press("Enter")  # a required reason left empty: the browser asks for it
    assert page.get_attribute("#player-slot", "data-state") == "idle"
    assert page.evaluate("() => document.activeElement.id") == "player-reason"
    page.keyboard.type("comparing it with the report, para 4")
    page.focus("#player-start")
    page.keyboard.press("Enter")
    page.wait_for_selector("#player-slot[data-state=playing]")
    viewing_id = page.get_attribute("#player-slot", "data-viewing") or ""
    started = site.events("viewing-started")[-1]
    assert started["actor"] == "r.vance" and started["reason"] == (
        "comparing it with the report, para 4"
    )
    assert viewing_id and viewing_id in json.dumps(started)
    # The video plays: its clock advances (hls.js, a blob: Media Source the CSP allows).
    page.wait_for_function(
        "() => { const v = document.getElementById('player');"
        " return v.currentTime > 0.5 && !v.paused; }",
        timeout=30_000,
    )
    t0 = page.evaluate("() => document.getElementById('player').currentTime")
    page.wait_for_function(
        f"() => document.getElementById('player').currentTime > {t0} + 0.3", timeout=10_000
    )
    assert page.evaluate("() => document.activeElement.id") == "player"
    assert page.locator("#player-form").is_hidden()
    accessible(page)
    shot(page, "evidence")
    # hls.js buffers ahead: all three 2 s segments arrive while it plays.
    deadline = time.monotonic() + 30
    while len({_segment_number(r.url) for r in received}) < 3:
        assert time.monotonic() < deadline, [r.url for r in received]
        page.wait_for_timeout(100)
    bodies = {}
    for r in received:
        assert r.status == 200 and f"/viewings/{viewing_id}/" in r.url, r.url
        bodies[_segment_number(r.url)] = r.body()
    assert sorted(bodies) == [0, 1, 2]
    copy = tmp_path / "what-the-browser-got.ts"
    copy.write_bytes(b"".join(bodies[n] for n in sorted(bodies)))
    # Traced by internal affairs, on the service, as `custodes trace` does.
    traced = trace.trace_leak(site.vault, "i.adler", copy, report_dir=tmp_path)
    assert traced.verdict == "attributed", traced
    assert traced.attributed == [viewing_id]
    named = next(c for c in traced.candidates if c.attributed)
    assert named.kind == "viewing" and named.recipient == "r.vance"
    # The exports page lists the viewing beside the exports, with its viewer and reason.
    page.click("nav >> text=Exports")
    row = page.locator(f"#viewings tr:has-text('{viewing_id}')").text_content() or ""
    assert "r.vance" in row and "comparing it with the report, para 4" in row, row
    accessible(page)
    shot(page, "exports")


def test_a_request_is_decided_on_the_decision_screen(
    site: Site, context: BrowserContext, page: Page
) -> None:
    """The queue, the rules that fired with their citations, and an override that the
    browser refuses without a reason and the vault records with it."""
    added = request_svc.add_request(
        site.vault, "r.okafor", request_svc.AddRequest("2026-0502", "Denver Post", "press")
    )
    signed_in_as(site, context, "r.quinn")
    page.goto(site.url("/dashboard"))
    page.click("nav >> text=Requests")
    assert "Denver Post" in (page.text_content("#requests") or "")
    accessible(page)
    page.click(f"text={added.request_id}")
    proposed = page.text_content("#proposed") or ""
    assert proposed in request_svc.OUTCOMES
    rules = page.text_content("#rules") or ""
    assert "(decisive)" in rules and "C.R.S." in rules, rules
    assert page.locator("#grounds li").count() >= 1
    assert "Not decided yet." in (page.text_content("#decisions") or "")
    accessible(page)
    shot(page, "request")
    before = len(site.events("request-decide"))
    other = next(o for o in request_svc.OUTCOMES if o != proposed)
    page.select_option("#override", other)
    page.click("#override-form button")  # no reason: the browser keeps the form
    assert page.evaluate("() => document.activeElement.id") == "override-reason"
    assert len(site.events("request-decide")) == before
    page.keyboard.type("the footage is already public through the officer's own post")
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")  # the Override button, by keyboard
    page.wait_for_selector(f"#decisions >> text={other}")
    assert len(site.events("request-decide")) == before + 1
    decided = site.events("request-decide")[-1]
    assert decided["actor"] == "r.quinn" and decided["details"]["override"] is True
    assert decided["reason"] == "the footage is already public through the officer's own post"
    assert decided["details"]["proposed"] == proposed and decided["details"]["outcome"] == other
    assert "the footage is already public" in (page.text_content("#decisions") or "")
    accessible(page)


def test_five_failures_lock_the_account(site: Site, page: Page) -> None:
    page.goto(site.url("/sign-in"))
    for attempt in range(1, 6):
        page.fill("#username", "o.locke")
        page.fill("#password", f"not the password {attempt}")
        page.click("text=Continue")
        page.wait_for_selector("#error")
        message = page.text_content("#error") or ""
        if attempt < 5:
            assert "wrong username or password" in message
    assert "locked for 10 minutes" in message, message
    page.fill("#username", "o.locke")
    page.fill("#password", PASSWORD)  # the right one: still locked
    page.click("text=Continue")
    page.wait_for_selector("#error")
    assert "the account is locked" in (page.text_content("#error") or "")
    assert page.locator("#totp-secret").count() == 0
    accessible(page)
    assert site.events("account-locked")[-1]["actor"] == "o.locke"


def test_an_officer_is_refused_a_case_he_is_not_on(
    site: Site, context: BrowserContext, page: Page
) -> None:
    signed_in_as(site, context, "o.brandt")
    before = len(site.events("access-refused"))
    response = page.goto(site.url("/cases/2026-0415"))
    assert response is not None and response.status == 403
    assert "access-denied" in (page.text_content("#error") or "")
    accessible(page)
    refused = site.events("access-refused")
    assert len(refused) == before + 1 and refused[-1]["actor"] == "o.brandt"
    assert refused[-1]["client"].startswith("web:session/")
    page.goto(site.url("/dashboard"))
    assert "2026-0415" not in (page.text_content("#cases") or "")


def test_an_admin_sees_users_sessions_and_tokens(
    site: Site, context: BrowserContext, page: Page
) -> None:
    signed_in_as(site, context, "a.min")
    page.goto(site.url("/users"))
    assert "o.brandt" in (page.text_content("#users") or "")
    accessible(page)
    page.click("nav >> text=Sessions")
    assert "i.adler" in (page.text_content("#sessions") or "")
    accessible(page)
    shot(page, "sessions")
    page.click("nav >> text=API tokens")
    page.fill("#username", "r.okafor")
    page.fill("#expires", "1h")
    page.click("text=Create token")
    token = page.text_content("#token-value") or ""
    assert token.startswith("cst_")
    accessible(page)
    shot(page, "tokens")
    assert site.events("token-create")[-1]["actor"] == "a.min"


def _accepted(page: Page) -> int:
    return int(page.get_attribute("#upload", "data-accepted") or 0)


def test_an_upload_survives_a_dropped_connection_and_becomes_evidence(
    site: Site, context: BrowserContext, page: Page, tmp_path: Path
) -> None:
    """The upload page sends a video in 256 KiB pieces over a slowed connection; it is
    paused and resumed, the page reloaded and the file chosen again, then the network goes
    offline mid-piece and comes back: each time the upload goes on from the bytes the
    server kept (the server receives each byte once, one upload is begun) and becomes
    evidence with the file's SHA-256. The same file again, and a text file, are refused
    with the vault's one line."""
    clip = write_bodycam_clip(
        tmp_path / "cam-7.mp4",
        seconds=3,
        width=640,
        height=360,
        fps=15,
        seed=11,
        crf=4,
        preset="ultrafast",
    )
    size = clip.stat().st_size
    sha = hashlib.sha256(clip.read_bytes()).hexdigest()
    assert size > 3_000_000
    cases.add_case(site.vault, "r.okafor", "2026-0610", "Foot pursuit, Lark Ave")
    signed_in_as(site, context, "r.hale")
    page.goto(site.url("/cases/2026-0610"))
    page.click("#upload-link")
    page.wait_for_selector("#upload-form:not([hidden])")
    assert page.url == site.url("/cases/2026-0610/upload")
    accessible(page)
    page.evaluate("() => { document.getElementById('upload-form').dataset.chunkSize = 262144; }")
    # About 1.5 MB/s up: each piece is on the wire for a while, so the cut lands in one.
    cdp = context.new_cdp_session(page)

    def network(offline: bool) -> None:  # Playwright's set_offline, with the slow uplink
        conditions = {"latency": 0, "downloadThroughput": -1, "uploadThroughput": 1.5e6}
        cdp.send("Network.emulateNetworkConditions", {"offline": offline, **conditions})

    network(offline=False)
    before = (dict(site.uploads.requests), site.uploads.patch_bytes)
    cut: list[str] = []
    page.on(
        "requestfailed",
        lambda r: cut.append(r.failure or "") if r.method == "PATCH" else None,
    )
    page.set_input_files("#upload-file", str(clip))
    page.fill("#upload-officer", "o.brandt")
    page.click("#upload-start")
    page.wait_for_function(
        f"() => +document.getElementById('upload').dataset.accepted > {size // 5}"
    )
    page.click("#upload-pause")
    assert page.get_attribute("#upload", "data-state") == "paused"
    paused_at = _accepted(page)
    accessible(page)
    page.locator("#upload-status").scroll_into_view_if_needed()
    shot(page, "upload")
    page.click("#upload-resume")
    page.wait_for_function(
        f"() => +document.getElementById('upload').dataset.accepted > {paused_at + size // 5}"
    )
    # The page is reloaded mid-upload: the same file chosen again resumes the upload whose
    # address this browser kept (tus-js-client's fingerprint in localStorage).
    reloaded_at = _accepted(page)
    page.reload()
    page.wait_for_selector("#upload-form:not([hidden])")
    page.evaluate("() => { document.getElementById('upload-form').dataset.chunkSize = 262144; }")
    page.set_input_files("#upload-file", str(clip))
    page.click("#upload-start")
    assert "Resuming the earlier upload" in (page.text_content("#upload-status") or "")
    page.wait_for_function(
        f"() => +document.getElementById('upload').dataset.accepted > {reloaded_at + size // 10}"
    )
    # The network goes down while a piece is on its way: part of it has reached the server.
    deadline = time.monotonic() + 30
    while not site.uploads.midway:
        assert time.monotonic() < deadline
        time.sleep(0.002)
    network(offline=True)
    page.wait_for_selector("#upload[data-state=offline]")
    assert page.evaluate("() => navigator.onLine") is False
    cut_at = _accepted(page)
    assert cut_at < size
    page.wait_for_timeout(500)
    network(offline=False)  # the browser's `online` event: it resumes by itself
    page.wait_for_selector("#upload-result[data-outcome]", timeout=60_000)
    assert page.get_attribute("#upload-result", "data-outcome") == "done", page.text_content(
        "#upload-result"
    )
    evidence_id = page.text_content("#upload-evidence") or ""
    assert page.text_content("#upload-sha256") == sha
    ingested = site.events("ingest")[-1]
    assert ingested["evidence"] == evidence_id and ingested["details"]["sha256"] == sha
    assert ingested["actor"] == "r.hale"
    # Resumed, never restarted: the cut failed a PATCH in the browser, yet one upload was
    # begun and the server received every byte once (what arrived of the cut piece was
    # kept, and the rest sent from there).
    posts = site.uploads.requests["POST"] - before[0].get("POST", 0)
    heads = site.uploads.requests["HEAD"] - before[0].get("HEAD", 0)
    assert posts == 1 and heads >= 2, site.uploads.requests
    assert site.uploads.patch_bytes - before[1] == size
    assert "net::ERR_INTERNET_DISCONNECTED" in cut, cut  # (a pause aborts one: ERR_ABORTED)
    started = [e for e in site.events("upload-started") if e["case"] == "2026-0610"]
    assert len(started) == 1 and started[0]["details"]["length"] == size
    accessible(page)

    # The same file again: refused by the ingest use case, one line, nothing retried.
    page.set_input_files("#upload-file", str(clip))
    page.click("#upload-start")
    page.wait_for_selector("#upload-result[data-outcome=error]", timeout=60_000)
    message = page.text_content("#upload-result") or ""
    assert f"already ingested as {evidence_id}" in message and "(conflict)" in message, message
    assert page.evaluate("() => document.activeElement.id") == "upload-result"
    accessible(page)
    # Not a video: the same.
    page.set_input_files(
        "#upload-file",
        {"name": "notes.txt", "mimeType": "text/plain", "buffer": b"shift notes\n" * 500},
    )
    page.click("#upload-start")
    page.wait_for_function(
        "() => document.getElementById('upload-result').textContent.includes('not a video')"
    )
    assert page.get_attribute("#upload-result", "data-outcome") == "error"
    refused = site.events("ingest-refused")[-2:]
    assert [e["actor"] for e in refused] == ["r.hale", "r.hale"]
    assert not any(site.vault.settings.home.joinpath("uploads").glob("UP-*/cam-7.mp4"))


def test_the_screenshots_are_small() -> None:
    for name in TAKEN:
        size = (SHOTS / f"{name}.png").stat().st_size
        # The evidence page shows a frame of video (generated noise compresses badly).
        assert 2_000 < size < (400_000 if name == "evidence" else 250_000), (name, size)
