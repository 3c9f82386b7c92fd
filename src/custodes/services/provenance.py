"""Content Credentials (C2PA) of released copies: check a copy, publish the vault's root.

Checking a copy needs no opened vault and no user: a newsroom checks what it was given
against the department's published root. Only the vault's trust anchors come from the
:class:`~custodes.core.ports.KeyStore` when the caller names none.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from custodes.core.ports import KeyStore
from custodes.media.provenance import read_credentials
from custodes.services.context import Context


def check_copy(keys: KeyStore, file: Path, anchors: bytes | None = None) -> dict[str, Any]:
    """Read and check the Content Credentials of ``file``: its validation state in C2PA's
    terms (``Trusted``, ``Valid`` or ``Invalid``), signer, lineage and actions.

    ``anchors`` are the PEM root certificates to trust; without them, the vault's own
    (:meth:`KeyStore.trust_anchors`), where it has any.
    """
    return read_credentials(file, anchors if anchors is not None else keys.trust_anchors())


def vault_root(vault: Context) -> bytes:
    """The PEM root certificate(s) readers should trust for this vault's copies (for the
    department to publish); the self-made credential is made on first use."""
    return vault.content_credential().anchors_pem
