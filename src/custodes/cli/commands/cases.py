"""``custodes case``: cases, their status, flags and assignments."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

import typer
from rich.markup import escape

from custodes.cli import output
from custodes.cli.options import FlagReason, Unflag
from custodes.cli.state import State, show, state
from custodes.services import cases as case_svc
from custodes.services.requests import HoldReview

app = typer.Typer(help="Cases: status, flags, assignments.", no_args_is_help=True)


@app.command("add")
def case_add(
    ctx: typer.Context,
    number: str,
    title: Annotated[str, typer.Option(help="A short title.")] = "",
    status: Annotated[
        str, typer.Option(help="open, pending-prosecution, adjudicated or closed.")
    ] = "open",
) -> None:
    """Open a case."""
    st = state(ctx)
    out = case_svc.add_case(st.vault, st.actor, number, title, status)
    show(st, out, f"Case [bold]{number}[/] added ({out.status.value}).")


@app.command("set")
def case_set(
    ctx: typer.Context,
    number: str,
    status: Annotated[str | None, typer.Option(help="New status.")] = None,
    flag: Annotated[
        list[str] | None,
        typer.Option(
            help="Add a flag: sensitive, juvenile, victim-privacy, ia-investigation, legal-hold."
        ),
    ] = None,
    unflag: Unflag = None,
    reason: FlagReason = None,
) -> None:
    """Change a case's status or flags."""
    st = state(ctx)
    out = case_svc.set_case(
        st.vault,
        st.actor,
        number,
        status=status,
        flag=flag or [],
        unflag=unflag or [],
        reason=reason,
    )
    show(
        st,
        out,
        f"Case [bold]{number}[/]: status {out.status.value}, flags "
        f"{', '.join(sorted(f.value for f in out.flags)) or 'none'}.",
    )
    print_holds_reviewed(st, out.holds_reviewed, out.warnings)


def print_holds_reviewed(
    st: State, reviewed: Sequence[HoldReview], warnings: Sequence[str]
) -> None:
    """After a fact changed: the holds that no longer stand, and any warning (human mode)."""
    if st.json:
        return
    for h in reviewed:
        output.console.print(
            f"Hold on request [bold]{h.request_id}[/] no longer stands: the policy pack "
            f"now proposes [bold]{h.proposed}[/] ({', '.join(h.rules)}). A records "
            f"user must decide it again (custodes request decide {h.request_id})."
        )
    for w in warnings:
        output.err_console.print(f"[yellow]warning[/]: {escape(w)}")


@app.command("assign")
def case_assign(
    ctx: typer.Context,
    number: str,
    username: str,
    restore_reach: Annotated[
        bool,
        typer.Option(
            "--restore-reach",
            help="Internal affairs only: give an officer reach again to a case under "
            "investigation (assigning them if they are not).",
        ),
    ] = False,
    reason: Annotated[
        str | None,
        typer.Option(help="Why (recorded in the audit log; required with --restore-reach)."),
    ] = None,
) -> None:
    """Assign a user (an officer, a prosecutor) to a case."""
    st = state(ctx)
    if restore_reach:
        out = case_svc.restore_reach(st.vault, st.actor, number, username, reason)
        show(st, out, f"{username}'s reach to case [bold]{number}[/] restored.")
        return
    out = case_svc.assign(st.vault, st.actor, number, username, reason)
    show(st, out, f"{username} assigned to case [bold]{number}[/].")


@app.command("list")
def case_list(ctx: typer.Context) -> None:
    """List the cases you may see."""
    st = state(ctx)
    rows = case_svc.list_cases(st.vault, st.actor)
    if st.json:
        output.emit_json(rows)
    else:
        output.table(
            "Cases",
            ["case", "title", "status", "flags", "members"],
            [
                [
                    r.case,
                    r.title,
                    r.status.value,
                    ",".join(sorted(f.value for f in r.flags)),
                    ",".join(sorted(r.members)),
                ]
                for r in rows
            ],
        )


@app.command("show")
def case_show(ctx: typer.Context, number: str) -> None:
    """Show one case."""
    st = state(ctx)
    show(st, case_svc.show_case(st.vault, st.actor, number))
