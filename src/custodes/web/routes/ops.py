"""Operations endpoints: ``/healthz``, ``/readyz`` and ``/metrics``; request ids and
structured (JSON) request logs.

- ``/healthz``: the process answers (no dependency is touched).
- ``/readyz``: the database and the blob store answer and the keys load (503 otherwise,
  naming each failed check); a load balancer sends people only to a ready server.
- ``/metrics``: Prometheus text. Off unless ``CUSTODES_METRICS_TOKEN`` is set; then a
  scrape must send ``Authorization: Bearer TOKEN`` (404 without the setting, 401 with a
  wrong token). Figures: requests by route, method and status, and their durations (this
  process); sign-in failures, ingests and their bytes, exports, verify results and every
  audit action, counted from the signed log (every process's work, since this one began
  counting; ``services.metrics``). The jobs helper adds its queue and job figures through
  :func:`register_collector`.
- Every response carries ``X-Request-ID`` (a sane one sent by a proxy is kept), and each
  request is logged once on the ``custodes.web`` logger with that id, its route, status
  and duration; ``CUSTODES_LOG_FORMAT=json`` writes every log record as one JSON object.
"""

from __future__ import annotations

import contextvars
import hmac
import json
import logging
import re
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, ClassVar

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.responses import Response

from custodes import bootstrap
from custodes.bootstrap import Vault
from custodes.core.custody import Action
from custodes.services.metrics import LogTally

router = APIRouter(include_in_schema=False)
log = logging.getLogger("custodes.web")
request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")
REQUEST_ID_HEADER = "X-Request-ID"
_SANE_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class Metrics:
    """One app's Prometheus registry (apps in one process, as in tests, stay apart)."""

    def __init__(self, vault: Vault) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "custodes_http_requests",
            "HTTP requests answered, by route template, method and status.",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.duration = Histogram(
            "custodes_http_request_duration_seconds",
            "Time to answer an HTTP request, by route template.",
            ["route"],
            registry=self.registry,
        )
        self.log = _LogCollector(vault)
        self.registry.register(self.log)


class _LogCollector(Collector):
    """Figures counted from the signed log at each scrape (services.metrics)."""

    def __init__(self, vault: Vault) -> None:
        self._vault = vault
        self._tally = LogTally()

    def collect(self) -> Iterable[Metric]:
        t = self._tally.update(self._vault)
        yield GaugeMetricFamily(
            "custodes_audit_log_size", "Events in the signed audit log.", value=t.log_size
        )
        actions = CounterMetricFamily(
            "custodes_audit_events", "Audit events appended, by action.", labels=["action"]
        )
        for action, n in sorted(t.actions.items()):
            actions.add_metric([action], n)
        yield actions
        failed = t.actions[Action.SIGN_IN_FAILED] + t.actions[Action.SSO_SIGN_IN_FAILED]
        yield CounterMetricFamily(
            "custodes_sign_in_failures",
            "Failed web sign-ins (any process), refused single sign-ons included.",
            value=failed,
        )
        yield CounterMetricFamily(
            "custodes_account_locks",
            "Accounts locked after failed sign-ins.",
            value=t.actions[Action.ACCOUNT_LOCKED],
        )
        yield CounterMetricFamily(
            "custodes_ingests", "Recordings taken into custody.", value=t.actions[Action.INGEST]
        )
        yield CounterMetricFamily(
            "custodes_ingest_bytes",
            "Bytes of recordings taken into custody.",
            value=t.ingest_bytes,
        )
        yield CounterMetricFamily(
            "custodes_exports", "Marked copies exported.", value=t.actions[Action.EXPORT]
        )
        verify = CounterMetricFamily(
            "custodes_verify_runs", "Runs of verify, by result.", labels=["result"]
        )
        verify.add_metric(["ok"], t.verify_ok)
        verify.add_metric(["failed"], t.verify_failed)
        yield verify
        yield GaugeMetricFamily(
            "custodes_verify_last_problems",
            "Problems the last verify found.",
            value=t.verify_problems_last,
        )


_collectors: list[Callable[[Vault], Collector]] = []


def register_collector(make: Callable[[Vault], Collector]) -> None:
    """Add figures of another part (the jobs: queued, running, durations) to every app's
    ``/metrics`` made after this call: ``make(vault)`` is the collector of one app."""
    _collectors.append(make)


@router.get("/healthz")
def healthz() -> JSONResponse:
    """The process answers."""
    return JSONResponse({"status": "ok"})


@router.get("/readyz")
def readyz(request: Request) -> JSONResponse:
    """The database and blob store answer and the keys load; 503 naming what failed."""
    checks = bootstrap.readiness(request.app.state.vault)
    ready = all(v is None for v in checks.values())
    body = {
        "status": "ready" if ready else "not-ready",
        "checks": {k: "ok" if v is None else v for k, v in checks.items()},
    }
    return JSONResponse(body, status_code=200 if ready else 503)


@router.get("/metrics")
def metrics(request: Request) -> Response:
    token: str | None = request.app.state.metrics_token
    if not token:
        return JSONResponse({"error": {"code": "not-found", "message": "Not Found"}}, 404)
    sent = request.headers.get("authorization", "")
    if not hmac.compare_digest(sent.encode(), f"Bearer {token}".encode()):
        return JSONResponse(
            {"error": {"code": "unauthenticated", "message": "a metrics token is needed"}},
            401,
            headers={"WWW-Authenticate": "Bearer"},
        )
    registry: CollectorRegistry = request.app.state.metrics.registry
    return PlainTextResponse(generate_latest(registry), media_type=_CONTENT_TYPE)


def _route_of(request: Request) -> str:
    """The route template a request matched (``/api/v1/cases/{number}``), so that the
    metrics' labels stay few; "unmatched" where none did."""
    if request.scope.get("route") is None:
        return "unmatched"
    params = {str(v): k for k, v in (request.scope.get("path_params") or {}).items()}
    segments = request.url.path.split("/")
    return "/".join("{" + params[seg] + "}" if seg in params else seg for seg in segments)


async def middleware(
    request: Request, call_next: Callable[[Request], Awaitable[Response]]
) -> Response:
    """Give the request an id, time it, count it, and log it once."""
    sent = request.headers.get(REQUEST_ID_HEADER, "")
    rid = sent if _SANE_ID.fullmatch(sent) else uuid.uuid4().hex
    token = request_id.set(rid)
    started = time.perf_counter()
    status = 500
    try:
        response = await call_next(request)
        status = response.status_code
        response.headers[REQUEST_ID_HEADER] = rid
        return response
    finally:
        elapsed = time.perf_counter() - started
        route = _route_of(request)
        m: Metrics = request.app.state.metrics
        m.requests.labels(route, request.method, str(status)).inc()
        m.duration.labels(route).observe(elapsed)
        log.info(
            "%s %s %s",
            request.method,
            route,
            status,
            extra={
                "method": request.method,
                "route": route,
                "status": status,
                "duration_ms": round(elapsed * 1000, 1),
            },
        )
        request_id.reset(token)


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time, level, logger, message, the request id, and the
    fields a record was given (``extra``)."""

    _PLAIN: ClassVar[frozenset[str]] = frozenset(vars(logging.makeLogRecord({})))

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None) or request_id.get(),
        }
        for key, value in vars(record).items():
            if key not in self._PLAIN and key not in out and not key.startswith("_"):
                out[key] = value
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str)


def _with_request_id(record: logging.LogRecord) -> bool:
    """Give every record the id of the request it was logged in ("-" outside one)."""
    if not hasattr(record, "request_id"):
        record.request_id = request_id.get()
    return True


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is at the time (it may be replaced)."""

    _custodes = True

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stderr
        super().emit(record)


def configure_logging(log_format: str) -> None:
    """Log records of ``custodes.*`` to stderr, as JSON lines or as text."""
    logger = logging.getLogger("custodes")
    for handler in list(logger.handlers):
        if getattr(handler, "_custodes", False):
            logger.removeHandler(handler)
    handler = _StderrHandler()
    handler.addFilter(_with_request_id)
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s")
        )
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False


def install(app: FastAPI, vault: Vault) -> None:
    """Put the operations endpoints, metrics and request logging on ``app``."""
    app.state.metrics = Metrics(vault)
    for make in _collectors:
        app.state.metrics.registry.register(make(vault))
    app.state.metrics_token = vault.settings.metrics_token
    configure_logging(vault.settings.log_format)
    app.middleware("http")(middleware)
    app.include_router(router)
