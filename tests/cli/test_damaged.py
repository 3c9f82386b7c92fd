"""A damaged recording through the CLI: taken into custody as it is, shown as damaged,
and the media use cases work on its readable part or say why not."""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from custodes.media.synth import write_bodycam_clip
from tests.factories.cli import invoke


def cli(home: Path, user: str, *args: str) -> subprocess.CompletedProcess[str]:
    return invoke("--home", str(home), "--as", user, "--json", *args)


def ok(home: Path, user: str, *args: str) -> Any:
    proc = cli(home, user, *args)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


@pytest.fixture(scope="module")
def damaged_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 6 s recording (index in front, as cameras that stream write it) cut in half, as
    a card pulled mid-write leaves it."""
    root = tmp_path_factory.mktemp("damaged")
    whole = write_bodycam_clip(
        root / "whole.mp4", seconds=6, width=320, height=180, fps=15, seed=7, faststart=True
    )
    data = whole.read_bytes()
    cut = root / "card.mp4"
    cut.write_bytes(data[: len(data) // 2])
    return cut


def test_a_damaged_recording_is_taken_into_custody_as_it_is(
    tmp_path: Path, damaged_clip: Path
) -> None:
    home = tmp_path / "v"
    ok(home, "admin", "init")
    ok(home, "admin", "case", "add", "C-1")
    for name, role in (("rec", "records"), ("ia", "internal-affairs"), ("pros", "prosecutor")):
        ok(home, "admin", "user", "add", name, "--role", role)

    got = ok(home, "rec", "ingest", str(damaged_clip), "--case", "C-1")
    assert got["sha256"] == hashlib.sha256(damaged_clip.read_bytes()).hexdigest()  # as it is
    assert got["damage"].startswith("truncated")
    media = got["media"]
    assert media["damage"] == got["damage"]
    assert 0 < got["duration_s"] < media["declared_duration_s"] - 1
    assert 0 < media["frame_count"] < 90
    ev = got["evidence_id"]

    # On record, and shown.
    (listed,) = ok(home, "rec", "evidence", "list")
    assert listed["damage"] == got["damage"] and listed["duration_s"] == got["duration_s"]
    shown = ok(home, "rec", "evidence", "show", ev)
    assert shown["damage"] == got["damage"] and shown["media"]["damage"] == got["damage"]
    (event,) = [e for e in ok(home, "admin", "audit", "--evidence", ev) if e["action"] == "ingest"]
    assert event["details"]["media"]["damage"] == got["damage"]
    human = invoke("--home", str(home), "--as", "rec", "evidence", "list")
    assert "(damaged)" in human.stdout

    # Exports work on the readable part; past it, one line that says why.
    whole = ok(
        home,
        "rec",
        "export",
        ev,
        "--recipient",
        "pros",
        "--purpose",
        "court",
        "--out",
        str(tmp_path / "whole.mp4"),
    )
    assert Path(whole["path"]).is_file()
    end = got["duration_s"]
    refused = cli(
        home,
        "rec",
        "export",
        ev,
        "--recipient",
        "pros",
        "--purpose",
        "court",
        "--start",
        "1",
        "--end",
        f"{end + 1:.2f}",
        "--out",
        str(tmp_path / "x.mp4"),
    )
    assert refused.returncode == 3 and refused.stdout == ""
    assert refused.stderr.count("\n") == 1
    assert "--end" in refused.stderr and "past the readable end" in refused.stderr
    assert "damaged (truncated" in refused.stderr
    assert not (tmp_path / "x.mp4").exists()
    part = ok(
        home,
        "rec",
        "export",
        ev,
        "--recipient",
        "pros",
        "--purpose",
        "press",
        "--start",
        "0.5",
        "--end",
        f"{end - 0.3:.2f}",
        "--out",
        str(tmp_path / "part.mp4"),
    )

    # A trace of the portion finds the damaged original and the copy it came from.
    reports = tmp_path / "reports"
    traced = ok(home, "ia", "trace", part["path"], "--report-dir", str(reports))
    assert any(reports.glob("TR-*.pdf"))  # the report goes where it is asked, not to the cwd
    assert traced["verdict"] == "attributed", traced
    assert traced["source"]["evidence_id"] == ev
    assert traced["attributed"] == [part["export_id"]]

    # Redaction works on what decodes; a muted range past the readable end is refused.
    redacted = ok(home, "rec", "redact", ev, "--mute", "0.5-1.5", "--out", str(tmp_path / "r.mp4"))
    assert Path(redacted["path"]).is_file()
    muted = cli(
        home, "rec", "redact", ev, "--mute", f"1-{end + 1:.2f}", "--out", str(tmp_path / "r2.mp4")
    )
    assert muted.returncode == 3 and muted.stderr.count("\n") == 1
    assert "past the end" in muted.stderr

    assert ok(home, "admin", "verify")["ok"]


def test_a_file_that_is_not_a_video_is_still_refused(tmp_path: Path) -> None:
    home = tmp_path / "v"
    ok(home, "admin", "init")
    ok(home, "admin", "case", "add", "C-1")
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(bytes(range(256)) * 400)
    proc = cli(home, "admin", "ingest", str(junk), "--case", "C-1")
    assert proc.returncode == 3 and proc.stderr.count("\n") == 1
    assert ok(home, "admin", "evidence", "list") == []
    assert ok(home, "admin", "audit")[-1]["action"] == "ingest-refused"
