"""Alerts: an audit event that one audience must be told of."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Alert:
    id: int
    at: str
    audience: str
    """Who reads it, as authorization addresses alerts (``core.authz.alert_audiences``)."""
    kind: str
    actor: str
    case_number: str | None
    evidence_id: str | None
    reason: str | None
    audit_seq: int
    """The audit event the alert is about."""
