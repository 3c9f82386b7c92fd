"""PostgreSQL under concurrency: many writers append to the audit log at once, and the
log's order, hash chain, Merkle tree and signed checkpoints stay correct (issue 19)."""

from __future__ import annotations

import multiprocessing
import threading
from pathlib import Path

import pytest
from sqlalchemy import text

from custodes import bootstrap
from custodes.config import Settings
from custodes.core.custody import Action
from custodes.services import audit, cases
from custodes.services.common import event
from custodes.services.verify import verify_vault
from tests.factories.writers import writers_adding_cases

pytestmark = pytest.mark.postgres

WRITERS = 8
PER_WRITER = 6


def test_eight_concurrent_writers_keep_the_log_whole(tmp_path: Path, pg_schema_url: str) -> None:
    vault = bootstrap.init_vault(
        Settings(home=tmp_path / "vault", database_url=pg_schema_url, db_pool_size=WRITERS)
    )
    try:
        start = threading.Barrier(WRITERS)
        failures: list[BaseException] = []

        def writer(n: int) -> None:
            try:
                start.wait()
                for i in range(PER_WRITER):
                    cases.add_case(vault, "admin", f"W{n}-{i}", title=f"writer {n}")
            except BaseException as exc:  # reported below, with the thread's number
                failures.append(exc)

        threads = [threading.Thread(target=writer, args=(n,)) for n in range(WRITERS)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        assert failures == []

        with vault.engine.connect() as conn:
            seqs = [r[0] for r in conn.execute(text("SELECT seq FROM audit_events ORDER BY seq"))]
            sizes = [r[0] for r in conn.execute(text("SELECT size FROM checkpoints ORDER BY size"))]
        # Every event numbered once, with no gap; one checkpoint per commit, each distinct.
        assert seqs == list(range(len(seqs)))
        assert len(seqs) >= WRITERS * PER_WRITER + 1
        assert len(sizes) == len(set(sizes)) and sizes[-1] == len(seqs)
        # The published checkpoint is the newest, though writers published at once.
        published = vault.checkpoints.published()
        assert published is not None and f"\n{len(seqs)}\n".encode() in published

        report = verify_vault(vault, "admin")
        assert report.ok, report.problems
        assert report.events == len(seqs)
    finally:
        vault.engine.dispose()


def test_verify_while_writers_append_finds_nothing_wrong(
    tmp_path: Path, pg_schema_url: str
) -> None:
    """verify reads one snapshot (REPEATABLE READ) and the published checkpoint before
    it: writers committing meanwhile are neither missing rows nor a truncated log."""
    vault = bootstrap.init_vault(Settings(home=tmp_path / "vault", database_url=pg_schema_url))
    try:
        with writers_adding_cases(vault, 4, "V") as failures:
            reports = [verify_vault(vault, "admin", blobs=False) for _ in range(3)]
        assert failures == []
        assert [r.problems for r in reports] == [[], [], []]
        assert reports[-1].events > reports[0].events  # the writers did write meanwhile
    finally:
        vault.engine.dispose()


def _process_writer(settings: Settings, n: int, count: int) -> None:
    vault = bootstrap.open_vault(settings)
    try:
        for i in range(count):
            cases.add_case(vault, "admin", f"P{n}-{i}")
    finally:
        vault.engine.dispose()


def test_writers_in_separate_processes_keep_the_log_whole(
    tmp_path: Path, pg_schema_url: str
) -> None:
    """Processes (forked: no second import) share nothing but the database and the vault
    folder, as web servers and workers on one machine do."""
    settings = Settings(home=tmp_path / "vault", database_url=pg_schema_url)
    bootstrap.init_vault(settings).engine.dispose()
    fork = multiprocessing.get_context("fork")
    procs = [fork.Process(target=_process_writer, args=(settings, n, 4)) for n in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0, 0, 0, 0]
    vault = bootstrap.open_vault(settings)
    try:
        report = verify_vault(vault, "admin")
        assert report.ok, report.problems
        with vault.engine.connect() as conn:
            added = conn.execute(text("SELECT count(*) FROM cases WHERE number LIKE 'P%'"))
            assert added.scalar() == 16
        published = vault.checkpoints.published()  # verify's own event was the last
        assert published is not None and f"\n{report.events + 1}\n".encode() in published
    finally:
        vault.engine.dispose()


# ------------------------------------------------------- batched appends, failed writers


def _append_batches(vault: bootstrap.Vault, n: int, batches: int, size: int) -> None:
    """Writer ``n``: ``batches`` commits of ``size`` VIEW events, each numbered in its
    details; then one unit of work that appends and fails before it commits."""
    for b in range(batches):
        with vault.uow() as uow:
            events = [
                event(vault, "admin", Action.VIEW, details={"writer": n, "i": b * size + i})
                for i in range(size)
            ]
            seqs = audit.append(uow, events)
            assert seqs == list(range(seqs[0], seqs[0] + size))  # one run, in order
            audit.commit(uow, vault)
    with pytest.raises(RuntimeError), vault.uow() as uow:
        audit.append(uow, [event(vault, "admin", Action.VIEW, details={"writer": n, "i": -1})])
        audit.sign_checkpoint(uow, vault)
        raise RuntimeError("the use case fails after its event was appended")


def _check_batched_log(vault: bootstrap.Vault, writers: int, batches: int, size: int) -> None:
    with vault.engine.connect() as conn:
        rows = conn.execute(text("SELECT seq, entry FROM audit_events ORDER BY seq")).all()
        sizes = [r[0] for r in conn.execute(text("SELECT size FROM checkpoints ORDER BY size"))]
        state = conn.execute(text("SELECT size FROM log_state")).scalar()
    assert [r.seq for r in rows] == list(range(len(rows)))  # no gap, none twice
    assert state == len(rows) and sizes[-1] == len(rows)
    seen: dict[int, list[int]] = {}
    for _, entry in rows:
        details = audit.EventView.of_entry(bytes(entry)).details
        if "writer" in details:
            seen.setdefault(int(str(details["writer"])), []).append(int(str(details["i"])))
    # Every writer's events exactly once and in its own order; the failed ones absent.
    assert seen == {n: list(range(batches * size)) for n in range(writers)}
    report = verify_vault(vault, "admin", blobs=False)
    assert report.ok, report.problems
    published = vault.checkpoints.published()
    assert published is not None
    assert audit.open_checkpoint(vault, published).size == report.events + 1  # its own


def test_threads_appending_batches_keep_every_event_once(
    tmp_path: Path, pg_schema_url: str
) -> None:
    vault = bootstrap.init_vault(
        Settings(home=tmp_path / "vault", database_url=pg_schema_url, db_pool_size=WRITERS)
    )
    try:
        start = threading.Barrier(WRITERS)
        failures: list[BaseException] = []

        def writer(n: int) -> None:
            try:
                start.wait()
                _append_batches(vault, n, 5, 1 + 7 * (n % 3))  # 1, 8 or 15 events a commit
            except BaseException as exc:  # reported below
                failures.append(exc)

        threads = [threading.Thread(target=writer, args=(n,)) for n in range(WRITERS)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        assert failures == []
        with vault.engine.connect() as conn:
            rows = conn.execute(text("SELECT entry FROM audit_events")).scalars().all()
        counts = {n: 0 for n in range(WRITERS)}
        for entry in rows:
            details = audit.EventView.of_entry(bytes(entry)).details
            if "writer" in details:
                counts[int(str(details["writer"]))] += 1
        assert counts == {n: 5 * (1 + 7 * (n % 3)) for n in range(WRITERS)}
        report = verify_vault(vault, "admin", blobs=False)
        assert report.ok, report.problems
    finally:
        vault.engine.dispose()


def _batch_process(settings: Settings, n: int) -> None:
    vault = bootstrap.open_vault(settings)
    try:
        _append_batches(vault, n, 6, 10)
    finally:
        vault.engine.dispose()


def test_processes_appending_batches_keep_every_event_once(
    tmp_path: Path, pg_schema_url: str
) -> None:
    settings = Settings(home=tmp_path / "vault", database_url=pg_schema_url)
    bootstrap.init_vault(settings).engine.dispose()
    fork = multiprocessing.get_context("fork")
    procs = [fork.Process(target=_batch_process, args=(settings, n)) for n in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0, 0, 0, 0]
    vault = bootstrap.open_vault(settings)
    try:
        _check_batched_log(vault, 4, 6, 10)
    finally:
        vault.engine.dispose()


def test_a_commit_waits_for_the_flush_and_leaves_the_session_synchronous(
    tmp_path: Path, pg_schema_url: str
) -> None:
    """The log head is released before the disk flush (synchronous_commit off for that
    one transaction), and the commit returns only after a synchronous commit of its own
    covers it; the pooled connection goes back with the server's setting."""
    vault = bootstrap.init_vault(
        Settings(home=tmp_path / "vault", database_url=pg_schema_url, db_pool_size=1)
    )
    try:
        with vault.uow() as uow:
            audit.append(uow, [event(vault, "admin", Action.VIEW)])
            conn = uow.conn
            assert conn.exec_driver_sql("SHOW synchronous_commit").scalar() == "off"
            written = conn.exec_driver_sql("SELECT pg_current_wal_insert_lsn()").scalar()
            audit.commit(uow, vault)
            assert not conn.in_transaction()
            setting = conn.exec_driver_sql("SHOW synchronous_commit").scalar()
            flushed = conn.execute(
                text("SELECT pg_current_wal_flush_lsn() > CAST(:lsn AS pg_lsn)"), {"lsn": written}
            ).scalar()
            assert setting == "on"
            assert flushed  # the commit's record (after `written`) is on disk already
        _check_batched_log(vault, 0, 0, 0)
    finally:
        vault.engine.dispose()
