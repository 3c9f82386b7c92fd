"""Run the Alembic migrations bundled with the package (``alembic upgrade head``), say
what a database already holds of custodes, and undo a first upgrade that ``init`` could
not finish."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import inspect, select
from sqlalchemy.engine import Engine

from custodes.storage import tables as t

SCRIPT_LOCATION = Path(__file__).with_name("alembic")


#: Drops what Procrastinate's schema made in the current schema (tables, functions,
#: types), on PostgreSQL: migration 0009's downgrade and an unfinished init.
DROP_PROCRASTINATE = """
DO $$
DECLARE r record;
BEGIN
  FOR r IN SELECT tablename FROM pg_tables
           WHERE schemaname = current_schema() AND left(tablename, 13) = 'procrastinate' LOOP
    EXECUTE 'DROP TABLE IF EXISTS ' || quote_ident(r.tablename) || ' CASCADE';
  END LOOP;
  FOR r IN SELECT p.oid::regprocedure AS f FROM pg_proc p
           JOIN pg_namespace n ON n.oid = p.pronamespace
           WHERE n.nspname = current_schema() AND left(p.proname, 13) = 'procrastinate' LOOP
    EXECUTE 'DROP FUNCTION IF EXISTS ' || r.f || ' CASCADE';
  END LOOP;
  FOR r IN SELECT t.typname FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
           WHERE n.nspname = current_schema() AND left(t.typname, 13) = 'procrastinate'
             AND t.typtype IN ('e', 'c') LOOP
    EXECUTE 'DROP TYPE IF EXISTS ' || quote_ident(r.typname) || ' CASCADE';
  END LOOP;
END $$;
"""


def alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(SCRIPT_LOCATION))
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    cfg = alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


@dataclass(frozen=True)
class Holding:
    """What a database holds of custodes: its tables, and the origin of the vault whose
    log they keep (read from the first signed checkpoint; None when none was signed)."""

    tables: tuple[str, ...]
    origin: str | None

    @property
    def empty(self) -> bool:
        return not self.tables


def _custodes_tables() -> set[str]:
    return {*t.metadata.tables, "alembic_version"}


def holding(engine: Engine) -> Holding:
    """The custodes tables in ``engine``'s database (its default schema) and the vault
    they belong to. Foreign errors are raised as they are (map them with
    ``db.translate_errors``)."""
    with engine.connect() as conn:
        present = sorted(set(inspect(conn).get_table_names()) & _custodes_tables())
        origin = None
        if "checkpoints" in present:
            note = conn.execute(
                select(t.checkpoints.c.note).order_by(t.checkpoints.c.size).limit(1)
            ).scalar()
            if note:
                origin = str(note).split("\n", 1)[0].strip() or None
    return Holding(tuple(present), origin)


def drop_schema(engine: Engine) -> None:
    """Undo a first ``upgrade`` that was never finished into a vault: drop every custodes
    table, Alembic's version table and the append-only trigger function.

    Only for a database that held no custodes table before (``init`` checks); the audit
    log's own downgrade refuses, rightly, to run on a vault."""
    with engine.begin() as conn:
        present = set(inspect(conn).get_table_names())
        for table in reversed(t.metadata.sorted_tables):
            if table.name in present:
                table.drop(conn)
        if "alembic_version" in present:
            conn.exec_driver_sql("DROP TABLE alembic_version")
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql("DROP FUNCTION IF EXISTS custodes_append_only() CASCADE")
            conn.exec_driver_sql(DROP_PROCRASTINATE)
