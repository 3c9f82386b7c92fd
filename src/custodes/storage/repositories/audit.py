"""The audit log's tables: its running state, its events and its signed checkpoints.

Only storage lives here: what an entry holds, how the tree grows and what is signed are
decided in ``custodes.core`` and ``custodes.services.audit``. The tables are append-only
in the database too (triggers); nothing here updates or deletes an event or a checkpoint.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from typing import Any

from sqlalchemy import exc, func, insert, or_, select, update
from sqlalchemy.engine import Connection

from custodes.core.custody import GENESIS_HASH
from custodes.core.records import LogEntry, LogState, StoredCheckpoint, StoredRow
from custodes.storage import tables as t

_STREAM_SQL = (
    "SELECT seq, entry, leaf_hash, actor, action, case_number, evidence_id, at "
    "FROM audit_events ORDER BY seq"
)

# PostgreSQL: a batch of events and the log's new head in one statement (one round
# trip while the head row is locked), the columns passed as arrays in binary and
# unnested. It also turns synchronous_commit off for this transaction: the head's lock
# is released at COMMIT before the disk flush, and the unit of work waits for a flush
# that covers it after (:meth:`custodes.storage.uow.UnitOfWork.commit`).
_PG_APPEND = (
    "WITH sync AS (SELECT set_config('synchronous_commit', 'off', true)),"
    " ev AS ("
    " INSERT INTO audit_events"
    " (seq, at, actor, action, case_number, evidence_id, entry, leaf_hash)"
    " SELECT * FROM unnest(%b::bigint[], %b::varchar[], %b::varchar[], %b::varchar[],"
    " %b::varchar[], %b::varchar[], %b::bytea[], %b::bytea[]))"
    " UPDATE log_state SET size = %b, compact_range = %b, last_leaf_hash = %b"
    " FROM sync WHERE id = 1"
)


class AuditLogRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    # -- the running state -------------------------------------------------------------

    def load_state(self, *, for_update: bool = False) -> LogState:
        """The log's running state; ``for_update`` locks it (PostgreSQL) until the unit
        of work ends, so that concurrent writers append one after the other."""
        query = select(t.log_state).where(t.log_state.c.id == 1)
        if for_update and self._conn.dialect.name == "postgresql":
            query = query.with_for_update()
        row = self._conn.execute(query).first()
        if row is None:
            return LogState(size=0, compact_range=b"")
        return LogState(
            size=int(row.size),
            compact_range=bytes(row.compact_range),
            last_leaf_hash=bytes(row.last_leaf_hash) if row.last_leaf_hash else GENESIS_HASH,
            exists=True,
        )

    def append(self, entries: Sequence[LogEntry], state: LogState) -> None:
        """Store ``entries`` and the running state after them (``state.exists`` says
        whether a state was stored before them)."""
        if not entries:
            return
        if state.exists and self._conn.dialect.name == "postgresql":
            # The driver's cursor, in binary: SQLAlchemy's text parameters would escape
            # every bytea of the arrays in Python, the largest cost of a big batch.
            columns = (
                [e.seq for e in entries],
                [e.at for e in entries],
                [e.actor for e in entries],
                [e.action for e in entries],
                [e.case_number for e in entries],
                [e.evidence_id for e in entries],
                [e.entry for e in entries],
                [e.leaf_hash for e in entries],
            )
            head = (state.size, state.compact_range, state.last_leaf_hash)
            dbapi: Any = self._conn.connection.driver_connection
            driver_error = self._conn.dialect.loaded_dbapi.Error
            try:
                with dbapi.cursor() as cursor:
                    cursor.execute(_PG_APPEND, (*columns, *head))
            except driver_error as err:  # as SQLAlchemy raises it, for translate_errors
                raise exc.DBAPIError.instance(_PG_APPEND, None, err, driver_error) from err
            return
        self._conn.execute(
            insert(t.audit_events),
            [
                {
                    "seq": e.seq,
                    "at": e.at,
                    "actor": e.actor,
                    "action": e.action,
                    "case_number": e.case_number,
                    "evidence_id": e.evidence_id,
                    "entry": e.entry,
                    "leaf_hash": e.leaf_hash,
                }
                for e in entries
            ],
        )
        values = {
            "size": state.size,
            "compact_range": state.compact_range,
            "last_leaf_hash": state.last_leaf_hash,
        }
        if state.exists:
            self._conn.execute(update(t.log_state).where(t.log_state.c.id == 1).values(**values))
        else:
            self._conn.execute(insert(t.log_state).values(id=1, **values))

    # -- events ------------------------------------------------------------------------

    def count(self) -> int:
        return int(
            self._conn.execute(select(func.count()).select_from(t.audit_events)).scalar() or 0
        )

    def entry_at(self, seq: int) -> bytes | None:
        entry = self._conn.execute(
            select(t.audit_events.c.entry).where(t.audit_events.c.seq == seq)
        ).scalar()
        return None if entry is None else bytes(entry)

    def entries(self, size: int) -> list[bytes]:
        """The stored entries of the first ``size`` events, in seq order (fewer where the
        log holds fewer)."""
        result = self._conn.execute(
            select(t.audit_events.c.entry)
            .where(t.audit_events.c.seq < size)
            .order_by(t.audit_events.c.seq)
        ).scalars()
        return [bytes(entry) for entry in result]

    def entries_from(self, seq: int, limit: int) -> list[tuple[int, bytes]]:
        """Up to ``limit`` stored entries from ``seq`` on, with their seq, in order."""
        ev = t.audit_events.c
        rows = self._conn.execute(
            select(ev.seq, ev.entry).where(ev.seq >= seq).order_by(ev.seq).limit(limit)
        )
        return [(int(r.seq), bytes(r.entry)) for r in rows]

    def events(
        self,
        *,
        evidence_id: str | None = None,
        case_number: str | None = None,
        limit: int | None = None,
        hidden_cases: Collection[str] = (),
    ) -> list[bytes]:
        """The entries of the events that name ``evidence_id`` and ``case_number`` (when
        given), in seq order (the last ``limit`` of them), leaving out every event of the
        ``hidden_cases`` and of their evidence."""
        ev = t.audit_events.c
        query = select(ev.seq, ev.entry).order_by(ev.seq)
        if evidence_id is not None:
            query = query.where(ev.evidence_id == evidence_id)
        if case_number is not None:
            query = query.where(ev.case_number == case_number)
        if hidden_cases:
            hidden = sorted(hidden_cases)
            hidden_evidence = (
                select(t.evidence.c.id)
                .join(t.cases, t.cases.c.id == t.evidence.c.case_id)
                .where(t.cases.c.number.in_(hidden))
            )
            query = query.where(
                or_(ev.case_number.is_(None), ev.case_number.not_in(hidden)),
                or_(ev.evidence_id.is_(None), ev.evidence_id.not_in(hidden_evidence)),
            )
        if limit is not None:
            query = query.order_by(None).order_by(ev.seq.desc()).limit(limit)
        rows = sorted(self._conn.execute(query).all(), key=lambda r: int(r.seq))
        return [bytes(r.entry) for r in rows]

    def fact_entries(
        self,
        actions: Collection[str],
        *,
        case_number: str | None = None,
        evidence_id: str | None = None,
        actor: str | None = None,
    ) -> list[bytes]:
        """The entries of the events with one of ``actions`` (naming ``case_number`` or
        ``evidence_id``, or by ``actor``, when given), in seq order: what a fact's row is
        checked against."""
        ev = t.audit_events.c
        query = select(ev.entry).where(ev.action.in_(sorted(actions))).order_by(ev.seq)
        if case_number is not None:
            query = query.where(ev.case_number == case_number)
        if evidence_id is not None:
            query = query.where(ev.evidence_id == evidence_id)
        if actor is not None:
            query = query.where(ev.actor == actor)
        return [bytes(e) for e in self._conn.execute(query).scalars()]

    def iter_batches(self, batch: int = 20_000) -> Iterator[Sequence[StoredRow]]:
        """Every stored event as a plain tuple (:data:`StoredRow`), in seq order, in
        batches.

        Uses the driver's cursor directly (a server-side cursor on PostgreSQL), because
        ``custodes verify`` reads every event and row objects would double its cost.
        """
        dbapi: Any = self._conn.connection.driver_connection
        if self._conn.dialect.name == "postgresql":
            cursor = dbapi.cursor(name="custodes_verify")
        else:
            cursor = dbapi.cursor()
        try:
            cursor.execute(_STREAM_SQL)
            while True:
                rows = cursor.fetchmany(batch)
                if not rows:
                    break
                yield rows
        finally:
            cursor.close()

    # -- checkpoints ---------------------------------------------------------------------

    def add_checkpoint(self, size: int, note: bytes, created_at: str) -> None:
        self._conn.execute(
            insert(t.checkpoints).values(size=size, note=note.decode(), created_at=created_at)
        )

    def newest_checkpoint_size(self) -> int | None:
        size = self._conn.execute(select(func.max(t.checkpoints.c.size))).scalar()
        return None if size is None else int(size)

    def latest_checkpoint(self) -> StoredCheckpoint | None:
        row = self._conn.execute(
            select(t.checkpoints).order_by(t.checkpoints.c.size.desc()).limit(1)
        ).first()
        return None if row is None else self._checkpoint(row)

    def checkpoint_at(self, size: int) -> StoredCheckpoint | None:
        row = self._conn.execute(select(t.checkpoints).where(t.checkpoints.c.size == size)).first()
        return None if row is None else self._checkpoint(row)

    def checkpoint_event_times(self) -> dict[int, str]:
        """The stored ``at`` of the last event each checkpoint covers, by checkpoint size,
        in one query (``verify`` checks that column against the entry)."""
        ev, cp = t.audit_events.c, t.checkpoints.c
        query = select(cp.size, ev.at).join(t.audit_events, ev.seq == cp.size - 1)
        return {int(r.size): str(r.at) for r in self._conn.execute(query)}

    def checkpoints(self) -> list[StoredCheckpoint]:
        """Every stored checkpoint, smallest first."""
        rows = self._conn.execute(select(t.checkpoints).order_by(t.checkpoints.c.size))
        return [self._checkpoint(r) for r in rows]

    @staticmethod
    def _checkpoint(row: Any) -> StoredCheckpoint:
        return StoredCheckpoint(
            size=int(row.size), note=str(row.note).encode(), created_at=row.created_at
        )
