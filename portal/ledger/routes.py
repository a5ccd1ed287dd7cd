"""Public ledger endpoints: the key that signs checkpoints, and the latest checkpoint.

- ``/ledger/public-key``: the current verifier key (``<name>+<key id>+<base64>``), text;
- ``/ledger/keys``: every key that signs or signed checkpoints, current first, one a line;
- ``/ledger/checkpoint``: the latest signed checkpoint (a C2SP signed note), text.
They reveal the log's size and root only, no entry. Pin the key you fetch once: the URL is a
convenience, the key itself is the trust anchor (README "How to check a certificate").
"""

from __future__ import annotations

from flask import Blueprint, abort, current_app

from portal.ledger import checkpoints, keys

bp = Blueprint("ledger", __name__, url_prefix="/ledger")


def _text(body: str):
    return body, 200, {"Content-Type": "text/plain; charset=utf-8", "Cache-Control": "no-cache"}


def public_keys() -> list[str]:
    """Encoded verifier keys, current first: ``LEDGER_PUBLIC_KEY`` when the web processes
    cannot read the key file, else the key file's; then the retired ones."""
    configured = current_app.config.get("LEDGER_PUBLIC_KEY")
    current = [configured] if configured else [v.encoded() for v in keys.trusted_verifiers()[:1]]
    if not configured and not keys.has_signer():
        current = []
    return list(dict.fromkeys([*current, *(v.encoded() for v in keys.retired_verifiers())]))


@bp.get("/public-key")
def public_key():
    found = public_keys()
    if not found:
        abort(404, "no ledger signing key is configured")
    return _text(found[0] + "\n")


@bp.get("/keys")
def all_keys():
    return _text("".join(k + "\n" for k in public_keys()))


@bp.get("/checkpoint")
def latest_checkpoint():
    row = checkpoints.latest()
    if row is None:
        abort(404, "no checkpoint has been issued yet")
    return _text(row.note)
