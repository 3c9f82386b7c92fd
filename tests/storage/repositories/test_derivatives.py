"""The derivatives repository: redacted copies with their lineage."""

from __future__ import annotations

import pytest

from custodes.bootstrap import Vault
from custodes.core.errors import NotFound
from custodes.core.records import Derivative
from tests.factories.stored import stored_evidence


def _derivative(evidence_id: str, id_: str = "RD-1", created_at: str = "2025-01-03") -> Derivative:
    return Derivative(
        id=id_,
        evidence_id=evidence_id,
        kind="redaction",
        created_at=created_at,
        actor="rec",
        sha256="a" * 64,
        sidecar_sha256="b" * 64,
        frames_redacted=12,
        lineage={
            "source": {"evidence_id": evidence_id, "sha256": "c" * 64},
            "operations": [
                {"op": "redact", "faces": True, "detector": {"name": "centerface"}},
                {"op": "audio", "mode": "mute", "ranges": [[0.0, 1.5]]},
            ],
            "frames_redacted": 12,
        },
        audit_seq=7,
    )


def test_a_derivative_reads_back_as_written(vault: Vault) -> None:
    with vault.uow() as uow:
        ev = stored_evidence(uow)
        made = uow.derivatives.add(_derivative(ev.id))
        uow.commit()
    with vault.uow(readonly=True) as uow:
        back = uow.derivatives.get("RD-1")
        assert uow.derivatives.find("RD-nope") is None
        with pytest.raises(NotFound):
            uow.derivatives.get("RD-nope")
    assert back == made
    assert [op["op"] for op in back.operations] == ["redact", "audio"]


def test_derivatives_of_evidence_oldest_first(vault: Vault) -> None:
    with vault.uow() as uow:
        ev, other = stored_evidence(uow), stored_evidence(uow)
        uow.derivatives.add(_derivative(ev.id, "RD-2", "2025-01-05"))
        uow.derivatives.add(_derivative(ev.id, "RD-1", "2025-01-04"))
        uow.derivatives.add(_derivative(other.id, "RD-3"))
        assert [d.id for d in uow.derivatives.of_evidence([ev.id])] == ["RD-1", "RD-2"]
        assert uow.derivatives.of_evidence([]) == []


def test_a_lineage_without_operations_has_none() -> None:
    d = _derivative("EV-1")
    assert Derivative(**{**d.__dict__, "lineage": {}}).operations == []
