"""``custodes demo``: the whole story on a fresh embedded vault."""

from __future__ import annotations

import typer

from custodes.cli import output
from custodes.cli.state import state


def demo(ctx: typer.Context) -> None:
    """The whole story on a fresh embedded vault, start to finish."""
    from custodes.cli.demo import run_demo

    st = state(ctx)
    summary = run_demo(st.settings, quiet=st.json)
    if st.json:
        output.emit_json(summary)
