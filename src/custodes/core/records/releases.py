"""Releases: packages made for a requester from a recorded decision."""

from __future__ import annotations

from dataclasses import dataclass

from custodes.core.jsontext import JSONObject


@dataclass(frozen=True)
class Release:
    """A package made for a requester from a recorded decision."""

    id: str
    request_id: str
    decision_id: str
    created_at: str
    actor: str
    manifest: JSONObject
    audit_seq: int
