"""Database engines: SQLite in the vault folder by default, PostgreSQL when configured.

Foreign errors are translated into custodes errors here, at the boundary.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event, exc, make_url
from sqlalchemy.engine import Connection, Engine

from custodes.core.errors import BackendUnavailable, CustodesError, CustodyConflict, InvalidInput

_BACKENDS = ("sqlite", "postgresql")


def check_database_url(url: str) -> str:
    """Raise InvalidInput unless ``url`` names a SQLite or PostgreSQL database.

    Returns the URL as it may be shown, with any password masked.
    """
    try:
        parsed = make_url(url)
    except exc.ArgumentError:
        raise InvalidInput(
            "the database URL is not a URL (sqlite:///PATH or postgresql://USER@HOST/DB)"
        ) from None
    shown = parsed.render_as_string(hide_password=True)
    if parsed.get_backend_name() not in _BACKENDS:
        raise InvalidInput(f"unsupported database URL '{shown}' (a sqlite:// or postgresql:// URL)")
    return shown


def sqlite_path(url: str) -> Path | None:
    """The file of a SQLite database URL; None for a server or in-memory database."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


@dataclass(frozen=True)
class PoolSettings:
    """The connection pool of a server database (SQLAlchemy's QueuePool)."""

    size: int = 5
    max_overflow: int = 10
    timeout: float = 30.0
    recycle: int = 1800


def make_engine(url: str, pool: PoolSettings | None = None) -> Engine:
    """Build an engine; nothing connects until first use."""
    shown = check_database_url(url)
    try:
        return _make_engine(url, pool or PoolSettings())
    except (exc.ArgumentError, exc.NoSuchModuleError, ImportError) as err:
        detail = " ".join(str(err).split()).replace(url, shown)
        raise InvalidInput(f"unsupported database URL '{shown}': {detail}") from None


def _make_engine(url: str, pool: PoolSettings) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            # Take over transaction control so BEGIN IMMEDIATE serialises writers.
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=FULL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Connection) -> None:
            # Writers take the lock up front (no upgrade deadlocks); readers read a snapshot.
            readonly = conn.get_execution_options().get("custodes_readonly", False)
            conn.exec_driver_sql("BEGIN" if readonly else "BEGIN IMMEDIATE")

        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return create_engine(
        url,
        pool_pre_ping=True,
        pool_size=pool.size,
        max_overflow=pool.max_overflow,
        pool_timeout=pool.timeout,
        pool_recycle=pool.recycle,
    )


@contextmanager
def translate_errors() -> Iterator[None]:
    """Map SQLAlchemy errors that reach a service into custodes errors."""
    try:
        yield
    except CustodesError:
        raise
    except exc.IntegrityError as err:
        raise CustodyConflict(f"database refused the change: {_first_line(err)}") from err
    except exc.OperationalError as err:
        raise BackendUnavailable(f"database unavailable: {_first_line(err)}") from err
    except exc.InterfaceError as err:
        raise BackendUnavailable(f"database unavailable: {_first_line(err)}") from err
    except exc.DBAPIError as err:
        raise CustodesError(f"database error: {_first_line(err)}") from err


def _first_line(err: BaseException) -> str:
    orig = getattr(err, "orig", None) or err
    text = str(orig).strip().splitlines()
    return text[0] if text else type(orig).__name__
