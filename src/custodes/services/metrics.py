"""Operational figures read from the audit log: what was done, counted by action.

The log is the one place every front door (CLI, web, workers, on any machine) writes
what it did, so figures counted from it agree across processes. :class:`LogTally`
reads only the events appended since its last look (a process starts counting at the
log's size when it first looks), for Prometheus counters (``web/routes/ops.py``). It
reads counts and sizes, never evidence, and is not itself put on the log: the
``/metrics`` endpoint is protected at the HTTP layer (docs/operations.md).
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field

from custodes.core.custody import Action, decode_entry
from custodes.core.errors import InvalidInput
from custodes.services.context import Context

_BATCH = 5_000


@dataclass
class Tally:
    """Counts since the tally began."""

    actions: Counter[str] = field(default_factory=Counter)
    ingest_bytes: int = 0
    verify_ok: int = 0
    verify_failed: int = 0
    verify_problems_last: int = 0
    log_size: int = 0


class LogTally:
    """Counts the events appended to the log since the first :meth:`update`."""

    def __init__(self) -> None:
        self._next: int | None = None
        self._lock = threading.Lock()
        self.tally = Tally()

    def update(self, ctx: Context) -> Tally:
        """Read the events appended since the last look and add them up."""
        with self._lock, ctx.uow(readonly=True) as uow:
            if self._next is None:
                self._next = uow.audit.load_state().size
                self.tally.log_size = self._next
                return self.tally
            while True:
                batch = uow.audit.entries_from(self._next, _BATCH)
                for seq, entry in batch:
                    try:
                        self._count(decode_entry(entry))
                    except InvalidInput:
                        self.tally.actions["malformed"] += 1  # verify names it
                    self._next = seq + 1
                if len(batch) < _BATCH:
                    break
            self.tally.log_size = self._next
        return self.tally

    def _count(self, body: dict[str, object]) -> None:
        action = str(body.get("action"))
        details = body.get("details")
        info = details if isinstance(details, dict) else {}
        t = self.tally
        t.actions[action] += 1
        if action == Action.INGEST:
            size = info.get("size")
            t.ingest_bytes += size if isinstance(size, int) else 0
        elif action == Action.VERIFICATION:
            if info.get("ok") is True:
                t.verify_ok += 1
            else:
                t.verify_failed += 1
            problems = info.get("problems")
            t.verify_problems_last = problems if isinstance(problems, int) else 0
