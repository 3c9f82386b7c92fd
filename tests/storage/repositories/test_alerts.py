"""The alerts repository: one alert per audience, tied to an audit event."""

from __future__ import annotations

from custodes.bootstrap import Vault
from custodes.core.records import Alert


def test_alerts_are_listed_oldest_first(vault: Vault) -> None:
    with vault.uow() as uow:
        for audience, seq in [("internal-affairs", 7), ("command", 7), ("records", 9)]:
            uow.alerts.add(
                at=f"2026-03-16T00:00:{seq:02d}+00:00",
                audience=audience,
                kind="sensitive-access",
                actor="sgt.kim",
                case_number="C-1" if seq == 7 else None,
                evidence_id="EV-1" if seq == 7 else None,
                reason="force review" if seq == 7 else None,
                audit_seq=seq,
            )
        uow.commit()
    with vault.uow(readonly=True) as uow:
        alerts = uow.alerts.list()
    assert [(a.audience, a.audit_seq) for a in alerts] == [
        ("internal-affairs", 7),
        ("command", 7),
        ("records", 9),
    ]
    first = alerts[0]
    assert first == Alert(
        id=first.id,
        at="2026-03-16T00:00:07+00:00",
        audience="internal-affairs",
        kind="sensitive-access",
        actor="sgt.kim",
        case_number="C-1",
        evidence_id="EV-1",
        reason="force review",
        audit_seq=7,
    )
    assert alerts[2].case_number is None and alerts[2].reason is None
