"""Release requests from the press, the public, prosecutors and courts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

TimeSpan = tuple[float, float]
"""A portion of a recording: start and end in seconds."""


@dataclass(frozen=True)
class Request:
    """Who asked for what, when; its deadline comes from the policy pack."""

    id: str
    case_id: int
    case_number: str
    requester: str
    kind: str
    received_at: date
    evidence: tuple[str, ...]
    """The evidence asked for; empty: all of the case's."""
    ranges: tuple[TimeSpan, ...]
    """Only these portions; empty: whole recordings."""
    misconduct_complaint: bool
    allegation_on: date | None
    incident_on: date | None
    critical_incident: bool
    due: date
    actor: str
    created_at: str
