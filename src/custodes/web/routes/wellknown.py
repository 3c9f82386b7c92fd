"""Published files an outsider fetches without signing in.

``/.well-known/custodes/trust-root.pem``: the root certificate(s) a reader of a released
copy trusts to check its Content Credentials (C2PA), as ``custodes provenance --root``
prints it (docs/security.md). It is public by nature, like a department's website: a
reader checks a copy with ``custodes provenance FILE --anchors trust-root.pem``.
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from custodes.services import provenance as provenance_svc
from custodes.web.deps import VaultDep

router = APIRouter(tags=["published"])

PEM = "application/x-pem-file"


@router.get(
    "/.well-known/custodes/trust-root.pem",
    response_class=Response,
    responses={200: {"content": {PEM: {}}, "description": "PEM certificates."}},
)
def trust_root(vault: VaultDep) -> Response:
    """The vault's C2PA trust root (PEM), to check released copies against."""
    return Response(provenance_svc.vault_root(vault), media_type=PEM)
