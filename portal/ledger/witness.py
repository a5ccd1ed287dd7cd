"""Signed checkpoints carried by every notice email and private feed (DESIGN.md "Proof").

Each email gets an ``X-Forewarn-Checkpoint`` header and a last text line "Ledger checkpoint:
…", and each private feed body a ``<forewarn:checkpoint>`` element (RSS, Atom) or an
``X-FOREWARN-CHECKPOINT`` property (iCalendar): the latest checkpoint when it was rendered,
as one base64 line (``forewarn_verify.notes.transport``). Customers keep them in mailboxes and
feed readers; ``forewarn-verify --checkpoint`` reads any of those files back.
"""

from __future__ import annotations

from sqlalchemy import select

from forewarn_verify.notes import transport
from portal.extensions import db
from portal.ledger.models import LedgerCheckpoint

HEADER = "X-Forewarn-Checkpoint"
TEXT_LABEL = "Ledger checkpoint"
XML_NS = "urn:forewarn:ledger-checkpoint"
ICS_PROPERTY = "X-FOREWARN-CHECKPOINT"


def latest_transport() -> str | None:
    """The latest signed checkpoint as one base64 line, or None before the first one."""
    note = db.session.scalar(
        select(LedgerCheckpoint.note)
        .order_by(LedgerCheckpoint.tree_size.desc(), LedgerCheckpoint.id.desc())
        .limit(1)
    )
    return transport(note) if note else None


def batch_checkpoint(ctx) -> str | None:
    """The latest checkpoint for a batch's notices, read once per batch (cached on ``ctx``)."""
    if not hasattr(ctx, "ledger_checkpoint"):
        ctx.ledger_checkpoint = latest_transport()
    value: str | None = ctx.ledger_checkpoint
    return value


def stamp_text(text: str, value: str | None) -> str:
    """A notice's text part with the checkpoint ``value`` as its last line (unchanged if None)."""
    if value is None:
        return text
    return f"{text.rstrip()}\n\n{TEXT_LABEL}: {value}\n"


def stamp_email(msg, ctx) -> None:
    """Add the latest checkpoint to a notice: a header and a last line of the text part.
    Read once per batch (cached on the batch context ``ctx``)."""
    value = batch_checkpoint(ctx)
    if value is None:
        return
    msg.extra_headers[HEADER] = value
    msg.body = stamp_text(msg.body or "", value)


def stamp_feed(scope, fmt: str, body: bytes) -> bytes:
    """A private (tenant) feed body with the latest checkpoint added; public feeds unchanged."""
    if scope.kind != "tenant":
        return body
    value = latest_transport()
    if value is None:
        return body
    if fmt == "ics":
        line = f"{ICS_PROPERTY}:{value}"
        folded = "\r\n ".join(line[i : i + 73] for i in range(0, len(line), 73))
        return body.replace(b"VERSION:2.0\r\n", f"VERSION:2.0\r\n{folded}\r\n".encode(), 1)
    element = f'<forewarn:checkpoint xmlns:forewarn="{XML_NS}">{value}</forewarn:checkpoint>'
    opening = b"<channel>" if fmt == "rss" else b"<feed"
    at = body.find(opening)
    if at < 0:
        return body
    end = body.find(b">", at) + 1
    return body[:end] + element.encode() + body[end:]
