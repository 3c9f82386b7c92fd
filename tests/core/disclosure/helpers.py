"""Shared inputs of the custodes.core.disclosure tests: the shipped packs and a baseline
request (a closed case, a press request received on Monday, decided on Wednesday)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from custodes.core.authz import CaseStatus
from custodes.core.disclosure import Facts, PolicyPack, decide
from custodes.storage.packs import builtin_pack

COLORADO = builtin_pack("colorado")
CALIFORNIA = builtin_pack("california")
EXAMPLE = builtin_pack("example-department")

MONDAY = date(2026, 3, 2)
TODAY = MONDAY + timedelta(days=2)


def facts(**changes: Any) -> Facts:
    """A closed case, a press request received on Monday, decided on Wednesday."""
    base: dict[str, Any] = {
        "case_status": CaseStatus.CLOSED,
        "requester_kind": "press",
        "received_at": MONDAY,
        "today": TODAY,
    }
    base.update(changes)
    return Facts(**base)


def fired(pack: PolicyPack, f: Facts) -> set[str]:
    return {r.id for r in decide(pack, f).rules} - {"default"}


ALLEGED = TODAY - timedelta(days=10)
