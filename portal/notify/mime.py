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


def quoted_printable(text: str) -> str:
    """``text`` as UTF-8 quoted-printable (RFC 2045 §6.7), lines joined by LF (the generator
    writes them out with the policy's CRLF)."""
    data = text.replace("\r\n", "\n").replace("\r", "\n").encode("utf-8")
    return binascii.b2a_qp(data, istext=True).decode("ascii")


class EncodedBody:
    """A body with per-recipient slots, quoted-printable encoded once: a batch's messages to
    one tenant share every line but the ones holding a recipient's links, so only those are
    encoded per message (``fill``).

    ``fill(values)`` returns exactly ``quoted_printable(text)`` of the text with each slot
    replaced by its value: quoted-printable encodes each line on its own (RFC 2045 §6.7 rules
    3–5 look no further than the line break), and each line is encoded together with its line
    break, so trailing white space is treated as in the whole text
    (``tests/notify/test_mime.py`` checks this with hypothesis).
    """

    def __init__(self, text: str, slots: tuple[str, ...]) -> None:
        self.slots = slots
        lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
        self.parts: list[str | tuple[str, bool]] = []  # encoded runs, or (raw line, is last)
        run: list[str] = []
        for number, line in enumerate(lines, start=1):
            last = number == len(lines)
            if any(slot in line for slot in slots):
                if run:
                    self.parts.append("".join(run))
                    run = []
                self.parts.append((line, last))
            else:
                run.append(_encode_line(line, last))
        if run:
            self.parts.append("".join(run))

    def partial(self, values: dict[str, str]) -> EncodedBody:
        """A copy with the slots in ``values`` filled and their lines encoded, keeping the
        other slots for ``fill``: a rendering shared by several tenants is encoded once with
        a slot for the tenant's name, and each tenant's copy encodes only the lines naming
        it."""
        body = object.__new__(EncodedBody)
        body.slots = tuple(slot for slot in self.slots if slot not in values)
        body.parts = []
        for part in self.parts:
            if isinstance(part, str):
                body.parts.append(part)
                continue
            line, last = part
            for slot, value in values.items():
                line = line.replace(slot, value)
            if any(slot in line for slot in body.slots):
                body.parts.append((line, last))
            else:
                body.parts.append(_encode_line(line, last))
        return body

    def fill(self, values: dict[str, str]) -> str:
        """The encoded body with each slot (a key of ``values``) replaced by its value.
        Values are non-empty single lines (links, names): an empty one between a bare CR
        and a line feed would join them into one line break in the whole-text encoding."""
        out = []
        for part in self.parts:
            if isinstance(part, str):
                out.append(part)
                continue
            line, last = part
            for slot, value in values.items():
                line = line.replace(slot, value)
            out.append(_encode_line(line, last))
        return "".join(out)


def _encode_line(line: str, last: bool) -> str:
    """One line encoded with its line break (none after the text's last line)."""
    data = line.encode("utf-8") if last else (line + "\n").encode("utf-8")
    return binascii.b2a_qp(data, istext=True).decode("ascii")


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
        folded = fold_unstructured(name, value)
        if folded is None:
            msg[name] = value
        else:
            msg.set_raw(name, folded)
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


UNSTRUCTURED_HEADERS = {"subject"}


def fold_unstructured(name: str, value: str) -> str | None:
    """A long plain-ASCII Subject folded at its spaces (RFC 5322 §2.2.3: CRLF before a space;
    unfolding gives the value back) so that each line holds at most ``MAX_PLAIN_LINE``
    characters where the words allow; None for any other header or value (the ``email``
    package folds those, encoding non-ASCII text as RFC 2047 words).

    The package itself moves a whole 70–77 character value onto a continuation line
    ("Subject:" alone on the first), which its own parser reads back with a leading space;
    notices' subjects are often that long."""
    if (
        name.lower() not in UNSTRUCTURED_HEADERS
        or len(name) + 2 + len(value) <= MAX_PLAIN_LINE
        or not value.isascii()
        or not value.isprintable()
        or value != " ".join(value.split())
    ):
        return None
    words = value.split(" ")
    lines, line, used = [], words[0], len(name) + 2
    for word in words[1:]:
        if used + len(line) + 1 + len(word) <= MAX_PLAIN_LINE:
            line = f"{line} {word}"
        else:
            lines.append(line)
            line, used = word, 1  # a continuation line starts with the folding space
    lines.append(line)
    return "\r\n ".join(lines)


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
    encoded: bool = False,
) -> bytes:
    """The message's bytes with CRLF line endings, as ``full_message(...).as_bytes()`` gives
    them (RFC 5322 / 2045 / 2047, ``email.policy.SMTP``; ``SMTPUTF8`` when ``utf8``).
    ``encoded``: the bodies are quoted-printable already (``EncodedBody``)."""
    key = tuple((name, None if _plain(name, value) else value) for name, value in fields)
    chunks = _skeleton(key, boundary, utf8)
    if not encoded:
        bodies = (quoted_printable(bodies[0]), quoted_printable(bodies[1]))
    if chunks is None:
        return full_message(fields, bodies, boundary, utf8=utf8, encoded=True).as_bytes()
    values: dict[int, bytes] = {
        -(n + 1): body.replace("\n", "\r\n").encode("ascii") for n, body in enumerate(bodies)
    }
    for i, (name, value) in enumerate(fields):
        if key[i][1] is None:
            values[i] = _slot_value(name, value).encode("ascii")
    return b"".join(c if isinstance(c, bytes) else values[c] for c in chunks)
