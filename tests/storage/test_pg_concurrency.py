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
from custodes.services import cases
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
