"""Tests of custodes.core.merkle: RFC 6962 known answers, proof shapes, edge cases.

Known-answer vectors
--------------------
* ``LEAVES``, ``ROOTS``, ``INCLUSION_VECTORS``, ``CONSISTENCY_VECTORS``: the RFC 6962
  test vectors of transparency-dev/merkle ``proof/verify_test.go`` (commit 02194e9a),
  inherited from certificate-transparency-go's ``merkletree`` tests. Eight leaves of
  0 to 16 bytes; ``ROOTS[k]`` is the tree head of the first k + 1 leaves. The Go file
  numbers inclusion vectors by 1-based leaf; they are 0-based indexes here.
* ``INCLUSION_NODES`` and ``CONSISTENCY_NODES``: the proof-shape tables of
  transparency-dev/merkle ``proof/proof_test.go`` (commit 02a3e202). Each proof is
  listed as tree node IDs (level, index) -- the perfect subtree of 2**level leaves
  starting at leaf index * 2**level -- and ``rehash=(begin, end)`` marks IDs that are
  hashed together, right to left, into one ephemeral node at the right border.
"""

from __future__ import annotations

import hashlib

import pytest

from custodes.core.errors import InvalidInput, ProofError
from custodes.core.merkle import (
    EMPTY_ROOT,
    CompactRange,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    root,
    verify_consistency,
    verify_inclusion,
)

h = bytes.fromhex

LEAVES = [
    h(""),
    h("00"),
    h("10"),
    h("2021"),
    h("3031"),
    h("40414243"),
    h("5051525354555657"),
    h("606162636465666768696a6b6c6d6e6f"),
]
LEAF_HASHES = [leaf_hash(d) for d in LEAVES]

ROOTS = [
    h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
    h("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"),
    h("aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77"),
    h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
    h("4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4"),
    h("76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef"),
    h("ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c"),
    h("5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"),
]

SOME_HASH = h("abacaba000000000000000000000000000000000000000000060061e00123456")

# (index, tree size, proof)
INCLUSION_VECTORS = [
    (0, 1, []),
    (
        0,
        8,
        [
            h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
            h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            h("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"),
        ],
    ),
    (
        5,
        8,
        [
            h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
            h("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
            h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
        ],
    ),
    (2, 3, [h("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125")]),
    (
        1,
        5,
        [
            h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
            h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
        ],
    ),
]

# (old size, new size, proof)
CONSISTENCY_VECTORS = [
    (1, 1, []),
    (
        1,
        8,
        [
            h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
            h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            h("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"),
        ],
    ),
    (
        6,
        8,
        [
            h("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
            h("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
            h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
        ],
    ),
    (
        2,
        5,
        [
            h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
        ],
    ),
    (
        6,
        7,
        [
            h("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
            h("b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f"),
            h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
        ],
    ),
]

Node = tuple[int, int]

# (tree size, leaf index, node IDs, rehash range or None)
INCLUSION_NODES: list[tuple[int, int, list[Node], tuple[int, int] | None]] = [
    (1, 0, [], None),
    (2, 0, [(0, 1)], None),
    (2, 1, [(0, 0)], None),
    (3, 1, [(0, 0), (0, 2)], None),
    (7, 0, [(0, 1), (1, 1), (0, 6), (1, 2)], (2, 4)),
    (7, 1, [(0, 0), (1, 1), (0, 6), (1, 2)], (2, 4)),
    (7, 2, [(0, 3), (1, 0), (0, 6), (1, 2)], (2, 4)),
    (7, 3, [(0, 2), (1, 0), (0, 6), (1, 2)], (2, 4)),
    (7, 4, [(0, 5), (0, 6), (2, 0)], None),
    (7, 5, [(0, 4), (0, 6), (2, 0)], None),
    (7, 6, [(1, 2), (2, 0)], None),
    (4, 2, [(0, 3), (1, 0)], None),
    (5, 3, [(0, 2), (1, 0), (0, 4)], None),
    (6, 3, [(0, 2), (1, 0), (1, 2)], None),
    (6, 4, [(0, 5), (2, 0)], None),
    (15, 10, [(0, 11), (1, 4), (0, 14), (1, 6), (3, 0)], (2, 4)),
    (31, 24, [(0, 25), (1, 13), (0, 30), (1, 14), (3, 2), (4, 0)], (2, 4)),
    (
        95,
        81,
        [(0, 80), (1, 41), (2, 21), (0, 94), (1, 46), (2, 22), (4, 4), (6, 0)],
        (3, 6),
    ),
]

# (old size, new size, node IDs, rehash range or None)
CONSISTENCY_NODES: list[tuple[int, int, list[Node], tuple[int, int] | None]] = [
    (1, 2, [(0, 1)], None),
    (1, 4, [(0, 1), (1, 1)], None),
    (1, 6, [(0, 1), (1, 1), (1, 2)], None),
    (2, 3, [(0, 2)], None),
    (2, 8, [(1, 1), (2, 1)], None),
    (3, 7, [(0, 2), (0, 3), (1, 0), (0, 6), (1, 2)], (3, 5)),
    (4, 7, [(0, 6), (1, 2)], (0, 2)),
    (5, 7, [(0, 4), (0, 5), (0, 6), (2, 0)], None),
    (6, 7, [(1, 2), (0, 6), (2, 0)], None),
    (7, 8, [(0, 6), (0, 7), (1, 2), (2, 0)], None),
    *[(n, n, [], None) for n in (1, 2, 3, 4, 5, 7, 8)],
    (2, 4, [(1, 1)], None),
    (3, 5, [(0, 2), (0, 3), (1, 0), (0, 4)], None),
    (3, 6, [(0, 2), (0, 3), (1, 0), (1, 2)], None),
    (4, 6, [(1, 2)], None),
    (1, 7, [(0, 1), (1, 1), (0, 6), (1, 2)], (2, 4)),
    (10, 15, [(1, 4), (1, 5), (0, 14), (1, 6), (3, 0)], (2, 4)),
    (24, 31, [(3, 2), (0, 30), (1, 14), (2, 6), (4, 0)], (1, 4)),
    (
        81,
        95,
        [(0, 80), (0, 81), (1, 41), (2, 21), (0, 94), (1, 46), (2, 22), (4, 4), (6, 0)],
        (4, 7),
    ),
]

BIG_LEAVES = [leaf_hash(b"entry %d" % i) for i in range(128)]


def ref_mth(d: list[bytes]) -> bytes:
    """MTH written straight from RFC 9162 §2.1.1, recursive (small inputs only)."""
    if not d:
        return EMPTY_ROOT
    if len(d) == 1:
        return d[0]
    k = 1
    while k * 2 < len(d):
        k *= 2
    return node_hash(ref_mth(d[:k]), ref_mth(d[k:]))


def ref_path(m: int, d: list[bytes]) -> list[bytes]:
    """PATH(m, D[n]) of RFC 9162 §2.1.3.1, recursive."""
    if len(d) == 1:
        return []
    k = 1
    while k * 2 < len(d):
        k *= 2
    if m < k:
        return [*ref_path(m, d[:k]), ref_mth(d[k:])]
    return [*ref_path(m - k, d[k:]), ref_mth(d[:k])]


def ref_subproof(m: int, d: list[bytes], b: bool) -> list[bytes]:
    """SUBPROOF(m, D[n], b) of RFC 9162 §2.1.4.1, recursive."""
    if m == len(d):
        return [] if b else [ref_mth(d)]
    k = 1
    while k * 2 < len(d):
        k *= 2
    if m <= k:
        return [*ref_subproof(m, d[:k], b), ref_mth(d[k:])]
    return [*ref_subproof(m - k, d[k:], False), ref_mth(d[:k])]


def expected_from_nodes(
    leaves: list[bytes], nodes: list[Node], rehash: tuple[int, int] | None
) -> list[bytes]:
    """Turn a node-ID table row into proof hashes (as transparency-dev's Rehash does)."""
    hashes = [root(leaves[i << lvl : (i + 1) << lvl]) for lvl, i in nodes]
    if rehash is None:
        return hashes
    begin, end = rehash
    acc = hashes[begin]
    for x in hashes[begin + 1 : end]:
        acc = node_hash(x, acc)
    return [*hashes[:begin], acc, *hashes[end:]]


def flip(b: bytes, byte: int = 0, mask: int = 8) -> bytes:
    out = bytearray(b)
    out[byte] ^= mask
    return bytes(out)


# ----------------------------------------------------------------------- hashing


def test_empty_root_is_sha256_of_nothing() -> None:
    assert EMPTY_ROOT.hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert root([]) == EMPTY_ROOT
    assert CompactRange().root() == EMPTY_ROOT


def test_leaf_and_node_hashes_are_domain_separated() -> None:
    assert leaf_hash(b"") == ROOTS[0]
    assert leaf_hash(b"abc") == hashlib.sha256(b"\x00abc").digest()
    assert node_hash(b"l", b"r") == hashlib.sha256(b"\x01lr").digest()
    assert leaf_hash(b"\x01" + LEAF_HASHES[0] + LEAF_HASHES[1]) != ROOTS[1]


@pytest.mark.parametrize("size", range(1, 9))
def test_root_matches_rfc6962_vectors(size: int) -> None:
    assert root(LEAF_HASHES[:size]) == ROOTS[size - 1]
    assert root(tuple(LEAF_HASHES[:size])) == ROOTS[size - 1]


def test_compact_range_matches_rfc6962_vectors() -> None:
    cr = CompactRange()
    for size, leaf in enumerate(LEAF_HASHES, start=1):
        cr.append(leaf)
        assert cr.size == size
        assert len(cr.hashes) == bin(size).count("1")
        assert cr.root() == ROOTS[size - 1]


def test_root_matches_reference_and_compact_range() -> None:
    cr = CompactRange()
    for n in range(len(BIG_LEAVES) + 1):
        assert root(BIG_LEAVES[:n]) == ref_mth(BIG_LEAVES[:n]) == cr.root()
        if n < len(BIG_LEAVES):
            cr.append(BIG_LEAVES[n])


def test_root_rejects_bad_leaf_hashes() -> None:
    with pytest.raises(InvalidInput):
        root([LEAF_HASHES[0], b"short"])
    with pytest.raises(InvalidInput):
        root([LEAF_HASHES[0], 7])  # type: ignore[list-item]


# ------------------------------------------------------------------ inclusion


@pytest.mark.parametrize(("index", "size", "proof"), INCLUSION_VECTORS)
def test_inclusion_vectors(index: int, size: int, proof: list[bytes]) -> None:
    assert inclusion_proof(index, LEAF_HASHES[:size]) == proof
    verify_inclusion(index, size, LEAF_HASHES[index], proof, ROOTS[size - 1])


@pytest.mark.parametrize(("index", "size", "proof"), INCLUSION_VECTORS)
def test_corrupt_inclusion_proofs_fail(index: int, size: int, proof: list[bytes]) -> None:
    # The probes of transparency-dev/merkle's corruptInclusionProof.
    good_root = ROOTS[size - 1]
    leaf = LEAF_HASHES[index]
    probes: list[tuple[int, int, bytes, list[bytes], bytes]] = [
        (index - 1, size, leaf, proof, good_root),
        (index + 1, size, leaf, proof, good_root),
        (index ^ 2, size, leaf, proof, good_root),
        (index, size * 2, leaf, proof, good_root),
        (index, size // 2, leaf, proof, good_root),
        (index, size, b"WrongLeaf", proof, good_root),
        (index, size, flip(leaf), proof, good_root),
        (index, size, leaf, proof, EMPTY_ROOT),
        (index, size, leaf, proof, SOME_HASH),
        (index, size, leaf, [*proof, b""], good_root),
        (index, size, leaf, [*proof, good_root], good_root),
        (index, size, leaf, [b"", *proof], good_root),
        (index, size, leaf, [good_root, *proof], good_root),
    ]
    for i in range(len(proof)):
        bad = list(proof)
        bad[i] = flip(bad[i])
        probes.append((index, size, leaf, bad, good_root))
    if proof:
        probes.append((index, size, leaf, proof[:-1], good_root))
    if len(proof) > 1:
        probes.append((index, size, leaf, [proof[0], SOME_HASH, *proof[1:]], good_root))
    for probe in probes:
        with pytest.raises(ProofError):
            verify_inclusion(*probe)


@pytest.mark.parametrize(("size", "index", "nodes", "rehash"), INCLUSION_NODES)
def test_inclusion_proof_shapes(
    size: int, index: int, nodes: list[Node], rehash: tuple[int, int] | None
) -> None:
    leaves = BIG_LEAVES[:size]
    proof = inclusion_proof(index, leaves)
    assert proof == expected_from_nodes(leaves, nodes, rehash)
    verify_inclusion(index, size, leaves[index], proof, root(leaves))


def test_inclusion_proofs_for_every_leaf_of_small_trees() -> None:
    for size in range(1, 41):
        leaves = BIG_LEAVES[:size]
        r = root(leaves)
        for index in range(size):
            proof = inclusion_proof(index, leaves)
            assert proof == ref_path(index, leaves)
            verify_inclusion(index, size, leaves[index], proof, r)


@pytest.mark.parametrize(("size", "index"), [(0, 0), (0, 1), (1, 2), (0, 3), (7, 8), (7, 7)])
def test_inclusion_proof_rejects_index_outside_tree(size: int, index: int) -> None:
    with pytest.raises(InvalidInput):
        inclusion_proof(index, BIG_LEAVES[:size])


def test_inclusion_proof_rejects_bad_arguments() -> None:
    with pytest.raises(InvalidInput):
        inclusion_proof(-1, BIG_LEAVES[:4])
    with pytest.raises(InvalidInput):
        inclusion_proof(True, BIG_LEAVES[:4])
    with pytest.raises(InvalidInput):
        inclusion_proof(0, [b"x", b"y"])


def test_verify_inclusion_single_entry() -> None:
    leaf = leaf_hash(b"data")
    verify_inclusion(0, 1, leaf, [], leaf)  # a 1-leaf tree's root is its leaf hash
    for leaf_arg, root_arg in [(leaf, b""), (b"", leaf), (b"", b""), (leaf, flip(leaf))]:
        with pytest.raises(ProofError):
            verify_inclusion(0, 1, leaf_arg, [], root_arg)


@pytest.mark.parametrize(("index", "size"), [(0, 0), (1, 0), (2, 1), (-1, 1), (0, -1)])
def test_verify_inclusion_rejects_impossible_positions(index: int, size: int) -> None:
    with pytest.raises(ProofError):
        verify_inclusion(index, size, SOME_HASH, [], EMPTY_ROOT)


def test_verify_inclusion_error_says_what_failed() -> None:
    with pytest.raises(ProofError, match="leaf 0 of 8 does not lead to the expected root"):
        verify_inclusion(0, 8, LEAF_HASHES[0], INCLUSION_VECTORS[1][2], ROOTS[6])


# ---------------------------------------------------------------- consistency


@pytest.mark.parametrize(("old", "new", "proof"), CONSISTENCY_VECTORS)
def test_consistency_vectors(old: int, new: int, proof: list[bytes]) -> None:
    assert consistency_proof(old, LEAF_HASHES[:new]) == proof
    verify_consistency(old, new, ROOTS[old - 1], ROOTS[new - 1], proof)


@pytest.mark.parametrize(("old", "new", "proof"), [v for v in CONSISTENCY_VECTORS if v[2]])
def test_corrupt_consistency_proofs_fail(old: int, new: int, proof: list[bytes]) -> None:
    # The probes of transparency-dev/merkle's corruptConsistencyProof.
    r1, r2 = ROOTS[old - 1], ROOTS[new - 1]
    probes: list[tuple[int, int, bytes, bytes, list[bytes]]] = [
        (old - 1, new, r1, r2, proof),
        (old + 1, new, r1, r2, proof),
        (old ^ 2, new, r1, r2, proof),
        (old, new * 2, r1, r2, proof),
        (old, new // 2, r1, r2, proof),
        (old, new, b"WrongRoot", r2, proof),
        (old, new, r1, b"WrongRoot", proof),
        (old, new, r2, r1, proof),
        (old, new, flip(r1), r2, proof),
        (old, new, r1, flip(r2), proof),
        (old, new, r1, r2, []),
        (old, new, r1, r2, [*proof, b""]),
        (old, new, r1, r2, [*proof, r1]),
        (old, new, r1, r2, [*proof, r2]),
        (old, new, r1, r2, [b"", *proof]),
        (old, new, r1, r2, [r1, *proof]),
        (old, new, r1, r2, [r2, *proof]),
        (old, new, r1, r2, [proof[0], *proof]),
        (old, new, r1, r2, proof[:-1]),
    ]
    for i in range(len(proof)):
        bad = list(proof)
        bad[i] = flip(bad[i], mask=16)
        probes.append((old, new, r1, r2, bad))
    for probe in probes:
        with pytest.raises(ProofError):
            verify_consistency(*probe)


@pytest.mark.parametrize(("old", "new", "nodes", "rehash"), CONSISTENCY_NODES)
def test_consistency_proof_shapes(
    old: int, new: int, nodes: list[Node], rehash: tuple[int, int] | None
) -> None:
    leaves = BIG_LEAVES[:new]
    proof = consistency_proof(old, leaves)
    assert proof == expected_from_nodes(leaves, nodes, rehash)
    verify_consistency(old, new, root(leaves[:old]), root(leaves), proof)


def test_consistency_proofs_between_all_small_trees() -> None:
    for new in range(1, 41):
        leaves = BIG_LEAVES[:new]
        new_root = root(leaves)
        for old in range(new + 1):
            proof = consistency_proof(old, leaves)
            if 0 < old < new:
                assert proof == ref_subproof(old, leaves, True)
            else:
                assert proof == []
            verify_consistency(old, new, root(leaves[:old]), new_root, proof)


@pytest.mark.parametrize(("old", "new"), [(5, 0), (9, 8), (-1, 3)])
def test_consistency_proof_rejects_bad_sizes(old: int, new: int) -> None:
    with pytest.raises(InvalidInput):
        consistency_proof(old, BIG_LEAVES[:new])


def test_verify_consistency_trivial_cases() -> None:
    a, b = ROOTS[2], ROOTS[3]
    verify_consistency(0, 0, EMPTY_ROOT, EMPTY_ROOT, [])
    verify_consistency(0, 5, EMPTY_ROOT, ROOTS[4], [])
    verify_consistency(3, 3, a, a, [])
    bad_cases: list[tuple[int, int, bytes, bytes, list[bytes]]] = [
        (3, 3, a, b, []),  # same size, different roots
        (0, 0, SOME_HASH, SOME_HASH, []),  # an empty tree has only one root
        (0, 5, SOME_HASH, ROOTS[4], []),
        (0, 0, EMPTY_ROOT, EMPTY_ROOT, [EMPTY_ROOT]),  # roots match, proof not empty
        (0, 1, EMPTY_ROOT, ROOTS[0], [EMPTY_ROOT]),
        (1, 1, ROOTS[0], ROOTS[0], [EMPTY_ROOT]),
        (1, 0, a, b, []),  # time travel
        (2, 1, a, b, []),
        (1, 2, ROOTS[0], ROOTS[1], []),  # empty proof
        (-1, 2, ROOTS[0], ROOTS[1], []),
        (1, 2, ROOTS[0], ROOTS[1], [b"short"]),
    ]
    for case in bad_cases:
        with pytest.raises(ProofError):
            verify_consistency(*case)


# -------------------------------------------------------------- compact range


def test_compact_range_frontier_is_the_perfect_subtrees() -> None:
    cr = CompactRange()
    cr.extend(BIG_LEAVES[:7])
    assert cr.hashes == (root(BIG_LEAVES[0:4]), root(BIG_LEAVES[4:6]), BIG_LEAVES[6])
    assert CompactRange(7, cr.hashes) == cr
    assert CompactRange(7, list(cr.hashes)).root() == root(BIG_LEAVES[:7])


def test_compact_range_serialisation() -> None:
    assert CompactRange().to_bytes() == b"\x01" + bytes(8)
    cr = CompactRange()
    cr.extend(BIG_LEAVES[:5])
    data = cr.to_bytes()
    assert data == b"\x01" + (5).to_bytes(8, "big") + b"".join(cr.hashes)
    assert len(data) == 9 + 2 * 32
    again = CompactRange.from_bytes(data)
    assert again == cr
    assert again.root() == root(BIG_LEAVES[:5])
    again.append(BIG_LEAVES[5])
    assert again != cr
    assert again.root() == root(BIG_LEAVES[:6])


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\x01" + bytes(7),  # truncated size
        b"\x02" + bytes(8),  # unknown version
        b"\x01" + (1).to_bytes(8, "big"),  # size 1 needs one hash
        b"\x01" + (1).to_bytes(8, "big") + bytes(31),
        b"\x01" + (1).to_bytes(8, "big") + bytes(64),
        b"\x01" + (3).to_bytes(8, "big") + bytes(32),
    ],
)
def test_compact_range_from_bytes_rejects_malformed(data: bytes) -> None:
    with pytest.raises(InvalidInput):
        CompactRange.from_bytes(data)


@pytest.mark.parametrize(
    ("size", "hashes"),
    [
        (-1, []),
        (1, []),
        (0, [bytes(32)]),
        (2, [bytes(32), bytes(32)]),
        (3, [bytes(32), bytes(31)]),
        (1 << 64, [bytes(32)]),
    ],
)
def test_compact_range_rejects_inconsistent_state(size: int, hashes: list[bytes]) -> None:
    with pytest.raises(InvalidInput):
        CompactRange(size, hashes)


def test_compact_range_rejects_bad_leaves() -> None:
    cr = CompactRange()
    with pytest.raises(InvalidInput):
        cr.append(b"short")
    with pytest.raises(InvalidInput):
        cr.extend([BIG_LEAVES[0], b"short"])
    assert cr.size == 1  # the good leaf before the bad one went in
