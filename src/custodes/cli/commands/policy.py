"""``custodes policy``: the written policy pack that decides release requests."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.text import Text

from custodes.cli import output
from custodes.cli.state import show, state

if TYPE_CHECKING:
    from custodes.services.packs import PackInForce

app = typer.Typer(
    help="The policy pack in force: a vault setting, on the signed log. Every release "
    "request is decided by it, and every decision names its SHA-256. Only an admin "
    "changes it (policy set); open requests are then re-reviewed under the new pack.",
    no_args_is_help=True,
)

BUILTIN_HELP = "colorado, california, example-department"


@app.command("show")
def policy_show(ctx: typer.Context) -> None:
    """Show the pack in force: name, version, SHA-256, since when, set by whom.

    Its bytes are read from the vault and checked against the hash its signed
    event names (exit 7 if they differ)."""
    from custodes.services import policy as policy_svc

    st = state(ctx)
    p = policy_svc.show_policy(st.acting(), st.actor)
    if st.json:
        output.emit_json(p)
        return
    _print(p)


def _print(p: PackInForce) -> None:
    # Lines, not a table: a hash is never cut to fit the terminal. Text, not markup:
    # what a pack file says is shown as written.
    output.console.print(output.plain(f"{p.name} {p.version} ({p.jurisdiction})"), style="bold")
    for label, value in (
        ("sha256", p.sha256),
        ("file", p.source),
        ("effective", f"{p.effective_from} to {p.expires}"),
        ("since", p.since),
        ("set by", p.set_by),
        ("reason", p.reason or ""),
    ):
        line = Text(f"  {label + ':':<11}")
        line.append(output.plain(value))
        output.console.print(line, soft_wrap=True)


@app.command("history")
def policy_history(ctx: typer.Context) -> None:
    """List every pack the vault has had in force, oldest first."""
    from custodes.services import policy as policy_svc

    st = state(ctx)
    rows = policy_svc.policy_history(st.acting(), st.actor)
    if st.json:
        output.emit_json(rows)
        return
    for p in rows:
        _print(p)


@app.command("set")
def policy_set(
    ctx: typer.Context,
    pack: Annotated[
        str,
        typer.Argument(
            help=f"A built-in pack ({BUILTIN_HELP}) or the path of a pack file (.yaml).",
            show_default=False,
        ),
    ],
    reason: Annotated[
        str, typer.Option(help="Why the pack changes (on record).", show_default=False)
    ],
) -> None:
    """Put another policy pack in force (admins only; a refusal is on record).

    The pack must be valid and in force today; a bad file changes nothing
    (exit 3). Its bytes are kept in the vault under their SHA-256, and the
    change is a signed event. Every open request (undecided, held, or decided
    to release but not yet released) is re-evaluated under the new pack, on
    record. Those whose outcome or deadline changes, and every decision to
    release, are for a records user to decide again: `request list` marks
    them and records is alerted. Nothing is released under a decision made
    under another pack."""
    from custodes.services import policy as policy_svc

    st = state(ctx)
    out = policy_svc.set_policy(st.acting(), st.actor, pack, reason)
    p = out.pack
    show(
        st,
        out,
        f"Policy pack [bold]{escape(p.name)}[/] {escape(p.version)} in force (SHA-256 {p.sha256}); "
        f"{out.rereviewed} open request(s) re-reviewed, {len(out.needs_review)} to decide "
        "again" + (f": {', '.join(out.needs_review)}" if out.needs_review else "."),
    )
