"""Inclusion and consistency proofs anyone can check with the vault's public key alone."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from custodes.core import merkle, proofs
from custodes.core.authz import Permission
from custodes.core.checkpoint import note_text, parse_checkpoint
from custodes.core.custody import Action, decode_entry
from custodes.core.errors import InvalidInput, NotFound
from custodes.core.ports import Ed25519Verify
from custodes.services import audit
from custodes.services.common import check, event, load_actor
from custodes.services.context import Context
from custodes.services.events import case_of_event


def _latest_signed(vault: Context, uow: Any) -> tuple[int, bytes]:
    """The newest checkpoint, signing one first if the log has grown past it."""
    note = audit.sign_checkpoint(uow, vault)
    if note is not None:
        return parse_checkpoint(note_text(note)).size, note
    latest = audit.latest_checkpoint(uow.conn)
    if latest is None:
        raise NotFound("the audit log has no checkpoint yet")
    return latest


def _check_size(size: int | None, field: str) -> None:
    if size is not None and size < 1:
        raise InvalidInput(
            f"{{{field}}} must be a checkpoint size of 1 or more, not {size}", field=field
        )


def prove_inclusion(
    vault: Context, actor_name: str | None, seq: int, tree_size: int | None = None
) -> dict[str, Any]:
    """An inclusion proof of event ``seq`` in a signed checkpoint (the newest by default)."""
    if seq < 0:
        raise InvalidInput(f"an event number is 0 or more, not {seq}")
    _check_size(tree_size, "tree_size")
    with vault.uow() as uow:
        actor = load_actor(vault, uow, actor_name)
        check(vault, uow, actor, Permission.AUDIT_PROVE)
        if tree_size is None:
            size, note = _latest_signed(vault, uow)
        else:
            size, note = tree_size, audit.checkpoint_at(uow.conn, tree_size)
        if not 0 <= seq < size:
            raise NotFound(f"event {seq} is not in the checkpoint of size {size}")
        entry = audit.entry_at(uow.conn, seq)
        body = decode_entry(entry)
        # The proof carries the event itself: one of a case under internal-affairs
        # investigation is proven only to those who may read it.
        facts = case_of_event(uow, body)
        if facts is not None:
            check(vault, uow, actor, Permission.CASE_AUDIT_READ, case=facts)
        hashes = audit.leaf_hashes(uow.conn, size)
        path = merkle.inclusion_proof(seq, hashes)
        bundle = proofs.inclusion_bundle(seq, entry, path, note)
        audit.record(
            uow,
            event(
                vault,
                actor.username,
                Action.PROOF_ISSUED,
                case_number=body.get("case"),
                evidence_id=body.get("evidence"),
                details={"kind": "inclusion", "seq": seq, "tree_size": size},
            ),
        )
        audit.commit(uow, vault)
    return bundle


def prove_consistency(
    vault: Context, actor_name: str | None, old_size: int, new_size: int | None = None
) -> dict[str, Any]:
    _check_size(new_size, "new_size")
    with vault.uow() as uow:
        actor = load_actor(vault, uow, actor_name)
        check(vault, uow, actor, Permission.AUDIT_PROVE)
        if new_size is None:
            new_size, new_note = _latest_signed(vault, uow)
        else:
            new_note = audit.checkpoint_at(uow.conn, new_size)
        if not 0 < old_size <= new_size:
            raise InvalidInput(f"old size must be between 1 and {new_size}")
        old_note = audit.checkpoint_at(uow.conn, old_size)
        hashes = audit.leaf_hashes(uow.conn, new_size)
        path = merkle.consistency_proof(old_size, hashes)
        bundle = proofs.consistency_bundle(old_note, new_note, path)
        audit.record(
            uow,
            event(
                vault,
                actor.username,
                Action.PROOF_ISSUED,
                details={"kind": "consistency", "old_size": old_size, "new_size": new_size},
            ),
        )
        audit.commit(uow, vault)
    return bundle


def verify_bundle(
    bundle: Mapping[str, Any], vkey_str: str, verify: Ed25519Verify
) -> dict[str, Any]:
    """Check a proof bundle with only a public key. Raises on any failure."""
    if not isinstance(bundle, Mapping):
        raise InvalidInput("a proof file holds one JSON object")
    kind = bundle.get("format")
    if kind == proofs.INCLUSION_FORMAT:
        cp = proofs.verify_inclusion_bundle(bundle, vkey_str, verify)
        import base64

        entry = base64.b64decode(str(bundle["entry"]))
        return {
            "ok": True,
            "kind": "inclusion",
            "origin": cp.origin,
            "tree_size": cp.size,
            "root": cp.root_hash.hex(),
            "event": {k: v for k, v in decode_entry(entry).items() if k != "prev"},
        }
    if kind == proofs.CONSISTENCY_FORMAT:
        old, new = proofs.verify_consistency_bundle(bundle, vkey_str, verify)
        return {
            "ok": True,
            "kind": "consistency",
            "origin": new.origin,
            "old_size": old.size,
            "new_size": new.size,
            "old_root": old.root_hash.hex(),
            "new_root": new.root_hash.hex(),
        }
    raise InvalidInput(f"unknown proof format {kind!r}")
