"""Is every fact the vault acts on vouched for by its signed log? (issue 22)

The log is replayed into the state it vouches for (``core.ledger``) and held against the
tables (``uow.state``): a row that an insider with the database file edited, deleted or
inserted without an event is named. ``verify`` runs this after checking the log itself.
"""

from __future__ import annotations

from custodes.core.custody import Problem, decode_entry
from custodes.core.errors import InvalidInput
from custodes.core.ledger import VOUCHED_ACTIONS, Ledger, compare
from custodes.storage.uow import UnitOfWork


def check_state(uow: UnitOfWork) -> list[Problem]:
    """Every stored fact that the log does not vouch for, by row."""
    ledger = Ledger()
    for batch in uow.audit.iter_batches():
        for row in batch:
            if row[4] not in VOUCHED_ACTIONS:
                continue  # views, traces, refusals...: they change no fact the vault acts on
            try:
                entry = decode_entry(bytes(row[1]))
            except InvalidInput:
                continue  # a malformed entry is reported by the log check itself
            ledger.apply(entry)
    return [*ledger.problems, *compare(ledger.state, uow.state.snapshot())]
