"""Merkle tree hashing and proofs exactly as RFC 9162 §2.1 defines them (SHA-256).

Leaves are ``SHA-256(0x00 || data)``, interior nodes ``SHA-256(0x01 || left || right)``, the
empty tree's hash is ``SHA-256()``. Proof *generation* is expressed as the list of subtree
ranges ``[start, end)`` whose hashes form the proof (RFC 9162 §2.1.3.1 PATH, §2.1.4.1
SUBPROOF), so a store can answer from its saved subtree hashes (``subtree_nodes``) without
reading the leaves; proof *verification* follows §2.1.3.2 and §2.1.4.2 step by step.
"""

from __future__ import annotations

import hashlib

EMPTY_ROOT = hashlib.sha256(b"").digest()


class ProofError(ValueError):
    """A proof does not verify; the message says why in one line."""


def leaf_hash(data: bytes) -> bytes:
    """RFC 9162 §2.1.1: the hash of one leaf's input."""
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """RFC 9162 §2.1.1: the hash of an interior node."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def split_point(n: int) -> int:
    """The largest power of two smaller than ``n`` (n >= 2): RFC 9162's ``k``."""
    if n < 2:
        raise ValueError("split_point needs n >= 2")
    return 1 << ((n - 1).bit_length() - 1)


def root_of(leaf_hashes: list[bytes]) -> bytes:
    """MTH over already-hashed leaves, by the recursive definition (reference; O(n))."""
    n = len(leaf_hashes)
    if n == 0:
        return EMPTY_ROOT
    if n == 1:
        return leaf_hashes[0]
    k = split_point(n)
    return node_hash(root_of(leaf_hashes[:k]), root_of(leaf_hashes[k:]))


def inclusion_ranges(index: int, size: int) -> list[tuple[int, int]]:
    """The subtree ranges of PATH(index, D[size]) (§2.1.3.1), leaf side first."""
    if not 0 <= index < size:
        raise ValueError(f"leaf {index} is not in a tree of size {size}")
    out: list[tuple[int, int]] = []
    offset, n, m = 0, size, index
    while n > 1:
        k = split_point(n)
        if m < k:
            out.append((offset + k, offset + n))
            n = k
        else:
            out.append((offset, offset + k))
            offset, n, m = offset + k, n - k, m - k
    out.reverse()
    return out


def consistency_ranges(old_size: int, new_size: int) -> list[tuple[int, int]]:
    """The subtree ranges of PROOF(old_size, D[new_size]) (§2.1.4.1); empty when the sizes
    are equal or the old tree is empty."""
    if not 0 <= old_size <= new_size:
        raise ValueError(f"no consistency proof from size {old_size} to size {new_size}")
    if old_size in (0, new_size):
        return []
    out: list[tuple[int, int]] = []
    offset, m, n, complete = 0, old_size, new_size, True
    while m != n:
        k = split_point(n)
        if m <= k:
            out.append((offset + k, offset + n))
            n = k
        else:
            out.append((offset, offset + k))
            offset, m, n, complete = offset + k, m - k, n - k, False
    if not complete:
        out.append((offset, offset + m))
    out.reverse()
    return out


def subtree_nodes(start: int, end: int) -> list[tuple[int, int]]:
    """The perfect subtrees ``(level, index)`` (leaves are level 0) that make up the range,
    left to right; a node at level ``l`` and index ``i`` covers ``[i * 2**l, (i+1) * 2**l)``."""
    out = []
    while start < end:
        size = 1 << ((end - start).bit_length() - 1)
        while start % size:
            size >>= 1
        out.append((size.bit_length() - 1, start // size))
        start += size
    return out


def range_hash(nodes: list[bytes]) -> bytes:
    """MTH of a range given ``subtree_nodes``' hashes in order (sizes strictly decreasing, as
    in every range of a proof): fold from the right."""
    acc = nodes[-1]
    for left in reversed(nodes[:-1]):
        acc = node_hash(left, acc)
    return acc


def verify_inclusion(index: int, size: int, leaf: bytes, proof: list[bytes], root: bytes) -> None:
    """RFC 9162 §2.1.3.2; raises ``ProofError`` unless ``leaf`` is entry ``index`` of the tree
    of ``size`` whose hash is ``root``."""
    if not 0 <= index < size:
        raise ProofError(f"entry {index} cannot be in a tree of {size} entries")
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            raise ProofError("the inclusion proof is longer than the tree allows")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("the inclusion proof is shorter than the tree needs (wrong tree size?)")
    if r != root:
        raise ProofError("the inclusion proof does not lead to the checkpoint's root hash")


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: list[bytes]
) -> None:
    """RFC 9162 §2.1.4.2; raises ``ProofError`` unless the tree of ``old_size`` with
    ``old_root`` is a prefix of the tree of ``new_size`` with ``new_root``."""
    if not 0 <= old_size <= new_size:
        raise ProofError(f"a tree of {new_size} entries cannot extend one of {old_size}")
    if old_size == new_size:
        if proof:
            raise ProofError("a consistency proof between equal sizes must be empty")
        if old_root != new_root:
            raise ProofError(f"two different root hashes for the same size {old_size}")
        return
    if old_size == 0:
        if proof:
            raise ProofError("a consistency proof from the empty tree must be empty")
        return
    if not proof:
        raise ProofError("the consistency proof is empty")
    path = list(proof)
    if old_size & (old_size - 1) == 0:
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise ProofError("the consistency proof is longer than the trees allow")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("the consistency proof is shorter than the trees need")
    if fr != old_root:
        raise ProofError(f"the tree of {old_size} entries was rewritten since (old root differs)")
    if sr != new_root:
        raise ProofError("the consistency proof does not lead to the newer root hash")


class CompactRange:
    """The right edge of a growing tree (one hash per set bit of its size): appending is
    O(log n) and ``root()`` gives MTH of everything appended so far, in O(log n) memory."""

    def __init__(self) -> None:
        self.size = 0
        self._stack: list[tuple[int, bytes]] = []  # (level, hash), levels strictly decreasing

    def append(self, leaf: bytes) -> list[tuple[int, int, bytes]]:
        """Add a leaf hash; returns the perfect nodes ``(level, index, hash)`` it completed,
        the leaf itself first."""
        index = self.size
        self.size += 1
        made = [(0, index, leaf)]
        level, h = 0, leaf
        while self._stack and self._stack[-1][0] == level:
            _, left = self._stack.pop()
            h = node_hash(left, h)
            level += 1
            made.append((level, index >> level, h))
        self._stack.append((level, h))
        return made

    @classmethod
    def from_nodes(cls, size: int, nodes: list[bytes]) -> CompactRange:
        """Resume from the hashes of ``frontier(size)``, left to right."""
        rng = cls()
        rng.size = size
        rng._stack = [(level, h) for (level, _i), h in zip(frontier(size), nodes, strict=True)]
        return rng

    def root(self) -> bytes:
        if not self._stack:
            return EMPTY_ROOT
        return range_hash([h for _level, h in self._stack])


def frontier(size: int) -> list[tuple[int, int]]:
    """The perfect subtrees ``(level, index)`` whose hashes make up a tree of ``size``."""
    return subtree_nodes(0, size)
