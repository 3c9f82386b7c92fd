"""The command-line contract of BRIEF.md, run as a user would (a real subprocess)."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from custodes import bootstrap
from custodes.config import Settings
from custodes.services import verify

CLI = [sys.executable, "-m", "custodes.cli.app"]


def run(home: Path, *args: str, user: str | None = "admin", ok: bool = True) -> Any:
    cmd = [*CLI, "--home", str(home), "--json"]
    if user:
        cmd += ["--as", user]
    proc = subprocess.run([*cmd, *args], capture_output=True, text=True, timeout=120)
    if ok:
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout)
    return proc


def test_contract_end_to_end(tmp_path: Path, clips: dict[str, Path]) -> None:
    home = tmp_path / "v"
    assert run(home, "init", user=None)["home"] == str(home.resolve())
    assert run(home, "user", "add", "ofc.diaz", "--role", "officer") == {
        "username": "ofc.diaz",
        "role": "officer",
    }
    run(home, "user", "add", "rec", "--role", "records")
    run(home, "user", "add", "ia", "--role", "internal-affairs")
    assert run(home, "case", "add", "C-1", "--title", "Stop", "--status", "open")["case"] == "C-1"
    run(home, "case", "assign", "C-1", "ofc.diaz", user="rec")
    ev = run(
        home,
        "ingest",
        str(clips["a"]),
        "--case",
        "C-1",
        "--device",
        "X1",
        "--recorded-at",
        "2026-03-14T21:04:05Z",
        user="ofc.diaz",
    )
    assert set(ev) >= {"evidence_id", "sha256", "duration_s"}
    listed = run(home, "evidence", "list", "--case", "C-1", user="ofc.diaz")
    assert listed[0]["evidence_id"] == ev["evidence_id"]
    assert listed[0]["sha256"] == ev["sha256"]
    flags = run(
        home,
        "case",
        "set",
        "C-1",
        "--flag",
        "sensitive",
        "--status",
        "pending-prosecution",
        user="rec",
    )
    assert flags == {
        "case": "C-1",
        "status": "pending-prosecution",
        "flags": ["sensitive"],
        "changed": ["case-status-change", "case-flag-change"],
    }
    refused = run(home, "evidence", "show", ev["evidence_id"], user="rec", ok=False)
    assert refused.returncode == 5 and refused.stdout == ""
    assert refused.stderr.count("\n") == 1 and "state a reason" in refused.stderr
    run(home, "evidence", "show", ev["evidence_id"], "--reason", "records request", user="rec")
    assert len(run(home, "alerts", user="ia")) == 1
    trail = run(home, "audit", "--evidence", ev["evidence_id"], user="ia")
    assert [e["action"] for e in trail] == ["ingest", "access-refused", "view"]
    assert {"seq", "at", "actor", "action"} <= set(trail[0])
    # A proof an outsider checks with the public key alone, in an empty folder.
    proof_path = tmp_path / "proof.json"
    run(home, "audit", "prove", str(trail[0]["seq"]), "--out", str(proof_path), user="ia")
    vkey = run(home, "audit", "pubkey")["vkey"]
    checked = run(
        tmp_path / "elsewhere", "audit", "verify-proof", str(proof_path), "--key", vkey, user=None
    )
    assert checked["ok"] and checked["event"]["action"] == "ingest"
    bundle = json.loads(proof_path.read_text())
    bundle["entry"] = bundle["entry"][:-4] + ("AAAA" if bundle["entry"][-4:] != "AAAA" else "BBBB")
    proof_path.write_text(json.dumps(bundle))
    forged = run(
        tmp_path / "elsewhere",
        "audit",
        "verify-proof",
        str(proof_path),
        "--key",
        vkey,
        user=None,
        ok=False,
    )
    assert forged.returncode != 0 and forged.stdout == ""
    cons = tmp_path / "cons.json"
    run(home, "audit", "consistency", "2", "--out", str(cons), user="ia")
    assert run(home, "audit", "verify-proof", str(cons), user=None)["kind"] == "consistency"
    result = run(home, "verify", user="ia")
    assert result["ok"] is True and result["problems"] == []


@pytest.mark.parametrize(
    ("args", "code", "needle"),
    [
        (["case", "add", "C-2", "--status", "bogus"], 3, "unknown case status"),
        (["ingest", "/nonexistent.mp4", "--case", "C-1"], 3, "no such file"),
        (["evidence", "show", "EV-NOPE"], 4, "no evidence"),
        (["user", "add", "x", "--role", "officer"], 5, "no active vault user"),
    ],
)
def test_errors_are_one_line(tmp_path: Path, args: list[str], code: int, needle: str) -> None:
    home = tmp_path / "v"
    run(home, "init", user=None)
    run(home, "case", "add", "C-1")
    user = "ghost" if needle == "no active vault user" else "admin"
    proc = run(home, *args, user=user, ok=False)
    assert proc.returncode == code, proc.stderr
    assert proc.stdout == ""
    assert proc.stderr.startswith("custodes: error: ") and proc.stderr.count("\n") == 1
    assert needle in proc.stderr


def test_no_vault(tmp_path: Path) -> None:
    proc = run(tmp_path / "none", "evidence", "list", ok=False)
    assert proc.returncode == 4 and "no vault at" in proc.stderr


def test_ingest_killed_at_random_moments_leaves_whole_evidence_or_none(
    tmp_path: Path, clips: dict[str, Path]
) -> None:
    home = tmp_path / "v"
    run(home, "init", user=None)
    run(home, "case", "add", "C-1")
    settings = Settings(home=home)
    rng = random.Random(1234)
    outcomes = set()
    for _ in range(10):
        proc = subprocess.Popen(
            [
                *CLI,
                "--home",
                str(home),
                "--as",
                "admin",
                "--json",
                "ingest",
                str(clips["b"]),
                "--case",
                "C-1",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        time.sleep(rng.uniform(0.0, 1.6))
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
        proc.communicate()
        outcomes.add(proc.returncode)
        vault = bootstrap.open_vault(settings)
        out = verify.verify_vault(vault, "admin")
        assert out["ok"], out["problems"]
        assert out["blobs"] <= 1
        vault.engine.dispose()
    assert -signal.SIGKILL in outcomes  # at least some runs really were killed
    listed = run(home, "evidence", "list")
    assert len(listed) <= 1
    if not listed:
        assert "evidence_id" in run(home, "ingest", str(clips["b"]), "--case", "C-1")
    assert run(home, "verify")["ok"]


def test_request_flow_through_the_cli(tmp_path: Path, clips: dict[str, Path]) -> None:
    home = tmp_path / "v"
    run(home, "init", user=None)
    run(home, "user", "add", "rec", "--role", "records")
    run(home, "case", "add", "C-7", "--status", "pending-prosecution", user="rec")
    ev = run(home, "ingest", str(clips["a"]), "--case", "C-7", user="rec")["evidence_id"]
    req = run(
        home,
        "request",
        "add",
        "--case",
        "C-7",
        "--requester",
        "KUSA",
        "--kind",
        "press",
        "--evidence",
        ev,
        "--received-at",
        "2026-11-02",
        user="rec",
    )
    assert set(req) >= {"request_id", "due"}
    proposal = run(home, "request", "decide", req["request_id"], user="rec")
    assert proposal["outcome"] == "hold" and proposal["rules"][0]["citation"]
    assert set(proposal) >= {"outcome", "rules", "pack_sha256", "review_at"}
    refused = run(
        home, "request", "decide", req["request_id"], "--override", "release", user="rec", ok=False
    )
    assert refused.returncode == 3 and "written reason" in refused.stderr
    recorded = run(home, "request", "decide", req["request_id"], "--accept", user="rec")
    assert recorded["recorded"] is True
    letter = run(home, "request", "letter", req["request_id"], "--out", str(tmp_path), user="rec")
    assert Path(letter["pdf"]).exists()
    listed = run(home, "request", "list", "--open", user="rec")
    assert [r["request_id"] for r in listed] == [req["request_id"]]
    other = run(
        home,
        "request",
        "add",
        "--case",
        "NOPE",
        "--requester",
        "x",
        "--kind",
        "press",
        user="rec",
        ok=False,
    )
    assert other.returncode == 4 and other.stdout == ""
