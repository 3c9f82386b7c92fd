"""Inclusion and consistency proofs anyone can check with the vault's public key alone.

A proof bundle is a JSON document (its format is in :mod:`custodes.core.proofs`), kept
as a :data:`~custodes.core.jsontext.JSONObject`; checking one gives a typed result.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass

from custodes.core import merkle, proofs
from custodes.core.authz import Permission
from custodes.core.checkpoint import note_text, parse_checkpoint
from custodes.core.custody import Action, decode_entry
from custodes.core.errors import InvalidInput, NotFound
from custodes.core.jsontext import JSONObject, JSONValue
from custodes.core.ports import Ed25519Verify
from custodes.services import audit
from custodes.services.audit import EventView
from custodes.services.context import Context
from custodes.services.events import case_of_event
from custodes.services.usecase import UseCase, acting


@dataclass(frozen=True)
class InclusionChecked:
    """A checked inclusion proof: the event is in the signed checkpoint of ``origin``."""

    ok: bool
    kind: str
    origin: str
    tree_size: int
    root: str
    event: JSONObject
    """The event as its entry holds it (without the chain's ``prev``)."""


@dataclass(frozen=True)
class ConsistencyChecked:
    """A checked consistency proof: the old checkpoint is a prefix of the new one."""

    ok: bool
    kind: str
    origin: str
    old_size: int
    new_size: int
    old_root: str
    new_root: str


def _latest_signed(uc: UseCase) -> tuple[int, bytes]:
    """The newest checkpoint, signing one first if the log has grown past it."""
    note = audit.sign_checkpoint(uc.uow, uc.ctx)
    if note is not None:
        return parse_checkpoint(note_text(note)).size, note
    latest = uc.uow.audit.latest_checkpoint()
    if latest is None:
        raise NotFound("the audit log has no checkpoint yet")
    return latest.size, latest.note


def _check_size(size: int | None, field: str) -> None:
    if size is not None and size < 1:
        raise InvalidInput(
            f"{{{field}}} must be a checkpoint size of 1 or more, not {size}", field=field
        )


def prove_inclusion(
    vault: Context, actor_name: str | None, seq: int, tree_size: int | None = None
) -> JSONObject:
    """An inclusion proof of event ``seq`` in a signed checkpoint (the newest by default)."""
    if seq < 0:
        raise InvalidInput(f"an event number is 0 or more, not {seq}")
    _check_size(tree_size, "tree_size")
    with acting(vault, actor_name) as uc:
        uc.allow(Permission.AUDIT_PROVE)
        if tree_size is None:
            size, note = _latest_signed(uc)
        else:
            size, note = tree_size, audit.checkpoint_at(uc.uow, tree_size)
        if not 0 <= seq < size:
            raise NotFound(f"event {seq} is not in the checkpoint of size {size}")
        entry = audit.entry_at(uc.uow, seq)
        event = EventView.of_entry(entry)
        # The proof carries the event itself: one of a case under internal-affairs
        # investigation is proven only to those who may read it.
        case = case_of_event(uc.uow, event)
        if case is not None:
            uc.allow(Permission.CASE_AUDIT_READ, case=case)
        path = merkle.inclusion_proof(seq, audit.leaf_hashes(uc.uow, size))
        bundle: JSONObject = proofs.inclusion_bundle(seq, entry, path, note)
        uc.record_naming(
            Action.PROOF_ISSUED,
            case=event.case,
            evidence=event.evidence,
            details={"kind": "inclusion", "seq": seq, "tree_size": size},
        )
        uc.commit()
    return bundle


def prove_consistency(
    vault: Context, actor_name: str | None, old_size: int, new_size: int | None = None
) -> JSONObject:
    """A consistency proof that the checkpoint of ``old_size`` is a prefix of that of
    ``new_size`` (the newest by default)."""
    _check_size(new_size, "new_size")
    with acting(vault, actor_name) as uc:
        uc.allow(Permission.AUDIT_PROVE)
        if new_size is None:
            new_size, new_note = _latest_signed(uc)
        else:
            new_note = audit.checkpoint_at(uc.uow, new_size)
        if not 0 < old_size <= new_size:
            raise InvalidInput(f"old size must be between 1 and {new_size}")
        old_note = audit.checkpoint_at(uc.uow, old_size)
        path = merkle.consistency_proof(old_size, audit.leaf_hashes(uc.uow, new_size))
        bundle: JSONObject = proofs.consistency_bundle(old_note, new_note, path)
        uc.record(
            Action.PROOF_ISSUED,
            details={"kind": "consistency", "old_size": old_size, "new_size": new_size},
        )
        uc.commit()
    return bundle


def verify_bundle(
    bundle: JSONValue | Mapping[str, JSONValue], vkey_str: str, verify: Ed25519Verify
) -> InclusionChecked | ConsistencyChecked:
    """Check a proof bundle with only a public key. Raises on any failure."""
    if not isinstance(bundle, Mapping):
        raise InvalidInput("a proof file holds one JSON object")
    kind = bundle.get("format")
    if kind == proofs.INCLUSION_FORMAT:
        cp = proofs.verify_inclusion_bundle(bundle, vkey_str, verify)
        entry = base64.b64decode(str(bundle["entry"]))
        return InclusionChecked(
            ok=True,
            kind="inclusion",
            origin=cp.origin,
            tree_size=cp.size,
            root=cp.root_hash.hex(),
            event={k: v for k, v in decode_entry(entry).items() if k != "prev"},
        )
    if kind == proofs.CONSISTENCY_FORMAT:
        old, new = proofs.verify_consistency_bundle(bundle, vkey_str, verify)
        return ConsistencyChecked(
            ok=True,
            kind="consistency",
            origin=new.origin,
            old_size=old.size,
            new_size=new.size,
            old_root=old.root_hash.hex(),
            new_root=new.root_hash.hex(),
        )
    raise InvalidInput(f"unknown proof format {kind!r}")
