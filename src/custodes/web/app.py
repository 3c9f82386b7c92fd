"""The web application: a FastAPI app on an opened vault, its API under ``/api/v1``.

``create_app(vault)`` builds it; ``custodes serve`` runs it under uvicorn through
:func:`app_from_environment` (the CLI names this factory by its import path, so the two
front doors stay independent). The OpenAPI document is at ``/api/v1/openapi.json``.
"""

from __future__ import annotations

import os

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from custodes import __version__, bootstrap
from custodes.bootstrap import Vault
from custodes.config import Settings
from custodes.web import errors, security
from custodes.web.routes import api, auth, cases, disclosure, users, wellknown

API = "/api/v1"


def create_app(vault: Vault) -> FastAPI:
    app = FastAPI(
        title="custodes",
        version=__version__,
        description="The evidence vault's REST API. Every route needs a signed-in person "
        "(password and a second factor) or an API token, and calls the same use cases, "
        "with the same authorization and audit events, as the command line.",
        openapi_url=f"{API}/openapi.json",
        docs_url=None,
        redoc_url=None,
    )
    app.state.vault = vault
    app.state.public_origin = bootstrap.public_origin(vault.settings)
    app.state.trusted_proxies = bootstrap.trusted_proxies(vault.settings)
    errors.install(app)
    app.add_middleware(security.BodyLimit)  # inside the next (the last added is outermost)
    app.middleware("http")(security.middleware)

    async def _internal(request: Request, exc: Exception) -> JSONResponse:
        # A bug: still the one JSON shape, with the headers, and no traceback to the client.
        response = errors.error_response("internal", 500, f"internal error: {type(exc).__name__}")
        security.add_security_headers(request, response)
        return response

    app.add_exception_handler(Exception, _internal)
    app.include_router(auth.router, prefix=API)
    app.include_router(api.router, prefix=API)
    app.include_router(users.router, prefix=API)
    app.include_router(cases.router, prefix=API)
    app.include_router(disclosure.router, prefix=API)
    app.include_router(wellknown.router)
    return app


def app_from_environment() -> FastAPI:
    """The app on the vault the environment names (``CUSTODES_HOME``, ...), for uvicorn."""
    vault = bootstrap.open_vault(Settings(), client=f"web server pid={os.getpid()}")
    return create_app(vault)
