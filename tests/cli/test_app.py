"""The command-line contract of BRIEF.md, run as a user would.

One test (``test_contract_end_to_end``) runs the contract in real subprocesses, and
another kills real ingest processes; the rest run the command line in process
(``tests.factories.cli.invoke``: the same ``main``, its streams and exit code, without
two seconds of imports per command)."""

from __future__ import annotations

import functools
import json
import os
import random
import signal
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from custodes import bootstrap
from custodes.config import Settings
from custodes.services import verify
from tests.factories.cli import CLI, invoke
from tests.factories.packs import expired_pack, put_in_force


def _run(
    home: Path, *args: str, user: str | None = "admin", ok: bool = True, spawn: bool = False
) -> Any:
    """``custodes --home HOME --json [--as USER] ARGS``, in process unless ``spawn``; with
    ``ok``, it must succeed and its JSON is returned."""
    cmd = ["--home", str(home), "--json"]
    if user:
        cmd += ["--as", user]
    if spawn:
        proc = subprocess.run([*CLI, *cmd, *args], capture_output=True, text=True, timeout=120)
    else:
        proc = invoke(*cmd, *args)
    if ok:
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout)
    return proc


run = _run


def test_contract_end_to_end(tmp_path: Path, clips: dict[str, Path]) -> None:
    """BRIEF.md's CLI contract, end to end, each command a real ``python -m custodes.cli.app``
    process: this one run stays a subprocess so that the contract is proven as users meet
    it (a fresh interpreter per command, real pipes, the exit status the OS reports, the
    vault reopened from disk each time); the other CLI tests run in process."""
    run = functools.partial(_run, spawn=True)
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
        "--reason",
        "witness is a minor's parent",
        "--status",
        "pending-prosecution",
        user="rec",
    )
    assert flags == {
        "case": "C-1",
        "status": "pending-prosecution",
        "flags": ["sensitive"],
        "changed": ["case-status-change", "case-flag-change"],
        "holds_reviewed": [],
        "warnings": [],
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
    run(home, "audit", "consistency", "3", "--out", str(cons), user="ia")
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
        # mistyped command lines: Click's exit code 2, still one line
        (["export"], 2, "Missing argument 'evidence_id'"),
        (["audit", "prove", "abc"], 2, "Invalid value for 'seq'"),
        (["frobnicate"], 2, "No such command 'frobnicate'"),
        (["case", "add"], 2, "case add --help')"),
        # control characters from a hostile file name are shown escaped, not sent raw
        (["ingest", "/tmp/no\x1b[2Jsuch.mp4", "--case", "C-1"], 3, "no\\x1b[2Jsuch.mp4"),
        (["case", "set", "C-1", "--flag", "sensitive"], 3, "needs a stated reason (--reason)"),
        (["audit", "--limit", "-5"], 3, "--limit must be a positive number of events"),
        (["audit", "--limit", "0"], 3, "--limit must be a positive number of events"),
        (["audit", "prove", "--", "-5"], 3, "an event number is 0 or more"),
        (["audit", "prove", "0", "--tree-size", "-3"], 3, "--tree-size must be"),
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


def _tree(home: Path) -> dict[str, bytes]:
    return {str(p.relative_to(home)): p.read_bytes() for p in home.rglob("*") if p.is_file()}


@pytest.mark.parametrize("damage", ["missing", "garbage", "another-key"])
def test_a_missing_or_wrong_signing_key_is_refused_and_nothing_written(
    tmp_path: Path, clips: dict[str, Path], damage: str
) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    home = tmp_path / "v"
    run(home, "init", user=None)
    run(home, "case", "add", "C-1")
    key = home / bootstrap.KEY_FILE
    if damage == "missing":
        key.unlink()
    elif damage == "garbage":
        key.write_bytes(b"\x00garbage\n")
    else:
        key.unlink()
        key.write_bytes(
            Ed25519PrivateKey.generate().private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        key.chmod(0o600)
    before = _tree(home)
    for args in (["ingest", str(clips["a"]), "--case", "C-1"], ["evidence", "list"]):
        proc = run(home, *args, ok=False)
        assert proc.returncode == 7, proc.stderr
        assert proc.stdout == ""
        assert proc.stderr.startswith("custodes: error: ") and proc.stderr.count("\n") == 1
        assert "restore" in proc.stderr and "from backup" in proc.stderr
        assert _tree(home) == before  # no new key, no blob, no event, no checkpoint


@pytest.mark.parametrize(
    ("env", "args", "needle"),
    [
        (
            {"CUSTODES_BLOB_URL": "gs://bucket/x"},
            ["ingest", "{clip}", "--case", "C-1"],
            "unsupported blob URL scheme 'gs' (a path, file:// or s3://BUCKET/PREFIX URL)",
        ),
        ({"CUSTODES_BLOB_URL": "gs://bucket/x"}, ["init"], "unsupported blob URL scheme 'gs'"),
        (
            {"CUSTODES_DATABASE_URL": "bogus://u:s3cret@x/db"},
            ["evidence", "list"],
            "unsupported database URL 'bogus://u:***@x/db'",
        ),
        ({"CUSTODES_DATABASE_URL": "bogus://x"}, ["init"], "unsupported database URL"),
    ],
)
def test_unsupported_backend_urls_are_bad_input(
    tmp_path: Path, clips: dict[str, Path], env: dict[str, str], args: list[str], needle: str
) -> None:
    home = tmp_path / "v"
    if args != ["init"]:
        run(home, "init", user=None)
        run(home, "case", "add", "C-1")
    before = _tree(home) if home.exists() else None
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    proc = invoke(
        *["--home", str(home), "--json", "--as", "admin"],
        *[a.format(clip=clips["a"]) for a in args],
        cwd=cwd,
        env=env,
    )
    assert proc.returncode == 3, proc.stderr
    assert proc.stdout == ""
    assert proc.stderr.startswith("custodes: error: ") and proc.stderr.count("\n") == 1
    assert needle in proc.stderr and "s3cret" not in proc.stderr
    assert list(cwd.iterdir()) == []
    assert (_tree(home) if home.exists() else None) == before


@pytest.mark.parametrize("command", [["prove", "1"], ["consistency", "3"]])
def test_proof_out_is_checked_before_anything_is_recorded(
    tmp_path: Path, command: list[str]
) -> None:
    home = tmp_path / "v"
    run(home, "init", user=None)
    run(home, "user", "add", "ia", "--role", "internal-affairs")
    existing = tmp_path / "existing.json"
    existing.write_text("keep me\n")
    cases = [
        (tmp_path / "nodir" / "p.json", 3, f"no such folder: {tmp_path / 'nodir'}"),
        (existing, 6, "exists; proofs never overwrite a file"),
    ]
    for out, code, needle in cases:
        before = _snapshot(home)
        proc = run(home, "audit", *command, "--out", str(out), user="ia", ok=False)
        assert proc.returncode == code, proc.stderr
        assert proc.stdout == ""
        assert proc.stderr.startswith("custodes: error: ") and proc.stderr.count("\n") == 1
        assert needle in proc.stderr
        assert _snapshot(home) == before  # no proof-issued event
    assert existing.read_text() == "keep me\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["existing.json", "v"]
    fresh = tmp_path / "fresh.json"
    run(home, "audit", *command, "--out", str(fresh), user="ia")
    assert json.loads(fresh.read_text())["format"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["existing.json", "fresh.json", "v"]


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        (b"[" * 100_000 + b"]" * 100_000, "not a proof bundle: not valid JSON (nested too deeply)"),
        (b'{"format": 1, "format": 2}', "not a proof bundle: not valid JSON (duplicate key"),
        (b"{truncated", "not a proof bundle: not valid JSON"),
    ],
)
def test_verify_proof_refuses_malformed_files(tmp_path: Path, content: bytes, needle: str) -> None:
    proof = tmp_path / "proof.json"
    proof.write_bytes(content)
    vkey = "custodes.example/x+00000000+AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    proc = run(tmp_path / "none", "audit", "verify-proof", str(proof), "--key", vkey, ok=False)
    assert proc.returncode == 3, proc.stderr
    assert proc.stdout == ""
    assert proc.stderr.startswith("custodes: error: ") and proc.stderr.count("\n") == 1
    assert needle in proc.stderr


def test_password_stdin_must_be_utf8(tmp_path: Path) -> None:
    home = tmp_path / "v"
    run(home, "init", user=None)

    def add(name: str, password: bytes) -> subprocess.CompletedProcess[str]:
        args = ["user", "add", name, "--role", "officer", "--password-stdin"]
        return invoke("--home", str(home), "--json", "--as", "admin", *args, input=password)

    proc = add("pw5", b"abcdefghijkl\xff\xfemn\n")
    assert proc.returncode == 3, proc.stderr
    assert proc.stdout == ""
    assert proc.stderr == "custodes: error: the password must be valid UTF-8\n"
    assert [u["username"] for u in run(home, "user", "list")] == ["admin"]
    assert add("pw6", "pässwörd-ünïcode\n".encode()).returncode == 0


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
        assert out.ok, out.problems
        assert out.blobs <= 1
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
    # A fact changes: the hold is re-evaluated at once, and records is told.
    adjudicated = run(home, "case", "set", "C-7", "--status", "adjudicated", user="rec")
    assert [(h["request_id"], h["proposed"]) for h in adjudicated["holds_reviewed"]] == [
        (req["request_id"], "release")
    ]
    assert adjudicated["warnings"] == []
    assert [a["kind"] for a in run(home, "alerts", user="rec")] == ["hold-review"]
    human = invoke(
        *("--home", str(home), "--as", "rec", "evidence", "flag", ev, "--flag", "informant"),
        *("--reason", "an informant is named"),
    )
    assert human.returncode == 0, human.stderr
    assert f"request {req['request_id']} no longer stands" in " ".join(human.stdout.split())
    # The pack in force has expired since it was set (in 2019): the case still changes.
    opened = bootstrap.open_vault(Settings(home=home))
    try:
        put_in_force(opened, expired_pack(tmp_path), on=datetime(2019, 6, 1, tzinfo=UTC))
    finally:
        opened.engine.dispose()
    warned = invoke("--home", str(home), "--as", "rec", "case", "set", "C-7", "--status", "closed")
    assert warned.returncode == 0, warned.stderr
    assert "warning" in warned.stderr and "not re-evaluated" in warned.stderr
    assert run(home, "case", "show", "C-7", user="rec")["status"] == "closed"
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


# --------------------------------------------------------------------------- bad input
# Each bad input below must meet the contract of BRIEF.md: a non-zero exit, one line on
# stderr and nothing on stdout (no traceback), nothing half-written (no new request,
# decision, derivative, export, release or blob, nothing in the output folder, the vault
# still verifies), and the refusal on record in the audit log.


def _cli(home: Path, *args: str, user: str = "rec", env: dict[str, str] | None = None) -> Any:
    return invoke("--home", str(home), "--json", "--as", user, *args, env=env)


def _ok(home: Path, *args: str, **kwargs: Any) -> Any:
    proc = _cli(home, *args, **kwargs)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


@pytest.fixture(scope="module")
def bad_input_world(tmp_path_factory: pytest.TempPathFactory, clips: dict[str, Path]):
    """A vault with two cases, a recording in each, requests in every state, a reviewed
    sidecar and the bad files made from it. Tests only read it and check deltas."""
    root = tmp_path_factory.mktemp("bad-input")
    home = root / "v"
    run(home, "init", user=None)
    run(home, "user", "add", "rec", "--role", "records")
    for name, role in [("off1", "officer"), ("off2", "officer"), ("ia", "internal-affairs")]:
        run(home, "user", "add", name, "--role", role)
    _ok(home, "case", "add", "C-1", "--status", "pending-prosecution")
    _ok(home, "case", "add", "C-2", "--status", "closed")
    _ok(home, "case", "assign", "C-1", "off1")
    ev1 = _ok(home, "ingest", str(clips["a"]), "--case", "C-1")["evidence_id"]
    ev2 = _ok(home, "ingest", str(clips["b"]), "--case", "C-2")["evidence_id"]
    # C-3 is internal affairs' alone: records does not reach it.
    _ok(home, "case", "add", "C-3")
    ev3 = _ok(home, "ingest", str(clips["c"]), "--case", "C-3")["evidence_id"]
    _ok(home, "case", "set", "C-3", "--flag", "ia-investigation", "--reason", "IA-7", user="ia")

    def request(case: str) -> str:
        out = _ok(home, "request", "add", "--case", case, "--requester", "KUSA", "--kind", "press")
        return str(out["request_id"])

    undecided = request("C-1")
    held = request("C-1")
    assert _ok(home, "request", "decide", held, "--accept")["outcome"] == "hold"
    denied = request("C-2")
    _ok(home, "request", "decide", denied, "--override", "deny", "--reason", "court order")
    # A reviewed sidecar for ev1, then broken copies of it.
    made = root / "made"
    made.mkdir()
    redacted = _ok(home, "redact", ev1, "--region", "0:10,10,40,40:x", "--out", str(made / "r.mp4"))
    good = Path(redacted["sidecar"])
    plan = json.loads(good.read_text())
    bad = root / "sidecars"
    bad.mkdir()
    (bad / "truncated.json").write_text(good.read_text()[: len(good.read_text()) // 2])
    (bad / "schema.json").write_text(json.dumps({"format": "custodes-redaction-plan"}))

    def variant(name: str, change: Any) -> None:
        doc = json.loads(json.dumps(plan))
        change(doc)
        (bad / name).write_text(json.dumps(doc))

    first = min(plan["frames"], key=int)
    variant("outside.json", lambda d: d["frames"][first][0].update(box=[300, 170, 900, 900]))
    variant("other-hash.json", lambda d: d["video"].update(sha256="0" * 64, source="0" * 64))
    variant("other-size.json", lambda d: d["video"].update(width=640, height=360))
    variant("no-hash.json", lambda d: d["video"].update(sha256=None))
    return {
        "home": home,
        "root": root,
        "ev1": ev1,
        "ev2": ev2,
        "ev3": ev3,
        "clips": {k: str(v) for k, v in clips.items()},
        "undecided": undecided,
        "held": held,
        "denied": denied,
        "good_sidecar": str(good),
        "sidecars": str(bad),
    }


def _snapshot(home: Path) -> dict[str, Any]:
    from sqlalchemy import func, select

    from custodes.services.audit import list_events
    from custodes.storage import tables as t

    vault = bootstrap.open_vault(Settings(home=home))
    try:
        with vault.engine.connect() as conn:
            counts = {
                table.name: conn.execute(select(func.count()).select_from(table)).scalar()
                for table in (
                    t.evidence,
                    t.requests,
                    t.decisions,
                    t.derivatives,
                    t.exports,
                    t.releases,
                    t.alerts,
                    t.audit_events,
                )
            }
            last = list_events(conn, limit=1)[-1]
    finally:
        vault.engine.dispose()
    blobs = sorted(str(p.relative_to(home)) for p in (home / "blobs").rglob("*") if p.is_file())
    return {"counts": counts, "blobs": blobs, "last": last}


OUT = "{out}"  # a fresh, empty folder per case; it must stay empty
BAD_INPUT = [
    pytest.param(
        ["request", "add", "--case", "NOPE", "--requester", "X", "--kind", "press"],
        {},
        4,
        "no case 'NOPE'",
        ("access-refused", None),
        id="request-add-unknown-case",
    ),
    pytest.param(
        [
            *["request", "add", "--case", "C-1", "--requester", "X", "--kind", "press"],
            *["--evidence", "{ev2}"],
        ],
        {},
        3,
        "belongs to case C-2, not C-1",
        ("input-refused", "{ev2}"),
        id="request-add-evidence-of-another-case",
    ),
    pytest.param(
        ["redact", "{ev1}", "--sidecar", "{sidecars}/truncated.json", "--out", OUT + "/r.mp4"],
        {},
        3,
        "not valid JSON",
        ("input-refused", "{ev1}"),
        id="redact-truncated-sidecar",
    ),
    pytest.param(
        ["redact", "{ev1}", "--sidecar", "{sidecars}/schema.json", "--out", OUT + "/r.mp4"],
        {},
        3,
        "corrupt redaction plan",
        ("input-refused", "{ev1}"),
        id="redact-sidecar-wrong-schema",
    ),
    pytest.param(
        ["redact", "{ev1}", "--sidecar", "{sidecars}/outside.json", "--out", OUT + "/r.mp4"],
        {},
        3,
        "is outside",
        ("input-refused", "{ev1}"),
        id="redact-sidecar-box-outside-the-frame",
    ),
    pytest.param(
        ["redact", "{ev1}", "--sidecar", "{sidecars}/other-hash.json", "--out", OUT + "/r.mp4"],
        {},
        3,
        "made for another recording",
        ("input-refused", "{ev1}"),
        id="redact-sidecar-wrong-source-hash",
    ),
    pytest.param(
        ["redact", "{ev2}", "--sidecar", "{good_sidecar}", "--out", OUT + "/r.mp4"],
        {},
        3,
        "made for another recording",
        ("input-refused", "{ev2}"),
        id="redact-sidecar-of-other-evidence",
    ),
    pytest.param(
        ["redact", "{ev1}", "--sidecar", "{sidecars}/other-size.json", "--out", OUT + "/r.mp4"],
        {},
        3,
        "640x360",
        ("input-refused", "{ev1}"),
        id="redact-sidecar-other-frame-size",
    ),
    pytest.param(
        ["redact", "{ev1}", "--sidecar", "{sidecars}/no-hash.json", "--out", OUT + "/r.mp4"],
        {},
        3,
        "names no source recording",
        ("input-refused", "{ev1}"),
        id="redact-sidecar-without-source-hash",
    ),
    pytest.param(
        ["redact", "{ev1}", "--faces", "--face-model", "int4", "--out", OUT + "/r.mp4"],
        {},
        3,
        "unknown face model 'int4'",
        ("input-refused", "{ev1}"),
        id="redact-unknown-face-model",
    ),
    *[
        pytest.param(
            ["redact", "{ev1}", *extra, "--out", OUT + "/r.mp4"],
            {},
            3,
            needle,
            ("input-refused", "{ev1}"),
            id=f"redact-{name}",
        )
        for name, extra, needle in [
            ("region-outside-the-frame", ["--region", "0.5:1000,1000,50,50"], "outside the"),
            ("region-after-the-end", ["--region", "99:10,10,50,50"], "after the end of"),
            ("region-nan-time", ["--region", "nan:10,10,50,50"], "finite"),
            ("region-nan-x", ["--region", "0.5:nan,10,50,50"], "finite"),
            ("region-inf-width", ["--region", "0.5:10,10,inf,50"], "finite"),
            ("mute-past-the-end", ["--mute", "1-500"], "past the end of"),
        ]
    ],
    pytest.param(
        ["redact", "{ev1}", "--mute", "0-1", "--out", OUT + "/r.txt"],
        {},
        3,
        "redacted copies are MP4 files",
        ("input-refused", "{ev1}"),
        id="redact-out-not-mp4",
    ),
    pytest.param(
        [
            *["request", "add", "--case", "C-1", "--requester", "X", "--kind", "press"],
            *["--evidence", "{ev1}", "--range", "100-200"],
        ],
        {},
        3,
        "100-200 is past the end of",
        ("input-refused", None),
        id="request-add-range-past-the-end",
    ),
    pytest.param(
        [
            *["request", "add", "--case", "C-1", "--requester", "X", "--kind", "press"],
            *["--received-at", "0001-01-01"],
        ],
        {},
        3,
        "more than ten years ago",
        ("input-refused", None),
        id="request-add-received-centuries-ago",
    ),
    pytest.param(
        ["request", "release", "{undecided}", "--out", OUT],
        {},
        6,
        "has no recorded decision",
        ("release-refused", None),
        id="request-release-undecided",
    ),
    pytest.param(
        ["request", "release", "{held}", "--out", OUT],
        {},
        6,
        "is 'hold': nothing may be released",
        ("release-refused", None),
        id="request-release-held",
    ),
    pytest.param(
        ["request", "release", "{denied}", "--out", OUT],
        {},
        6,
        "is 'deny': nothing may be released",
        ("release-refused", None),
        id="request-release-denied",
    ),
]


@pytest.mark.parametrize(("args", "env", "code", "needle", "refusal"), BAD_INPUT)
def test_bad_input_is_one_line_and_leaves_nothing(
    bad_input_world: dict[str, Any],
    tmp_path: Path,
    args: list[str],
    env: dict[str, str],
    code: int,
    needle: str,
    refusal: tuple[str, str | None],
) -> None:
    _refused_cleanly(bad_input_world, tmp_path, "rec", args, env, code, needle, refusal)


def _refused_cleanly(
    world: dict[str, Any],
    tmp_path: Path,
    user: str,
    args: list[str],
    env: dict[str, str],
    code: int,
    needle: str,
    refusal: tuple[str, str | None],
    *,
    verified: bool = True,
) -> dict[str, Any]:
    """Run a command that must be refused; check it is one line, leaves nothing behind
    but its audit event (and, if ``verified``, that the vault still verifies), and return
    that event."""
    home = world["home"]
    out = tmp_path / "out"
    out.mkdir()
    values = {**world, **world["clips"], "out": str(out)}
    before = _snapshot(home)
    proc = _cli(
        home,
        *[a.format(**values) for a in args],
        user=user,
        env={k: v.format(**values) for k, v in env.items()},
    )
    assert proc.returncode == code, proc.stderr
    assert proc.stdout == ""
    assert proc.stderr.startswith("custodes: error: ") and proc.stderr.count("\n") == 1
    assert "Traceback" not in proc.stderr
    assert needle in proc.stderr
    after = _snapshot(home)
    # Exactly one new row anywhere: the refusal in the audit log.
    assert after["counts"] == {
        **before["counts"],
        "audit_events": before["counts"]["audit_events"] + 1,
    }
    assert after["blobs"] == before["blobs"]
    assert list(out.iterdir()) == []
    action, evidence_id = refusal
    assert after["last"]["action"] == action and after["last"]["actor"] == user
    assert needle in after["last"]["details"]["error"]
    assert after["last"]["evidence"] == (evidence_id.format(**values) if evidence_id else None)
    if verified:
        checked = _ok(home, "verify")
        assert checked["ok"], checked["problems"]
    return dict(after["last"])


INGEST_REFUSED = [
    pytest.param(
        "off2",
        ["ingest", "{a}", "--case", "C-1"],
        5,
        "officer off2 is not assigned to case C-1",
        id="officer-not-assigned",
    ),
    pytest.param(
        "ia",
        ["ingest", "{a}", "--case", "C-1"],
        5,
        "may not case:evidence:ingest",
        id="role-without-ingest",
    ),
    pytest.param(
        "rec",
        ["ingest", "{a}", "--case", "C-1", "--officer", "ia"],
        3,
        "'ia' is internal-affairs, not someone who records video",
        id="recording-officer-from-internal-affairs",
    ),
    pytest.param(
        "off1",
        ["ingest", "{a}", "--case", "C-1", "--officer", "off2"],
        5,
        "officer off1 may ingest only footage they recorded, not off2's",
        id="officer-names-a-colleague-as-recording-officer",
    ),
    pytest.param(
        "off1",
        ["ingest", "{b}", "--case", "C-1"],
        6,
        "these bytes are already in the vault (in a case you cannot access)",
        id="duplicate-of-evidence-the-officer-cannot-reach",
    ),
    pytest.param(
        "rec",
        ["ingest", "{c}", "--case", "C-1"],
        6,
        "these bytes are already in the vault (in a case you cannot access)",
        id="duplicate-of-evidence-in-an-ia-case",
    ),
    pytest.param(
        "rec",
        ["ingest", "{b}", "--case", "C-1"],
        6,
        "these bytes were already ingested as {ev2} (case C-2)",
        id="duplicate-of-evidence-the-actor-reaches",
    ),
]


@pytest.mark.parametrize(("user", "args", "code", "needle"), INGEST_REFUSED)
def test_ingest_refusals_are_one_line_and_audited(
    bad_input_world: dict[str, Any],
    tmp_path: Path,
    user: str,
    args: list[str],
    code: int,
    needle: str,
) -> None:
    world = bad_input_world
    needle = needle.format(**world)
    last = _refused_cleanly(world, tmp_path, user, args, {}, code, needle, ("ingest-refused", None))
    assert last["case"] == "C-1" and last["details"]["attempted"] == "case:evidence:ingest"
    if code == 6:  # the auditors' record names what the actor may not have been told
        existing = {"b": ("ev2", "C-2"), "c": ("ev3", "C-3")}[args[1].strip("{}")]
        assert last["details"]["existing_evidence"] == world[existing[0]]
        assert last["details"]["existing_case"] == existing[1]
        if "cannot access" in needle:
            assert "EV-" not in last["details"]["error"]


def test_verify_failure_is_one_line_on_stderr_and_json_on_stdout(
    tmp_path: Path, clips: dict[str, Path]
) -> None:
    home = tmp_path / "v"
    run(home, "init", user=None)
    run(home, "case", "add", "C-1")
    ev = run(home, "ingest", str(clips["a"]), "--case", "C-1")
    blob = next(p for p in (home / "blobs").rglob("*") if p.is_file() and ev["sha256"] in p.name)
    blob.chmod(0o600)
    data = blob.read_bytes()
    blob.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))
    proc = run(home, "verify", ok=False)
    assert proc.returncode == 7
    assert json.loads(proc.stdout)["ok"] is False
    assert proc.stderr == "custodes: error: verify found 1 problem(s): blob-changed\n"


# --------------------------------------------------------------------------- decisions of
# the product owner (issue 17, item 9)


def _refused(proc: Any, code: int, needle: str) -> None:
    assert proc.returncode == code, proc.stderr
    assert proc.stdout == "" and proc.stderr.count("\n") == 1 and needle in proc.stderr


@pytest.fixture(scope="module")
def owner_world(tmp_path_factory: pytest.TempPathFactory, clips: dict[str, Path]):
    """An open case and one under internal-affairs investigation, each with a recording;
    an officer assigned to the investigated one, an export of it."""
    root = tmp_path_factory.mktemp("owner")
    home = root / "v"
    run(home, "init", user=None)
    for name, role in [
        ("rec", "records"),
        ("ia", "internal-affairs"),
        ("ofc", "officer"),
        ("chief", "command"),
    ]:
        assert run(home, "user", "add", name, "--role", role)["role"] == role
    _ok(home, "case", "add", "C-1")
    _ok(home, "case", "add", "C-9")
    _ok(home, "case", "assign", "C-9", "ofc")
    ev1 = _ok(home, "ingest", str(clips["a"]), "--case", "C-1")["evidence_id"]
    ev9 = _ok(home, "ingest", str(clips["b"]), "--case", "C-9", user="ofc")["evidence_id"]
    export = _ok(
        home,
        "export",
        ev9,
        "--recipient",
        "DA",
        "--purpose",
        "charging",
        "--out",
        str(root / "c.mp4"),
    )
    _ok(home, "case", "set", "C-9", "--flag", "ia-investigation", "--reason", "IA-12", user="ia")
    return {"home": home, "ev1": ev1, "ev9": ev9, "export": export["export_id"]}


def test_evidence_flag_needs_a_stated_reason(owner_world: dict[str, Any]) -> None:
    home, ev = owner_world["home"], owner_world["ev1"]
    for change in (["--flag", "minor"], ["--unflag", "minor"]):
        proc = _cli(home, "evidence", "flag", ev, *change)
        _refused(proc, 3, "changing a recording's flags needs a stated reason (--reason)")
    out = _ok(home, "evidence", "flag", ev, "--flag", "minor", "--reason", "a child in view")
    assert out["flags"] == ["minor"]
    last = _ok(home, "audit", "--evidence", ev, "--limit", "1", user="ia")[0]
    assert (last["action"], last["reason"]) == ("evidence-flag-change", "a child in view")


def test_unknown_evidence_in_audit_and_exports_is_exit_4(owner_world: dict[str, Any]) -> None:
    home = owner_world["home"]
    for command in ("audit", "exports"):
        _refused(_cli(home, command, "--evidence", "EV-NOPE"), 4, "no evidence 'EV-NOPE'")
    _refused(_cli(home, "audit", "--case", "C-404"), 4, "no case 'C-404'")


def test_the_record_of_an_investigated_case_is_for_its_readers(
    owner_world: dict[str, Any],
) -> None:
    home, ev9 = owner_world["home"], owner_world["ev9"]
    for args in (["audit", "--case", "C-9"], ["audit", "--evidence", ev9]):
        _refused(_cli(home, *args), 5, "under internal-affairs investigation")
    _refused(_cli(home, "exports", "--evidence", ev9), 5, "under internal-affairs investigation")
    listed = _ok(home, "audit")
    assert listed and not [e for e in listed if e["case"] == "C-9" or e["evidence"] == ev9]
    assert _ok(home, "exports") == []
    for reader in ("ia", "admin"):
        trail = _ok(home, "audit", "--case", "C-9", user=reader)
        assert "export" in [e["action"] for e in trail]
        exported = _ok(home, "exports", "--evidence", ev9, user=reader)
        assert [e["export_id"] for e in exported] == [owner_world["export"]]
    refusals = [e for e in _ok(home, "audit", user="ia") if e["actor"] == "rec"]
    assert "case:audit:read" in {e["details"].get("attempted") for e in refusals}
    assert _ok(home, "verify", user="ia")["ok"] is True


def test_command_staff_read_override_alerts_and_export_nothing(
    owner_world: dict[str, Any], tmp_path: Path
) -> None:
    home, ev1 = owner_world["home"], owner_world["ev1"]
    req = _ok(home, "request", "add", "--case", "C-1", "--requester", "KUSA", "--kind", "press")
    _ok(home, "request", "decide", req["request_id"], "--override", "deny", "--reason", "r")
    alerts = _ok(home, "alerts", user="chief")
    assert [(a["kind"], a["audience"]) for a in alerts] == [("decision-override", "command")]
    assert _ok(home, "case", "show", "C-1", user="chief")["case"] == "C-1"
    assert _ok(home, "request", "show", req["request_id"], user="chief")
    _refused(_cli(home, "case", "show", "C-9", user="chief"), 5, "investigation")
    proc = _cli(
        home,
        "export",
        ev1,
        "--recipient",
        "x",
        "--purpose",
        "y",
        "--out",
        str(tmp_path / "x.mp4"),
        user="chief",
    )
    _refused(proc, 5, "role command may not case:evidence:export")


def test_internal_affairs_restores_an_officers_reach(owner_world: dict[str, Any]) -> None:
    home, ev9 = owner_world["home"], owner_world["ev9"]
    _refused(_cli(home, "evidence", "show", ev9, user="ofc"), 5, "lost reach to it")
    _refused(
        _cli(home, "case", "assign", "C-9", "ofc", "--restore-reach", user="ia"),
        3,
        "needs a stated reason (--reason)",
    )
    _refused(
        _cli(home, "case", "assign", "C-9", "ofc", "--restore-reach", "--reason", "x"),
        5,
        "may not case:case:restore-reach",
    )
    out = _ok(
        home, "case", "assign", "C-9", "ofc", "--restore-reach", "--reason", "witness", user="ia"
    )
    assert out == {"case": "C-9", "members": ["ofc"], "reach_restored": ["ofc"]}
    assert _ok(home, "evidence", "show", ev9, user="ofc")["evidence_id"] == ev9
    last = _ok(home, "audit", "--case", "C-9", user="ia")
    restored = [e for e in last if e["action"] == "case-reach-restored"]
    assert [(e["actor"], e["reason"]) for e in restored] == [("ia", "witness")]
