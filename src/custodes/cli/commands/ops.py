"""Operations: ``custodes backup create|restore`` and ``custodes db grant``."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer

from custodes import bootstrap
from custodes.cli import output
from custodes.cli.state import show, state

backup_app = typer.Typer(
    help="Back up a vault (database, blobs, keys) and restore it into a new home.",
    no_args_is_help=True,
)
db_app = typer.Typer(help="The PostgreSQL database of a production vault.", no_args_is_help=True)


@backup_app.command("create")
def backup_create(
    ctx: typer.Context,
    dest: Annotated[Path, typer.Argument(help="A new (or empty) folder for the backup.")],
) -> None:
    """Copy the whole vault into the new folder DEST (admins only).

    The database (a consistent snapshot), blobs, keys and published checkpoints, with a
    manifest of every file's SHA-256; the backup and the manifest's hash go on the audit
    log. Needs no pause: the vault may keep working."""
    st = state(ctx)
    summary = bootstrap.backup_vault(st.vault, st.actor, dest)
    show(
        st,
        asdict(summary),
        f"Backup of {summary.origin} written to [bold]{dest}[/]: {summary.files} files, "
        f"{summary.blobs} blobs, {summary.bytes} bytes ({summary.database} database).",
    )


@backup_app.command("restore")
def backup_restore(
    ctx: typer.Context,
    src: Annotated[Path, typer.Argument(help="A backup folder made by `backup create`.")],
) -> None:
    """Restore the backup SRC as a new vault at --home, then run `custodes verify`.

    --home (CUSTODES_HOME) is a new or empty folder; the database CUSTODES_DATABASE_URL
    names must be empty; blobs go to the store CUSTODES_BLOB_URL names. Every file is
    checked against the manifest before anything is written; a corrupt or truncated
    backup is refused and nothing is left behind."""
    st = state(ctx)
    with output.progress_sink(st.json) as sink:
        summary = bootstrap.restore_vault(st.settings, src, progress=sink)
    show(
        st,
        asdict(summary),
        f"Vault {summary.origin} restored at [bold]{summary.path}[/] ({summary.blobs} "
        "blobs): now run custodes verify.",
    )


@backup_app.command("check")
def backup_check(
    ctx: typer.Context,
    src: Annotated[Path, typer.Argument(help="A backup folder made by `backup create`.")],
) -> None:
    """Check the backup SRC against its manifest, without restoring it.

    Every file's size and SHA-256, nothing missing or added; exit 7 at the first fault.
    The manifest's SHA-256 it prints is the one the `backup` event recorded."""
    st = state(ctx)
    summary = bootstrap.check_backup(src)
    show(
        st,
        asdict(summary),
        f"Backup of {summary.origin} at [bold]{src}[/] is whole: {summary.files} files, "
        f"{summary.blobs} blobs (manifest SHA-256 {summary.manifest_sha256}).",
    )


@db_app.command("grant")
def db_grant(
    ctx: typer.Context,
    role: Annotated[str, typer.Argument(help="The PostgreSQL role the web and workers use.")],
    sql: Annotated[
        bool, typer.Option("--sql", help="Print the statements instead of running them.")
    ] = False,
) -> None:
    """Grant the PostgreSQL ROLE the application's rights, and no more.

    SELECT and INSERT everywhere, UPDATE or DELETE only where the code changes rows,
    never on the audit log, its checkpoints or decisions. Run it as the tables' owner
    after `custodes init` and after each upgrade (docs/deployment.md)."""
    st = state(ctx)
    statements = bootstrap.grant_app_role(st.settings, role, apply=not sql)
    if sql:
        for statement in statements:
            print(statement + ";")
        return
    show(
        st,
        {"role": role, "statements": statements},
        f"Granted {role} the application's rights ({len(statements)} statements).",
    )
