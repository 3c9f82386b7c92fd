"""Property tests of custodes.core.merkle (RFC 6962 / RFC 9162 Merkle trees).

* every leaf's inclusion proof verifies, and one flipped bit in a proof hash, the leaf
  hash or the root makes it fail;
* every older root is consistent with every newer one, and a tampered proof fails;
* a CompactRange grown leaf by leaf has the root of root() at every size, and its
  serialisation round-trips.

No tests/hypothesis/__init__.py on purpose: without a tests/__init__.py it would make
this folder a top-level package named ``hypothesis`` and shadow the library.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from custodes.core.errors import InvalidInput, ProofError
from custodes.core.merkle import (
    EMPTY_ROOT,
    CompactRange,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    root,
    verify_consistency,
    verify_inclusion,
)

MAX_SIZE = 300
LEAVES = [leaf_hash(b"audit event %d" % i) for i in range(MAX_SIZE)]

fast = settings(max_examples=60, deadline=None)


def flip_bit(value: bytes, bit: int) -> bytes:
    out = bytearray(value)
    out[bit // 8] ^= 1 << (bit % 8)
    return bytes(out)


@st.composite
def tree_and_leaf(draw: st.DrawFn) -> tuple[int, int]:
    size = draw(st.integers(1, MAX_SIZE))
    return size, draw(st.integers(0, size - 1))


@st.composite
def old_and_new(draw: st.DrawFn) -> tuple[int, int]:
    new = draw(st.integers(0, MAX_SIZE))
    return draw(st.integers(0, new)), new


@fast
@given(position=tree_and_leaf(), data=st.data())
def test_inclusion_proofs_verify_and_any_flipped_bit_fails(
    position: tuple[int, int], data: st.DataObject
) -> None:
    size, index = position
    leaves = LEAVES[:size]
    tree_root = root(leaves)
    proof = inclusion_proof(index, leaves)
    verify_inclusion(index, size, leaves[index], proof, tree_root)

    target = data.draw(st.integers(0, len(proof) + 1), label="target")
    bit = data.draw(st.integers(0, 255), label="bit")
    leaf, bad_proof, bad_root = leaves[index], list(proof), tree_root
    if target < len(proof):
        bad_proof[target] = flip_bit(bad_proof[target], bit)
    elif target == len(proof):
        leaf = flip_bit(leaf, bit)
    else:
        bad_root = flip_bit(bad_root, bit)
    with pytest.raises(ProofError):
        verify_inclusion(index, size, leaf, bad_proof, bad_root)


@fast
@given(position=tree_and_leaf(), other=st.integers(0, MAX_SIZE))
def test_inclusion_proof_does_not_verify_at_another_position(
    position: tuple[int, int], other: int
) -> None:
    size, index = position
    leaves = LEAVES[:size]
    proof = inclusion_proof(index, leaves)
    if other != index and not (size == 1 and other == 0):
        with pytest.raises(ProofError):
            verify_inclusion(other, size, leaves[index], proof, root(leaves))


@fast
@given(sizes=old_and_new(), data=st.data())
def test_older_roots_are_consistent_and_tampering_fails(
    sizes: tuple[int, int], data: st.DataObject
) -> None:
    old, new = sizes
    leaves = LEAVES[:new]
    old_root, new_root = root(leaves[:old]), root(leaves)
    proof = consistency_proof(old, leaves)
    verify_consistency(old, new, old_root, new_root, proof)

    # Flip one bit in a proof hash or in a root that the proof commits to.
    targets = ["old_root"] if old == 0 else ["old_root", "new_root"]
    targets += [f"proof{i}" for i in range(len(proof))]
    target = data.draw(st.sampled_from(targets), label="target")
    bit = data.draw(st.integers(0, 255), label="bit")
    bad_proof = list(proof)
    if target == "old_root":
        old_root = flip_bit(old_root, bit)
    elif target == "new_root":
        new_root = flip_bit(new_root, bit)
    else:
        i = int(target.removeprefix("proof"))
        bad_proof[i] = flip_bit(bad_proof[i], bit)
    with pytest.raises(ProofError):
        verify_consistency(old, new, old_root, new_root, bad_proof)


@fast
@given(sizes=old_and_new(), changed=st.integers(0, MAX_SIZE - 1))
def test_rewritten_history_is_not_consistent(sizes: tuple[int, int], changed: int) -> None:
    old, new = sizes
    if not changed < old:
        return  # only a change inside the old tree rewrites history
    forked = list(LEAVES[:new])
    forked[changed] = leaf_hash(b"rewritten")
    proof = consistency_proof(old, forked)
    with pytest.raises(ProofError):
        verify_consistency(old, new, root(LEAVES[:old]), root(forked), proof)


@settings(max_examples=20, deadline=None)
@given(cuts=st.lists(st.integers(0, MAX_SIZE), min_size=2, max_size=6))
def test_checkpoints_along_a_growing_log_are_pairwise_consistent(cuts: list[int]) -> None:
    sizes = sorted(set(cuts))
    cr = CompactRange()
    roots: dict[int, bytes] = {}
    for size in sizes:
        cr.extend(LEAVES[cr.size : size])
        roots[size] = cr.root()
    for i, old in enumerate(sizes):
        for new in sizes[i:]:
            proof = consistency_proof(old, LEAVES[:new])
            verify_consistency(old, new, roots[old], roots[new], proof)


def test_compact_range_root_equals_root_at_every_size() -> None:
    cr = CompactRange()
    assert cr.root() == EMPTY_ROOT == root([])
    for size in range(1, MAX_SIZE + 1):
        cr.append(LEAVES[size - 1])
        assert cr.size == size
        assert cr.root() == root(LEAVES[:size]), size


@fast
@given(leaves=st.lists(st.binary(max_size=40), max_size=80))
def test_compact_range_root_equals_root_for_any_entries(leaves: list[bytes]) -> None:
    hashes = [leaf_hash(d) for d in leaves]
    cr = CompactRange()
    cr.extend(hashes)
    assert cr.root() == root(hashes)


@fast
@given(size=st.integers(0, MAX_SIZE), more=st.integers(0, 20))
def test_compact_range_serialisation_round_trips(size: int, more: int) -> None:
    cr = CompactRange()
    cr.extend(LEAVES[:size])
    data = cr.to_bytes()
    again = CompactRange.from_bytes(data)
    assert again == cr
    assert again.size == size
    assert again.hashes == cr.hashes
    assert again.root() == root(LEAVES[:size])
    assert CompactRange(again.size, again.hashes).to_bytes() == data
    # A restored range keeps growing like the original.
    extra = LEAVES[size : size + more]
    again.extend(extra)
    assert again.root() == root(LEAVES[: size + len(extra)])


@fast
@given(data=st.binary(max_size=200))
def test_compact_range_from_arbitrary_bytes_is_exact_or_invalid(data: bytes) -> None:
    try:
        cr = CompactRange.from_bytes(data)
    except InvalidInput:
        return
    assert cr.to_bytes() == data


@fast
@given(size=st.integers(1, MAX_SIZE), cut=st.data())
def test_truncated_serialisation_is_invalid(size: int, cut: st.DataObject) -> None:
    cr = CompactRange()
    cr.extend(LEAVES[:size])
    data = cr.to_bytes()
    n = cut.draw(st.integers(0, len(data) - 1))
    with pytest.raises(InvalidInput):
        CompactRange.from_bytes(data[:n])
