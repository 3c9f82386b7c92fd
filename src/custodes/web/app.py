"""The web application: a FastAPI app on an opened vault, its API under ``/api/v1``, its
pages at ``/`` (``routes/pages.py``, templates and static files beside this module).

``create_app(vault)`` builds it; ``custodes serve`` runs it under uvicorn through
:func:`app_from_environment` (the CLI names this factory by its import path, so the two
front doors stay independent). The OpenAPI document is at ``/api/v1/openapi.json``.
"""

from __future__ import annotations

import os
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from custodes import __version__, bootstrap
from custodes.bootstrap import Vault
from custodes.config import Settings
from custodes.services import jobs as jobs_svc
from custodes.services import sso as sso_svc
from custodes.services import uploads as uploads_svc
from custodes.services import viewings as viewing_svc
from custodes.web import errors, pages, security
from custodes.web.routes import (
    api,
    audit,
    auth,
    cases,
    disclosure,
    export_pages,
    jobs,
    ops,
    passkeys,
    request_pages,
    sso,
    upload_pages,
    uploads,
    users,
    viewings,
    wellknown,
)
from custodes.web.routes import pages as page_routes

API = "/api/v1"


def _lifespan(vault: Vault, run_jobs: bool) -> Callable[[FastAPI], Any]:
    """Embedded: run queued jobs on a background thread while the app serves."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        runner = None
        if run_jobs and vault.jobs.engine == "in-process":
            runner = jobs_svc.JobRunner(vault.acting_for(f"{vault.client} job-runner"))
            runner.start()
        if run_jobs:  # served: uploads left to expire while the server was down go now
            uploads_svc.sweep(vault)
        try:
            yield
        finally:
            if runner is not None:
                runner.stop(timeout=5)

    return lifespan


def create_app(vault: Vault, *, run_jobs: bool = False) -> FastAPI:
    """The app on ``vault``; ``run_jobs``: also run queued jobs in this process, on a
    background thread, when the vault's engine is in-process (``custodes serve``)."""
    app = FastAPI(
        lifespan=_lifespan(vault, run_jobs),
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
    # Single sign-on (CUSTODES_OIDC_*): the provider, or None and no button.
    sso_settings = bootstrap.sso_settings(vault.settings)
    app.state.sso = None if sso_settings is None else sso_svc.Provider(sso_settings)
    app.state.sso_name = None if sso_settings is None else sso_settings.display_name
    # A tus PATCH carries up to the whole upload, streamed to disk (routes/uploads.py).
    app.state.large_body_prefixes = (f"{API}/uploads",)
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
    app.include_router(passkeys.router, prefix=API)
    app.include_router(api.router, prefix=API)
    app.include_router(audit.router, prefix=API)
    pages.install(app)
    app.include_router(jobs.router, prefix=API)
    app.include_router(page_routes.router)
    app.include_router(sso.router)
    app.include_router(request_pages.router)
    app.include_router(export_pages.router)
    app.include_router(upload_pages.router)
    app.include_router(viewings.router, prefix=API)
    app.include_router(users.router, prefix=API)
    app.include_router(cases.router, prefix=API)
    app.include_router(disclosure.router, prefix=API)
    app.include_router(wellknown.router)
    app.include_router(uploads.router, prefix=API)
    ops.install(app, vault)  # /healthz, /readyz, /metrics; request ids and logs (outermost)
    return app


def app_from_environment() -> FastAPI:
    """The app on the vault the environment names (``CUSTODES_HOME``, ...), for uvicorn."""
    vault = bootstrap.open_vault(Settings(), client=f"web server pid={os.getpid()}")
    # The first viewing's first segment need not wait for the compiled mark to load.
    threading.Thread(target=viewing_svc.warm_up, name="custodes-warm-up", daemon=True).start()
    return create_app(vault, run_jobs=True)
