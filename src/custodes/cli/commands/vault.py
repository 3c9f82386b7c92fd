"""``custodes init``: create the vault."""

from __future__ import annotations

from typing import Annotated

import typer

from custodes import bootstrap
from custodes.cli.state import show, state


def init(
    ctx: typer.Context,
    policy_pack: Annotated[
        str,
        typer.Option(
            "--policy-pack",
            help="The policy pack the vault starts with: a built-in pack (colorado, "
            "california, example-department) or the path of a pack file (.yaml). An admin "
            "changes it later with `custodes policy set`.",
        ),
    ] = bootstrap.DEFAULT_PACK,
) -> None:
    """Create the vault (database, blob folder, signing key), its `admin` user
    and the policy pack in force."""
    st = state(ctx)
    vault = bootstrap.init_vault(st.settings, policy_pack=policy_pack)
    st._vault = vault
    show(
        st,
        {"home": str(st.settings.home.resolve()), "origin": vault.origin, "admin": "admin"},
        f"Vault created at [bold]{st.settings.home.resolve()}[/] (log origin {vault.origin}); "
        "user [bold]admin[/] can now add users: custodes --as admin user add ...",
    )
