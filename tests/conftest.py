"""Shared fixtures: settings for each database and blob store backend, opened vaults,
an S3 server on loopback, generated clips."""

from __future__ import annotations

import http.client
import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from custodes import bootstrap
from custodes.bootstrap import Vault
from custodes.config import Settings
from custodes.media.synth import write_bodycam_clip
from tests.factories.cli import invoke

PG_URL = os.environ.get(
    "CUSTODES_TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)

# The stack the vault fixtures open (`make test-production` sets all three; docs/testing
# in README.md). Unset, the default: ``settings`` is SQLite and PostgreSQL, the
# ``sqlite_*`` fixtures SQLite, blobs in a local folder, jobs on each database's default.
#   CUSTODES_TEST_DATABASE=postgresql   every vault fixture on PostgreSQL, a fresh schema
#                                       each (tests marked sqlite_only are skipped)
#   CUSTODES_TEST_BLOBS=s3              blobs on S3: the server at CUSTODES_TEST_S3_ENDPOINT,
#                                       else moto's, started on loopback for the session
#   CUSTODES_TEST_JOBS=procrastinate    jobs through Procrastinate's queue (CUSTODES_JOBS)
ON_POSTGRES = os.environ.get("CUSTODES_TEST_DATABASE", "") == "postgresql"
BLOBS = os.environ.get("CUSTODES_TEST_BLOBS", "local")
JOBS = os.environ.get("CUSTODES_TEST_JOBS") or None
if BLOBS not in ("local", "s3"):
    raise ValueError(f"CUSTODES_TEST_BLOBS must be local or s3, not {BLOBS!r}")
if JOBS not in (None, "in-process", "procrastinate"):
    raise ValueError(f"CUSTODES_TEST_JOBS must be in-process or procrastinate, not {JOBS!r}")


def pytest_runtest_setup(item: pytest.Item) -> None:
    marker = item.get_closest_marker("sqlite_only")
    if marker is not None and ON_POSTGRES:
        pytest.skip(f"SQLite only: {marker.args[0] if marker.args else 'the embedded vault'}")


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


_DATABASES = [pytest.param("postgresql", marks=pytest.mark.postgres)]
if not ON_POSTGRES:
    _DATABASES.insert(0, pytest.param("sqlite"))


@pytest.fixture(params=_DATABASES)
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    home = tmp_path / "vault"
    if request.param == "postgresql":
        url = request.getfixturevalue("pg_schema_url")
        return Settings(home=home, database_url=url, jobs=JOBS)
    return Settings(home=home)


@pytest.fixture
def sqlite_settings(tmp_path: Path, request: pytest.FixtureRequest) -> Settings:
    """The embedded vault's settings (SQLite), or PostgreSQL's under
    CUSTODES_TEST_DATABASE=postgresql."""
    home = tmp_path / "vault"
    if ON_POSTGRES:
        return Settings(home=home, database_url=request.getfixturevalue("pg_schema_url"), jobs=JOBS)
    return Settings(home=home)


@dataclass(frozen=True)
class S3Bucket:
    """A fresh bucket on the loopback S3 server, with the settings that reach it."""

    endpoint: str
    bucket: str

    def settings(self, home: Path, prefix: str = "vault") -> Settings:
        return Settings(
            home=home,
            blob_url=f"s3://{self.bucket}/{prefix}",
            s3_endpoint_url=self.endpoint,
            s3_addressing_style="path",
        )

    def client(self) -> Any:
        """A plain client of the server (no custodes hooks): for setting up and tampering."""
        from custodes.storage.blobs.s3 import make_client

        return make_client(endpoint_url=self.endpoint, addressing_style="path")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _answers(port: int) -> bool:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
    try:
        conn.request("GET", "/")
        conn.getresponse().read()
    except OSError:
        return False
    finally:
        conn.close()
    return True


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """moto's S3 server in a subprocess on a free loopback port (or the one at
    CUSTODES_TEST_S3_ENDPOINT); yields its endpoint URL."""
    if os.environ.get("CUSTODES_TEST_S3_ENDPOINT"):
        yield os.environ["CUSTODES_TEST_S3_ENDPOINT"]
        return
    pytest.importorskip("moto.server", reason="moto[server] is in the dev extra")
    port = _free_port()
    log_path = tmp_path_factory.mktemp("moto") / "server.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 60
        while not _answers(port):
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"moto's S3 server did not start:\n{log_path.read_text()[-2000:]}")
            time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture
def s3_bucket(s3_server: str, monkeypatch: pytest.MonkeyPatch) -> S3Bucket:
    """A new, empty bucket on the loopback S3 server; test credentials in the environment."""
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    bucket = S3Bucket(s3_server, "custodes-" + secrets.token_hex(6))
    bucket.client().create_bucket(Bucket=bucket.bucket)
    return bucket


@pytest.fixture
def s3_locked_bucket(s3_server: str, s3_bucket: S3Bucket) -> S3Bucket:
    """A new, empty bucket with Object Lock enabled (and so versioning), beside ``s3_bucket``."""
    bucket = S3Bucket(s3_server, "custodes-lock-" + secrets.token_hex(6))
    bucket.client().create_bucket(Bucket=bucket.bucket, ObjectLockEnabledForBucket=True)
    return bucket


@pytest.fixture
def blob_backend() -> str:
    """Where ``vault`` keeps its blobs: CUSTODES_TEST_BLOBS ("local" unless set), unless a
    test is parametrised over ``blob_backend`` (``tests.factories.blobs.on_both_blob_stores``)."""
    return BLOBS


def _on_blob_store(
    settings: Settings, blob_backend: str, request: pytest.FixtureRequest
) -> Settings:
    if blob_backend == "local":
        return settings
    assert blob_backend == "s3", blob_backend
    s3: S3Bucket = request.getfixturevalue("s3_bucket")
    on_s3 = s3.settings(settings.home)
    return settings.model_copy(
        update={
            "blob_url": on_s3.blob_url,
            "s3_endpoint_url": on_s3.s3_endpoint_url,
            "s3_addressing_style": on_s3.s3_addressing_style,
        }
    )


@pytest.fixture
def vault(settings: Settings, blob_backend: str, request: pytest.FixtureRequest) -> Iterator[Vault]:
    v = bootstrap.init_vault(_on_blob_store(settings, blob_backend, request))
    yield v
    v.engine.dispose()


@pytest.fixture
def sqlite_vault(
    sqlite_settings: Settings, blob_backend: str, request: pytest.FixtureRequest
) -> Iterator[Vault]:
    v = bootstrap.init_vault(_on_blob_store(sqlite_settings, blob_backend, request))
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


@pytest.fixture
def cli(tmp_path: Path) -> Any:
    """``custodes ARGS`` run in this process (``tests.factories.cli.invoke``), in the test's
    own folder unless ``cwd`` is given (a command that writes to the current folder never
    writes into the source tree): ``cli("--home", str(home), "--json", "case", "list",
    input=..., env=..., cwd=...)``."""

    def run(*args: Any, cwd: Any = None, **kwargs: Any) -> Any:
        return invoke(*args, cwd=tmp_path if cwd is None else cwd, **kwargs)

    return run
