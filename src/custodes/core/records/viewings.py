"""Viewings: marked playback of evidence in the browser, a kind of export made for the
person watching (issue 18)."""

from __future__ import annotations

from dataclasses import dataclass

from custodes.core.jsontext import JSONObject


@dataclass(frozen=True)
class Viewing:
    id: str
    evidence_id: str
    viewer: str
    """The username of the person watching (who started the viewing)."""
    purpose: str | None
    """The reason stated (needed on a flagged case), else None."""
    created_at: str
    expires_at: str
    start_s: float
    end_s: float
    segment_s: float
    width: int
    height: int
    key_version: int
    mark: JSONObject
    """The parameters of the invisible mark (``MarkParams.to_dict``)."""
    visible_text: str
    """The line burnt into every frame (the viewer's name, the viewing and its time)."""
    audit_seq: int


@dataclass(frozen=True)
class SentRange:
    """Operational: the run of segments sent last, and how much of it is on record."""

    from_s: float
    to_s: float
    recorded_to_s: float
