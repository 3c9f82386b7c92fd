"""The streaming multipart reader (web/bodies.py): whatever the chunks, the same fields
and file; a body cut short, or a file over the limit, as the use case needs to see it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from custodes.core.errors import InvalidInput
from custodes.web.bodies import save_body, save_multipart

BOUNDARY = "----b0undary7MA4YWxk"
CLIP = bytes(range(256)) * 40 + b"\r\n--not-the-boundary\r\n" + b"\r\n------b0undar"


def _body(file: bytes = CLIP) -> bytes:
    return (
        (
            f"--{BOUNDARY}\r\n"
            'Content-Disposition: form-data; name="case"\r\n\r\n'
            "C-1/2\r\n"
            f"--{BOUNDARY}\r\n"
            'Content-Disposition: form-data; name="leak"; filename="news clip.mp4"\r\n'
            "Content-Type: video/mp4\r\n\r\n"
        ).encode()
        + file
        + f"\r\n--{BOUNDARY}--\r\n".encode()
    )


class _Request:
    def __init__(self, body: bytes, chunk: int, kind: str | None = None) -> None:
        self.headers = {"content-type": kind or f"multipart/form-data; boundary={BOUNDARY}"}
        self._body, self._chunk = body, chunk

    async def stream(self) -> AsyncIterator[bytes]:
        for i in range(0, len(self._body), self._chunk):
            yield self._body[i : i + self._chunk]


def _read(request: Any, folder: Path, limit: int = 1 << 20) -> Any:
    return asyncio.run(save_multipart(request, folder, "leak", limit))


@pytest.mark.parametrize("chunk", [1, 2, 7, 64, 1 << 20])
def test_any_chunking_reads_the_same_form(tmp_path: Path, chunk: int) -> None:
    got = _read(_Request(_body(), chunk), tmp_path)
    assert got.fields == {"case": "C-1/2"} and got.filename == "news clip.mp4"
    assert got.file is not None and got.file.read_bytes() == CLIP


def test_a_file_over_the_limit_stops_one_byte_past_it(tmp_path: Path) -> None:
    got = _read(_Request(_body(), 100), tmp_path, limit=1000)
    assert got.file is not None and got.file.stat().st_size == 1001


def test_bad_bodies_are_refused_and_leave_nothing(tmp_path: Path) -> None:
    body = _body()
    for request, said in [
        (_Request(body[: len(body) // 2], 50), "ended before its last boundary"),
        (_Request(body, 50, "application/x-www-form-urlencoded"), "multipart/form-data"),
        (_Request(body.replace(b'name="case"', b'nom="case"'), 50), "without a name"),
    ]:
        with pytest.raises(InvalidInput, match=said):
            _read(request, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_a_raw_body_is_kept_to_the_limit(tmp_path: Path) -> None:
    path = asyncio.run(save_body(_Request(CLIP, 333), tmp_path, 5000))  # type: ignore[arg-type]
    assert path.read_bytes() == CLIP[:5001]
