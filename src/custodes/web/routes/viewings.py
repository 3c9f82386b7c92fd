"""Marked playback over HTTP (issue 18): a viewing of evidence and its HLS stream.

``POST /evidence/{id}/viewings`` starts a viewing (the reason, for a flagged case) and
answers its id and playlist URL; the playlist and its MPEG-TS segments are fetched by
the viewer alone, each segment rendered on demand with the viewer's marks
(``services.viewings``). Every refusal is the use case's, on record; errors are the one
JSON shape with a stable ``code``. Responses are ``no-store`` as the whole API is: a
marked segment is for this viewer, not for a shared cache.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

from custodes.core.jsontext import jsonable
from custodes.services import viewings as viewing_svc
from custodes.web.deps import Caller

router = APIRouter()

API = "/api/v1"
PLAYLIST_TYPE = "application/vnd.apple.mpegurl"
SEGMENT_TYPE = "video/mp2t"


class NewViewing(BaseModel):
    reason: str | None = Field(
        default=None,
        max_length=2000,
        description="Why you watch it: needed for a case flagged sensitive, juvenile or "
        "victim-privacy (internal affairs is told), as for an export.",
    )
    start: float | None = Field(default=None, description="Seconds into the recording.")
    end: float | None = Field(default=None, description="Seconds into the recording.")
    height: int | None = Field(
        default=None, ge=64, le=viewing_svc.MAX_HEIGHT, description="Frame height (≤ 720)."
    )


ViewingId = Annotated[str, Path(max_length=32)]


def playlist_url(viewing_id: str) -> str:
    return f"{API}/viewings/{viewing_id}/playlist.m3u8"


@router.post("/evidence/{evidence_id}/viewings", tags=["viewings"], status_code=201)
def start_viewing(
    evidence_id: Annotated[str, Path(max_length=64)], body: NewViewing, caller: Caller
) -> JSONResponse:
    """Start watching evidence: a viewing made for you, on record (``viewing-started``).
    Play ``playlist`` with an HLS player; only you may fetch it."""
    started = viewing_svc.start_viewing(
        caller.ctx,
        caller.username,
        viewing_svc.StartViewing(
            evidence_id, reason=body.reason, start=body.start, end=body.end, height=body.height
        ),
    )
    return JSONResponse(
        {**jsonable(started), "playlist": playlist_url(started.viewing_id)}, status_code=201
    )


@router.get("/viewings", tags=["viewings"])
def viewings(
    caller: Caller,
    evidence: Annotated[str | None, Query(max_length=64)] = None,
) -> JSONResponse:
    """Viewings on record, listed as exports are (who watched what, when, and why)."""
    return JSONResponse(jsonable(viewing_svc.list_viewings(caller.ctx, caller.username, evidence)))


@router.get(
    "/viewings/{viewing_id}/playlist.m3u8",
    tags=["viewings"],
    response_class=Response,
    responses={200: {"content": {PLAYLIST_TYPE: {}}}},
)
def viewing_playlist(viewing_id: ViewingId, caller: Caller) -> Response:
    """The viewing's HLS media playlist (VOD): segments at fixed times, relative URLs."""
    text = viewing_svc.viewing_playlist(caller.ctx, caller.username, viewing_id)
    return Response(text, media_type=PLAYLIST_TYPE)


@router.get(
    "/viewings/{viewing_id}/segments/{n}.ts",
    tags=["viewings"],
    response_class=Response,
    responses={200: {"content": {SEGMENT_TYPE: {}}}},
)
def viewing_segment(
    viewing_id: ViewingId, n: Annotated[int, Path(ge=0, le=1_000_000)], caller: Caller
) -> Response:
    """Segment ``n``: rendered now from the original with your marks (or reused, if this
    viewing rendered it before). What is sent is on record (``viewing-range``)."""
    segment = viewing_svc.viewing_segment(caller.ctx, caller.username, viewing_id, n)
    return Response(
        segment.data,
        media_type=SEGMENT_TYPE,
        headers={"X-Segment-Cached": "1" if segment.cached else "0"},
    )
