"""``custodes verify``: every blob re-hashed, the whole audit log re-checked."""

from __future__ import annotations

from typing import Annotated

import typer

from custodes.cli import output
from custodes.cli.state import state
from custodes.services import verify as verify_svc


def verify(
    ctx: typer.Context,
    skip_blobs: Annotated[
        bool, typer.Option("--skip-blobs", help="Check only the audit log.")
    ] = False,
) -> None:
    """Re-hash every blob, re-check the whole audit log, and hold every row of the vault's
    tables against the signed log (naming each one edited, deleted or inserted); exit 0
    only if all is well."""
    st = state(ctx)
    with output.progress_sink(st.json) as sink:
        out = verify_svc.verify_vault(st.acting(sink), st.actor, blobs=not skip_blobs)
    if st.json:
        output.emit_json(out)
    elif out.ok:
        output.console.print(
            f"[green]OK[/]: {out.events} audit events, {out.checkpoints_checked} signed "
            f"checkpoints, {out.blobs} blobs checked."
        )
    else:
        output.table(
            f"{len(out.problems)} problem(s) found",
            ["kind", "detail"],
            [[p["kind"], p["detail"]] for p in out.problems],
        )
    verify_svc.raise_for_problems(out)  # after the report: exit 7 and one line on stderr
