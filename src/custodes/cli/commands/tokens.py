"""``custodes token``: API tokens for scripts (``Authorization: Bearer ...`` on the web API)."""

from __future__ import annotations

from typing import Annotated

import typer

from custodes.cli import output
from custodes.cli.state import show, state
from custodes.services import auth as auth_svc

app = typer.Typer(help="API tokens for scripts using the web API.", no_args_is_help=True)


@app.command("create")
def token_create(
    ctx: typer.Context,
    username: str,
    expires: Annotated[
        str, typer.Option(help="How long it lives: 90m, 12h, 30d (at most 366d).")
    ] = "30d",
) -> None:
    """Create a token acting as USERNAME with that user's role (an admin: anyone's).

    It is shown once; only its SHA-256 is kept."""
    st = state(ctx)
    out = auth_svc.create_token(st.acting(), st.actor, username, auth_svc.parse_duration(expires))
    show(
        st,
        out,
        f"Token [bold]{out.token_id}[/] for {out.username}, valid until {out.expires_at}. "
        f"Shown once:\n{out.token}",
    )


@app.command("list")
def token_list(
    ctx: typer.Context,
    user: Annotated[str | None, typer.Option("--user", help="Only this user's tokens.")] = None,
) -> None:
    """List tokens (never their values): yours, or everyone's for an admin."""
    st = state(ctx)
    rows = auth_svc.list_tokens(st.acting(), st.actor, user)
    if st.json:
        output.emit_json(rows)
    else:
        output.table(
            "API tokens",
            ["id", "user", "state", "expires", "last used", "created by"],
            [
                [r.token_id, r.username, r.state, r.expires_at, r.last_used_at, r.created_by]
                for r in rows
            ],
        )


@app.command("revoke")
def token_revoke(ctx: typer.Context, token_id: str) -> None:
    """Revoke a token (yours, or anyone's for an admin)."""
    st = state(ctx)
    out = auth_svc.revoke_token(st.acting(), st.actor, token_id)
    show(st, out, f"Token [bold]{out.token_id}[/] of {out.username} revoked.")
