"""``custodes serve`` for real: uvicorn on a free loopback port, requests over TCP, and
the ``token`` and ``user password`` commands that prepare it (those in process; the
server is a real ``custodes serve`` process)."""

from __future__ import annotations

import json
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx

from tests.factories.cli import CLI, invoke


def run(home: Path, *args: str, user: str = "admin", stdin: str | None = None) -> Any:
    proc = invoke("--home", str(home), "--json", "--as", user, *args, input=stdin)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_serve_answers_over_tcp_with_tokens_from_the_cli(tmp_path: Path) -> None:
    home = tmp_path / "v"
    run(home, "init")
    run(home, "user", "add", "rec.ann", "--role", "records")
    assert run(home, "user", "password", "rec.ann", stdin="a long enough password\n") == {
        "username": "rec.ann"
    }
    created = run(home, "token", "create", "rec.ann", "--expires", "1h")
    assert set(created) == {"token_id", "username", "expires_at", "token"}
    listed = run(home, "token", "list")
    assert [t["token_id"] for t in listed] == [created["token_id"]]
    assert listed[0]["state"] == "active" and "token" not in listed[0]
    # An officer may not make a token for someone else (exit 5, on record).
    run(home, "user", "add", "ofc.bo", "--role", "officer")
    refused = invoke("--home", str(home), "--as", "ofc.bo", "token", "create", "rec.ann")
    assert refused.returncode == 5, refused.stderr

    port = _free_port()
    log = (tmp_path / "serve.log").open("wb")
    server = subprocess.Popen(
        [*CLI, "--home", str(home), "serve", "--port", str(port)], stdout=log, stderr=log
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                document = httpx.get(f"{base}/api/v1/openapi.json", timeout=2)
                break
            except httpx.TransportError:
                assert server.poll() is None, (tmp_path / "serve.log").read_text()
                assert time.monotonic() < deadline, "custodes serve did not answer"
                time.sleep(0.2)
        assert document.status_code == 200
        assert "/api/v1/auth/sign-in" in document.json()["paths"]
        bearer = {"Authorization": f"Bearer {created['token']}"}
        spoofed = {**bearer, "X-Forwarded-For": "203.0.113.9", "X-Real-IP": "203.0.113.9"}
        me = httpx.get(f"{base}/api/v1/me", headers=spoofed, timeout=10)
        assert me.status_code == 200, me.text
        assert me.json()["username"] == "rec.ann"
        assert me.json()["client"] == f"web:token/{created['token_id']} from 127.0.0.1"
        assert "strict-transport-security" not in me.headers  # plain HTTP on loopback
        assert "server" not in me.headers
        assert me.headers["x-content-type-options"] == "nosniff"
        denied = httpx.get(f"{base}/api/v1/me", timeout=10)
        assert denied.status_code == 401
        assert denied.json()["error"]["code"] == "unauthenticated"
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()
    run(home, "token", "revoke", created["token_id"])
    events = run(home, "audit")
    uses = [e for e in events if e["action"] == "token-use"]
    assert len(uses) == 1 and uses[0]["details"]["address"] == "127.0.0.1"
    assert [e["action"] for e in events if e["action"].startswith("token-")] == [
        "token-create",
        "token-use",
        "token-revoke",
    ]
    assert any(e["action"] == "password-set" and e["object_id"] == "rec.ann" for e in events)


def test_token_commands_refuse_in_one_line(tmp_path: Path) -> None:
    home = tmp_path / "v"
    run(home, "init")
    for args, code, needle in [
        (["token", "create", "admin", "--expires", "forever"], 3, "(--expires: a number"),
        (["token", "create", "admin", "--expires", "400d"], 3, "366 days (--expires)"),
        (["token", "revoke", "TK-NOPE"], 4, "no token 'TK-NOPE'"),
        (["user", "password", "nobody"], 4, "no user 'nobody'"),
    ]:
        proc = invoke("--home", str(home), "--as", "admin", *args, input="a long enough password\n")
        assert proc.returncode == code, (args, proc.stderr)
        assert needle in proc.stderr and proc.stderr.count("\n") == 1, proc.stderr


def test_serve_refuses_several_workers_on_an_embedded_vault(tmp_path: Path) -> None:
    home = tmp_path / "v"
    run(home, "init")
    refused = invoke("--home", str(home), "serve", "--workers", "2")
    assert refused.returncode == 3, refused.stderr
    assert "--workers above 1 needs a PostgreSQL vault" in refused.stderr
