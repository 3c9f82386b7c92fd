"""Traces of leaked clips, and the exported copies a trace weighs."""

from __future__ import annotations

from dataclasses import dataclass

from custodes.core.jsontext import JSONObject


@dataclass(frozen=True)
class Trace:
    """One trace on record: the leak, its verdict and the findings as reported."""

    id: str
    actor: str
    created_at: str
    leak_sha256: str
    leak_name: str
    verdict: str
    evidence_id: str | None
    result: JSONObject
    audit_seq: int


@dataclass(frozen=True)
class TracedCopy:
    """An exported copy of evidence as a trace sees it: who had it and how it is marked."""

    id: str
    evidence_id: str
    recipient: str
    actor: str
    """Who made the copy."""
    created_at: str
    purpose: str
    start_s: float
    end_s: float
    key_version: int
    output_sha256: str
    mark: JSONObject
    """The parameters of the forensic mark it carries (from its lineage)."""
    kind: str = "export"
    """``export`` (a file made for a recipient) or ``viewing`` (a marked stream played
    to its viewer, who is the recipient)."""
