"""The bytes a ledger entry's chain hash and Merkle leaf cover.

An entry's body is canonical JSON (sorted keys, no whitespace, UTF-8) of its recorded fields
and the previous entry's hash; its chain hash is ``SHA-256(body)`` in hex, and its Merkle leaf
hash is ``SHA-256(0x00 || body)`` (RFC 9162 §2.1.1), leaf index ``seq - 1``.
"""

from __future__ import annotations

import hashlib
import json

# The keys of an entry as a certificate carries it (besides "hash").
FIELDS = (
    "seq",
    "at",
    "action",
    "actor_id",
    "actor",
    "subject",
    "tenant_id",
    "change_id",
    "payload",
    "prev",
)


def body(entry: dict) -> bytes:
    """Canonical JSON of the entry's fields (``FIELDS``); ``at`` is ISO-8601 UTC text and
    ``payload`` the canonical JSON text as recorded."""
    data = {name: entry[name] for name in FIELDS}
    if isinstance(data["subject"], tuple):
        data["subject"] = list(data["subject"])
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def chain_hash(entry: dict) -> str:
    """The entry's hash in the hash chain (hex)."""
    return hashlib.sha256(body(entry)).hexdigest()
