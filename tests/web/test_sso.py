"""Single sign-on against a real OpenID provider on loopback (``tests/web/oidc_provider.py``):
custodes served by uvicorn over TLS on a free port (so that the Secure cookies travel, as
in a browser), and httpx following the redirects as a browser does, from the sign-in
page's button through the provider and back.

Checked: the whole sign-in (PKCE, state, nonce, the ID token's signature and claims), the
session being the password sign-in's (idle lock, the role from custodes' own table,
vouched for by the signed log), custodes' second factor asked when the provider's MFA is
not asserted or not trusted, and each refusal (a tampered state, a callback without its
pre-session, a wrong nonce, another key, an expired token, another audience or issuer,
an unknown user) refused and on the audit log with its reason and the client's address.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import ipaddress
import re
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pyotp
import pytest
import uvicorn
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from fastapi.testclient import TestClient
from joserfc.jwk import RSAKey

from custodes import bootstrap
from custodes.bootstrap import Vault
from custodes.config import Settings
from custodes.core.errors import InvalidInput, Unauthenticated
from custodes.services import auth as auth_svc
from custodes.services import passkeys as passkey_svc
from custodes.services import sso as sso_svc
from custodes.services import users
from custodes.services.audit import list_events
from custodes.services.verify import verify_vault
from custodes.web.app import create_app
from tests.factories.authenticator import SoftAuthenticator
from tests.factories.cli import invoke
from tests.web.conftest import MovableClock, Web
from tests.web.oidc_provider import Person, Provider, Spoil

ADDRESS = "127.0.0.1"
CLIENT_ID = "custodes-test"


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (and its key), made for the module."""
    folder = tmp_path_factory.mktemp("tls")
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "custodes test")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(ADDRESS))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@pytest.fixture(scope="module")
def provider() -> Iterator[Provider]:
    """The OpenID provider, for the module; each test sets its person and spoils."""
    p = Provider(CLIENT_ID, "s3cret-" + "x" * 24).start()
    yield p
    p.stop()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((ADDRESS, 0))
        return int(s.getsockname()[1])


@dataclasses.dataclass
class Site:
    vault: Vault
    clock: MovableClock
    base: str
    tls_context: ssl.SSLContext
    provider: Provider

    def client(self) -> httpx.Client:
        """A browser: a cookie jar, redirects followed, the test CA trusted."""
        return httpx.Client(
            base_url=self.base, verify=self.tls_context, follow_redirects=True, timeout=20
        )

    def events(self, action: str) -> list[dict[str, Any]]:
        with self.vault.uow(readonly=True) as uow:
            return [e for e in list_events(uow) if e["action"] == action]

    def sign_in(self, client: httpx.Client, next: str = "/dashboard") -> httpx.Response:
        """Press "Sign in with ...": through the provider and back to the callback."""
        return client.post("/sign-in/sso", data={"next": next}, headers={"Origin": self.base})


@pytest.fixture
def serve(
    tmp_path: Path, tls: tuple[Path, Path], provider: Provider
) -> Iterator[Callable[..., Site]]:
    """``serve(trust_mfa=..., settings=...)``: a vault configured for the provider, with
    users who have no password (they sign in only through the provider), served by
    uvicorn over TLS on a free port (the provider knows its callback)."""
    servers: list[tuple[uvicorn.Server, threading.Thread, Vault]] = []
    provider.spoil = Spoil()
    secret_file = tmp_path / "oidc-secret"
    secret_file.write_text(provider.client_secret + "\n")
    secret_file.chmod(0o600)

    def start(*, trust_mfa: bool = True, settings: Settings | None = None) -> Site:
        base_settings = settings or Settings(home=tmp_path / f"vault{len(servers)}")
        configured = base_settings.model_copy(
            update={
                "oidc_issuer": provider.issuer,
                "oidc_client_id": CLIENT_ID,
                "oidc_client_secret_file": secret_file,
                "oidc_trust_mfa": trust_mfa,
                "oidc_name": "Test County IdP",
            }
        )
        opened = bootstrap.init_vault(configured)
        for name, role in [("o.brandt", "officer"), ("a.min", "admin"), ("r.okafor", "records")]:
            users.add_user(opened, "admin", name, role)  # no password: the provider's only
        clock = MovableClock()
        vault = dataclasses.replace(opened, clock=clock)
        port = _free_port()
        cert, key = tls
        config = uvicorn.Config(
            create_app(vault),
            host=ADDRESS,
            port=port,
            log_level="warning",
            proxy_headers=False,
            ssl_certfile=str(cert),
            ssl_keyfile=str(key),
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 30
        while not server.started:
            assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.05)
        servers.append((server, thread, vault))
        base = f"https://{ADDRESS}:{port}"
        provider.redirect_uris.add(base + sso_svc.CALLBACK)
        return Site(vault, clock, base, ssl.create_default_context(cafile=str(cert)), provider)

    yield start
    for server, thread, vault in servers:
        server.should_exit = True
        thread.join(timeout=10)
        vault.engine.dispose()


def _person(provider: Provider, username: str, **claims: Any) -> None:
    provider.person = Person(f"sub-{username}", {"preferred_username": username, **claims})


def _failures(site: Site) -> list[dict[str, Any]]:
    return site.events("sso-sign-in-failed")


# ---- a whole sign-in ---------------------------------------------------------------


def test_sign_in_through_the_provider_with_its_mfa_trusted(
    serve: Callable[..., Site], provider: Provider, settings: Settings
) -> None:
    """The button, PKCE and the nonce at the provider, back with a session that is the
    password sign-in's: the role is custodes' (the token's claim of another is ignored),
    the log vouches for it, and it locks after 30 minutes idle. On SQLite and PostgreSQL."""
    site = serve(trust_mfa=True, settings=settings)
    _person(provider, "o.brandt", amr=["pwd", "otp"], role="admin", groups=["admin"])
    with site.client() as browser:
        page = browser.get("/sign-in")
        assert 'action="/sign-in/sso"' in page.text and "Sign in with Test County IdP" in page.text
        done = site.sign_in(browser, next="/audit")
        assert done.status_code == 200, done.text
        assert str(done.url).startswith(site.base + "/sign-in/sso/callback?code=")
        # Moves on by itself (no script: the CSP forbids it) once the session cookie is set.
        assert 'http-equiv="refresh" content="0; url=/audit"' in done.text
        assert "custodes_session" in browser.cookies
        assert "custodes_sso" not in browser.cookies  # the pre-session is used up

        authorize = [q for m, path, q in provider.seen if path == "/authorize"][-1]
        assert authorize["code_challenge_method"] == ["S256"]
        assert authorize["client_id"] == [CLIENT_ID]
        assert len(authorize["nonce"][0]) >= 32 and len(authorize["state"][0]) >= 32
        token = [q for m, path, q in provider.seen if path == "/token"][-1]
        assert len(token["code_verifier"][0]) >= 43

        me = browser.get("/api/v1/me").json()
        assert (me["username"], me["role"]) == ("o.brandt", "officer")
        assert me["client"] == f"web:session/{me['session']} from {ADDRESS}"
        refused = browser.get("/api/v1/users")  # an admin's: the token's "role" is ignored
        assert refused.status_code == 403
        assert browser.get("/dashboard").status_code == 200

        [signed] = site.events("sso-sign-in")
        d = signed["details"]
        assert signed["actor"] == "o.brandt" and d["status"] == "signed-in"
        assert d["address"] == ADDRESS and d["session"] == me["session"]
        assert d["second_factor"] == "sso-mfa" and d["mfa"] == "trusted"
        assert d["issuer"] == provider.issuer and d["subject"] == "sub-o.brandt"
        assert d["amr"] == ["pwd", "otp"]
        assert signed["client"] == f"web:session/{me['session']} from {ADDRESS}"
        assert _failures(site) == []

        report = verify_vault(site.vault, "a.min", blobs=False)
        assert report.ok, report.problems  # the session row is what the signed log binds

        site.clock.advance(minutes=31)
        assert browser.get("/api/v1/me").status_code == 401
        [ended] = site.events("session-end")
        assert ended["details"]["why"] == "idle" and ended["details"]["session"] == me["session"]


def test_a_session_the_provider_opened_is_signed_in_again_after_12_hours(
    serve: Callable[..., Site], provider: Provider
) -> None:
    site = serve(trust_mfa=True)
    _person(provider, "o.brandt", amr=["mfa"])
    with site.client() as browser:
        assert site.sign_in(browser).status_code == 200
        for _ in range(25):  # active every 29 minutes: never idle
            site.clock.advance(minutes=29)
            if browser.get("/api/v1/me").status_code != 200:
                break
        assert browser.get("/api/v1/me").status_code == 401
    assert [e["details"]["why"] for e in site.events("session-end")] == ["reauthenticate"]


def test_without_an_mfa_assertion_custodes_asks_its_own_second_factor(
    serve: Callable[..., Site], provider: Provider
) -> None:
    """``amr`` says only a password: the session waits for custodes' TOTP (enrolled on the
    first sign-in, asked the next time), exactly as after a password."""
    site = serve(trust_mfa=True)
    _person(provider, "r.okafor", amr=["pwd"])
    with site.client() as browser:
        enrol = site.sign_in(browser, next="/audit")
        assert enrol.status_code == 200 and 'action="/sign-in/enrol"' in enrol.text
        assert browser.get("/api/v1/me").status_code == 401  # not signed in yet
        match = re.search(r'name="secret" value="([A-Z2-7]+)"', enrol.text)
        assert match is not None
        secret = match[1]
        code = pyotp.TOTP(secret).at(site.clock.now())
        done = browser.post(
            "/sign-in/enrol",
            data={"code": code, "next": "/audit"},
            headers={"Origin": site.base},
        )
        assert done.status_code == 200 and "recovery" in done.text.lower()
        assert browser.get("/api/v1/me").json()["role"] == "records"
    [first] = site.events("sso-sign-in")
    assert first["details"]["status"] == "enrol-required"
    assert first["details"]["mfa"] == "asked by custodes (not asserted by the provider)"
    assert "session_digest" not in first["details"]
    [signed] = site.events("sign-in")
    assert signed["details"]["second_factor"] == "totp"
    assert signed["details"]["session"] == first["details"]["session"]

    site.clock.advance(seconds=31)  # a new TOTP step
    with site.client() as browser:
        asked = site.sign_in(browser)
        assert asked.status_code == 200 and 'action="/sign-in/second-factor"' in asked.text
        assert browser.get("/api/v1/me").status_code == 401
        wrong = browser.post(
            "/sign-in/second-factor",
            data={"code": "000000", "next": "/dashboard"},
            headers={"Origin": site.base},
        )
        assert wrong.status_code == 401
        code = pyotp.TOTP(secret).at(site.clock.now())
        ok = browser.post(
            "/sign-in/second-factor",
            data={"code": code, "next": "/dashboard"},
            headers={"Origin": site.base},
        )
        assert ok.status_code == 200 and str(ok.url).endswith("/dashboard")
        assert browser.get("/api/v1/me").json()["username"] == "r.okafor"
    assert [e["details"]["status"] for e in site.events("sso-sign-in")] == [
        "enrol-required",
        "second-factor-required",
    ]
    assert site.events("sign-in-failed")[-1]["details"]["why"] == "wrong totp code"
    assert verify_vault(site.vault, "a.min", blobs=False).ok


def test_the_providers_mfa_is_not_trusted_unless_the_vault_says_so(
    serve: Callable[..., Site], provider: Provider
) -> None:
    site = serve(trust_mfa=False)
    _person(provider, "o.brandt", amr=["mfa", "pwd", "hwk"])
    with site.client() as browser:
        asked = site.sign_in(browser)
        assert asked.status_code == 200 and 'action="/sign-in/enrol"' in asked.text
        assert browser.get("/api/v1/me").status_code == 401
    [event] = site.events("sso-sign-in")
    assert event["details"]["mfa"] == "asked by custodes"
    assert site.events("sign-in") == []


def test_a_passkey_only_account_is_asked_its_passkey_after_the_provider(
    serve: Callable[..., Site], provider: Provider
) -> None:
    """An account whose second factor is a passkey (enrolled after a password sign-in) is
    asked for it after the provider, not offered a TOTP enrolment."""
    site = serve(trust_mfa=False)
    password, origin = "a first password 1", "https://vault.example.org"
    auth_svc.set_password(site.vault, "a.min", "r.okafor", password)
    started = auth_svc.sign_in(site.vault, "r.okafor", password, "127.0.0.1", "test")
    options = passkey_svc.enrol_options(site.vault, started.cookie, origin, "127.0.0.1")
    key = SoftAuthenticator(origin)
    passkey_svc.enrol(site.vault, started.cookie, key.create(options), origin, "127.0.0.1")
    _person(provider, "r.okafor", amr=["pwd"])
    with site.client() as browser:
        asked = site.sign_in(browser)
        assert asked.status_code == 200 and 'id="passkey-sign-in"' in asked.text
        assert 'name="code"' not in asked.text  # no TOTP for this account
        assert 'action="/sign-in/enrol"' not in asked.text
    assert site.events("sso-sign-in")[-1]["details"]["status"] == "second-factor-required"
    assert verify_vault(site.vault, "a.min", blobs=False).ok


# ---- refusals, each on record -----------------------------------------------------------


def _to_callback(site: Site, browser: httpx.Client) -> httpx.URL:
    """Press the button and let the provider answer; the callback URL it sends back."""
    start = browser.post(
        "/sign-in/sso",
        data={"next": "/dashboard"},
        headers={"Origin": site.base},
        follow_redirects=False,
    )
    assert start.status_code == 303
    at_provider = browser.get(start.headers["location"], follow_redirects=False)
    assert at_provider.status_code == 302
    return httpx.URL(at_provider.headers["location"])


def test_a_tampered_state_is_refused_on_record(
    serve: Callable[..., Site], provider: Provider
) -> None:
    site = serve()
    _person(provider, "o.brandt", amr=["mfa"])
    with site.client() as browser:
        back = _to_callback(site, browser)
        code = back.params["code"]
        tampered = back.copy_set_param("state", back.params["state"][:-2] + "xx")
        refused = browser.get(str(tampered))
        assert refused.status_code == 401
        assert "single sign-on refused: the state does not match" in refused.text
        assert "custodes_session" not in browser.cookies
        assert browser.get("/api/v1/me").status_code == 401
    assert code in provider.codes  # the code was never exchanged
    [failed] = _failures(site)
    d = failed["details"]
    assert (d["step"], d["address"]) == ("state", ADDRESS)
    assert d["why"] == "the state does not match the pre-session's"
    assert re.fullmatch(r"[0-9a-f]{8}", d["pre_session"])
    assert failed["client"] == f"web from {ADDRESS}"
    assert site.events("sso-sign-in") == []


def test_a_callback_without_its_pre_session_is_refused_on_record(
    serve: Callable[..., Site], provider: Provider
) -> None:
    """Login CSRF: another browser sent to a callback the attacker's sign-in produced."""
    site = serve()
    _person(provider, "o.brandt", amr=["mfa"])
    with site.client() as attacker:
        back = _to_callback(site, attacker)
    with site.client() as victim:
        refused = victim.get(str(back))
        assert refused.status_code == 401
        assert "custodes_session" not in victim.cookies
    [failed] = _failures(site)
    assert failed["details"]["step"] == "state"
    assert failed["details"]["why"].startswith("no pre-session")
    assert failed["details"]["pre_session"] is None


def test_a_pre_session_expires_after_ten_minutes(
    serve: Callable[..., Site], provider: Provider
) -> None:
    site = serve()
    _person(provider, "o.brandt", amr=["mfa"])
    with site.client() as browser:
        back = _to_callback(site, browser)
        site.clock.advance(minutes=11)
        assert browser.get(str(back)).status_code == 401
    [failed] = _failures(site)
    assert failed["details"]["why"].startswith("the pre-session expired")


def test_a_key_the_provider_rotated_in_is_fetched_once_seen(
    serve: Callable[..., Site], provider: Provider
) -> None:
    site = serve()
    _person(provider, "o.brandt", amr=["mfa"])
    before = len([path for _, path, _ in provider.seen if path == "/jwks"])
    old = provider.key
    try:
        with site.client() as browser:
            assert site.sign_in(browser).status_code == 200
        provider.key = RSAKey.generate_key(2048, parameters={"kid": "test-key-2", "use": "sig"})
        with site.client() as browser:
            assert site.sign_in(browser).status_code == 200
    finally:
        provider.key = old
    reads = len([path for _, path, _ in provider.seen if path == "/jwks"]) - before
    assert reads == 2  # read once, and once more for the key id it did not know
    assert len(site.events("sso-sign-in")) == 2 and _failures(site) == []


def test_a_forged_code_a_provider_error_and_a_replayed_callback_are_refused(
    serve: Callable[..., Site], provider: Provider, tmp_path: Path
) -> None:
    metrics = "metrics-token-" + "m" * 8
    site = serve(settings=Settings(home=tmp_path / "with-metrics", metrics_token=metrics))
    _person(provider, "o.brandt", amr=["mfa"])
    with site.client() as browser:
        back = _to_callback(site, browser)
        forged = back.copy_set_param("code", "a-code-of-my-own")
        assert browser.get(str(forged)).status_code == 401
    with site.client() as browser:
        back = _to_callback(site, browser)
        denied = back.copy_remove_param("code").copy_add_param("error", "access_denied")
        assert browser.get(str(denied)).status_code == 401
    with site.client() as browser:
        back = _to_callback(site, browser)
        assert browser.get(str(back)).status_code == 200  # signed in
        again = browser.get(str(back))  # the pre-session is used up, the code too
        assert again.status_code == 401
    steps = [(e["details"]["step"], e["details"]["why"]) for e in _failures(site)]
    assert steps == [
        ("token", "the token endpoint refused the code: invalid_grant"),
        ("provider", "the provider answered access_denied"),
        ("state", "no pre-session (the sign-in was not begun here, or its cookie is gone)"),
    ]
    assert len(site.events("sso-sign-in")) == 1
    with site.client() as scraper:
        text = scraper.get("/metrics", headers={"Authorization": f"Bearer {metrics}"}).text
    assert "custodes_sign_in_failures_total 3.0" in text
    assert 'custodes_audit_events_total{action="sso-sign-in-failed"} 3.0' in text


def test_a_provider_that_cannot_be_reached_leaves_the_password(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("whatever")
    vault = bootstrap.init_vault(
        Settings(
            home=tmp_path / "vault",
            oidc_issuer=f"http://{ADDRESS}:{_free_port()}",  # nobody listens there
            oidc_client_id=CLIENT_ID,
            oidc_client_secret_file=secret,
        )
    )
    try:
        with TestClient(create_app(vault), base_url="https://testserver") as client:
            page = client.get("/sign-in")
            assert f"Sign in with {ADDRESS}" in page.text
            refused = client.post(
                "/sign-in/sso",
                data={"next": "/"},
                headers={"Origin": "https://testserver"},
                follow_redirects=False,
            )
            assert refused.status_code == 503
            assert "the sign-in provider did not answer" in refused.text
            assert 'name="password"' in refused.text  # the password form is still there
    finally:
        vault.engine.dispose()


SPOILS: dict[str, tuple[Callable[[Provider], Spoil], str]] = {
    "wrong-nonce": (lambda p: Spoil(nonce="a-nonce-of-the-providers-own"), "nonce"),
    "another-key": (
        lambda p: Spoil(key=RSAKey.generate_key(2048, parameters={"kid": "test-key-1"})),
        "signature",
    ),
    "expired": (lambda p: Spoil(expired=True), "exp"),
    "another-audience": (lambda p: Spoil(audience="another-client"), "aud"),
    "another-issuer": (lambda p: Spoil(issuer="https://idp.example.org"), "iss"),
}


@pytest.mark.parametrize("spoil", list(SPOILS))
def test_a_bad_id_token_is_refused_on_record(
    serve: Callable[..., Site], provider: Provider, spoil: str
) -> None:
    site = serve()
    _person(provider, "a.min", amr=["mfa"])
    make, named = SPOILS[spoil]
    provider.spoil = make(provider)
    with site.client() as browser:
        refused = site.sign_in(browser)
        assert refused.status_code == 401, refused.text
        assert "single sign-on refused" in refused.text
        assert "custodes_session" not in browser.cookies
        assert browser.get("/api/v1/me").status_code == 401
    [failed] = _failures(site)
    d = failed["details"]
    assert d["step"] == "token" and d["address"] == ADDRESS
    assert named in d["why"], d["why"]
    assert failed["actor"] == "-"  # a token not believed names nobody
    assert site.events("sso-sign-in") == []


def test_an_unknown_user_is_refused_on_record_and_not_created(
    serve: Callable[..., Site], provider: Provider
) -> None:
    site = serve()
    _person(provider, "n.obody", amr=["mfa"], role="admin")
    with site.client() as browser:
        refused = site.sign_in(browser)
        assert refused.status_code == 401
        assert "unknown user" in refused.text
        assert browser.get("/api/v1/me").status_code == 401
    [failed] = _failures(site)
    d = failed["details"]
    assert failed["actor"] == "n.obody" and d["step"] == "user" and d["why"] == "unknown user"
    assert d["known_user"] is False and d["claim"] == "preferred_username"
    assert d["subject"] == "sub-n.obody" and d["address"] == ADDRESS
    with site.vault.uow(readonly=True) as uow:
        assert uow.users.find("n.obody") is None


def test_a_locked_account_stays_locked(serve: Callable[..., Site], provider: Provider) -> None:
    site = serve()
    for _ in range(5):
        with pytest.raises(Unauthenticated):
            auth_svc.sign_in(site.vault, "o.brandt", "wrong password!", ADDRESS, "test")
    _person(provider, "o.brandt", amr=["mfa"])
    with site.client() as browser:
        refused = site.sign_in(browser)
        assert refused.status_code == 429 and "locked" in refused.text
        assert browser.get("/api/v1/me").status_code == 401
    [failed] = _failures(site)
    assert failed["actor"] == "o.brandt" and failed["details"]["why"] == "account locked"


def test_a_token_without_the_username_claim_is_refused(
    serve: Callable[..., Site], provider: Provider
) -> None:
    site = serve()
    provider.person = Person("sub-x", {"email": "x@example.org", "amr": ["mfa"]})
    with site.client() as browser:
        assert site.sign_in(browser).status_code == 401
    [failed] = _failures(site)
    assert failed["details"]["why"] == "the ID token has no 'preferred_username' claim"


# ---- without single sign-on --------------------------------------------------------------


def test_no_button_and_no_route_when_single_sign_on_is_not_configured(web: Web) -> None:
    page = web.client.get("/sign-in")
    assert page.status_code == 200 and "/sign-in/sso" not in page.text
    gone = web.client.post("/sign-in/sso", data={"next": "/"}, follow_redirects=False)
    assert gone.status_code == 404
    assert web.client.get("/sign-in/sso/callback?code=x&state=y").status_code == 404


def test_the_settings_refuse_a_provider_that_is_not_https(tmp_path: Path) -> None:
    secret = tmp_path / "s"
    secret.write_text("the-client-secret\n")
    base = Settings(
        home=tmp_path, oidc_client_id="c", oidc_client_secret_file=secret, oidc_issuer=None
    )
    assert bootstrap.sso_settings(base) is None
    with pytest.raises(InvalidInput, match="not an https URL"):
        bootstrap.sso_settings(base.model_copy(update={"oidc_issuer": "http://idp.example.org"}))
    good = bootstrap.sso_settings(
        base.model_copy(update={"oidc_issuer": "https://idp.example.org/realms/pd/"})
    )
    assert good is not None and good.issuer == "https://idp.example.org/realms/pd"
    assert good.client_secret == "the-client-secret" and "secret'" not in repr(good)
    assert good.display_name == "idp.example.org"
    with pytest.raises(InvalidInput, match="CLIENT_SECRET_FILE"):
        bootstrap.sso_settings(
            base.model_copy(
                update={"oidc_issuer": "https://idp.example.org", "oidc_client_secret_file": None}
            )
        )


def test_serve_refuses_an_incomplete_single_sign_on_before_listening(tmp_path: Path) -> None:
    home = tmp_path / "v"
    assert invoke("--home", str(home), "init").returncode == 0
    proc = invoke(
        "--home",
        str(home),
        "serve",
        env={
            "CUSTODES_OIDC_ISSUER": "https://idp.example.org",
            "CUSTODES_OIDC_CLIENT_ID": "custodes",
            "CUSTODES_OIDC_CLIENT_SECRET_FILE": str(tmp_path / "no-such-file"),
        },
    )
    assert proc.returncode == 3
    assert "cannot read the OpenID client secret file" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) <= 2  # one line (and its advice)


@pytest.mark.parametrize(
    ("amr", "asserted"),
    [
        (["mfa"], True),
        (["pwd", "otp"], True),
        (["pwd", "hwk"], True),
        (["otp"], False),  # one factor
        (["pwd"], False),
        (["pwd", "sms"], False),  # SMS is not counted
        (["pwd", "kba"], False),
        ("mfa", False),  # not a list
        (None, False),
    ],
)
def test_what_counts_as_the_providers_mfa(amr: object, asserted: bool) -> None:
    assert sso_svc.mfa_asserted(amr) is asserted
