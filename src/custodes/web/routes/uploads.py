"""Resumable uploads under ``/api/v1/uploads``: the tus 1.0 protocol (core, creation,
termination, expiration; https://tus.io/protocols/resumable-upload), written here rather
than taken from ``tuspyserver``, so that every request goes through the same proved
caller, CSRF check and use cases as the rest of the API, the body is streamed to disk as
it arrives, and a finished upload goes to the ingest use case (services/uploads.py).

- ``OPTIONS /uploads``: the versions, extensions and the largest size taken.
- ``POST /uploads`` with ``Upload-Length`` and ``Upload-Metadata`` (``case`` required;
  ``filename``, ``device``, ``recorded_at``, ``officer``, ``sha256``): 201, ``Location``.
- ``HEAD /uploads/{id}``: ``Upload-Offset``, the bytes kept so far: resume from there.
- ``PATCH /uploads/{id}`` with ``Upload-Offset`` and an
  ``application/offset+octet-stream`` body: 204 and the new offset; a wrong offset is
  409. The request that brings the last byte makes the evidence (its id in
  ``Custodes-Evidence-Id``), or answers the CLI's error (a duplicate, a non-video...).
- ``DELETE /uploads/{id}``: the upload and its bytes are gone (on record).
- ``GET /uploads/{id}``: where it stands as JSON (``status``, ``evidence_id``, ``sha256``).
"""

from __future__ import annotations

import base64
import binascii
import email.utils
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Header, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from starlette.requests import ClientDisconnect

from custodes.core.errors import InvalidInput
from custodes.core.jsontext import jsonable
from custodes.services import uploads as svc
from custodes.web.deps import Caller
from custodes.web.errors import error_response

router = APIRouter(tags=["uploads"])

TUS_VERSION = "1.0.0"
EXTENSIONS = "creation,termination,expiration"
FLUSH = 1024 * 1024
"""Bytes gathered from the request before one write to disk (off the event loop)."""
OFFSET_STREAM = "application/offset+octet-stream"


def _tus_headers(extra: dict[str, str] | None = None) -> dict[str, str]:
    return {"Tus-Resumable": TUS_VERSION, **(extra or {})}


def _unsupported(request: Request) -> Response | None:
    """A request that does not speak tus 1.0.0: 412, naming the version spoken."""
    if request.headers.get("tus-resumable") == TUS_VERSION:
        return None
    response = error_response(
        "precondition-failed", 412, f"send 'Tus-Resumable: {TUS_VERSION}' (tus 1.0)"
    )
    response.headers["Tus-Version"] = TUS_VERSION
    return response


def _http_date(iso: str) -> str:
    return email.utils.format_datetime(datetime.fromisoformat(iso), usegmt=True)


def decode_metadata(header: str | None) -> dict[str, str]:
    """``Upload-Metadata``: comma-separated ``key base64(value)`` pairs (a key alone: an
    empty value)."""
    pairs: dict[str, str] = {}
    for item in (header or "").split(","):
        if not item.strip():
            continue
        key, _, value = item.strip().partition(" ")
        try:
            pairs[key] = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise InvalidInput(
                f"{{Upload-Metadata}}: the value of '{key[:40]}' is not base64 UTF-8 text",
                field="Upload-Metadata",
            ) from None
    return pairs


def _location(up: svc.Upload) -> str:
    return f"/api/v1/uploads/{up.upload_id}"


@router.options("/uploads", status_code=204)
def discover(caller: Caller) -> Response:
    """What this server speaks: tus versions, extensions, the largest upload taken."""
    return Response(
        status_code=204,
        headers=_tus_headers(
            {
                "Tus-Version": TUS_VERSION,
                "Tus-Extension": EXTENSIONS,
                "Tus-Max-Size": str(caller.ctx.upload_max_size),
            }
        ),
    )


@router.post("/uploads", status_code=201)
def create(
    request: Request,
    caller: Caller,
    upload_length: Annotated[int | None, Header(ge=0)] = None,
    upload_metadata: Annotated[str | None, Header(max_length=8192)] = None,
) -> Response:
    """Begin an upload into a case you may ingest into (checked now, on record)."""
    if (refused := _unsupported(request)) is not None:
        return refused
    if upload_length is None:
        raise InvalidInput(
            "{Upload-Length} is required (deferred lengths are not taken)", field="Upload-Length"
        )
    new = svc.metadata_of(decode_metadata(upload_metadata), upload_length)
    up = svc.begin(caller.ctx, caller.username, new)
    return Response(
        status_code=201,
        headers=_tus_headers(
            {"Location": _location(up), "Upload-Expires": _http_date(up.expires_at)}
        ),
    )


@router.head("/uploads/{upload_id}")
def offset(upload_id: str, request: Request, caller: Caller) -> Response:
    """The bytes kept so far (``Upload-Offset``): send the rest from there."""
    if (refused := _unsupported(request)) is not None:
        return refused
    up = svc.status(caller.ctx, caller.username, upload_id)
    return Response(
        status_code=200,
        headers=_tus_headers(
            {
                "Upload-Offset": str(up.offset),
                "Upload-Length": str(up.length),
                "Upload-Expires": _http_date(up.expires_at),
                "Cache-Control": "no-store",
            }
        ),
    )


@router.patch("/uploads/{upload_id}", status_code=204)
async def append(
    upload_id: str,
    request: Request,
    caller: Caller,
    upload_offset: Annotated[int, Header(ge=0)],
) -> Response:
    """Append the body at ``Upload-Offset``. A connection dropped half-way keeps what
    arrived; the request that brings the last byte makes the evidence."""
    if (refused := _unsupported(request)) is not None:
        return refused
    if request.headers.get("content-type") != OFFSET_STREAM:
        return error_response("unsupported-media-type", 415, f"the body must be {OFFSET_STREAM}")
    appender = await run_in_threadpool(
        svc.append, caller.ctx, caller.username, upload_id, upload_offset
    )
    buf = bytearray()
    dropped = False
    try:
        try:
            async for chunk in request.stream():
                buf += chunk
                if len(buf) >= FLUSH:
                    await run_in_threadpool(appender.write, bytes(buf))
                    buf.clear()
        except ClientDisconnect:
            dropped = True
        if buf:
            await run_in_threadpool(appender.write, bytes(buf))
        if appender.complete and not dropped:
            up = await run_in_threadpool(appender.finish)
            assert up.evidence_id is not None
            return Response(
                status_code=204,
                headers=_tus_headers(
                    {"Upload-Offset": str(up.offset), "Custodes-Evidence-Id": up.evidence_id}
                ),
            )
    finally:
        kept = await run_in_threadpool(appender.close)
    return Response(status_code=204, headers=_tus_headers({"Upload-Offset": str(kept)}))


@router.delete("/uploads/{upload_id}", status_code=204)
def terminate(upload_id: str, request: Request, caller: Caller) -> Response:
    """Delete your upload and what it received (on record)."""
    if (refused := _unsupported(request)) is not None:
        return refused
    svc.terminate(caller.ctx, caller.username, upload_id)
    return Response(status_code=204, headers=_tus_headers())


@router.get("/uploads/{upload_id}")
def show(upload_id: str, caller: Caller) -> JSONResponse:
    """Your upload as JSON: ``offset``, ``length``, ``status`` (``open``, ``done``), and
    once done the ``evidence_id`` it became and its ``sha256``."""
    return JSONResponse(jsonable(svc.status(caller.ctx, caller.username, upload_id)))
