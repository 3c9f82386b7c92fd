"""A small but real OpenID Connect provider for the single sign-on tests, on loopback.

``http.server`` on 127.0.0.1 and a free port, in a thread: a discovery document, a JWKS
(an RSA key made for the test), an authorization endpoint that approves its configured
person at once (no login form: the test is the person), and a token endpoint that checks
what a provider must (the client's secret, the redirect URI the code was issued for, the
PKCE verifier against the S256 challenge, each code used once) and signs an RS256 ID token
with ``joserfc``. What it signs can be spoiled on purpose (:class:`Spoil`): another key,
an expired token, a nonce of its own, another audience, another issuer.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey


@dataclass
class Spoil:
    """What the next ID tokens get wrong, for a refusal test."""

    key: RSAKey | None = None  # sign with this key instead (same kid)
    expired: bool = False
    nonce: str | None = None
    audience: str | None = None
    issuer: str | None = None


@dataclass
class Person:
    """Who the provider says signs in: the claims it puts in the ID token."""

    sub: str
    claims: dict[str, Any] = field(default_factory=dict)


class Provider:
    """The provider, its one registered client and the person it approves."""

    def __init__(self, client_id: str, client_secret: str, host: str = "127.0.0.1") -> None:
        """``host``: the name in the issuer URL (``localhost`` puts the provider on another
        site than a client at 127.0.0.1, as a real provider is); it listens on 127.0.0.1."""
        self.client_id = client_id
        self.client_secret = client_secret
        self.redirect_uris: set[str] = set()
        self.key = RSAKey.generate_key(2048, parameters={"kid": "test-key-1", "use": "sig"})
        self.person = Person("sub-0")
        self.spoil = Spoil()
        self.interactive = False
        self.codes: dict[str, dict[str, Any]] = {}
        self.seen: list[tuple[str, str, dict[str, list[str]]]] = []  # method, path, params
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.issuer = f"http://{host}:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> Provider:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def discovery(self) -> dict[str, Any]:
        return {
            "issuer": self.issuer,
            "authorization_endpoint": f"{self.issuer}/authorize",
            "token_endpoint": f"{self.issuer}/token",
            "jwks_uri": f"{self.issuer}/jwks",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "scopes_supported": ["openid", "profile", "email"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic"],
            "code_challenge_methods_supported": ["S256"],
            "grant_types_supported": ["authorization_code"],
        }

    def jwks(self) -> dict[str, Any]:
        return KeySet([self.key]).as_dict(private=False)

    # ---- the endpoints

    def authorize(
        self, q: dict[str, str], approved: bool = False
    ) -> tuple[int, dict[str, str], bytes]:
        """Approve the configured person: a code bound to the client, redirect URI, PKCE
        challenge and nonce; back to the client with the state. An ``interactive``
        provider first shows a page whose form the person submits (as a login form is),
        so that the way back starts on the provider's own site."""
        ok = (
            q.get("client_id") == self.client_id
            and q.get("redirect_uri") in self.redirect_uris
            and q.get("response_type") == "code"
            and "openid" in q.get("scope", "").split()
            and q.get("code_challenge_method") == "S256"
            and len(q.get("code_challenge", "")) == 43
            and q.get("state")
            and q.get("nonce")
        )
        if not ok:
            return 400, {"Content-Type": "text/plain"}, b"bad authorization request"
        if self.interactive and not approved:
            fields = "".join(
                f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
                for k, v in q.items()
            )
            page = (
                "<!doctype html><title>County IdP</title>"
                f'<form method="post" action="/authorize">{fields}'
                '<button type="submit">Approve</button></form>'
            )
            return 200, {"Content-Type": "text/html; charset=utf-8"}, page.encode()
        code = secrets.token_urlsafe(24)
        self.codes[code] = {
            "redirect_uri": q["redirect_uri"],
            "challenge": q["code_challenge"],
            "nonce": q["nonce"],
            "person": self.person,
        }
        back = f"{q['redirect_uri']}?{urlencode({'code': code, 'state': q['state']})}"
        return 302, {"Location": back}, b""

    def token(self, form: dict[str, str], authorization: str) -> tuple[int, dict[str, Any]]:
        scheme, _, encoded = authorization.partition(" ")
        try:
            who, _, secret = map(unquote, base64.b64decode(encoded).decode().partition(":"))
        except ValueError:
            who, secret = "", ""
        if scheme != "Basic" or who != self.client_id or secret != self.client_secret:
            return 401, {"error": "invalid_client"}
        issued = self.codes.pop(form.get("code", ""), None)  # a code works once
        if issued is None or form.get("grant_type") != "authorization_code":
            return 400, {"error": "invalid_grant"}
        if form.get("redirect_uri") != issued["redirect_uri"]:
            return 400, {"error": "invalid_grant", "error_description": "redirect_uri"}
        verifier = form.get("code_verifier", "")
        challenge = (
            base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
            .decode()
            .rstrip("=")
        )
        if not verifier or challenge != issued["challenge"]:
            return 400, {"error": "invalid_grant", "error_description": "PKCE"}
        access = secrets.token_urlsafe(24)
        return 200, {
            "access_token": access,
            "token_type": "Bearer",
            "expires_in": 300,
            "id_token": self.id_token(issued["person"], issued["nonce"], access),
        }

    def id_token(self, person: Person, nonce: str, access: str) -> str:
        spoil = self.spoil
        now = int(time.time())
        exp = now - 600 if spoil.expired else now + 300
        digest = hashlib.sha256(access.encode()).digest()
        claims = {
            "iss": spoil.issuer or self.issuer,
            "sub": person.sub,
            "aud": spoil.audience or self.client_id,
            "iat": now - 700 if spoil.expired else now,
            "exp": exp,
            "auth_time": now,
            "nonce": spoil.nonce or nonce,
            "at_hash": base64.urlsafe_b64encode(digest[:16]).decode().rstrip("="),
            **person.claims,
        }
        key = spoil.key or self.key
        return jwt.encode({"alg": "RS256", "kid": key.kid}, claims, key)


def _handler(provider: Provider) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

        def _send(self, status: int, headers: dict[str, str], body: bytes) -> None:
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _json(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self._send(status, {"Content-Type": "application/json"}, data)

        def do_GET(self) -> None:
            url = urlsplit(self.path)
            q = parse_qs(url.query)
            provider.seen.append(("GET", url.path, q))
            if url.path == "/.well-known/openid-configuration":
                self._json(200, provider.discovery())
            elif url.path == "/jwks":
                self._json(200, provider.jwks())
            elif url.path == "/authorize":
                self._send(*provider.authorize({k: v[0] for k, v in q.items()}))
            elif url.path == "/favicon.ico":  # a browser asks; nothing to show
                self._send(204, {}, b"")
            else:
                self._send(404, {}, b"")

        def do_POST(self) -> None:
            url = urlsplit(self.path)
            length = int(self.headers.get("Content-Length", "0"))
            form = parse_qs(self.rfile.read(length).decode())
            provider.seen.append(("POST", url.path, form))
            flat = {k: v[0] for k, v in form.items()}
            if url.path == "/authorize":
                self._send(*provider.authorize(flat, approved=True))
                return
            if url.path != "/token":
                self._send(404, {}, b"")
                return
            self._json(*provider.token(flat, self.headers.get("Authorization", "")))

    return Handler
