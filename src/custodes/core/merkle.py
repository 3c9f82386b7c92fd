"""Merkle hash trees of the audit log, as specified by RFC 6962 §2.1 and RFC 9162 §2.1.

The tree hash (MTH), the inclusion proof (PATH) and the consistency proof (SUBPROOF)
follow RFC 9162 §2.1.1–§2.1.4; the verifiers follow the algorithms of RFC 9162
§2.1.3.2 and §2.1.4.2 step by step. The hash is SHA-256 with the RFC 6962 domain
separation::

    leaf_hash(d)    = SHA-256(0x00 || d)
    node_hash(l, r) = SHA-256(0x01 || l || r)
    MTH({})         = SHA-256()            (EMPTY_ROOT)

Verifiers raise :class:`~custodes.core.errors.ProofError`; they never return a bool.
Proof builders raise :class:`~custodes.core.errors.InvalidInput` for impossible
arguments (an index outside the tree, an old size larger than the new one).

:class:`CompactRange` keeps only the right frontier of a growing tree (one perfect
subtree hash per set bit of the size, as in transparency-dev/merkle's ``compact``
package), so that appending a leaf costs O(log n) and the root can be computed
without reading old leaves.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence

from custodes.core.errors import InvalidInput, ProofError

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "CompactRange",
    "consistency_proof",
    "inclusion_proof",
    "leaf_hash",
    "node_hash",
    "root",
    "verify_consistency",
    "verify_inclusion",
]

HASH_SIZE = 32
"""Size in bytes of every hash in the tree (SHA-256)."""

EMPTY_ROOT: bytes = hashlib.sha256(b"").digest()
"""MTH of the empty tree: SHA-256 of the empty string."""

_LEAF_PREFIX = b"\x00"
_NODE_PREFIX = b"\x01"
_sha256 = hashlib.sha256


def leaf_hash(data: bytes) -> bytes:
    """The RFC 6962 hash of one log entry: SHA-256(0x00 || data)."""
    return _sha256(_LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """The RFC 6962 hash of an interior node: SHA-256(0x01 || left || right)."""
    return _sha256(_NODE_PREFIX + left + right).digest()


# --------------------------------------------------------------------------- helpers


def _largest_power_of_two_below(n: int) -> int:
    """The k of RFC 9162 §2.1.1: the largest power of two smaller than n (n > 1)."""
    return 1 << ((n - 1).bit_length() - 1)


def _check_size(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(f"{what} must be an integer, not {type(value).__name__}")
    if value < 0:
        raise InvalidInput(f"{what} must not be negative (got {value})")
    return value


def _leaf_list(leaf_hashes: Sequence[bytes]) -> list[bytes]:
    """Copy leaf hashes into a list, checking every one is 32 bytes long."""
    level = list(leaf_hashes)
    try:
        lengths = set(map(len, level))
    except TypeError as exc:
        raise InvalidInput("leaf hashes must be bytes") from exc
    if lengths - {HASH_SIZE}:
        raise InvalidInput(f"every leaf hash must be {HASH_SIZE} bytes (SHA-256)")
    return level


def _mth(level: list[bytes]) -> bytes:
    """MTH of a non-empty list of hashes, level by level, consuming ``level``.

    Pairing neighbours and carrying an odd last node up unchanged gives exactly the
    RFC 6962 split at the largest power of two, without recursion.
    """
    sha = _sha256
    prefix = _NODE_PREFIX
    while len(level) > 1:
        carry = level.pop() if len(level) & 1 else None
        pairs = iter(level)
        level = [sha(prefix + a + b).digest() for a, b in zip(pairs, pairs, strict=True)]
        if carry is not None:
            level.append(carry)
    return bytes(level[0])


def _subtree(leaves: list[bytes], begin: int, end: int) -> bytes:
    """MTH(D[begin:end]) for a non-empty range of already checked leaf hashes."""
    return _mth(leaves[begin:end])


def root(leaf_hashes: Sequence[bytes]) -> bytes:
    """MTH over already hashed leaves (RFC 9162 §2.1.1), iterative, O(n) hashing."""
    if len(leaf_hashes) == 0:
        return EMPTY_ROOT
    return _mth(_leaf_list(leaf_hashes))


# --------------------------------------------------------------------- proof builders


def inclusion_proof(index: int, leaf_hashes: Sequence[bytes]) -> list[bytes]:
    """PATH(index, D[n]) of RFC 9162 §2.1.3.1, for the tree of all ``leaf_hashes``.

    The audit path is ordered from the leaf's sibling up to the child of the root.
    """
    size = len(leaf_hashes)
    _check_size(index, "leaf index")
    if index >= size:
        raise InvalidInput(f"leaf index {index} is outside a tree of size {size}")
    leaves = _leaf_list(leaf_hashes)
    top_down: list[bytes] = []
    lo, hi = 0, size
    while hi - lo > 1:
        k = _largest_power_of_two_below(hi - lo)
        if index < lo + k:  # PATH(m, D[0:k]) : MTH(D[k:n])
            top_down.append(_subtree(leaves, lo + k, hi))
            hi = lo + k
        else:  # PATH(m - k, D[k:n]) : MTH(D[0:k])
            top_down.append(_subtree(leaves, lo, lo + k))
            lo += k
    top_down.reverse()
    return top_down


def consistency_proof(old_size: int, leaf_hashes: Sequence[bytes]) -> list[bytes]:
    """PROOF(old_size, D[n]) = SUBPROOF(old_size, D[n], true) of RFC 9162 §2.1.4.1.

    The new tree is all of ``leaf_hashes``. The proof is empty when ``old_size`` is 0
    or equal to the new size (nothing to prove).
    """
    size = len(leaf_hashes)
    _check_size(old_size, "old tree size")
    if old_size > size:
        raise InvalidInput(f"old tree size {old_size} is larger than the new size {size}")
    if old_size in (0, size):
        return []
    leaves = _leaf_list(leaf_hashes)
    top_down: list[bytes] = []
    lo, hi, m = 0, size, old_size
    complete = True  # the "b" flag of SUBPROOF: still on the left edge of the tree
    while m != hi - lo:
        k = _largest_power_of_two_below(hi - lo)
        if m <= k:  # SUBPROOF(m, D[0:k], b) : MTH(D[k:n])
            top_down.append(_subtree(leaves, lo + k, hi))
            hi = lo + k
        else:  # SUBPROOF(m - k, D[k:n], false) : MTH(D[0:k])
            top_down.append(_subtree(leaves, lo, lo + k))
            lo += k
            m -= k
            complete = False
    proof = [] if complete else [_subtree(leaves, lo, hi)]  # m == n and b is false
    proof.extend(reversed(top_down))
    return proof


# ------------------------------------------------------------------------- verifiers


def _check_proof_hash(value: object, what: str) -> bytes:
    if not isinstance(value, bytes | bytearray) or len(value) != HASH_SIZE:
        raise ProofError(f"{what} is not a {HASH_SIZE}-byte SHA-256 hash")
    return bytes(value)


def _check_proof_size(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ProofError(f"{what} must be a non-negative integer (got {value!r})")
    return value


def verify_inclusion(
    index: int,
    tree_size: int,
    leaf_hash: bytes,
    proof: Sequence[bytes],
    root: bytes,
) -> None:
    """Check that ``leaf_hash`` is leaf ``index`` of the tree of ``tree_size`` with ``root``.

    The algorithm of RFC 9162 §2.1.3.2. Raises ProofError on any failure.
    """
    index = _check_proof_size(index, "leaf index")
    tree_size = _check_proof_size(tree_size, "tree size")
    if index >= tree_size:
        raise ProofError(f"leaf index {index} is outside a tree of size {tree_size}")
    r = _check_proof_hash(leaf_hash, "leaf hash")
    expected = _check_proof_hash(root, "root hash")
    path = [_check_proof_hash(p, f"inclusion proof element {i}") for i, p in enumerate(proof)]

    sha = _sha256
    fn, sn = index, tree_size - 1
    for p in path:
        if sn == 0:
            raise ProofError(
                f"inclusion proof for leaf {index} of {tree_size} is too long ({len(path)} hashes)"
            )
        if fn & 1 or fn == sn:
            r = sha(_NODE_PREFIX + p + r).digest()
            while fn and not fn & 1:
                fn >>= 1
                sn >>= 1
        else:
            r = sha(_NODE_PREFIX + r + p).digest()
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError(
            f"inclusion proof for leaf {index} of {tree_size} is too short ({len(path)} hashes)"
        )
    if r != expected:
        raise ProofError(
            f"inclusion proof for leaf {index} of {tree_size} does not lead to the expected "
            f"root (computed {r.hex()[:16]}…, expected {expected.hex()[:16]}…)"
        )


def verify_consistency(
    old_size: int,
    new_size: int,
    old_root: bytes,
    new_root: bytes,
    proof: Sequence[bytes],
) -> None:
    """Check that the tree of ``new_size`` with ``new_root`` extends the old one.

    The algorithm of RFC 9162 §2.1.4.2, plus the trivial cases it leaves out: equal
    sizes need equal roots and an empty proof; an old size of 0 needs the empty-tree
    root and an empty proof. Raises ProofError on any failure.
    """
    old_size = _check_proof_size(old_size, "old tree size")
    new_size = _check_proof_size(new_size, "new tree size")
    first_hash = _check_proof_hash(old_root, "old root hash")
    second_hash = _check_proof_hash(new_root, "new root hash")
    path = [_check_proof_hash(p, f"consistency proof element {i}") for i, p in enumerate(proof)]
    if old_size > new_size:
        raise ProofError(f"old tree size {old_size} is larger than the new size {new_size}")
    if old_size == new_size or old_size == 0:
        if path:
            raise ProofError(
                f"consistency proof from {old_size} to {new_size} must be empty "
                f"(got {len(path)} hashes)"
            )
        if old_size == 0:
            if first_hash != EMPTY_ROOT:
                raise ProofError("the root of an empty tree must be SHA-256 of the empty string")
        elif first_hash != second_hash:
            raise ProofError(f"two trees of the same size {old_size} have different roots")
        return
    # 1. An empty path fails.
    if not path:
        raise ProofError(f"consistency proof from {old_size} to {new_size} is empty")
    # 2. If first is an exact power of 2, prepend first_hash to the path.
    if old_size & (old_size - 1) == 0:
        path.insert(0, first_hash)
    # 3.-4.
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    # 5.
    sha = _sha256
    fr = sr = path[0]
    # 6.
    for c in path[1:]:
        if sn == 0:
            raise ProofError(f"consistency proof from {old_size} to {new_size} is too long")
        if fn & 1 or fn == sn:
            fr = sha(_NODE_PREFIX + c + fr).digest()
            sr = sha(_NODE_PREFIX + c + sr).digest()
            while fn and not fn & 1:
                fn >>= 1
                sn >>= 1
        else:
            sr = sha(_NODE_PREFIX + sr + c).digest()
        fn >>= 1
        sn >>= 1
    # 7.
    if sn != 0:
        raise ProofError(f"consistency proof from {old_size} to {new_size} is too short")
    if fr != first_hash:
        raise ProofError(
            f"consistency proof from {old_size} to {new_size} does not reproduce the old root"
        )
    if sr != second_hash:
        raise ProofError(
            f"consistency proof from {old_size} to {new_size} does not reproduce the new root"
        )


# ---------------------------------------------------------------------- compact range


class CompactRange:
    """The right frontier of a growing RFC 6962 tree: O(log n) appends, O(log n) root.

    ``hashes`` holds the roots of the perfect subtrees that make up the tree, largest
    (leftmost) first, one per set bit of ``size``. For size 7 = 4 + 2 + 1 they are
    MTH(D[0:4]), MTH(D[4:6]) and the leaf hash of D[6].
    """

    _FORMAT_VERSION = 1
    _MAX_SIZE = (1 << 64) - 1

    __slots__ = ("_hashes", "_size")

    def __init__(self, size: int = 0, hashes: Sequence[bytes] = ()) -> None:
        size = _check_size(size, "compact range size")
        if size > self._MAX_SIZE:
            raise InvalidInput(f"compact range size {size} does not fit in 64 bits")
        if isinstance(hashes, bytes | bytearray | str):
            raise InvalidInput("compact range hashes must be a sequence of hashes")
        stored: list[bytes] = []
        for i, h in enumerate(hashes):
            if not isinstance(h, bytes | bytearray) or len(h) != HASH_SIZE:
                raise InvalidInput(f"compact range hash {i} is not a {HASH_SIZE}-byte hash")
            stored.append(bytes(h))
        if len(stored) != size.bit_count():
            raise InvalidInput(
                f"a compact range of size {size} needs {size.bit_count()} hashes, not {len(stored)}"
            )
        self._size = size
        self._hashes = stored

    @property
    def size(self) -> int:
        return self._size

    @property
    def hashes(self) -> tuple[bytes, ...]:
        return tuple(self._hashes)

    def append(self, leaf_hash: bytes) -> None:
        """Add one leaf (its hash) at the right edge of the tree."""
        if not isinstance(leaf_hash, bytes | bytearray) or len(leaf_hash) != HASH_SIZE:
            raise InvalidInput(f"a leaf hash must be {HASH_SIZE} bytes (SHA-256)")
        if self._size >= self._MAX_SIZE:
            raise InvalidInput("the compact range is full (2**64 - 1 leaves)")
        h = bytes(leaf_hash)
        hashes = self._hashes
        s = self._size
        while s & 1:
            h = _sha256(_NODE_PREFIX + hashes.pop() + h).digest()
            s >>= 1
        hashes.append(h)
        self._size += 1

    def extend(self, leaf_hashes: Iterable[bytes]) -> None:
        """Append many leaf hashes, left to right."""
        for h in leaf_hashes:
            self.append(h)

    def root(self) -> bytes:
        """MTH of the whole tree, folding the frontier from the right."""
        if not self._hashes:
            return EMPTY_ROOT
        hashes = self._hashes
        r = hashes[-1]
        for h in reversed(hashes[:-1]):
            r = _sha256(_NODE_PREFIX + h + r).digest()
        return r

    def to_bytes(self) -> bytes:
        """Serialise as version byte 0x01, the size as uint64 big-endian, the hashes."""
        return (
            bytes((self._FORMAT_VERSION,)) + self._size.to_bytes(8, "big") + b"".join(self._hashes)
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> CompactRange:
        """Parse the output of :meth:`to_bytes`; raises InvalidInput when malformed."""
        if not isinstance(data, bytes | bytearray | memoryview):
            raise InvalidInput("a serialised compact range must be bytes")
        data = bytes(data)
        if len(data) < 9:
            raise InvalidInput("serialised compact range is truncated")
        if data[0] != cls._FORMAT_VERSION:
            raise InvalidInput(f"unknown compact range format version {data[0]}")
        size = int.from_bytes(data[1:9], "big")
        body = data[9:]
        if len(body) != HASH_SIZE * size.bit_count():
            raise InvalidInput(
                f"serialised compact range of size {size} must carry {size.bit_count()} hashes"
            )
        hashes = [body[i : i + HASH_SIZE] for i in range(0, len(body), HASH_SIZE)]
        return cls(size, hashes)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, CompactRange):
            return NotImplemented
        return self._size == other._size and self._hashes == other._hashes

    __hash__ = None  # type: ignore[assignment]  # mutable: not hashable

    def __repr__(self) -> str:
        return f"CompactRange(size={self._size}, root={self.root().hex()[:16]}…)"
