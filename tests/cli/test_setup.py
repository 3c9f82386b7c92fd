"""Setting a vault up through the CLI: a home and its database hold the same vault, init
leaves nothing behind when it fails, and the vault's files are private."""

from __future__ import annotations

import os
import secrets
import stat
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url

from tests.conftest import PG_URL, pg_problem
from tests.factories.cli import invoke


def cli(home: Path, *args: str, db: str | None = None, user: str | None = "admin") -> Any:
    env: dict[str, str | None] = {k: None for k in os.environ if k.startswith("CUSTODES_")}
    if db is not None:
        env["CUSTODES_DATABASE_URL"] = db
    cmd = ["--home", str(home), "--json", *(["--as", user] if user else []), *args]
    return invoke(*cmd, env=env)


def one_line(proc: Any, code: int, *needles: str) -> None:
    assert proc.returncode == code, proc.stderr
    assert proc.stdout == ""
    assert proc.stderr.startswith("custodes: error: ") and proc.stderr.count("\n") == 1
    for needle in needles:
        assert needle in proc.stderr, proc.stderr


def tree(root: Path) -> dict[str, tuple[int, bytes | None]]:
    """Every entry under ``root`` with its mode, and a file's bytes."""
    out: dict[str, tuple[int, bytes | None]] = {}
    for p in [root, *root.rglob("*")]:
        st = p.lstat()
        out[str(p.relative_to(root))] = (st.st_mode, p.read_bytes() if p.is_file() else None)
    return out


@pytest.fixture
def pg_databases() -> Iterator[Callable[[], str]]:
    """Makes empty PostgreSQL databases (a fresh schema each, the URL's search_path),
    dropped afterwards."""
    problem = pg_problem()
    if problem:
        if os.environ.get("CI"):
            pytest.fail(problem)
        pytest.skip(problem)
    admin = create_engine(PG_URL)
    made: list[str] = []

    def new() -> str:
        schema = "t_" + secrets.token_hex(6)
        with admin.begin() as conn:
            conn.execute(text(f"CREATE SCHEMA {schema}"))
        made.append(schema)
        url = make_url(PG_URL).update_query_dict({"options": f"-csearch_path={schema}"})
        return url.render_as_string(hide_password=False)

    try:
        yield new
    finally:
        with admin.begin() as conn:
            for schema in made:
                conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


def schema_of(url: str) -> dict[str, Any]:
    """The tables, functions and row counts a database holds (in its search_path)."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            names = sorted(inspect(conn).get_table_names())
            rows = {n: conn.execute(text(f'SELECT count(*) FROM "{n}"')).scalar() for n in names}
            funcs = conn.execute(
                text(
                    "SELECT p.proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace"
                    " WHERE n.nspname = current_schema()"
                )
            ).scalars()
            return {"rows": rows, "functions": sorted(funcs)}
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_a_home_and_its_postgresql_database_must_hold_the_same_vault(
    tmp_path: Path, pg_databases: Callable[[], str]
) -> None:
    db_a, db_b = pg_databases(), pg_databases()
    home_a, home_b = tmp_path / "a", tmp_path / "b"
    assert cli(home_a, "init", db=db_a, user=None).returncode == 0
    assert cli(home_a, "case", "add", "C-1", db=db_a).returncode == 0
    assert cli(home_a, "verify", db=db_a).returncode == 0

    # An existing home pointed at a new, empty database.
    one_line(
        cli(home_a, "evidence", "list", db=db_b),
        4,
        "holds no vault",
        "set CUSTODES_DATABASE_URL",
    )
    assert schema_of(db_b) == {"rows": {}, "functions": []}  # nothing was made there

    # A second home on a database that already holds a vault.
    one_line(
        cli(home_b, "evidence", "list", db=db_a),
        4,
        f"no vault at {home_b}, but the database",
        "point --home",
    )
    # ... and init there: refused before anything is made.
    before = schema_of(db_a)
    one_line(cli(home_b, "init", db=db_a, user=None), 6, "already holds vault", "empty database")
    assert not home_b.exists()
    assert schema_of(db_a) == before

    # A home whose database holds another vault.
    assert cli(home_b, "init", db=db_b, user=None).returncode == 0
    one_line(cli(home_a, "evidence", "list", db=db_b), 7, "holds vault", "not the vault at")
    # Each home with its own database still works.
    assert cli(home_a, "evidence", "list", db=db_a).returncode == 0
    assert cli(home_b, "evidence", "list", db=db_b).returncode == 0


def _home_with_a_stray_keys_file(tmp_path: Path) -> Path:
    """A private folder holding a file where init must make its ``keys`` folder: init
    gets as far as the schema, then fails making the signing key."""
    home = tmp_path / "v"
    home.mkdir(mode=0o700)
    (home / "keys").write_text("not a folder\n")
    return home


@pytest.mark.postgres
def test_init_that_fails_leaves_no_schema_key_or_file_on_postgresql(
    tmp_path: Path, pg_databases: Callable[[], str]
) -> None:
    db = pg_databases()
    home = _home_with_a_stray_keys_file(tmp_path)
    before = tree(home)
    proc = cli(home, "init", db=db, user=None)
    one_line(proc, 1, "cannot create signing key")
    assert tree(home) == before
    assert schema_of(db) == {"rows": {}, "functions": []}  # no half database
    (home / "keys").unlink()
    assert cli(home, "init", db=db, user=None).returncode == 0  # and init can be run again
    assert set(schema_of(db)["rows"]) > {"users", "audit_events", "alembic_version"}


def test_init_that_fails_leaves_no_database_key_or_file_on_sqlite(tmp_path: Path) -> None:
    home = _home_with_a_stray_keys_file(tmp_path)
    before = tree(home)
    one_line(cli(home, "init", user=None), 1, "cannot create signing key")
    assert tree(home) == before  # no vault.db, no secret, no log folder
    (home / "keys").unlink()
    assert cli(home, "init", user=None).returncode == 0


def test_init_refuses_a_sqlite_file_that_holds_custodes_tables(tmp_path: Path) -> None:
    """An init interrupted before this fix left vault.db without vault.json."""
    home = tmp_path / "v"
    assert cli(home, "init", user=None).returncode == 0
    (home / "vault.json").unlink()
    for p in (home / "keys").iterdir():
        p.unlink()
    before = tree(home)
    one_line(cli(home, "init", user=None), 6, "already holds vault", "empty database")
    assert tree(home) == before


def test_a_home_whose_sqlite_file_is_gone_says_so(tmp_path: Path) -> None:
    home = tmp_path / "v"
    assert cli(home, "init", user=None).returncode == 0
    (home / "vault.db").unlink()
    one_line(cli(home, "evidence", "list"), 7, "database", "is missing", "restore it")
    assert not (home / "vault.db").exists()  # opening did not make an empty one


def _mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


def _private_vault_files(home: Path) -> None:
    assert _mode(home) == 0o700
    for name in ("vault.db", "vault.json", "keys/log-ed25519.pem", "keys/watermark.secret"):
        assert _mode(home / name) == 0o600, name
    for folder in ("keys", "log"):
        assert _mode(home / folder) == 0o700, folder


def test_init_makes_the_vault_private_in_a_new_folder(
    tmp_path: Path, clips: dict[str, Path]
) -> None:
    home = tmp_path / "new" / "v"
    old = os.umask(0o022)  # the usual umask, which would leave 0644 files
    try:
        assert cli(home, "init", user=None).returncode == 0
        assert cli(home, "case", "add", "C-1").returncode == 0
        assert cli(home, "ingest", str(clips["a"]), "--case", "C-1").returncode == 0
    finally:
        os.umask(old)
    _private_vault_files(home)
    for wal in home.glob("vault.db-*"):  # SQLite gives these the database's mode
        assert _mode(wal) == 0o600, wal.name


def test_init_tightens_an_existing_empty_world_readable_folder(tmp_path: Path) -> None:
    home = tmp_path / "v"
    home.mkdir()
    home.chmod(0o755)
    assert cli(home, "init", user=None).returncode == 0
    _private_vault_files(home)


def test_init_refuses_a_world_readable_folder_that_holds_files(tmp_path: Path) -> None:
    home = tmp_path / "v"
    home.mkdir()
    (home / "notes.txt").write_text("x")
    home.chmod(0o755)
    before = tree(home)
    one_line(cli(home, "init", user=None), 3, "open to other users (mode 755)", "private")
    assert tree(home) == before


def test_init_into_a_private_folder_that_holds_files_keeps_them(tmp_path: Path) -> None:
    home = tmp_path / "v"
    home.mkdir(mode=0o700)
    (home / "lost+found").mkdir()
    assert cli(home, "init", user=None).returncode == 0
    _private_vault_files(home)
    assert (home / "lost+found").is_dir()
