"""Proofs of the audit log over HTTP (``/api/v1/audit/proofs/...``): what an outsider needs
to check, with the vault's public key alone, that an event is in the signed log and that
the log only grew.

The bundles are those of ``custodes audit prove`` (``services.proofs``, format in
``core.proofs``), issued with the same authorization and on record (``proof-issued``).
The audit page checks them in the browser (``static/audit.js``); the published checkpoint
and public key stay at ``/api/v1/audit/checkpoint`` and ``/audit/pubkey`` (routes/api.py).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse

from custodes.services import proofs as proof_svc
from custodes.web.deps import Caller

router = APIRouter()

Size = Annotated[int | None, Query(ge=1, description="A signed checkpoint's tree size.")]


@router.get("/audit/proofs/inclusion", tags=["audit"])
def inclusion_proof(
    caller: Caller,
    seq: Annotated[int, Query(ge=0, description="The event's number.")],
    tree_size: Size = None,
) -> JSONResponse:
    """An inclusion proof of event ``seq`` in a signed checkpoint (the newest by default),
    as ``custodes audit prove SEQ``: ``custodes-inclusion-proof/v1``."""
    return JSONResponse(proof_svc.prove_inclusion(caller.ctx, caller.username, seq, tree_size))


@router.get("/audit/proofs/consistency", tags=["audit"])
def consistency_proof(
    caller: Caller,
    old_size: Annotated[int, Query(ge=1, description="The older checkpoint's tree size.")],
    new_size: Size = None,
) -> JSONResponse:
    """A consistency proof that the checkpoint of ``old_size`` is a prefix of the one of
    ``new_size`` (the newest by default): ``custodes-consistency-proof/v1``."""
    return JSONResponse(
        proof_svc.prove_consistency(caller.ctx, caller.username, old_size, new_size)
    )
