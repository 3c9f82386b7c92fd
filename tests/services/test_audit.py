"""Reading the audit log."""

from __future__ import annotations

import pytest

from custodes.bootstrap import Vault
from custodes.core.errors import InvalidInput
from custodes.services.audit import list_events


def test_limit_keeps_the_last_events(sqlite_vault: Vault) -> None:
    with sqlite_vault.uow(readonly=True) as uow:
        every = list_events(uow.conn)
        assert list_events(uow.conn, limit=1) == every[-1:]


@pytest.mark.parametrize("limit", [0, -5])
def test_a_limit_below_one_is_bad_input(sqlite_vault: Vault, limit: int) -> None:
    # It used to return the whole log.
    with (
        sqlite_vault.uow(readonly=True) as uow,
        pytest.raises(InvalidInput, match=f"positive number of events, not {limit}"),
    ):
        list_events(uow.conn, limit=limit)
