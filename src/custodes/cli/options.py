"""Options that several commands take, declared once so their names and help agree."""

from __future__ import annotations

from typing import Annotated

import typer

Unflag = Annotated[list[str] | None, typer.Option(help="Remove a flag.")]
FlagReason = Annotated[
    str | None,
    typer.Option(help="Why (recorded in the audit log; required with --flag and --unflag)."),
]
