"""custodes.cli.output: what reaches a terminal from values others typed."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from custodes.cli import output


def test_table_cells_are_literal_text(monkeypatch: pytest.MonkeyPatch) -> None:
    """A value carrying rich markup or terminal escapes is shown as typed, never acted on."""
    buf = io.StringIO()
    monkeypatch.setattr(output, "console", Console(file=buf, force_terminal=True, width=100))
    output.table("t", ["who", "n"], [["Denver [bold red]Post[/] \x1b[2J\x07", None]])
    shown = buf.getvalue()
    assert "[bold red]Post[/]" in shown  # markup not interpreted
    assert "\\x1b[2J\\x07" in shown  # escapes shown, not sent
    assert "\x1b[2J" not in shown and "\x07" not in shown


def test_the_cli_names_a_service_field_by_its_option() -> None:
    from custodes.cli.errors import option

    assert option("start") == "--start"
    assert option("recorded_at") == "--recorded-at"
    assert option("ranges") == "--range"
    assert option("actor").startswith("--as")


@pytest.mark.parametrize("width", [80, 40, 20])
def test_a_table_never_cuts_a_word(monkeypatch: pytest.MonkeyPatch, width: int) -> None:
    """Cells wrap between words; an identifier, a hash prefix or a time stays whole."""
    buf = io.StringIO()
    monkeypatch.setattr(output, "console", Console(file=buf, width=width))
    ids = ["EV-3ZGXX33QW7KA", "2026-CR-000123-HOMICIDE", "RQ-JRJM2YMVXKVZ"]
    output.table("t", ["evidence", "case", "request", "note"], [[*ids, "a long note " * 4]])
    shown = buf.getvalue()
    assert "…" not in shown
    for word in ids:
        assert word in shown


def test_facts_read_as_text() -> None:
    facts = {
        "misconduct_complaint": False,
        "prosecution_pending": True,
        "kinds": ["press", "court"],
        "ranges": [[30.0, 90.0], [100.0, 120.0]],
        "due": None,
    }
    assert output.facts_text(facts) == (
        "misconduct complaint: no; prosecution pending: yes; kinds: press, court; "
        "ranges: 30.0-90.0, 100.0-120.0; due: -"
    )
