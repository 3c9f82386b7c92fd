"""The unit of work: one database transaction around one use case."""

from __future__ import annotations

from types import TracebackType

from sqlalchemy.engine import Connection, Engine

from custodes.core.records import LogState
from custodes.storage.db import translate_errors
from custodes.storage.repositories import (
    AlertRepository,
    ArchiveKeyRepository,
    AuditLogRepository,
    AuthRepository,
    CaseRepository,
    DecisionRepository,
    DerivativeRepository,
    EvidenceFlagRepository,
    EvidenceRepository,
    ExportRepository,
    FingerprintRepository,
    HoldingsRepository,
    JobRepository,
    PasskeyRepository,
    ReleaseRepository,
    RequestRepository,
    StateRepository,
    TraceRepository,
    UserRepository,
    ViewingRepository,
)


def _snapshot(conn: Connection) -> dict[str, str]:
    return {"isolation_level": "REPEATABLE READ"} if conn.dialect.name == "postgresql" else {}


def _writer(conn: Connection) -> dict[str, str]:
    return {"isolation_level": "READ COMMITTED"} if conn.dialect.name == "postgresql" else {}


class UnitOfWork:
    """``with uow:`` opens a transaction; ``uow.commit()`` ends it, otherwise it rolls back.

    The audit log is written through the same connection, so that an action and its
    event commit or roll back together.
    """

    def __init__(self, engine: Engine, *, readonly: bool = False) -> None:
        self._engine = engine
        self._readonly = readonly
        self._conn: Connection | None = None
        self.log_head: LogState | None = None
        """The audit log's head after this unit of work appended to it (its row locked
        until the transaction ends); None before it appends."""

    @property
    def conn(self) -> Connection:
        if self._conn is None:
            raise RuntimeError("unit of work used outside 'with'")
        return self._conn

    @property
    def users(self) -> UserRepository:
        return UserRepository(self.conn)

    @property
    def cases(self) -> CaseRepository:
        return CaseRepository(self.conn)

    @property
    def evidence(self) -> EvidenceRepository:
        return EvidenceRepository(self.conn)

    @property
    def state(self) -> StateRepository:
        return StateRepository(self.conn)

    @property
    def derivatives(self) -> DerivativeRepository:
        return DerivativeRepository(self.conn)

    @property
    def fingerprints(self) -> FingerprintRepository:
        return FingerprintRepository(self.conn)

    @property
    def archive_keys(self) -> ArchiveKeyRepository:
        return ArchiveKeyRepository(self.conn)

    @property
    def passkeys(self) -> PasskeyRepository:
        return PasskeyRepository(self.conn)

    @property
    def traces(self) -> TraceRepository:
        return TraceRepository(self.conn)

    @property
    def exports(self) -> ExportRepository:
        return ExportRepository(self.conn)

    @property
    def viewings(self) -> ViewingRepository:
        return ViewingRepository(self.conn)

    @property
    def alerts(self) -> AlertRepository:
        return AlertRepository(self.conn)

    @property
    def requests(self) -> RequestRepository:
        return RequestRepository(self.conn)

    @property
    def decisions(self) -> DecisionRepository:
        return DecisionRepository(self.conn)

    @property
    def releases(self) -> ReleaseRepository:
        return ReleaseRepository(self.conn)

    @property
    def evidence_flags(self) -> EvidenceFlagRepository:
        return EvidenceFlagRepository(self.conn)

    @property
    def audit(self) -> AuditLogRepository:
        return AuditLogRepository(self.conn)

    @property
    def auth(self) -> AuthRepository:
        return AuthRepository(self.conn)

    @property
    def holdings(self) -> HoldingsRepository:
        return HoldingsRepository(self.conn)

    @property
    def jobs(self) -> JobRepository:
        return JobRepository(self.conn)

    def __enter__(self) -> UnitOfWork:
        with translate_errors():
            conn = self._engine.connect()
            if self._readonly:
                # One snapshot for the whole unit of work: a reader that checks many tables
                # against each other (verify) must not see writers commit in between.
                # SQLite's BEGIN gives one already; PostgreSQL's default (READ COMMITTED)
                # takes a new snapshot at each statement.
                conn = conn.execution_options(custodes_readonly=True, **_snapshot(conn))
            self._conn = conn
            conn.begin()
        return self

    def restart(self) -> None:
        """Roll back what was under way and begin again (to put a refusal on record).

        What follows writes: a read-only unit of work becomes a writer's (SQLite: BEGIN
        IMMEDIATE; PostgreSQL: READ COMMITTED, so that it waits for the log's head row
        instead of failing on a snapshot older than the head)."""
        with translate_errors():
            if self.conn.in_transaction():
                self.conn.rollback()
            self.log_head = None
            if self._readonly:
                self._readonly = False
                self.conn.execution_options(custodes_readonly=False, **_writer(self.conn))
            self.conn.begin()

    def commit(self) -> None:
        """Commit; after an append to the audit log on PostgreSQL, return only once the
        commit is on disk.

        A writer of the audit log holds the log head's row lock until it commits. Its
        append turned ``synchronous_commit`` off for the transaction, so that COMMIT
        releases the lock before the disk flush instead of after; the flush is then
        awaited here, by a synchronous commit of a transaction of its own (a WAL message
        of no bytes), and concurrent writers' flushes are shared (PostgreSQL's group
        commit). The write-ahead log is flushed in order, so that commit's flush covers
        this one. Nothing is reported committed before it is durable: a crash before the
        flush loses this transaction and every one that read it (they commit later in
        the same log), none of which was reported committed."""
        conn = self.conn
        with translate_errors():
            conn.commit()
            if self.log_head is not None and conn.dialect.name == "postgresql":
                conn.exec_driver_sql("SELECT pg_logical_emit_message(true, 'custodes', '')")
                conn.commit()
        self.log_head = None

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        conn, self._conn = self._conn, None
        self.log_head = None
        if conn is None:
            return
        try:
            if conn.in_transaction():
                conn.rollback()
        finally:
            conn.close()
