"""``custodes serve``: the web application and REST API on this vault."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from custodes import bootstrap
from custodes.cli.state import state
from custodes.core.errors import InvalidInput

#: The web front door's app factory, named by import path: the CLI starts it without
#: importing it (front doors stay independent of each other, docs/architecture.md).
APP_FACTORY = "custodes.web.app:app_from_environment"


def serve(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.", min=1, max=65535)] = 8000,
    public_origin: Annotated[
        str | None,
        typer.Option(
            help="The origin people reach it at behind a TLS proxy "
            "(https://host[:port]; default: $CUSTODES_PUBLIC_ORIGIN)."
        ),
    ] = None,
    workers: Annotated[
        int,
        typer.Option(
            help="Server processes sharing the port (PostgreSQL only: an embedded vault is "
            "served by one process).",
            min=1,
            max=64,
        ),
    ] = 1,
) -> None:
    """Serve the web API (/api/v1) on this vault until interrupted.

    People sign in with a password and a second factor (or through the department's
    OpenID provider, CUSTODES_OIDC_ISSUER: docs/security.md); scripts use API tokens. On an
    embedded vault it also runs queued jobs (exports asked for on the API) on a
    background thread; on PostgreSQL, `custodes worker` runs them.

    --workers N runs N processes on a PostgreSQL vault, each with its own connection
    pool (CUSTODES_DB_POOL_SIZE); an upload whose next piece reaches another process is
    hashed again from its partial file first. --as is not used. Beyond loopback, put a
    TLS proxy in front (the cookie is Secure).
    """
    import uvicorn

    st = state(ctx)
    _ = st.vault  # refuse a missing or damaged vault before listening
    settings = st.settings
    if public_origin is not None:
        settings = settings.model_copy(update={"public_origin": public_origin})
    bootstrap.public_origin(settings)  # and a malformed origin
    bootstrap.trusted_proxies(settings)  # and a malformed CUSTODES_TRUSTED_PROXIES
    bootstrap.sso_settings(settings)  # and incomplete CUSTODES_OIDC_* (or no secret file)
    if workers > 1 and not settings.resolved_database_url.startswith("postgresql"):
        # Each process would run the in-process job queue and write the SQLite file.
        raise InvalidInput(
            "--workers above 1 needs a PostgreSQL vault (CUSTODES_DATABASE_URL); "
            "an embedded vault is served by one process"
        )
    os.environ["CUSTODES_HOME"] = str(settings.home)
    if public_origin is not None:
        os.environ["CUSTODES_PUBLIC_ORIGIN"] = public_origin
    # proxy_headers=False: uvicorn would believe X-Forwarded-For from any client on
    # loopback; the app believes it only from CUSTODES_TRUSTED_PROXIES (web/deps.py).
    uvicorn.run(
        APP_FACTORY,
        factory=True,
        host=host,
        port=port,
        log_level="info",
        proxy_headers=False,
        server_header=False,
        workers=workers,
    )
