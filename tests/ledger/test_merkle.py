"""RFC 9162 §2.1 hashing and proofs, against the RFC's recursive definitions and the
published test vectors of transparency-dev/merkle (testonly/constants.go, reference_test.go).
"""

from __future__ import annotations

import datetime as dt

import pytest

from forewarn_verify import rfc9162
from forewarn_verify.rfc9162 import (
    CompactRange,
    ProofError,
    consistency_ranges,
    inclusion_ranges,
    leaf_hash,
    node_hash,
    root_of,
    split_point,
    verify_consistency,
    verify_inclusion,
)
from portal.extensions import db
from portal.ledger import tree
from portal.ledger.services import record
from tests.conftest import T0

H = bytes.fromhex
LEAF_INPUTS = [H(x) for x in ("", "00", "10", "2021", "3031", "40414243", "5051525354555657",
                              "606162636465666768696a6b6c6d6e6f")]  # fmt: skip
ROOTS = [
    H("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
    H("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
    H("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"),
    H("aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77"),
    H("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
    H("4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4"),
    H("76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef"),
    H("ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c"),
    H("5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"),
]
N = {
    "0.1": H("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
    "0.0": H("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
    "0.4": H("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
    "1.0": H("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"),
    "1.1": H("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
    "1.2": H("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
    "1.3": H("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
    "2.0": H("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
    "2.1": H("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"),
}
INCLUSION = [  # (index, size, proof) from reference_test.go TestRefInclusionProof
    (0, 1, []),
    (0, 2, ["0.1"]),
    (1, 2, ["0.0"]),
    (2, 3, ["1.0"]),
    (1, 5, ["0.0", "1.1", "0.4"]),
    (0, 8, ["0.1", "1.1", "2.1"]),
    (5, 8, ["0.4", "1.3", "2.0"]),
]
CONSISTENCY = [  # (old, new, proof) from TestRefConsistencyProof
    (1, 1, []),
    (1, 8, ["0.1", "1.1", "2.1"]),
    (2, 5, ["1.1", "0.4"]),
    (6, 8, ["1.2", "1.3", "2.0"]),
]
LEAVES = [leaf_hash(x) for x in LEAF_INPUTS]


def _hashes(ranges, leaves):
    return [root_of(leaves[a:b]) for a, b in ranges]


def test_root_hashes_match_the_published_vectors():
    assert [root_of(LEAVES[:n]) for n in range(9)] == ROOTS


def test_compact_range_gives_the_same_roots():
    rng = CompactRange()
    roots = [rng.root()]
    for leaf in LEAVES:
        rng.append(leaf)
        roots.append(rng.root())
    assert roots == ROOTS


@pytest.mark.parametrize(("index", "size", "want"), INCLUSION)
def test_inclusion_proofs_match_the_published_vectors(index, size, want):
    proof = _hashes(inclusion_ranges(index, size), LEAVES)
    assert proof == [N[k] for k in want]
    verify_inclusion(index, size, LEAVES[index], proof, ROOTS[size])


@pytest.mark.parametrize(("old", "new", "want"), CONSISTENCY)
def test_consistency_proofs_match_the_published_vectors(old, new, want):
    proof = _hashes(consistency_ranges(old, new), LEAVES)
    assert proof == [N[k] for k in want]
    verify_consistency(old, new, ROOTS[old], ROOTS[new], proof)


def _ref_path(m, leaves):
    """PATH(m, D[n]) exactly as RFC 9162 §2.1.3.1 writes it."""
    n = len(leaves)
    if n == 1:
        return []
    k = split_point(n)
    if m < k:
        return _ref_path(m, leaves[:k]) + [root_of(leaves[k:])]
    return _ref_path(m - k, leaves[k:]) + [root_of(leaves[:k])]


def _ref_subproof(m, leaves, b):
    """SUBPROOF(m, D[n], b) exactly as RFC 9162 §2.1.4.1 writes it."""
    n = len(leaves)
    if m == n:
        return [] if b else [root_of(leaves)]
    k = split_point(n)
    if m <= k:
        return _ref_subproof(m, leaves[:k], b) + [root_of(leaves[k:])]
    return _ref_subproof(m - k, leaves[k:], False) + [root_of(leaves[:k])]


MANY = [leaf_hash(str(i).encode()) for i in range(33)]


def test_every_proof_matches_the_rfc_definitions_and_verifies():
    for n in range(1, len(MANY) + 1):
        leaves, root = MANY[:n], root_of(MANY[:n])
        for m in range(n):
            proof = _hashes(inclusion_ranges(m, n), leaves)
            assert proof == _ref_path(m, leaves)
            verify_inclusion(m, n, leaves[m], proof, root)
        for m in range(1, n + 1):
            proof = _hashes(consistency_ranges(m, n), leaves)
            assert proof == (_ref_subproof(m, leaves, True) if m < n else [])
            verify_consistency(m, n, root_of(leaves[:m]), root, proof)


def test_a_wrong_leaf_index_size_or_hash_fails_inclusion():
    leaves = MANY[:13]
    root, proof = root_of(leaves), _hashes(inclusion_ranges(5, 13), leaves)
    with pytest.raises(ProofError):
        verify_inclusion(5, 13, leaves[6], proof, root)
    with pytest.raises(ProofError):
        verify_inclusion(4, 13, leaves[5], proof, root)
    with pytest.raises(ProofError, match="tree size|longer|shorter|root"):
        verify_inclusion(5, 14, leaves[5], proof, root_of(MANY[:14]))
    with pytest.raises(ProofError):
        verify_inclusion(5, 13, leaves[5], proof[:-1], root)
    with pytest.raises(ProofError):
        verify_inclusion(13, 13, leaves[5], proof, root)


def test_a_rewritten_prefix_fails_consistency():
    leaves = MANY[:20]
    forged = [*MANY[:7], leaf_hash(b"forged"), *MANY[8:20]]
    proof = _hashes(consistency_ranges(10, 20), forged)
    with pytest.raises(ProofError, match="rewritten|root"):
        verify_consistency(10, 20, root_of(leaves[:10]), root_of(forged), proof)
    with pytest.raises(ProofError):
        verify_consistency(10, 20, root_of(leaves[:10]), root_of(leaves), [])
    with pytest.raises(ProofError):
        verify_consistency(20, 10, root_of(leaves), root_of(leaves[:10]), proof)


def test_node_hash_uses_the_interior_prefix():
    assert node_hash(N["0.0"], N["0.1"]) == N["1.0"]
    assert rfc9162.EMPTY_ROOT == ROOTS[0]


def test_stored_tree_gives_the_roots_and_proofs_of_its_entries(app):
    from portal.ledger.services import entries_for, fields_body

    for i in range(11):
        record("test.fact", subject_type="t", subject_id=i, now=T0 + dt.timedelta(seconds=i))
    db.session.commit()
    leaves = [
        leaf_hash(
            fields_body(
                **{
                    k: getattr(e, k)
                    for k in (
                        "seq",
                        "at",
                        "action",
                        "actor_id",
                        "actor_label",
                        "subject_type",
                        "subject_id",
                        "tenant_id",
                        "change_id",
                        "payload",
                        "prev_hash",
                    )
                }  # fmt: skip
            )
        )
        for e in entries_for()
    ]
    for n in range(1, 12):
        assert tree.root(n) == root_of(leaves[:n])
        for m in range(n):
            assert tree.inclusion_proof(m, n) == _ref_path(m, leaves[:n])
        for m in range(1, n):
            assert tree.consistency_proof(m, n) == _ref_subproof(m, leaves[:n], True)
