"""custodes.core.ledger: the policy pack in force, replayed from its signed events.

(Kept beside test_ledger.py so that the two halves of the ledger can change apart.)"""

from __future__ import annotations

from typing import Any

import pytest

from custodes.core.ledger import PackSetting, pack_history, pack_setting

A, B = "a" * 64, "b" * 64


def _set(seq: int, sha: str, previous: str | None = None, **over: Any) -> dict[str, Any]:
    details = {
        "name": "colorado",
        "version": "2026.1",
        "sha256": sha,
        "source": "colorado.yaml",
        "size": 10886,
        "previous_sha256": previous,
        **over,
    }
    return {
        "seq": seq,
        "at": f"2026-12-{seq + 1:02d}T10:00:00+00:00",
        "actor": "admin",
        "action": "policy-set",
        "reason": "why",
        "details": details,
    }


def test_the_last_setting_is_the_pack_in_force() -> None:
    history, problems = pack_history([_set(2, A), _set(9, B, A, name="california")])
    assert problems == []
    assert [s.sha256 for s in history] == [A, B]
    assert history[-1] == PackSetting(
        seq=9,
        at="2026-12-10T10:00:00+00:00",
        actor="admin",
        name="california",
        version="2026.1",
        sha256=B,
        source="colorado.yaml",
        size=10886,
        reason="why",
        previous_sha256=A,
    )


@pytest.mark.parametrize(
    "bad",
    [
        _set(3, "A" * 64),  # not lowercase hex
        _set(3, "ab"),  # too short
        {**_set(3, A), "details": {"sha256": A}},  # no name, version...
        {**_set(3, A), "action": "user-add"},
    ],
)
def test_a_setting_that_does_not_say_which_pack_is_a_problem(bad: dict[str, Any]) -> None:
    history, problems = pack_history([_set(2, A), bad])
    assert [s.seq for s in history] == [2]
    assert [(p.kind, p.seq) for p in problems] == [("state-event-unreadable", 3)]
    with pytest.raises((KeyError, TypeError, ValueError)):
        pack_setting(bad)
