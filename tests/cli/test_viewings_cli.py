"""``custodes exports --viewings``: viewings are listed where exports are (in process)."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from custodes import bootstrap
from custodes.cli.app import app
from custodes.config import Settings
from custodes.services import evidence, viewings
from tests.factories import add_case, add_user


def test_exports_lists_viewings_on_request(tmp_path: Path, clips: dict[str, Path]) -> None:
    home = tmp_path / "v"
    vault = bootstrap.init_vault(Settings(home=home))
    try:
        rec = add_user(vault, "records")
        ev = evidence.ingest(vault, rec, clips["a"], add_case(vault)).evidence_id
        started = viewings.start_viewing(vault, rec, viewings.StartViewing(ev, end=1.0))
    finally:
        vault.engine.dispose()
    runner = CliRunner()
    base = ["--home", str(home), "--json", "--as", rec, "exports"]
    listed = runner.invoke(app, [*base, "--viewings", "--evidence", ev])
    assert listed.exit_code == 0, listed.output
    rows = json.loads(listed.output)
    assert [(r["viewing_id"], r["viewer"], r["end_s"]) for r in rows] == [
        (started.viewing_id, rec, 1.0)
    ]
    plain = runner.invoke(app, base)
    assert plain.exit_code == 0 and json.loads(plain.output) == []
