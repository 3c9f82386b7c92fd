"""``custodes jobs`` and ``custodes worker`` as a user runs them (in process)."""

from __future__ import annotations

import dataclasses
import json
import subprocess
from pathlib import Path
from typing import Any

from custodes import bootstrap
from custodes.config import Settings
from custodes.services import evidence, jobs
from tests.factories import add_case, add_user
from tests.factories.cli import invoke


def _run(home: Path, *args: str, user: str = "admin") -> subprocess.CompletedProcess[str]:
    return invoke("--home", str(home), "--as", user, *args, cwd=home.parent)


def _json(proc: subprocess.CompletedProcess[str]) -> Any:
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_jobs_list_run_show_and_the_worker_refused(tmp_path: Path, clips: dict[str, Path]) -> None:
    home = tmp_path / "v"
    vault = bootstrap.init_vault(Settings(home=home))
    try:
        number = add_case(vault)
        ev = evidence.ingest(vault, "admin", clips["a"], number).evidence_id
        sup = add_user(vault, "supervisor")
        cmd = jobs.RequestExport(ev, recipient="DA", purpose="p", end=0.5)
        job = jobs.request_export(vault, sup, cmd)
    finally:
        vault.engine.dispose()

    assert _json(_run(home, "--json", "jobs", "run")) == [{"job_id": job.job_id, "status": "done"}]
    [shown] = _json(_run(home, "jobs", "--json", user=sup))  # no subcommand: the list
    assert (shown["job_id"], shown["status"]) == (job.job_id, "done")
    assert shown["progress"]["unit"] == "frame"
    assert Path(shown["result"]["path"]).parent == home.resolve() / "exports"

    worker = _run(home, "worker")
    assert worker.returncode == 3
    [line] = worker.stderr.strip().splitlines()
    assert "custodes worker runs the jobs of a vault on PostgreSQL" in line


def test_jobs_shows_a_fanned_out_export_s_segments(tmp_path: Path, clips: dict[str, Path]) -> None:
    home = tmp_path / "v"
    vault = bootstrap.init_vault(Settings(home=home))
    try:
        ev = evidence.ingest(vault, "admin", clips["a"], add_case(vault)).evidence_id
        sup = add_user(vault, "supervisor")
        job = jobs.request_export(vault, sup, jobs.RequestExport(ev, recipient="DA", purpose="p"))
        segmenting = dataclasses.replace(vault, segment_seconds=0.5)  # keyframes each 1 s
        assert jobs.run_job(segmenting, job.job_id, worker="w") == "running"
        kids = [f"{job.job_id}.S0000", f"{job.job_id}.S0001"]
        assert jobs.run_job(segmenting, kids[0], worker="w") == "done"
    finally:
        vault.engine.dispose()
    shown = _run(home, "jobs", "show", job.job_id, user=sup)
    assert shown.returncode == 0, shown.stderr
    assert "render 1/2 segments (50%)" in shown.stdout
    listed = _json(_run(home, "jobs", "--json", user=sup))
    assert [(j["job_id"], j["kind"], j["status"]) for j in listed] == [
        (job.job_id, "export", "running"),
        (kids[0], "export-segment", "done"),
        (kids[1], "export-segment", "queued"),
    ]
    ran = _json(_run(home, "--json", "jobs", "run"))
    assert ran == [{"job_id": kids[1], "status": "done"}, {"job_id": job.job_id, "status": "done"}]
