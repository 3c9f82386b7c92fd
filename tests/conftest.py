"""Shared fixtures: settings for each database backend, opened vaults, generated clips."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from custodes import bootstrap
from custodes.bootstrap import Vault
from custodes.config import Settings
from custodes.media.synth import write_bodycam_clip

PG_URL = os.environ.get(
    "CUSTODES_TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def _pg_reachable() -> str | None:
    try:
        engine = create_engine(PG_URL, connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        engine.dispose()
    except Exception as exc:  # the reason is shown in the skip message
        return f"no PostgreSQL at {PG_URL}: {type(exc).__name__}"
    return None


_PG_PROBLEM: str | bool | None = False


def pg_problem() -> str | None:
    global _PG_PROBLEM
    if _PG_PROBLEM is False:
        _PG_PROBLEM = _pg_reachable()
    return _PG_PROBLEM  # type: ignore[return-value]


@pytest.fixture
def pg_schema_url() -> Iterator[str]:
    """A PostgreSQL URL whose search_path is a fresh schema, dropped afterwards."""
    problem = pg_problem()
    if problem:
        if os.environ.get("CI"):
            pytest.fail(problem)
        pytest.skip(problem)
    schema = "t_" + secrets.token_hex(6)
    admin = create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    url = make_url(PG_URL).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    home = tmp_path / "vault"
    if request.param == "postgresql":
        url = request.getfixturevalue("pg_schema_url")
        return Settings(home=home, database_url=url)
    return Settings(home=home)


@pytest.fixture
def sqlite_settings(tmp_path: Path) -> Settings:
    return Settings(home=tmp_path / "vault")


@pytest.fixture
def vault(settings: Settings) -> Iterator[Vault]:
    v = bootstrap.init_vault(settings)
    yield v
    v.engine.dispose()


@pytest.fixture
def sqlite_vault(sqlite_settings: Settings) -> Iterator[Vault]:
    v = bootstrap.init_vault(sqlite_settings)
    yield v
    v.engine.dispose()


@pytest.fixture(scope="session")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Small generated clips, made once per session."""
    root = tmp_path_factory.mktemp("clips")
    out = {}
    for name, seed in [("a", 1), ("b", 2), ("c", 3)]:
        out[name] = write_bodycam_clip(
            root / f"clip_{name}.mp4", seconds=2.0, width=320, height=180, fps=15, seed=seed
        )
    return out
