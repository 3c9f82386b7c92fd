"""Options that several commands take, declared once so their names and help agree."""

from __future__ import annotations

import copy
from typing import Annotated, Any

import typer

Unflag = Annotated[list[str] | None, typer.Option(help="Remove a flag.")]
FlagReason = Annotated[
    str | None,
    typer.Option(help="Why (recorded in the audit log; required with --flag and --unflag)."),
]


def _json_here(ctx: Any, _param: Any, value: bool) -> bool:
    """``--json`` given after a command: the invocation prints JSON, as if it had been
    given before the command (the root's callback has made the State by then)."""
    if value:
        ctx.find_root().obj.json = True
    return value


def share_json_option(root: Any) -> None:
    """Give every command under ``root`` (and every group that runs without a
    subcommand, such as ``audit``) the root's own ``--json`` option, so that it may be
    written before or after the command, with the same help. The root's option object is
    copied (Typer builds it; its class differs between Typer releases) and made to set
    the invocation's State instead of passing a value to the command."""
    flag = next(p for p in root.params if "--json" in getattr(p, "opts", ()))

    def visit(command: Any) -> None:
        subcommands = getattr(command, "commands", None)
        if subcommands is not None:
            for sub in subcommands.values():
                visit(sub)
            if not getattr(command, "invoke_without_command", False):
                return
        if any("--json" in getattr(p, "opts", ()) for p in command.params):
            return
        mine = copy.copy(flag)
        mine.expose_value = False
        mine.callback = _json_here
        command.params.append(mine)

    for sub in root.commands.values():
        visit(sub)
