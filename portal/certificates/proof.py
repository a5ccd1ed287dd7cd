"""The proof a certificate carries (DESIGN.md "Proof"; issue 13).

``attach(cert, …)`` adds to a built certificate:

- ``proof``: the log's origin and public key, the signed checkpoint (C2SP signed note), every
  cited ledger entry in full with its leaf index and RFC 9162 inclusion proof against that
  checkpoint, and consistency proofs from the older checkpoints the caller names
  (``?since=``). Only entries of this tenant (or of no tenant) are cited; other tenants'
  entries appear only as hashes inside proof paths.
- ``ledger_verification``: checked in O(log n) rows, not by walking the chain (that is
  ``forewarn ledger verify``): each cited entry against its hash, its predecessor's hash and
  its stored leaf, the stored tree against the signed root, the head against the size.
- ``ledger_agreement``: ``forewarn_verify.claims.check``: every claim against its entry.
"""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Sequence

from sqlalchemy import select
from werkzeug.exceptions import BadRequest

from forewarn_verify import claims
from forewarn_verify.entries import chain_hash
from forewarn_verify.notes import Checkpoint, NoteError, from_transport, transport
from forewarn_verify.rfc9162 import leaf_hash
from portal.extensions import db
from portal.ledger import checkpoints, keys, tree
from portal.ledger.models import LedgerEntry, LedgerHead
from portal.ledger.services import GENESIS, as_certified, fields_body
from portal.ledger.tree import MissingNodes

_FIELDS = (
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


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def entry_dict(row: LedgerEntry) -> dict:
    """An entry as a certificate carries it (``forewarn_verify.entries``) with its hash."""
    return {**as_certified({k: getattr(row, k) for k in _FIELDS}), "hash": row.hash}


def parse_since(values: list[str]) -> list[int]:
    """Tree sizes named by ``?since=``: a decimal size, or a checkpoint as an email carries it
    (one base64 line) or as a signed note; a note must carry our origin and a trusted
    signature. Raises ``BadRequest`` (400) with the reason."""
    sizes = []
    for value in values:
        value = value.strip()
        if value.isdecimal():
            if not value.isascii() or len(value) > 18:  # ``int`` fails past 4,300 digits
                raise BadRequest("since: a tree size is a whole number below 10^18")
            sizes.append(int(value))
            continue
        try:
            note = value if "\n" in value else from_transport(value)
            sizes.append(checkpoints.open_stored(note).size)
        except NoteError as err:
            raise BadRequest(f"since: {err}") from None
    return sizes


def _covering(max_seq: int, now: dt.datetime):
    """The latest checkpoint, issued now if it does not cover the cited entries yet and this
    process can read the signing key (the caller commits)."""
    latest = checkpoints.latest()
    if (latest is None or latest.tree_size < max_seq) and keys.has_signer():
        latest = checkpoints.issue(now) or checkpoints.latest()
    return latest


def attach(cert: dict, *, tenant_id: int, now: dt.datetime, since: Sequence[str] = ()) -> dict:
    """Add ``proof``, ``ledger_verification`` and ``ledger_agreement`` to ``cert`` (in place;
    returned). ``since``: see ``parse_since``; a size beyond the certificate's checkpoint is
    a 400."""
    since_sizes = parse_since(list(since))
    seqs = sorted({cite["seq"] for _path, cite in claims.cites(cert)})
    rows = {
        r.seq: r
        for r in db.session.scalars(select(LedgerEntry).where(LedgerEntry.seq.in_(seqs)))
        if r.tenant_id in (None, tenant_id)
    }
    entries = {seq: entry_dict(row) for seq, row in rows.items()}
    head = db.session.get(LedgerHead, 1)
    head_seq, head_hash = (head.seq, head.hash) if head else (0, GENESIS)
    checkpoint = _covering(max(seqs, default=0), now)
    size = checkpoint.tree_size if checkpoint else head_seq
    for size_m in since_sizes:
        if size_m > size:
            raise BadRequest(
                f"since: a checkpoint of {size_m} entries is newer than this certificate's "
                f"({size}); download the certificate again later"
            )
    proven = [s for s in entries if s <= size]
    try:
        paths = tree.inclusion_proofs([s - 1 for s in proven], size) if size else {}
        consistency = [
            {"from_size": m, "proof": [_b64(h) for h in tree.consistency_proof(m, size)]}
            for m in since_sizes
        ]
    except MissingNodes:
        paths, consistency = {}, []
    for seq in proven:
        if seq - 1 in paths:
            entries[seq]["inclusion_proof"] = [_b64(h) for h in paths[seq - 1]]
    for seq, entry in entries.items():
        entry["leaf_index"] = seq - 1
    cert["proof"] = {
        "log": {
            "origin": keys.origin(),
            "public_keys_url": "/ledger/keys",
        },
        "checkpoint": checkpoint.note if checkpoint else None,
        "checkpoint_transport": transport(checkpoint.note) if checkpoint else None,
        "tree_size": size,
        "entries": [entries[s] for s in sorted(entries)],
        "consistency": consistency,
    }
    cert["ledger_verification"] = {
        **_verify(rows, checkpoint, head_seq, head_hash),
        "verified_at": cert["certificate"]["issued_at"],
    }
    problems = claims.check(cert, entries)
    cert["ledger_agreement"] = {"ok": not problems, "problems": problems}
    return cert


def _verify(rows: dict[int, LedgerEntry], checkpoint, head_seq: int, head_hash: str) -> dict:
    def result(ok: bool, reason: str = "", broken: int | None = None) -> dict:
        return {
            "ok": ok,
            "entries": head_seq,
            "head_hash": head_hash,
            "broken_seq": broken,
            "reason": reason,
            "checkpoint_size": checkpoint.tree_size if checkpoint else None,
        }

    prev_seqs = [s - 1 for s in rows if s > 1 and s - 1 not in rows]
    prev = {s: h for s, h in db.session.execute(
        select(LedgerEntry.seq, LedgerEntry.hash).where(LedgerEntry.seq.in_(prev_seqs))
    )}  # fmt: skip
    prev.update({s: r.hash for s, r in rows.items()})
    stored_leaves = tree.leaves([s - 1 for s in rows])
    for seq in sorted(rows):
        row = rows[seq]
        body = fields_body(**{k: getattr(row, k) for k in _FIELDS})
        if chain_hash(entry_dict(row)) != row.hash:
            return result(
                False, f"entry {seq} was altered: its content no longer matches its hash", seq
            )
        if row.prev_hash != (prev.get(seq - 1) if seq > 1 else GENESIS):
            return result(
                False,
                f"entry {seq} does not follow entry {seq - 1} (removed, reordered or edited)",
                seq,
            )
        if stored_leaves.get(seq - 1) != leaf_hash(body):
            return result(False, f"entry {seq} is not the entry the Merkle tree holds", seq)
    if checkpoint is None:
        return result(True, "no signed checkpoint yet: run the worker with a signing key")
    try:
        signed = _signed(checkpoint.note)
    except NoteError as err:
        return result(False, f"the stored checkpoint does not verify: {err}")
    if head_seq < signed.size:
        return result(
            False,
            f"the ledger ends at entry {head_seq} but a signed checkpoint covers "
            f"{signed.size} entries: entries were removed",
            head_seq + 1,
        )
    try:
        root = tree.root(signed.size)
    except MissingNodes as err:
        return result(False, str(err))
    if root != signed.root_hash:
        return result(
            False,
            "the stored Merkle tree does not match the signed checkpoint: history was rewritten",
        )
    return result(True)


def _signed(note: str) -> Checkpoint:
    """The checkpoint in a stored note: signature checked when this process knows the keys
    (else only parsed; the customer's verifier checks it)."""
    if keys.trusted_verifiers():
        return checkpoints.open_stored(note)
    text = note[: note.rfind("\n\n") + 1]
    return Checkpoint.parse(text)
