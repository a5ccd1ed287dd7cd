"""Notice messages on the wire: serialised by the standard library's ``email`` package with
``email.policy.SMTP`` (DESIGN.md "Delivery"; RFC 5322 and RFC 5321 §2.3.8: CRLF line
endings everywhere; RFC 2047: encoded words of at most 75 characters).

Every message has one shape: headers, then ``multipart/alternative`` with a text and an HTML
part, UTF-8, quoted-printable (``binascii.b2a_qp``, the encoder behind the ``email`` package's
own ``encode_quopri``).

Speed (``bench/fanout.py``: the dispatcher must keep up with a plain SMTP loop): a batch's
messages differ only in a few short header values (recipient, Message-ID, threading and
unsubscribe links, date) and their bodies. So the ``email`` package serialises one *skeleton*
per shape, the message with those values and bodies replaced by unique slot tokens, and each
message is that skeleton with its values put into the slots. Only values the package itself
writes out verbatim go into a slot: plain ASCII without control characters or runs of
spaces, short enough that the header needs no folding (78 characters with its name) — any
other value (a non-ASCII subject, a long one, an internationalised address) is part of the
skeleton's key, so the package folds and encodes it. ``tests/notify/test_mime.py`` checks
that both ways give the same bytes.
"""

from __future__ import annotations

import binascii
import functools
import re
from email.message import EmailMessage, Message, MIMEPart
from email.policy import SMTP, SMTPUTF8

MAX_PLAIN_LINE = 78  # RFC 5322 §2.1.1: lines SHOULD be no longer than 78 characters
BODY_SUBTYPES = ("plain", "html")
_SLOT = re.compile(rb"slot(\d+)x@forewarn\.invalid|slotbody(\d+)x")
_PLAIN_ADDRESS = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+@[A-Za-z0-9.-]+")
_ADDRESS_HEADERS = {"from", "to", "cc", "reply-to", "sender"}
_ID_HEADERS = {"message-id", "in-reply-to", "references"}  # one <msg-id> in a slot


def _slot_token(name: str, slot: int) -> str:
    token = f"slot{slot}x@forewarn.invalid"
    return f"<{token}>" if name.lower() in _ID_HEADERS else token


def _slot_value(name: str, value: str) -> str:
    return value[1:-1] if name.lower() in _ID_HEADERS else value


def quoted_printable(text: str, lines: dict[str, str] | None = None) -> str:
    """``text`` as UTF-8 quoted-printable (RFC 2045 §6.7), lines joined by LF (the generator
    writes them out with the policy's CRLF).

    ``lines``, when given, caches the encoding of each line (text line -> encoded lines) for
    messages that share most of their lines (a batch: only the lines holding a recipient's
    links differ). The result is the same bytes: quoted-printable encodes each line on its own
    (RFC 2045 §6.7 rules 3–5 look no further than the line break), and a line is encoded with
    its line break so its trailing white space is treated as it is in the whole text
    (``tests/notify/test_mime.py`` checks this against the whole-text encoding)."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if lines is None:
        return binascii.b2a_qp(text.encode("utf-8"), istext=True).decode("ascii")
    *whole, last = text.split("\n")
    encoded = []
    for line in whole:
        done = lines.get(line)
        if done is None:
            done = lines[line] = _qp(line + "\n")[:-1]
        encoded.append(done)
    encoded.append(_qp(last))
    return "\n".join(encoded)


def _qp(text: str) -> str:
    return binascii.b2a_qp(text.encode("utf-8"), istext=True).decode("ascii")


def full_message(
    fields: list[tuple[str, str]],
    bodies: tuple[str, str],
    boundary: str,
    *,
    utf8: bool = False,
    encoded: bool = False,
) -> EmailMessage:
    """The message as an ``EmailMessage`` (``fields``: (name, value) headers in order;
    ``bodies``: text and HTML, already quoted-printable when ``encoded``). ``utf8`` selects
    ``email.policy.SMTPUTF8`` (RFC 6531: UTF-8 headers, for internationalised addresses)."""
    policy = SMTPUTF8 if utf8 else SMTP
    msg = EmailMessage(policy=policy)
    for name, value in fields:
        msg[name] = value
    msg["MIME-Version"] = "1.0"
    msg["Content-Type"] = f'multipart/alternative; boundary="{boundary}"'
    parts: list[Message | str] = []
    for subtype, body in zip(BODY_SUBTYPES, bodies, strict=True):
        part = MIMEPart(policy=policy)
        part["Content-Type"] = f'text/{subtype}; charset="utf-8"'
        part["Content-Transfer-Encoding"] = "quoted-printable"
        part.set_payload(body if encoded else quoted_printable(body))
        parts.append(part)
    msg.set_payload(parts)
    return msg


def _plain(name: str, value: str) -> bool:
    """Whether the ``email`` package would write this header value exactly as given (and a
    slot token in its place: a Date header drops a token that is no date, so a date is part
    of the skeleton's key, one skeleton per second)."""
    if name.lower() == "date":
        return False
    if not (
        value
        and value.isascii()
        and value.isprintable()
        and len(name) + 2 + len(value) <= MAX_PLAIN_LINE
        and value == " ".join(value.split())
    ):
        return False
    if name.lower() in _ADDRESS_HEADERS:
        return _PLAIN_ADDRESS.fullmatch(value) is not None
    if name.lower() in _ID_HEADERS:
        return re.fullmatch(r"<[^<>\s]+@[^<>\s]+>", value) is not None
    return True


@functools.lru_cache(maxsize=256)
def _skeleton(key: tuple, boundary: str, utf8: bool) -> list[bytes | int] | None:
    """The skeleton of messages shaped like ``key`` ((name, value or None for a slot) per
    header), as literal byte chunks and slot numbers (headers 0…, bodies -1 and -2); None if
    a slot token did not come out verbatim (then every such message takes the full path)."""
    fields = [
        (name, _slot_token(name, i) if value is None else value)
        for i, (name, value) in enumerate(key)
    ]
    raw = full_message(fields, ("slotbody1x", "slotbody2x"), boundary, utf8=utf8).as_bytes()
    chunks: list[bytes | int] = []
    pos = 0
    seen = []
    for m in _SLOT.finditer(raw):
        chunks.append(raw[pos : m.start()])
        slot = int(m.group(1)) if m.group(1) is not None else -int(m.group(2))
        chunks.append(slot)
        seen.append(slot)
        pos = m.end()
    chunks.append(raw[pos:])
    wanted = [i for i, (_n, v) in enumerate(key) if v is None] + [-1, -2]
    return chunks if sorted(seen) == sorted(wanted) else None


def serialise(
    fields: list[tuple[str, str]],
    bodies: tuple[str, str],
    boundary: str,
    *,
    utf8: bool = False,
    lines: dict[str, str] | None = None,
) -> bytes:
    """The message's bytes with CRLF line endings, as ``full_message(...).as_bytes()`` gives
    them (RFC 5322 / 2045 / 2047, ``email.policy.SMTP``; ``SMTPUTF8`` when ``utf8``).
    ``lines``: a cache of encoded body lines shared by a batch (``quoted_printable``)."""
    key = tuple((name, None if _plain(name, value) else value) for name, value in fields)
    chunks = _skeleton(key, boundary, utf8)
    text, html = bodies
    encoded = (quoted_printable(text, lines), quoted_printable(html, lines))
    if chunks is None:
        return full_message(fields, encoded, boundary, utf8=utf8, encoded=True).as_bytes()
    values: dict[int, bytes] = {
        -(n + 1): body.replace("\n", "\r\n").encode("ascii") for n, body in enumerate(encoded)
    }
    for i, (name, value) in enumerate(fields):
        if key[i][1] is None:
            values[i] = _slot_value(name, value).encode("ascii")
    return b"".join(c if isinstance(c, bytes) else values[c] for c in chunks)
