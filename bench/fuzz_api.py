"""API fuzz run: schemathesis against the OpenAPI document, as every role.

    PYTHONPATH=src python bench/fuzz_api.py [--budget 180] [--examples 12]

On a fresh embedded vault in a temporary folder (a case, a recording, a release request,
one user and one API token per role) the app is driven in process (ASGI). For each
role, and for a caller with no credential, every operation of ``/api/v1/openapi.json``
gets generated requests, valid ones and deliberately invalid ones (schemathesis's
positive and negative modes). Two properties are checked on every answer:

- no 5xx (a crash, an unhandled error);
- no authorization bypass: a 2xx on an operation whose permission the role lacks
  altogether (``core.authz.ROLE_PERMISSIONS``; written out below per operation, as an
  oracle independent of the routes), or on anything but the sign-in steps and the
  published trust root without a credential.

The budget (seconds, all roles together) bounds the run; the summary, with the number
of requests per role, is printed and written to bench/results/fuzz_api.json.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta
from importlib.metadata import version
from pathlib import Path
from typing import Any

import hypothesis
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable

from custodes import bootstrap
from custodes.config import Settings
from custodes.core.authz import ROLE_PERMISSIONS, Permission, Role
from custodes.media.synth import write_bodycam_clip
from custodes.services import auth, cases, evidence, users
from custodes.services import requests as req_svc
from custodes.web.app import create_app

P = Permission
PASSWORD = "fuzzing password 123"
#: Operations open without a credential.
PUBLIC = {
    "POST /api/v1/auth/sign-in",
    "POST /api/v1/auth/enrol",
    "POST /api/v1/auth/second-factor",
    "POST /api/v1/auth/sign-out",
    "GET /.well-known/custodes/trust-root.pem",
}


def needed(label: str, body: Any, path: dict[str, Any], me: str) -> set[Permission]:
    """The permissions a 2xx on this operation proves the caller holds (any one of
    them, for an operation with several ways to succeed); empty: none is needed."""
    body = body if isinstance(body, dict) else {}
    match label:
        case "GET /api/v1/users":
            return {P.USER_LIST}
        case "POST /api/v1/users":
            return {P.USER_ADD}
        case "PUT /api/v1/users/{username}/password":
            return set() if path.get("username") == me else {P.ACCESS_MANAGE}
        case "POST /api/v1/tokens":
            return set() if body.get("username") == me else {P.ACCESS_MANAGE}
        case "POST /api/v1/cases":
            return {P.CASE_ADD}
        case "PATCH /api/v1/cases/{number}":
            out = set()
            if body.get("status") is not None:
                out.add(P.CASE_SET_STATUS)
            if body.get("flags") or body.get("unflag"):
                out.add(P.CASE_SET_FLAGS)
            return out
        case "POST /api/v1/cases/{number}/members":
            return {P.CASE_RESTORE_REACH} if body.get("restore_reach") else {P.CASE_ASSIGN}
        case "GET /api/v1/evidence/{evidence_id}":
            return {P.EVIDENCE_VIEW}
        case (
            "GET /api/v1/evidence/{evidence_id}/flags"
            | "PATCH /api/v1/evidence/{evidence_id}/flags"
        ):
            return {P.EVIDENCE_FLAG}
        case "POST /api/v1/requests":
            return {P.REQUEST_ADD}
        case "GET /api/v1/requests/{request_id}" | "GET /api/v1/requests/{request_id}/proposal":
            return {P.REQUEST_VIEW}
        case "POST /api/v1/requests/{request_id}/decisions":
            decides = body.get("accept") or body.get("override") is not None
            return {P.REQUEST_DECIDE} if decides else {P.REQUEST_VIEW}
        case "POST /api/v1/redactions/{derivative_id}/acceptances":
            return {P.REDACTION_ACCEPT}
        case "PUT /api/v1/policy":
            return {P.POLICY_SET}
        case "GET /api/v1/alerts":
            return {P.ALERTS_READ}
        case "GET /api/v1/audit/events" | "GET /api/v1/exports" | "GET /api/v1/viewings":
            return {P.AUDIT_READ, P.CASE_AUDIT_READ}
        case "POST /api/v1/exports":
            return {P.EVIDENCE_EXPORT}
        case "POST /api/v1/redactions":
            return {P.EVIDENCE_REDACT}
        case "POST /api/v1/evidence/{evidence_id}/viewings":
            return {P.EVIDENCE_VIEW}
        case (
            "POST /api/v1/traces"
            | "GET /api/v1/traces/{trace_id}"
            | "GET /api/v1/traces/{trace_id}/files/{name}"
        ):
            return {P.LEAK_TRACE}
        case "POST /api/v1/uploads" | "PATCH /api/v1/uploads/{upload_id}":
            return {P.EVIDENCE_INGEST}
    return set()


def build_world(root: Path) -> tuple[Any, dict[str, str], dict[str, str]]:
    vault = bootstrap.init_vault(Settings(home=root / "vault"))
    names: dict[str, str] = {}
    tokens: dict[str, str] = {}
    for role in Role:
        name = role.value.replace("-", "")[:8] + "1"
        if role is not Role.ADMIN:
            users.add_user(vault, "admin", name, role.value, PASSWORD)
        else:
            name = "admin"
        names[role.value] = name
        tokens[role.value] = auth.create_token(vault, "admin", name, timedelta(days=1)).token
    rec = names["records"]
    cases.add_case(vault, rec, "C-FUZZ", "fuzz")
    clip = write_bodycam_clip(root / "clip.mp4", seconds=1.0, width=160, height=96, fps=10, seed=1)
    evidence.ingest(vault, rec, clip, "C-FUZZ")
    req_svc.add_request(
        vault, rec, req_svc.AddRequest(case_number="C-FUZZ", requester="Courier", kind="press")
    )
    return vault, names, tokens


class OutOfTime(Exception):
    """The budget is spent: stop generating (hypothesis would go on to the end)."""


@dataclass
class Caller:
    """One caller of a run: a role's token (or none), and what it has met."""

    key: str
    headers: dict[str, str]
    permissions: frozenset[Permission]
    me: str
    until: float
    seen: Counter[int] = field(default_factory=Counter)
    reached: set[str] = field(default_factory=set)
    pending: list[tuple[Any, Any]] = field(default_factory=list)


def probe(
    op: Any, mode: Any, caller: Caller, examples: int, failures: list[Any], until: float
) -> None:
    """Generated requests for one operation in one mode, checked as they come back."""
    label = f"{op.method.upper()} {op.path}"

    @given(case=op.as_strategy(generation_mode=mode))
    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
        phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
    )
    def run(case: Any) -> None:
        if time.monotonic() > until:
            raise OutOfTime
        response = case.call(headers=caller.headers)
        caller.seen[response.status_code] += 1
        problem = None
        if response.status_code >= 500:
            problem = "server error"
        elif 200 <= response.status_code < 300:
            if not caller.headers and label not in PUBLIC:
                problem = "answered without a credential"
            else:
                need = needed(label, case.body, case.path_parameters or {}, caller.me)
                if need and not (need & caller.permissions):
                    problem = "authorization bypass"
        if problem:
            failures.append(
                {
                    "caller": caller.key,
                    "operation": label,
                    "problem": problem,
                    "status": response.status_code,
                    "body": response.text[:300],
                    "request": case.as_curl_command(headers=caller.headers)[:600],
                }
            )

    with contextlib.suppress(Unsatisfiable, OutOfTime):
        run()


def fuzz(budget: float, examples: int) -> dict[str, Any]:
    root = Path(tempfile.mkdtemp(prefix="custodes-fuzz-"))
    vault, names, tokens = build_world(root)
    app = create_app(vault)
    schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]  # type: ignore[union-attr]
    who_all: list[str | None] = [*tokens, None]
    failures: list[dict[str, Any]] = []
    started = time.monotonic()
    deadline = started + budget
    modes = (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE)
    callers = [
        Caller(
            key=who or "anonymous",
            headers={"Authorization": f"Bearer {tokens[who]}"} if who else {},
            permissions=ROLE_PERMISSIONS[Role(who)] if who else frozenset(),
            me=names.get(who or "", ""),
            until=0.0,
            pending=[(op, mode) for op in operations for mode in modes],
        )
        for who in who_all
    ]
    # Rounds: each caller with work left gets an equal share of the time left, and goes
    # on from where it stopped; time a caller leaves unused goes to the others.
    while time.monotonic() < deadline and any(c.pending for c in callers):
        for caller in callers:
            left = [c for c in callers if c.pending]
            if not caller.pending:
                continue
            caller.until = time.monotonic() + (deadline - time.monotonic()) / len(left)
            while caller.pending and time.monotonic() < caller.until:
                op, mode = caller.pending.pop(0)
                probe(op, mode, caller, examples, failures, caller.until)
                caller.reached.add(f"{op.method.upper()} {op.path}")
    elapsed = time.monotonic() - started
    return {
        "schemathesis": version("schemathesis"),
        "operations": len(operations),
        "budget_s": budget,
        "elapsed_s": round(elapsed, 1),
        "requests": {c.key: sum(c.seen.values()) for c in callers},
        "operations_reached": {c.key: len(c.reached) for c in callers},
        "statuses": {c.key: dict(sorted(c.seen.items())) for c in callers},
        "failures": failures[:50],
        "failure_count": len(failures),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--budget", type=float, default=180.0, help="Seconds, all roles.")
    parser.add_argument("--examples", type=int, default=12, help="Per operation and mode.")
    parser.add_argument("--out", type=Path, default=Path("bench/results/fuzz_api.json"))
    args = parser.parse_args()
    summary = fuzz(args.budget, args.examples)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(summary, indent=1) + "\n")
    print(json.dumps({k: v for k, v in summary.items() if k != "failures"}, indent=1))
    for f in summary["failures"][:20]:
        print(f"FAIL {f['caller']} {f['operation']}: {f['problem']} ({f['status']}) {f['body']}")
        print(f"     {f['request']}")
    return 1 if summary["failure_count"] else 0


if __name__ == "__main__":
    sys.exit(main())
