"""Content Credentials (C2PA) of released copies: check a copy, publish the vault's root.

Checking a copy needs no opened vault and no user: a newsroom checks what it was given
against the department's published root, obtained out of band (a release package does
not carry it: a root shipped with the copies would vouch for whoever made the package).
Only the vault's trust anchors come from the :class:`~custodes.core.ports.KeyStore` when
the caller names none; with neither, a copy is reported as signed by a signer that was
not checked against any trust anchor.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from custodes.core.jsontext import JSONObject, JSONValue
from custodes.core.ports import KeyStore
from custodes.media.provenance import read_credentials
from custodes.services.context import Context


@dataclass(frozen=True)
class ValidationFailure:
    code: str | None
    explanation: str | None


@dataclass(frozen=True)
class SignerInfo:
    issuer: str | None
    common_name: str | None
    alg: str | None
    time: str | None


@dataclass(frozen=True)
class Ingredient:
    title: str | None
    instance_id: str | None


@dataclass(frozen=True)
class ActionInfo:
    """A C2PA action asserted by the manifest (``c2pa.filtered``, ``c2pa.resized``, ...)."""

    action: str | None
    description: str | None


@dataclass(frozen=True)
class CopyCheck:
    """What a copy's Content Credentials say, and whether they hold: ``state`` is C2PA's
    validation state (``Trusted``, ``Valid`` or ``Invalid``)."""

    file: str
    state: str
    trusted: bool
    failures: list[ValidationFailure]
    signer: SignerInfo
    title: str | None
    claim_generator: list[str | None]
    ingredients: list[Ingredient]
    actions: list[ActionInfo]
    lineage: JSONObject | None
    """The vault's own lineage assertion (source evidence, operations), where present."""
    checked_against: str | None = None
    """What the signer was checked against: ``given`` (root certificates the reader
    named, e.g. the department's published root), ``vault`` (this vault's own root, read
    from its keys, never from a package) or None (no trust anchor at all: a ``Valid``
    copy is signed, but by whom is not established)."""


def check_copy(keys: KeyStore, file: Path, anchors: bytes | None = None) -> CopyCheck:
    """Read and check the Content Credentials of ``file``: its validation state in C2PA's
    terms (``Trusted``, ``Valid`` or ``Invalid``), signer, lineage and actions.

    ``anchors`` are the PEM root certificates to trust; without them, the vault's own
    (:meth:`KeyStore.trust_anchors`), where it has any.
    """
    used: bytes | None
    checked_against: str | None
    if anchors is not None:
        used, checked_against = anchors, "given"
    else:
        used = keys.trust_anchors()
        checked_against = "vault" if used else None
    found = read_credentials(file, used)
    sig = found["signer"]
    lineage = found["lineage"]
    return CopyCheck(
        file=str(found["file"]),
        state=str(found["state"]),
        trusted=bool(found["trusted"]),
        failures=[
            ValidationFailure(_text(f["code"]), _text(f["explanation"])) for f in found["failures"]
        ],
        signer=SignerInfo(
            _text(sig["issuer"]), _text(sig["common_name"]), _text(sig["alg"]), _text(sig["time"])
        ),
        title=_text(found["title"]),
        claim_generator=[_text(g) for g in found["claim_generator"]],
        ingredients=[
            Ingredient(_text(i["title"]), _text(i["instance_id"])) for i in found["ingredients"]
        ],
        actions=[ActionInfo(_text(a["action"]), _text(a["description"])) for a in found["actions"]],
        lineage=dict(lineage) if isinstance(lineage, dict) else None,
        checked_against=checked_against if used else None,
    )


def _text(value: JSONValue) -> str | None:
    return None if value is None else str(value)


def vault_root(vault: Context) -> bytes:
    """The PEM root certificate(s) readers should trust for this vault's copies (for the
    department to publish); the self-made credential is made on first use."""
    return vault.content_credential().anchors_pem
