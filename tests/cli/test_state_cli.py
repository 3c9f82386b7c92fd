"""State bound to the signed log, as a user sees it on the command line (issue 22): an
alert edited on the database file is marked in `alerts`; a listing over an edited row
fails with one line and exit 7; `verify` names the row."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from tests.factories.cli import invoke


def _cli(home: Path, *args: str, user: str = "admin", json_out: bool = True):
    cmd = ["--home", str(home), "--as", user, *(["--json"] if json_out else []), *args]
    return invoke(*cmd, env={"COLUMNS": "200"})  # the table's last column on one line


def _ok(home: Path, *args: str, **kw):
    proc = _cli(home, *args, **kw)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout) if kw.get("json_out", True) else proc.stdout


def _sql(home: Path, statement: str) -> None:
    db = sqlite3.connect(home / "vault.db")
    db.execute(statement)
    db.commit()
    db.close()


def test_edited_rows_on_the_command_line(tmp_path: Path, clips: dict[str, Path]) -> None:
    home = tmp_path / "v"
    proc = invoke("--home", str(home), "--json", "init")
    assert proc.returncode == 0, proc.stderr
    _ok(home, "user", "add", "ia", "--role", "internal-affairs")
    _ok(home, "user", "add", "rec", "--role", "records")
    _ok(home, "case", "add", "C-1")
    ev = _ok(home, "ingest", str(clips["a"]), "--case", "C-1")["evidence_id"]
    _ok(home, "case", "set", "C-1", "--flag", "sensitive", "--reason", "a minor", user="ia")
    out = tmp_path / "copy.mp4"
    _ok(
        home,
        *["export", ev, "--recipient", "City Attorney Lowe", "--purpose", "civil claim"],
        *["--out", str(out)],
        user="rec",
    )
    [alert] = _ok(home, "alerts", user="ia")
    assert alert["kind"] == "sensitive-export" and alert["vouched"] is True

    _sql(home, "UPDATE alerts SET reason='routine'")
    [alert] = _ok(home, "alerts", user="ia")
    assert alert["vouched"] is False
    table = _ok(home, "alerts", user="ia", json_out=False)
    assert "NO: not on the signed log" in table

    _sql(home, "UPDATE cases SET flags='' WHERE number='C-1'")
    listing = _cli(home, "case", "list")
    assert listing.returncode == 7
    [line] = listing.stderr.strip().splitlines()
    assert "case C-1 differs from the log in flags" in line and "refusing to list" in line

    report = _cli(home, "verify", "--skip-blobs")
    assert report.returncode == 7
    details = [p["detail"] for p in json.loads(report.stdout)["problems"]]
    assert "case C-1 differs from the log in flags" in details
    assert any(d.endswith("differs from the log in reason") for d in details), details
