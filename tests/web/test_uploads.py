"""Resumable uploads (tus 1.0) on the API: pieces, a dropped connection kept and resumed,
evidence through the ingest use case with the SHA-256 of the bytes sent; the CLI's
refusals, nothing left behind; an upload is its owner's alone; expiry and limits."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import hashlib
import threading
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from custodes.core.errors import CustodesError
from custodes.services import cases, evidence
from custodes.services import uploads as svc
from custodes.web.app import create_app
from tests.web.conftest import ORIGIN, Web

TUS = {"Tus-Resumable": "1.0.0", "Origin": ORIGIN}
OFFSET_STREAM = "application/offset+octet-stream"


def metadata(**pairs: str) -> str:
    return ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in pairs.items())


def create(client: TestClient, length: int, **meta: str) -> Any:
    headers = {**TUS, "Upload-Length": str(length), "Upload-Metadata": metadata(**meta)}
    return client.post("/api/v1/uploads", headers=headers)


def patch(client: TestClient, url: str, offset: int, body: bytes) -> Any:
    headers = {**TUS, "Upload-Offset": str(offset), "Content-Type": OFFSET_STREAM}
    return client.patch(url, content=body, headers=headers)


def head_offset(client: TestClient, url: str) -> int:
    r = client.head(url, headers=TUS)
    assert r.status_code == 200, r.text
    assert r.headers["Tus-Resumable"] == "1.0.0" and r.headers["Cache-Control"] == "no-store"
    return int(r.headers["Upload-Offset"])


def dropped_patch(client: TestClient, url: str, offset: int, sent: list[bytes], total: int) -> int:
    """A PATCH announced as ``total`` bytes whose connection drops after ``sent``: the raw
    ASGI exchange, as a server sees a client vanish (``http.disconnect``)."""
    cookie = "; ".join(f"{k}={v}" for k, v in client.cookies.items())
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "PATCH",
        "scheme": "https",
        "path": url,
        "raw_path": url.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"testserver"),
            (b"origin", ORIGIN.encode()),
            (b"cookie", cookie.encode()),
            (b"tus-resumable", b"1.0.0"),
            (b"upload-offset", str(offset).encode()),
            (b"content-type", OFFSET_STREAM.encode()),
            (b"content-length", str(total).encode()),
        ],
        "client": ("testclient", 50000),
        "server": ("testserver", 443),
    }
    messages: list[dict[str, Any]] = [
        {"type": "http.request", "body": part, "more_body": True} for part in sent
    ] + [{"type": "http.disconnect"}]
    answered: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        answered.append(message)

    asyncio.run(client.app(scope, receive, send))  # type: ignore[arg-type]
    start = next(m for m in answered if m["type"] == "http.response.start")
    return int(start["status"])


def _world(web: Web) -> tuple[Web, str, TestClient]:
    rec = web.user("records")
    cases.add_case(web.vault, rec, "C-UP", "uploads")
    return web, rec, web.sign_in(rec)


@pytest.fixture
def world(sqlite_web: Web) -> tuple[Web, str, TestClient]:
    return _world(sqlite_web)


@pytest.fixture
def any_world(web: Web) -> tuple[Web, str, TestClient]:
    """On SQLite, and on PostgreSQL when one is reachable."""
    return _world(web)


def _left(web: Web) -> list[Path]:
    assert web.vault.upload_dir is not None
    return list(web.vault.upload_dir.glob("UP-*/*")) if web.vault.upload_dir.exists() else []


def test_an_upload_in_pieces_survives_a_dropped_connection(
    any_world: tuple[Web, str, TestClient], clips: dict[str, Path]
) -> None:
    web, rec, client = any_world
    data = clips["a"].read_bytes()
    third = len(data) // 3
    r = create(client, len(data), case="C-UP", filename="cam 7/clip.mp4", device="BWC-7")
    assert r.status_code == 201, r.text
    url = r.headers["Location"]
    assert url.startswith("/api/v1/uploads/UP-") and "GMT" in r.headers["Upload-Expires"]
    [started] = web.events("upload-started")
    assert started["actor"] == rec and started["client"].startswith("web:session/")
    assert head_offset(client, url) == 0

    r = patch(client, url, 0, data[:third])
    assert r.status_code == 204 and r.headers["Upload-Offset"] == str(third)

    # The second piece: the connection drops after part of it; what arrived is kept.
    half = third // 2
    dropped_patch(client, url, third, [data[third : third + half]], total=third)
    assert head_offset(client, url) == third + half

    # A client that resends from where it thinks it was is told the offset (409).
    r = patch(client, url, third, data[third : 2 * third])
    assert r.status_code == 409 and r.json()["error"]["code"] == "conflict"
    assert r.json()["error"]["field"] == "Upload-Offset"
    assert head_offset(client, url) == third + half

    r = patch(client, url, third + half, data[third + half : 2 * third])
    assert r.status_code == 204 and r.headers["Upload-Offset"] == str(2 * third)
    r = patch(client, url, 2 * third, data[2 * third :])
    assert r.status_code == 204, r.text
    ev_id = r.headers["Custodes-Evidence-Id"]

    sha = hashlib.sha256(data).hexdigest()
    shown = client.get(url).json()
    assert shown["status"] == "done" and shown["evidence_id"] == ev_id
    assert shown["sha256"] == sha and shown["offset"] == len(data)
    [ingest] = web.events("ingest")
    assert ingest["evidence"] == ev_id and ingest["details"]["sha256"] == sha
    assert ingest["details"]["original_name"] == "clip.mp4"
    assert ingest["details"]["device"] == "BWC-7" and ingest["actor"] == rec
    assert ingest["client"].startswith("web:session/")
    [item] = evidence.list_evidence(web.vault, rec, "C-UP")
    assert item.sha256 == sha and item.size == len(data)
    with web.vault.blobs.open(sha) as kept:
        assert kept.read() == data
    assert [p.name for p in _left(web)] == [".upload.json"]  # the record only, no bytes
    r = patch(client, url, len(data), b"")
    assert r.status_code == 409  # finished


def _refused_like_the_cli(web: Web, client: TestClient, rec: str, path: Path) -> Any:
    data = path.read_bytes()
    url = create(client, len(data), case="C-UP", filename=path.name).headers["Location"]
    r = patch(client, url, 0, data)
    try:
        evidence.ingest(web.vault, rec, path, "C-UP")
    except CustodesError as exc:
        cli = exc
    else:
        pytest.fail("the CLI took it")
    body = r.json()["error"]
    assert body["message"] == str(cli)
    assert _left(web) == []  # nothing half-made: no bytes, no record
    assert client.head(url, headers=TUS).status_code == 404
    return r


def test_a_non_video_is_refused_as_the_cli_refuses_it(
    world: tuple[Web, str, TestClient], tmp_path: Path
) -> None:
    web, rec, client = world
    junk = tmp_path / "notes.mp4"
    junk.write_bytes(b"this is not a video at all\n" * 500)
    r = _refused_like_the_cli(web, client, rec, junk)
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid-input"
    assert len(web.events("ingest-refused")) == 2  # the upload's, then the CLI's
    assert web.events("ingest") == []


def test_a_duplicate_is_refused(world: tuple[Web, str, TestClient], clips: dict[str, Path]) -> None:
    web, rec, client = world
    first = evidence.ingest(web.vault, rec, clips["b"], "C-UP")
    r = _refused_like_the_cli(web, client, rec, clips["b"])
    assert r.status_code == 409 and first.evidence_id in r.json()["error"]["message"]
    refused = web.events("ingest-refused")
    assert refused[0]["details"]["existing_evidence"] == first.evidence_id


def test_a_wrong_digest_stated_is_refused(
    world: tuple[Web, str, TestClient], clips: dict[str, Path]
) -> None:
    web, _, client = world
    data = clips["c"].read_bytes()
    url = create(client, len(data), case="C-UP", sha256="0" * 64).headers["Location"]
    r = patch(client, url, 0, data)
    assert r.status_code == 422 and r.json()["error"]["field"] == "sha256"
    assert _left(web) == [] and web.events("ingest") == []


def test_an_upload_is_its_owners_alone(
    world: tuple[Web, str, TestClient], clips: dict[str, Path]
) -> None:
    web, rec, client = world
    data = clips["a"].read_bytes()
    url = create(client, len(data), case="C-UP").headers["Location"]
    assert patch(client, url, 0, data[:100]).status_code == 204
    other = web.user("records")
    intruder = web.sign_in(other)
    before = len(web.events("access-refused"))
    assert intruder.head(url, headers=TUS).status_code == 403
    r = patch(intruder, url, 100, data[100:])
    assert r.status_code == 403 and r.json()["error"]["code"] == "access-denied"
    assert intruder.delete(url, headers=TUS).status_code == 403
    assert intruder.get(url).status_code == 403
    refused = web.events("access-refused")[before:]
    assert len(refused) == 4 and {e["actor"] for e in refused} == {other}
    assert {e["details"]["upload"] for e in refused} == {url.rsplit("/", 1)[1]}
    assert head_offset(client, url) == 100  # untouched

    r = client.delete(url, headers=TUS)
    assert r.status_code == 204 and _left(web) == []
    [ended] = web.events("upload-ended")
    assert ended["details"] == {"why": "deleted", "received": 100, "length": len(data)}


def test_a_head_waits_for_the_request_still_writing(world: tuple[Web, str, TestClient]) -> None:
    web, rec, client = world
    url = create(client, 100, case="C-UP").headers["Location"]
    upload_id = url.rsplit("/", 1)[1]
    writer = svc.append(web.vault, rec, upload_id, 0)  # a cut PATCH not yet ended
    writer.write(b"z" * 40)
    ended = threading.Timer(0.3, writer.close)
    ended.start()
    assert head_offset(client, url) == 40  # after the writer ended, not 0
    ended.join()
    busy = svc.append(web.vault, rec, upload_id, 40)
    r = patch(client, url, 40, b"z")
    assert r.status_code == 409 and "another request" in r.json()["error"]["message"]
    busy.close()


def test_expired_uploads_are_swept(world: tuple[Web, str, TestClient]) -> None:
    web, rec, client = world
    url = create(client, 1000, case="C-UP").headers["Location"]
    assert patch(client, url, 0, b"x" * 10).status_code == 204
    web.clock.advance(hours=23)
    assert svc.sweep(web.vault) == []  # 23 h untouched: kept (24 h is the limit)
    web.clock.advance(hours=2)
    assert svc.sweep(web.vault) == [url.rsplit("/", 1)[1]]
    client = web.sign_in(rec, client)  # the session itself had lapsed
    assert _left(web) == [] and client.head(url, headers=TUS).status_code == 404
    [ended] = web.events("upload-ended")
    assert ended["actor"] == rec and ended["details"]["why"] == "expired"


def test_protocol_and_limits(world: tuple[Web, str, TestClient]) -> None:
    web, rec, _ = world
    small = dataclasses.replace(web.vault, upload_max_size=1000, upload_max_open=2)
    client = web.sign_in(rec, TestClient(create_app(small), base_url=ORIGIN))
    r = client.options("/api/v1/uploads", headers=TUS)
    assert r.status_code == 204 and r.headers["Tus-Max-Size"] == "1000"
    assert "termination" in r.headers["Tus-Extension"]
    r = client.post("/api/v1/uploads", headers={"Origin": ORIGIN, "Upload-Length": "5"})
    assert r.status_code == 412 and r.headers["Tus-Version"] == "1.0.0"
    r = create(client, 1001, case="C-UP")
    assert r.status_code == 422 and r.json()["error"]["field"] == "Upload-Length"
    r = create(client, 10, filename="x")
    assert r.status_code == 422 and r.json()["error"]["field"] == "case"
    r = create(client, 10, case="C-NONE")
    assert r.status_code == 404
    r = create(client, 10, case="C-UP", recorded_at="yesterday")
    assert r.status_code == 422 and r.json()["error"]["field"] == "recorded_at"
    url = create(client, 10, case="C-UP").headers["Location"]
    assert create(client, 10, case="C-UP").status_code == 201
    r = create(client, 10, case="C-UP")
    assert r.status_code == 409 and "unfinished uploads" in r.json()["error"]["message"]
    headers = {**TUS, "Upload-Offset": "0", "Content-Type": "text/plain"}
    assert client.patch(url, content=b"x", headers=headers).status_code == 415
    r = patch(client, url, 0, b"y" * 11)
    assert r.status_code == 422 and r.json()["error"]["field"] == "Upload-Length"
    officer = web.sign_in(web.user("officer"))  # not on the case
    assert create(officer, 10, case="C-UP").status_code == 403
    assert web.events("ingest-refused")[-1]["actor"] != rec
