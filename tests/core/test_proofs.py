"""Tests of custodes.core.proofs: inclusion and consistency bundles, end to end."""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import re
from typing import Any

import pytest

from custodes.core.checkpoint import Checkpoint, sign_note
from custodes.core.errors import IntegrityFailure, InvalidInput, ProofError
from custodes.core.merkle import consistency_proof, inclusion_proof, leaf_hash, root
from custodes.core.proofs import (
    CONSISTENCY_FORMAT,
    INCLUSION_FORMAT,
    consistency_bundle,
    inclusion_bundle,
    verify_consistency_bundle,
    verify_inclusion_bundle,
)
from custodes.storage.keys import Ed25519Signer, ed25519_verify

ORIGIN = "custodes.example/audit"
VAULT = Ed25519Signer.from_seed(ORIGIN, hashlib.sha256(b"custodes test vault key").digest())
OTHER = Ed25519Signer.from_seed(ORIGIN, hashlib.sha256(b"someone else's key").digest())
WITNESS = Ed25519Signer.from_seed("witness.example", hashlib.sha256(b"witness").digest())
ENTRIES = [b'{"event": "evidence.sealed", "n": %d}' % i for i in range(40)]
LEAVES = [leaf_hash(e) for e in ENTRIES]


def signed_checkpoint(
    size: int, signer: Ed25519Signer = VAULT, origin: str = ORIGIN, leaves: list[bytes] = LEAVES
) -> bytes:
    return sign_note(Checkpoint(origin, size, root(leaves[:size])).body(), signer)


def json_round_trip(bundle: dict[str, Any]) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(json.dumps(bundle))
    return loaded


def make_inclusion(index: int, size: int) -> dict[str, Any]:
    proof = inclusion_proof(index, LEAVES[:size])
    return json_round_trip(inclusion_bundle(index, ENTRIES[index], proof, signed_checkpoint(size)))


def make_consistency(old: int, new: int) -> dict[str, Any]:
    proof = consistency_proof(old, LEAVES[:new])
    return json_round_trip(
        consistency_bundle(signed_checkpoint(old), signed_checkpoint(new), proof)
    )


def b64_flip(value: str) -> str:
    raw = bytearray(base64.b64decode(value))
    raw[0] ^= 1
    return base64.b64encode(bytes(raw)).decode()


# -------------------------------------------------------------------- inclusion


def test_inclusion_bundle_format() -> None:
    bundle = make_inclusion(3, 13)
    assert bundle["format"] == INCLUSION_FORMAT == "custodes-inclusion-proof/v1"
    assert bundle["leaf_index"] == 3
    assert bundle["tree_size"] == 13
    assert base64.b64decode(bundle["entry"]) == ENTRIES[3]
    assert [base64.b64decode(p) for p in bundle["proof"]] == inclusion_proof(3, LEAVES[:13])
    assert bundle["checkpoint"] == signed_checkpoint(13).decode()
    assert set(bundle) == {"format", "leaf_index", "tree_size", "entry", "proof", "checkpoint"}


@pytest.mark.parametrize("size", [1, 2, 7, 13, 40])
def test_every_inclusion_bundle_verifies(size: int) -> None:
    for index in range(size):
        checkpoint = verify_inclusion_bundle(
            make_inclusion(index, size), VAULT.vkey, ed25519_verify
        )
        assert checkpoint == Checkpoint(ORIGIN, size, root(LEAVES[:size]))


def test_inclusion_bundle_checks_the_origin_when_asked() -> None:
    bundle = make_inclusion(2, 9)
    verify_inclusion_bundle(bundle, VAULT.vkey, ed25519_verify, expected_origin=ORIGIN)
    with pytest.raises(IntegrityFailure, match=re.escape("not 'other.example/log'")):
        verify_inclusion_bundle(
            bundle, VAULT.vkey, ed25519_verify, expected_origin="other.example/log"
        )


def test_inclusion_bundle_ignores_witness_cosignatures() -> None:
    bundle = make_inclusion(2, 9)
    witnessed = sign_note(Checkpoint(ORIGIN, 9, root(LEAVES[:9])).body(), WITNESS)
    witness_line = witnessed.decode().split("\n\n")[-1]
    bundle["checkpoint"] += witness_line
    verify_inclusion_bundle(bundle, VAULT.vkey, ed25519_verify)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("entry", base64.b64encode(b"another entry").decode()),
        ("leaf_index", 4),
        ("leaf_index", 9),
        ("tree_size", 10),
        ("tree_size", 8),
    ],
)
def test_tampered_inclusion_bundle_fails_the_proof(field: str, value: object) -> None:
    bundle = make_inclusion(3, 9)
    bundle[field] = value
    with pytest.raises(ProofError):
        verify_inclusion_bundle(bundle, VAULT.vkey, ed25519_verify)


def test_tampered_inclusion_proof_fails() -> None:
    bundle = make_inclusion(3, 9)
    for i in range(len(bundle["proof"])):
        bad = copy.deepcopy(bundle)
        bad["proof"][i] = b64_flip(bad["proof"][i])
        with pytest.raises(ProofError):
            verify_inclusion_bundle(bad, VAULT.vkey, ed25519_verify)
    bad = copy.deepcopy(bundle)
    bad["proof"].pop()
    with pytest.raises(ProofError):
        verify_inclusion_bundle(bad, VAULT.vkey, ed25519_verify)


def test_inclusion_bundle_checkpoint_must_be_signed_by_the_vault() -> None:
    bundle = make_inclusion(3, 9)
    with pytest.raises(IntegrityFailure):
        verify_inclusion_bundle(bundle, OTHER.vkey, ed25519_verify)
    # A consistent bundle re-signed by another key is refused too.
    forged = json_round_trip(
        inclusion_bundle(3, ENTRIES[3], inclusion_proof(3, LEAVES[:9]), signed_checkpoint(9, OTHER))
    )
    with pytest.raises(IntegrityFailure):
        verify_inclusion_bundle(forged, VAULT.vkey, ed25519_verify)
    # Editing the signed checkpoint breaks its signature.
    edited = copy.deepcopy(bundle)
    edited["checkpoint"] = edited["checkpoint"].replace("\n9\n", "\n10\n", 1)
    edited["tree_size"] = 10
    with pytest.raises(IntegrityFailure):
        verify_inclusion_bundle(edited, VAULT.vkey, ed25519_verify)


def _mutations() -> list[tuple[str, object]]:
    return [
        ("format", "custodes-inclusion-proof/v2"),
        ("leaf_index", True),
        ("leaf_index", -1),
        ("leaf_index", "3"),
        ("leaf_index", 3.0),
        ("tree_size", None),
        ("entry", "not base64!"),
        ("entry", b"raw bytes"),
        ("proof", "AAAA"),
        ("proof", [base64.b64encode(bytes(31)).decode()]),
        ("proof", [17]),
        ("checkpoint", b"bytes"),
    ]


@pytest.mark.parametrize(("field", "value"), _mutations())
def test_malformed_inclusion_bundle_is_invalid_input(field: str, value: object) -> None:
    bundle = make_inclusion(3, 9)
    bundle[field] = value
    with pytest.raises(InvalidInput):
        verify_inclusion_bundle(bundle, VAULT.vkey, ed25519_verify)


def test_inclusion_bundle_shape_is_strict() -> None:
    bundle = make_inclusion(3, 9)
    missing = dict(bundle)
    del missing["proof"]
    with pytest.raises(InvalidInput, match="missing proof"):
        verify_inclusion_bundle(missing, VAULT.vkey, ed25519_verify)
    extra = dict(bundle, note="trust me")
    with pytest.raises(InvalidInput, match="unexpected note"):
        verify_inclusion_bundle(extra, VAULT.vkey, ed25519_verify)
    with pytest.raises(InvalidInput):
        verify_inclusion_bundle([bundle], VAULT.vkey, ed25519_verify)  # type: ignore[arg-type]


def test_malformed_checkpoint_note_is_an_integrity_failure() -> None:
    bundle = make_inclusion(3, 9)
    bundle["checkpoint"] = bundle["checkpoint"].split("\n\n")[0] + "\n"
    with pytest.raises(IntegrityFailure):
        verify_inclusion_bundle(bundle, VAULT.vkey, ed25519_verify)


def test_inclusion_bundle_refuses_a_wrong_proof() -> None:
    proof = inclusion_proof(3, LEAVES[:9])
    with pytest.raises(ProofError):
        inclusion_bundle(4, ENTRIES[4], proof, signed_checkpoint(9))
    with pytest.raises(ProofError):
        inclusion_bundle(3, ENTRIES[3], proof, signed_checkpoint(10))
    with pytest.raises(InvalidInput):
        inclusion_bundle(3, ENTRIES[3], proof, b"not a note")


# ------------------------------------------------------------------ consistency


def test_consistency_bundle_format() -> None:
    bundle = make_consistency(5, 13)
    assert bundle["format"] == CONSISTENCY_FORMAT == "custodes-consistency-proof/v1"
    assert bundle["old_checkpoint"] == signed_checkpoint(5).decode()
    assert bundle["new_checkpoint"] == signed_checkpoint(13).decode()
    assert [base64.b64decode(p) for p in bundle["proof"]] == consistency_proof(5, LEAVES[:13])
    assert set(bundle) == {"format", "old_checkpoint", "new_checkpoint", "proof"}


@pytest.mark.parametrize("new", [1, 2, 8, 13, 40])
def test_every_consistency_bundle_verifies(new: int) -> None:
    for old in range(new + 1):
        old_cp, new_cp = verify_consistency_bundle(
            make_consistency(old, new), VAULT.vkey, ed25519_verify
        )
        assert (old_cp.size, new_cp.size) == (old, new)
        assert new_cp.root_hash == root(LEAVES[:new])


def test_swapped_checkpoints_fail() -> None:
    bundle = make_consistency(5, 13)
    bundle["old_checkpoint"], bundle["new_checkpoint"] = (
        bundle["new_checkpoint"],
        bundle["old_checkpoint"],
    )
    with pytest.raises(ProofError):
        verify_consistency_bundle(bundle, VAULT.vkey, ed25519_verify)


def test_tampered_consistency_proof_fails() -> None:
    bundle = make_consistency(5, 13)
    for i in range(len(bundle["proof"])):
        bad = copy.deepcopy(bundle)
        bad["proof"][i] = b64_flip(bad["proof"][i])
        with pytest.raises(ProofError):
            verify_consistency_bundle(bad, VAULT.vkey, ed25519_verify)


def test_forked_log_is_detected() -> None:
    # The same key signs a tree of size 13 that rewrote entry 2: not an extension.
    forked_leaves = list(LEAVES)
    forked_leaves[2] = leaf_hash(b"rewritten history")
    forked = signed_checkpoint(13, leaves=forked_leaves)
    proof = consistency_proof(5, forked_leaves[:13])
    bundle = json_round_trip(
        {
            "format": CONSISTENCY_FORMAT,
            "old_checkpoint": signed_checkpoint(5).decode(),
            "new_checkpoint": forked.decode(),
            "proof": [base64.b64encode(p).decode() for p in proof],
        }
    )
    with pytest.raises(ProofError):
        verify_consistency_bundle(bundle, VAULT.vkey, ed25519_verify)
    with pytest.raises(ProofError):
        consistency_bundle(signed_checkpoint(5), forked, proof)


def test_consistency_bundle_needs_one_log_and_the_vault_key() -> None:
    other_log = signed_checkpoint(13, origin="custodes.example/other")
    proof = consistency_proof(5, LEAVES[:13])
    with pytest.raises(InvalidInput):
        consistency_bundle(signed_checkpoint(5), other_log, proof)
    bundle = make_consistency(5, 13)
    bundle["new_checkpoint"] = other_log.decode()
    with pytest.raises(IntegrityFailure, match="different logs"):
        verify_consistency_bundle(bundle, VAULT.vkey, ed25519_verify)
    with pytest.raises(IntegrityFailure):
        verify_consistency_bundle(make_consistency(5, 13), OTHER.vkey, ed25519_verify)
    with pytest.raises(IntegrityFailure):
        verify_consistency_bundle(
            make_consistency(5, 13), VAULT.vkey, ed25519_verify, expected_origin="x.example/y"
        )


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("format", INCLUSION_FORMAT),
        ("old_checkpoint", 5),
        ("proof", None),
        ("proof", ["%%%"]),
    ],
)
def test_malformed_consistency_bundle_is_invalid_input(field: str, value: object) -> None:
    bundle = make_consistency(5, 13)
    bundle[field] = value
    with pytest.raises(InvalidInput):
        verify_consistency_bundle(bundle, VAULT.vkey, ed25519_verify)
