"""Self-contained proof bundles that anyone can check with the vault's public key.

A bundle is a JSON object. It carries a signed checkpoint (c2sp.org/tlog-checkpoint
in a c2sp.org/signed-note, see :mod:`custodes.core.checkpoint`) and an RFC 9162
Merkle proof (see :mod:`custodes.core.merkle`), so that a third party holding only
the vault's verifier key string and the file can check it offline.

Inclusion bundle, ``"format": "custodes-inclusion-proof/v1"``::

    {"format", "leaf_index": int, "tree_size": int,
     "entry": base64(leaf bytes), "proof": [base64(hash), ...],
     "checkpoint": signed note text}

Consistency bundle, ``"format": "custodes-consistency-proof/v1"``::

    {"format", "old_checkpoint": signed note, "new_checkpoint": signed note,
     "proof": [base64(hash), ...]}

Verifiers raise InvalidInput for a malformed bundle, IntegrityFailure for a
checkpoint that is not signed by the key, and ProofError for a proof that fails.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping, Sequence
from typing import Any

from custodes.core.checkpoint import Checkpoint, open_note, parse_checkpoint, parse_note
from custodes.core.errors import IntegrityFailure, InvalidInput, ProofError
from custodes.core.merkle import HASH_SIZE, leaf_hash, verify_consistency, verify_inclusion
from custodes.core.ports import Ed25519Verify

__all__ = [
    "CONSISTENCY_FORMAT",
    "INCLUSION_FORMAT",
    "consistency_bundle",
    "inclusion_bundle",
    "verify_consistency_bundle",
    "verify_inclusion_bundle",
]

INCLUSION_FORMAT = "custodes-inclusion-proof/v1"
CONSISTENCY_FORMAT = "custodes-consistency-proof/v1"

_INCLUSION_KEYS = frozenset({"format", "leaf_index", "tree_size", "entry", "proof", "checkpoint"})
_CONSISTENCY_KEYS = frozenset({"format", "old_checkpoint", "new_checkpoint", "proof"})


# --------------------------------------------------------------------------- helpers


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(value: object, what: str) -> bytes:
    if not isinstance(value, str):
        raise InvalidInput(f"bundle field {what} must be a base64 string")
    try:
        data = base64.b64decode(value.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError) as exc:
        raise InvalidInput(f"bundle field {what} is not valid base64") from exc
    if _b64(data) != value:
        raise InvalidInput(f"bundle field {what} is not canonical base64")
    return data


def _int_field(bundle: Mapping[str, object], key: str) -> int:
    value = bundle[key]
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidInput(f"bundle field {key} must be a non-negative integer")
    return value


def _str_field(bundle: Mapping[str, object], key: str) -> str:
    value = bundle[key]
    if not isinstance(value, str):
        raise InvalidInput(f"bundle field {key} must be a string")
    return value


def _proof_field(bundle: Mapping[str, object]) -> list[bytes]:
    value = bundle["proof"]
    if not isinstance(value, list | tuple):
        raise InvalidInput("bundle field proof must be a list of base64 hashes")
    hashes = [_unb64(item, f"proof[{i}]") for i, item in enumerate(value)]
    if any(len(h) != HASH_SIZE for h in hashes):
        raise InvalidInput(f"every proof hash must be {HASH_SIZE} bytes")
    return hashes


def _check_shape(bundle: object, fmt: str, keys: frozenset[str]) -> Mapping[str, object]:
    if not isinstance(bundle, Mapping):
        raise InvalidInput("a proof bundle must be a JSON object")
    if bundle.get("format") != fmt:
        raise InvalidInput(
            f"not a {fmt} bundle (format {bundle.get('format')!r})",
            advice="check that the file is the right kind of proof",
        )
    present = set(bundle)
    if present != keys:
        problems = []
        if missing := sorted(keys - present):
            problems.append("missing " + ", ".join(missing))
        if extra := sorted(str(k) for k in present - keys):
            problems.append("unexpected " + ", ".join(extra))
        raise InvalidInput(f"malformed {fmt} bundle: {'; '.join(problems)}")
    return bundle


def _unverified_checkpoint(signed_checkpoint: bytes) -> Checkpoint:
    """Parse the checkpoint inside a signed note without checking its signature."""
    text, _ = parse_note(signed_checkpoint)
    return parse_checkpoint(text)


def _note_text(signed_checkpoint: bytes) -> str:
    try:
        return bytes(signed_checkpoint).decode("utf-8")
    except UnicodeDecodeError as exc:  # parse_note has already refused this
        raise InvalidInput("signed checkpoint is not UTF-8") from exc


def _open_checkpoint(
    note: str, vkey_str: str, verify: Ed25519Verify, expected_origin: str | None
) -> Checkpoint:
    text = open_note(note.encode("utf-8"), vkey_str, verify)
    checkpoint = parse_checkpoint(text)
    if expected_origin is not None and checkpoint.origin != expected_origin:
        raise IntegrityFailure(
            f"checkpoint is for log {checkpoint.origin!r}, not {expected_origin!r}"
        )
    return checkpoint


# ------------------------------------------------------------------------- inclusion


def inclusion_bundle(
    index: int, entry: bytes, proof: Sequence[bytes], signed_checkpoint: bytes
) -> dict[str, Any]:
    """Build an inclusion bundle for leaf ``index`` whose bytes are ``entry``.

    The tree size comes from the checkpoint. The proof is checked against the
    checkpoint's root before the bundle is returned (ProofError if it fails), so a
    bundle that leaves the vault is one that verifies.
    """
    checkpoint = _unverified_checkpoint(signed_checkpoint)
    hashes = [bytes(h) for h in proof]
    verify_inclusion(index, checkpoint.size, leaf_hash(bytes(entry)), hashes, checkpoint.root_hash)
    return {
        "format": INCLUSION_FORMAT,
        "leaf_index": index,
        "tree_size": checkpoint.size,
        "entry": _b64(bytes(entry)),
        "proof": [_b64(h) for h in hashes],
        "checkpoint": _note_text(signed_checkpoint),
    }


def verify_inclusion_bundle(
    bundle: Mapping[str, Any],
    vkey_str: str,
    verify: Ed25519Verify,
    *,
    expected_origin: str | None = None,
) -> Checkpoint:
    """Check an inclusion bundle; return the checkpoint the entry is proven to be in.

    Opens the signed checkpoint with ``vkey_str``, checks that the bundle's tree size
    is the checkpoint's, recomputes the leaf hash of the entry and verifies the
    inclusion proof against the signed root. With ``expected_origin`` the checkpoint
    must also name that log.
    """
    fields = _check_shape(bundle, INCLUSION_FORMAT, _INCLUSION_KEYS)
    index = _int_field(fields, "leaf_index")
    tree_size = _int_field(fields, "tree_size")
    entry = _unb64(fields["entry"], "entry")
    proof = _proof_field(fields)
    note = _str_field(fields, "checkpoint")

    checkpoint = _open_checkpoint(note, vkey_str, verify, expected_origin)
    if checkpoint.size != tree_size:
        raise ProofError(
            f"bundle tree size {tree_size} is not the signed checkpoint's size {checkpoint.size}"
        )
    verify_inclusion(index, checkpoint.size, leaf_hash(entry), proof, checkpoint.root_hash)
    return checkpoint


# ----------------------------------------------------------------------- consistency


def consistency_bundle(
    old_checkpoint: bytes, new_checkpoint: bytes, proof: Sequence[bytes]
) -> dict[str, Any]:
    """Build a consistency bundle between two signed checkpoints of the same log.

    The proof is checked against the two roots before the bundle is returned.
    """
    old = _unverified_checkpoint(old_checkpoint)
    new = _unverified_checkpoint(new_checkpoint)
    if old.origin != new.origin:
        raise InvalidInput(f"checkpoints are from different logs: {old.origin!r}, {new.origin!r}")
    hashes = [bytes(h) for h in proof]
    verify_consistency(old.size, new.size, old.root_hash, new.root_hash, hashes)
    return {
        "format": CONSISTENCY_FORMAT,
        "old_checkpoint": _note_text(old_checkpoint),
        "new_checkpoint": _note_text(new_checkpoint),
        "proof": [_b64(h) for h in hashes],
    }


def verify_consistency_bundle(
    bundle: Mapping[str, Any],
    vkey_str: str,
    verify: Ed25519Verify,
    *,
    expected_origin: str | None = None,
) -> tuple[Checkpoint, Checkpoint]:
    """Check a consistency bundle; return the (old, new) checkpoints it links.

    Both checkpoints must be signed by ``vkey_str`` and name the same log, and the
    proof must show that the new tree is an append-only extension of the old one.
    """
    fields = _check_shape(bundle, CONSISTENCY_FORMAT, _CONSISTENCY_KEYS)
    old_note = _str_field(fields, "old_checkpoint")
    new_note = _str_field(fields, "new_checkpoint")
    proof = _proof_field(fields)

    old = _open_checkpoint(old_note, vkey_str, verify, expected_origin)
    new = _open_checkpoint(new_note, vkey_str, verify, expected_origin)
    if old.origin != new.origin:
        raise IntegrityFailure(
            f"checkpoints are from different logs: {old.origin!r} and {new.origin!r}"
        )
    verify_consistency(old.size, new.size, old.root_hash, new.root_hash, proof)
    return old, new
