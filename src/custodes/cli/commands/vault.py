"""``custodes init``: create the vault."""

from __future__ import annotations

import typer

from custodes import bootstrap
from custodes.cli.state import show, state


def init(ctx: typer.Context) -> None:
    """Create the vault (database, blob folder, signing key) and its `admin` user."""
    st = state(ctx)
    vault = bootstrap.init_vault(st.settings)
    st._vault = vault
    show(
        st,
        {"home": str(st.settings.home.resolve()), "origin": vault.origin, "admin": "admin"},
        f"Vault created at [bold]{st.settings.home.resolve()}[/] (log origin {vault.origin}); "
        "user [bold]admin[/] can now add users: custodes --as admin user add ...",
    )
