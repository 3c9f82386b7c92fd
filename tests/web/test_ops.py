"""Operations endpoints (issue 19): /healthz, /readyz, /metrics behind a token, request
ids and JSON request logs."""

from __future__ import annotations

import dataclasses
import json
import logging
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from custodes.bootstrap import Vault
from custodes.services import evidence
from custodes.services.verify import verify_vault
from custodes.web.app import create_app
from tests.factories import add_case, add_user
from tests.web.conftest import ORIGIN, PASSWORD, post

TOKEN = "scrape-token-0123456789"


@pytest.fixture
def ops_vault(sqlite_vault: Vault) -> Vault:
    settings = sqlite_vault.settings.model_copy(
        update={"metrics_token": TOKEN, "log_format": "json"}
    )
    return dataclasses.replace(sqlite_vault, settings=settings)


@pytest.fixture
def client(ops_vault: Vault) -> Iterator[TestClient]:
    with TestClient(create_app(ops_vault), base_url=ORIGIN) as c:
        yield c


def test_healthz_and_readyz_answer_with_a_request_id(client: TestClient) -> None:
    r = client.get("/healthz")
    assert r.status_code == 200 and r.json() == {"status": "ok"}
    assert len(r.headers["X-Request-ID"]) == 32
    r = client.get("/readyz", headers={"X-Request-ID": "lb-42"})
    assert r.status_code == 200, r.text
    assert r.json()["checks"] == {"database": "ok", "blobs": "ok", "keys": "ok"}
    assert r.headers["X-Request-ID"] == "lb-42"  # a sane id from a proxy is kept
    bad = client.get("/healthz", headers={"X-Request-ID": "x" * 200})
    assert bad.headers["X-Request-ID"] != "x" * 200


def test_readyz_names_what_is_not_ready(ops_vault: Vault, client: TestClient) -> None:
    key = ops_vault.home / "keys" / "watermark.secret"
    key.rename(key.with_suffix(".away"))
    shutil.rmtree(ops_vault.settings.blob_root)
    ops_vault.settings.blob_root.write_text("not a folder")
    r = client.get("/readyz")
    assert r.status_code == 503
    checks = r.json()["checks"]
    assert checks["database"] == "ok"
    assert checks["blobs"] != "ok" and "watermark" in checks["keys"]


def test_metrics_need_the_token_and_count_from_the_log(
    ops_vault: Vault, client: TestClient, clips: dict[str, Path]
) -> None:
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer nope"}).status_code == 401
    auth = {"Authorization": f"Bearer {TOKEN}"}
    assert client.get("/metrics", headers=auth).status_code == 200  # begins counting here
    rec = add_user(ops_vault, "records")
    evidence.ingest(ops_vault, rec, clips["a"], add_case(ops_vault))
    assert verify_vault(ops_vault, "admin").ok
    r = post(client, "/api/v1/auth/sign-in", {"username": rec, "password": PASSWORD + "x"})
    assert r.status_code in (401, 403)
    text = client.get("/metrics", headers=auth).text
    size = clips["a"].stat().st_size
    assert "custodes_ingests_total 1.0" in text
    assert f"custodes_ingest_bytes_total {float(size)}" in text
    assert 'custodes_verify_runs_total{result="ok"} 1.0' in text
    assert "custodes_sign_in_failures_total 1.0" in text
    assert (
        'custodes_http_requests_total{method="POST",route="/api/v1/auth/sign-in",status="'
        + str(r.status_code)
        + '"} 1.0'
    ) in text


def test_metrics_are_off_without_a_token(sqlite_vault: Vault) -> None:
    with TestClient(create_app(sqlite_vault), base_url=ORIGIN) as c:
        assert c.get("/metrics").status_code == 404


def test_json_logs_carry_the_request_id(
    client: TestClient, capsys: pytest.CaptureFixture[str]
) -> None:
    handler = next(h for h in logging.getLogger("custodes").handlers if getattr(h, "_custodes", 0))
    assert isinstance(handler, logging.StreamHandler)
    capsys.readouterr()
    r = client.get("/healthz", headers={"X-Request-ID": "trace-me-7"})
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line]
    line = next(x for x in lines if x.get("route") == "/healthz")
    assert line["request_id"] == "trace-me-7" == r.headers["X-Request-ID"]
    assert line["status"] == 200 and line["level"] == "info" and line["method"] == "GET"


def test_metrics_count_jobs_by_kind_and_their_durations(
    ops_vault: Vault, client: TestClient, clips: dict[str, Path]
) -> None:
    from custodes.services import jobs

    auth = {"Authorization": f"Bearer {TOKEN}"}
    ev = evidence.ingest(ops_vault, "admin", clips["a"], add_case(ops_vault)).evidence_id
    sup = add_user(ops_vault, "supervisor")
    for _ in range(2):
        jobs.request_export(ops_vault, sup, jobs.RequestExport(ev, recipient="R", purpose="p"))
    text = client.get("/metrics", headers=auth).text
    assert 'custodes_jobs_queued{kind="export"} 2.0' in text
    assert 'custodes_jobs_running{kind="export"} 0.0' in text
    assert 'custodes_jobs_queued{kind="export-segment"} 0.0' in text
    assert "custodes_job_duration_seconds_count" not in text  # none has ended
    assert len(jobs.JobRunner(ops_vault).run_pending(limit=1)) == 1
    text = client.get("/metrics", headers=auth).text
    assert 'custodes_jobs_queued{kind="export"} 1.0' in text
    assert 'custodes_job_duration_seconds_count{kind="export"} 1.0' in text
    assert 'custodes_job_duration_seconds_bucket{kind="export",le="+Inf"} 1.0' in text
