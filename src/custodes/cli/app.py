"""The ``custodes`` command line (Typer). Thin: parse, call a service, print.

This module holds the root app, its global options and the entry point; the commands
live in :mod:`custodes.cli.commands`, one module per group, and are registered here in
the order ``custodes --help`` lists them.

The acting user is ``--as USER``, else ``CUSTODES_USER``, else the operating-system
user name. Local use trusts the operating system, as psql's peer authentication does:
whoever can run this program with read and write access to the vault folder and
database may act as any vault user, so the folder must belong to the service account
(``custodes init`` makes it 0700). See docs/security.md.
"""

from __future__ import annotations

import getpass
import os
import sys
from importlib import metadata
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from custodes import __version__
from custodes.cli.commands import (
    audit,
    cases,
    demo,
    evidence,
    exports,
    jobs,
    ops,
    policy,
    provenance,
    redaction,
    requests,
    serve,
    tokens,
    trace,
    users,
    vault,
    verify,
)
from custodes.cli.errors import run_with_errors
from custodes.cli.options import share_json_option
from custodes.cli.start import install_signal_handlers
from custodes.cli.state import State
from custodes.config import Settings

__all__ = ["State", "app", "main"]


class _Root(TyperGroup):
    """The root command: ``--json`` is taken before or after any command."""

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        share_json_option(self)


app = typer.Typer(
    name="custodes",
    cls=_Root,
    help="An evidence vault for body-worn-camera video: custody, access on record, "
    "a provable audit log.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

app.command()(vault.init)
app.command()(evidence.ingest)
app.command()(evidence.alerts)
app.command("export")(exports.export_cmd)
app.command("exports")(exports.exports_list)
app.command("trace")(trace.trace_cmd)
app.command("index")(trace.index_cmd)
app.command("locate")(trace.locate_cmd)
app.command("redact")(redaction.redact_cmd)
app.command()(verify.verify)
app.command("provenance")(provenance.provenance_cmd)
app.command()(demo.demo)
app.command()(serve.serve)
app.command()(jobs.worker)

app.add_typer(users.app, name="user")
app.add_typer(cases.app, name="case")
app.add_typer(evidence.app, name="evidence")
app.add_typer(audit.app, name="audit")
app.add_typer(requests.app, name="request")
app.add_typer(tokens.app, name="token")
app.add_typer(redaction.app, name="redaction")
app.add_typer(jobs.app, name="jobs")


def version() -> str:
    """The installed package's version (its metadata), else the source tree's."""
    try:
        return metadata.version("custodes")
    except metadata.PackageNotFoundError:
        return __version__


def _print_version(value: bool) -> None:
    if value:
        print(f"custodes {version()}")
        raise typer.Exit()


app.add_typer(policy.app, name="policy")
app.add_typer(ops.backup_app, name="backup")
app.add_typer(ops.db_app, name="db")

RETIRED_PACK_VARIABLE = "CUSTODES_POLICY_PACK"


def _os_user() -> str | None:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return None


@app.callback()
def main_callback(
    ctx: typer.Context,
    home: Annotated[
        Path | None,
        typer.Option("--home", help="Vault folder (default: $CUSTODES_HOME or ./custodes-data)."),
    ] = None,
    as_user: Annotated[
        str | None,
        typer.Option("--as", help="Acting vault user (default: $CUSTODES_USER, else OS user)."),
    ] = None,
    json_out: Annotated[
        bool,
        typer.Option(
            "--json",
            help="Print one JSON document on stdout and nothing else (before or after the "
            "command).",
        ),
    ] = False,
    _version: Annotated[
        bool,
        typer.Option(
            "--version", help="Print the version and exit.", is_eager=True, callback=_print_version
        ),
    ] = False,
) -> None:
    if os.environ.get(RETIRED_PACK_VARIABLE):
        # The pack was once chosen per command by this variable; a person who still sets
        # it expects it to count, so say once, on stderr, that it does not.
        print(
            f"custodes: {RETIRED_PACK_VARIABLE} is no longer read: the policy pack in force "
            "is a vault setting (custodes policy show; an admin changes it with "
            "custodes policy set PACK --reason ...)",
            file=sys.stderr,
        )
    settings = Settings(home=home) if home is not None else Settings()
    actor = as_user or settings.user or _os_user()
    ctx.obj = State(settings=settings, actor=actor, json=json_out)


def main() -> None:
    """Run the command line (``custodes.cli.start.main`` is the installed entry point: it
    sets the signals up before this module's imports)."""
    install_signal_handlers()
    run_with_errors(lambda: app(standalone_mode=False))


if __name__ == "__main__":  # pragma: no cover
    main()
