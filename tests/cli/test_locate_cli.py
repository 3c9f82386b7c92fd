"""``custodes locate`` and ``custodes index --rebuild`` as a user runs them (in process)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from custodes import bootstrap
from custodes.config import Settings
from custodes.media.leak import simulate_leak
from custodes.media.synth import write_bodycam_clip
from custodes.services import evidence
from tests.factories import add_case, add_user
from tests.factories.cli import invoke


def _cli(home: Path, user: str, *args: str) -> subprocess.CompletedProcess[str]:
    return invoke("--home", str(home), "--as", user, *args, cwd=home.parent)


def test_locate_and_rebuild(tmp_path: Path) -> None:
    clip = write_bodycam_clip(
        tmp_path / "a.mp4", seconds=16.0, width=192, height=108, audio=False, seed=61
    )
    vault = bootstrap.init_vault(Settings(home=tmp_path / "v"))
    rec = add_user(vault, "records")
    ia = add_user(vault, "internal-affairs")
    ev = evidence.ingest(vault, rec, clip, add_case(vault)).evidence_id
    vault.engine.dispose()
    home = tmp_path / "v"
    leak = simulate_leak(clip, tmp_path / "leak.mp4", start_s=4.0, seconds=8.0, transform="mirror")

    proc = _cli(home, ia, "--json", "locate", str(leak))
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["searched_evidence"] == 1
    best = out["sources"][0]
    assert best["evidence_id"] == ev and best["mirrored"] is True
    assert abs(best["offset_s"] - 4.0) < 0.5

    proc = _cli(home, ia, "locate", str(leak))
    assert proc.returncode == 0 and ev in proc.stdout

    proc = _cli(home, ia, "--json", "index", "--rebuild")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == {"keyed": 1, "evidence": 1}

    proc = _cli(home, ia, "index", "--rebuild", "--case", "C-1")
    assert proc.returncode != 0 and "--rebuild keys the whole archive" in proc.stderr
