"""The vault's use cases over HTTP: the same functions the CLI calls, with the same
authorization (``core.authz``, asked inside each use case) and the same audit events. A
refusal here is the use case's refusal, on record as on the command line."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse

from custodes import bootstrap
from custodes.core.errors import InvalidInput
from custodes.core.jsontext import jsonable
from custodes.services import audit as audit_svc
from custodes.services import cases as case_svc
from custodes.services import events as event_svc
from custodes.services import evidence as evidence_svc
from custodes.services import exports as export_svc
from custodes.web.deps import Caller

router = APIRouter()

MAX_PAGE = 1000
Limit = Annotated[int, Query(ge=1, le=MAX_PAGE, description="At most this many items.")]
Offset = Annotated[int, Query(ge=0, description="Skip this many items first.")]
Id = Annotated[str, Query(max_length=64)]


def _json(value: Any) -> JSONResponse:
    return JSONResponse(jsonable(value))


def _page(items: list[Any], offset: int, limit: int) -> JSONResponse:
    """One page of a listing, with the whole count in ``X-Total-Count``."""
    response = _json(items[offset : offset + limit])
    response.headers["X-Total-Count"] = str(len(items))
    return response


@router.get("/cases", tags=["cases"], response_model=list[case_svc.CaseView])
def cases(caller: Caller, offset: Offset = 0, limit: Limit = 100) -> JSONResponse:
    """The cases you may see (others are left out, as in ``custodes case list``)."""
    return _page(case_svc.list_cases(caller.ctx, caller.username), offset, limit)


@router.get("/cases/{number:path}", tags=["cases"], response_model=case_svc.CaseView)
def case(number: str, caller: Caller) -> JSONResponse:
    return _json(case_svc.show_case(caller.ctx, caller.username, number))


@router.get("/evidence", tags=["evidence"], response_model=list[evidence_svc.EvidenceItem])
def evidence(
    caller: Caller,
    case: Annotated[str | None, Query(max_length=64, description="Only this case.")] = None,
    offset: Offset = 0,
    limit: Limit = 100,
) -> JSONResponse:
    """Evidence you may see, as ``custodes evidence list [--case]``."""
    return _page(evidence_svc.list_evidence(caller.ctx, caller.username, case), offset, limit)


@router.get(
    "/evidence/{evidence_id}", tags=["evidence"], response_model=evidence_svc.OpenedEvidence
)
def evidence_item(
    evidence_id: str,
    caller: Caller,
    reason: Annotated[
        str | None, Query(max_length=2000, description="Needed for a flagged case.")
    ] = None,
) -> JSONResponse:
    """Open evidence (metadata and hashes), on record; a case flagged sensitive, juvenile
    or victim-privacy needs ``reason`` and alerts internal affairs, as ``evidence show``.
    Where the original is stored is the server's business and is left out."""
    opened = jsonable(
        evidence_svc.open_evidence(caller.ctx, caller.username, evidence_id, reason=reason)
    )
    opened.pop("path", None)
    return JSONResponse(opened)


@router.get("/exports", tags=["exports"], response_model=list[export_svc.ExportItem])
def exports(
    caller: Caller,
    evidence: Annotated[str | None, Query(max_length=64)] = None,
    offset: Offset = 0,
    limit: Limit = 100,
) -> JSONResponse:
    """Exports on record, as ``custodes exports``."""
    return _page(export_svc.list_exports(caller.ctx, caller.username, evidence), offset, limit)


@router.get("/audit/events", tags=["audit"], response_model=list[audit_svc.EventView])
def audit_events(
    caller: Caller,
    evidence: Annotated[str | None, Query(max_length=64)] = None,
    case: Annotated[str | None, Query(max_length=64)] = None,
    last: Annotated[int | None, Query(ge=1, description="Only the last N events.")] = None,
    offset: Offset = 0,
    limit: Limit = 100,
) -> JSONResponse:
    """Audit events you may read, in order, as ``custodes audit``."""
    rows = event_svc.list_audit(
        caller.ctx, caller.username, evidence_id=evidence, case_number=case, limit=last
    )
    return _page(rows, offset, limit)


@router.get("/audit/checkpoint", tags=["audit"])
def checkpoint(caller: Caller) -> JSONResponse:
    """The newest signed checkpoint (C2SP tlog-checkpoint, a signed note)."""
    note = audit_svc.published_checkpoint(caller.ctx.checkpoints).decode()
    return JSONResponse({"checkpoint": note})


@router.get("/audit/pubkey", tags=["audit"])
def pubkey(caller: Caller) -> JSONResponse:
    """The vault's public key (a signed-note verifier key), to check checkpoints."""
    vkey = bootstrap.published_vkey(caller.ctx.settings)
    if vkey is None:
        raise InvalidInput("the vault publishes no public key")
    return JSONResponse({"vkey": vkey})


@router.get("/alerts", tags=["alerts"], response_model=list[evidence_svc.AlertItem])
def alerts(caller: Caller, offset: Offset = 0, limit: Limit = 100) -> JSONResponse:
    """Alerts addressed to you, as ``custodes alerts``."""
    return _page(evidence_svc.list_alerts(caller.ctx, caller.username), offset, limit)
