"""``forewarn ledger verify``: the hash chain, the stored Merkle tree, and signed checkpoints.

The chain walk (``services.verify``) finds edited, removed and reordered entries; but someone
with write access can recompute a whole chain after forging, truncating (moving the head) or
wiping it. So the walk also recomputes the Merkle tree from the entries (O(log n) memory) and
checks it against:

- the latest stored checkpoint and the witness file beside the signing key (and any
  checkpoint files given, e.g. cut from customers' emails): each must be signed by a trusted
  key (``keys.trusted_verifiers``, read from files, never from the database), carry our
  origin, cover no more entries than the ledger holds, and have the root the entries give;
- the stored tree (``ledger_tree_nodes``) at the ledger's size, which proofs are served from.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from forewarn_verify.notes import Checkpoint, NoteError
from forewarn_verify.rfc9162 import CompactRange, leaf_hash
from portal.ledger import checkpoints, keys, tree
from portal.ledger.services import Verification, verify
from portal.ledger.tree import MissingNodes


@dataclass
class Audit:
    """The chain's verification plus what the tree and checkpoints showed."""

    chain: Verification
    problems: list[str] = field(default_factory=list)
    checkpoints_checked: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.chain.ok and not self.problems

    def as_dict(self) -> dict:
        return {
            **self.chain.as_dict(),
            "ok": self.ok,
            "problems": self.problems,
            "checkpoints_checked": self.checkpoints_checked,
        }


def audit(witnesses: dict[str, str] | None = None, progress=None) -> Audit:
    """Verify the chain, the stored tree and every checkpoint we hold (see module docstring);
    ``witnesses`` maps a name to a signed note given by the operator."""
    notes: dict[str, str] = {}
    latest = checkpoints.latest()
    if latest is not None:
        notes[f"stored checkpoint #{latest.id}"] = latest.note
    witness = checkpoints.read_witness()
    if witness:
        notes[f"witness file {checkpoints.witness_path()}"] = witness
    notes.update(witnesses or {})
    rng, roots = CompactRange(), {0: CompactRange().root()}
    wanted = {_size_of(note) for note in notes.values()}

    def on_entry(_entry, body: bytes) -> None:
        rng.append(leaf_hash(body))
        if rng.size in wanted:
            roots[rng.size] = rng.root()

    result = Audit(verify(progress=progress, on_entry=on_entry))
    count = rng.size
    roots[count] = rng.root()
    opened: dict[str, Checkpoint] = {}
    trusted = keys.trusted_verifiers()
    for name, note in notes.items():
        if not trusted:
            result.problems.append(f"{name}: no trusted key to check it (no signing key file)")
            continue
        try:
            opened[name] = checkpoints.open_stored(note)
        except NoteError as err:
            result.problems.append(f"{name}: {err}")
    for name, cp in opened.items() if result.chain.ok else ():
        result.checkpoints_checked.append(f"{name}: {cp.size} entries")
        if cp.size > count:
            result.problems.append(
                f"{name} signed {cp.size} entries but the ledger holds {count}: "
                "entries were removed (truncated or wiped)"
            )
        elif roots.get(cp.size) != cp.root_hash:
            result.problems.append(
                f"{name}: the first {cp.size} entries are not the ones it signed "
                "(history rewritten or forged)"
            )
    try:
        if result.chain.ok and count and tree.root(count) != roots[count]:
            result.problems.append("the stored Merkle tree does not match the entries")
    except MissingNodes as err:
        result.problems.append(str(err))
    return result


def _size_of(note: str) -> int | None:
    try:
        return Checkpoint.parse(note[: note.rfind("\n\n") + 1]).size
    except NoteError:
        return None
