"""``custodes user``: vault users and their roles."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from custodes.cli import output
from custodes.cli.state import show, state
from custodes.core.errors import InvalidInput
from custodes.services import auth as user_svc_auth
from custodes.services import users as user_svc

app = typer.Typer(help="Vault users and their roles.", no_args_is_help=True)


@app.command("add")
def user_add(
    ctx: typer.Context,
    username: str,
    role: Annotated[
        str,
        typer.Option(
            help="officer, supervisor, records, prosecutor, internal-affairs, admin or command."
        ),
    ],
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read a password (for the web UI) on stdin.")
    ] = False,
) -> None:
    """Add a vault user with a role."""
    st = state(ctx)
    password = _read_password() if password_stdin else None
    out = user_svc.add_user(st.vault, st.actor, username, role, password)
    show(st, out, f"User [bold]{out.username}[/] added with role {out.role.value}.")


def _read_password() -> str:
    """The first line of stdin, which must be UTF-8 (its bytes, not the locale's guess)."""
    line = sys.stdin.buffer.readline().rstrip(b"\n")
    try:
        return line.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidInput("the password must be valid UTF-8") from None


@app.command("password")
def user_password(ctx: typer.Context, username: str) -> None:
    """Set USERNAME's web password from the first line of stdin (an admin: anyone's).

    On record as password-set."""
    st = state(ctx)
    user_svc_auth.set_password(st.acting(), st.actor, username, _read_password())
    show(st, {"username": username}, f"Password of [bold]{username}[/] set.")


@app.command("list")
def user_list(ctx: typer.Context) -> None:
    """List vault users."""
    st = state(ctx)
    rows = user_svc.list_users(st.vault, st.actor)
    if st.json:
        output.emit_json(rows)
    else:
        output.table(
            "Users",
            ["username", "role", "active", "created"],
            [[r.username, r.role.value, r.active, r.created_at] for r in rows],
        )
