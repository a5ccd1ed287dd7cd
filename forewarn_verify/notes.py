"""Checkpoints (C2SP ``tlog-checkpoint``) signed as C2SP ``signed-note``s with Ed25519.

A checkpoint's text is the origin line, the tree size in decimal, the base64 root hash, and
optional extension lines, each ending in a newline. A signed note is that text, a blank line,
and signature lines ``— <key name> <base64(key ID || signature)>``; the signature covers the
text including its final newline. For Ed25519 (signature type 0x01) the key ID is the first
four bytes of ``SHA-256(key name || 0x0A || 0x01 || public key)``. Keys are exchanged as
Go's ``sumdb/note`` encodes them: verifier key ``<name>+<hex key ID>+<base64(0x01 || public
key)>``, signer key ``PRIVATE+KEY+<name>+<hex key ID>+<base64(0x01 || private seed)>``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

ED25519 = 0x01
EM_DASH = "\u2014"
_SPACES = re.compile(r"\s")
_SIZE = re.compile(r"0|[1-9][0-9]*")


class NoteError(ValueError):
    """A key, note or checkpoint is malformed or does not verify (one-line message)."""


def _b64decode(text: str, what: str) -> bytes:
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raise NoteError(f"{what} is not valid base64") from None


def _check_name(name: str) -> str:
    if not name or "+" in name or _SPACES.search(name) or not name.isprintable():
        raise NoteError(f"{name!r} is not a valid key name (no spaces, no '+')")
    return name


def key_id(name: str, public_key: bytes) -> bytes:
    """The 4-byte key ID of an Ed25519 key (C2SP signed-note)."""
    return hashlib.sha256(name.encode() + b"\n" + bytes([ED25519]) + public_key).digest()[:4]


@dataclass(frozen=True)
class Verifier:
    """A public key with its name: checks signature lines that carry this name and key ID."""

    name: str
    key_id: bytes
    public_key: bytes

    def encoded(self) -> str:
        """The ``<name>+<hex id>+<base64>`` form printed by ``forewarn ledger public-key``."""
        raw = base64.b64encode(bytes([ED25519]) + self.public_key).decode()
        return f"{self.name}+{self.key_id.hex()}+{raw}"

    def verify(self, text: bytes, signature: bytes) -> bool:
        try:
            Ed25519PublicKey.from_public_bytes(self.public_key).verify(signature, text)
        except InvalidSignature:
            return False
        return True


@dataclass(frozen=True)
class Signer:
    """A private key with its name (kept outside the database; see ``forewarn ledger keygen``)."""

    name: str
    seed: bytes

    @classmethod
    def generate(cls, name: str) -> Signer:
        from cryptography.hazmat.primitives import serialization

        key = Ed25519PrivateKey.generate()
        seed = key.private_bytes(
            serialization.Encoding.Raw,
            serialization.PrivateFormat.Raw,
            serialization.NoEncryption(),
        )
        return cls(_check_name(name), seed)

    @property
    def verifier(self) -> Verifier:
        from cryptography.hazmat.primitives import serialization

        public = (
            Ed25519PrivateKey.from_private_bytes(self.seed)
            .public_key()
            .public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        )
        return Verifier(self.name, key_id(self.name, public), public)

    def encoded(self) -> str:
        raw = base64.b64encode(bytes([ED25519]) + self.seed).decode()
        return f"PRIVATE+KEY+{self.name}+{self.verifier.key_id.hex()}+{raw}"

    def sign(self, text: str) -> str:
        """The signed note: ``text`` (must end in a newline), a blank line, one signature."""
        _check_text(text)
        data = text.encode()
        signature = Ed25519PrivateKey.from_private_bytes(self.seed).sign(data)
        line = base64.b64encode(self.verifier.key_id + signature).decode()
        return f"{text}\n{EM_DASH} {self.name} {line}\n"


def parse_verifier_key(encoded: str) -> Verifier:
    """Parse ``<name>+<hex id>+<base64(0x01 || key)>``; raises ``NoteError``."""
    parts = encoded.strip().split("+", 2)  # the base64 part may contain "+"
    if len(parts) != 3:
        raise NoteError("not a verifier key: expected <name>+<key id>+<base64 key>")
    name, hex_id, raw = parts
    _check_name(name)
    data = _b64decode(raw, "the verifier key")
    if len(data) != 33 or data[0] != ED25519:
        raise NoteError("the verifier key is not an Ed25519 key")
    verifier = Verifier(name, key_id(name, data[1:]), data[1:])
    if hex_id.lower() != verifier.key_id.hex() or len(hex_id) != 8:
        raise NoteError("the verifier key's ID does not match its name and key")
    return verifier


def parse_signer_key(encoded: str) -> Signer:
    """Parse ``PRIVATE+KEY+<name>+<hex id>+<base64(0x01 || seed)>``; raises ``NoteError``."""
    parts = encoded.strip().split("+", 4)
    if len(parts) != 5 or parts[:2] != ["PRIVATE", "KEY"]:
        raise NoteError("not a signer key: expected PRIVATE+KEY+<name>+<key id>+<base64 key>")
    data = _b64decode(parts[4], "the signer key")
    if len(data) != 33 or data[0] != ED25519:
        raise NoteError("the signer key is not an Ed25519 key")
    signer = Signer(_check_name(parts[2]), data[1:])
    if parts[3].lower() != signer.verifier.key_id.hex():
        raise NoteError("the signer key's ID does not match its name and key")
    return signer


def _check_text(text: str) -> None:
    if not text.endswith("\n") or "\n\n" in text:
        raise NoteError("a note's text must end in one newline and contain no blank line")
    if any(ord(c) < 0x20 and c != "\n" for c in text):
        raise NoteError("a note must contain no control characters other than newline")


@dataclass(frozen=True)
class Opened:
    """A note whose signature verified: its text and the verifiers that signed it."""

    text: str
    signed_by: list[Verifier] = field(default_factory=list)


def open_note(note: str | bytes, verifiers: list[Verifier]) -> Opened:
    """Check a signed note against the known keys: at least one known key must have signed
    it, and a signature line of a known key that does not verify rejects the whole note
    (C2SP signed-note). Raises ``NoteError`` with the reason."""
    if isinstance(note, bytes):
        try:
            note = note.decode("utf-8")
        except UnicodeDecodeError:
            raise NoteError("the note is not valid UTF-8") from None
    if any(ord(c) < 0x20 and c != "\n" for c in note):
        raise NoteError("the note contains control characters (line endings must be LF)")
    split = note.rfind("\n\n")
    if split < 0 or not note.endswith("\n"):
        raise NoteError("not a signed note: no blank line before signature lines")
    text, lines = note[: split + 1], note[split + 2 : -1].split("\n")
    known = {(v.name, v.key_id): v for v in verifiers}
    signed_by = []
    for line in lines:
        if not line.startswith(EM_DASH + " "):
            raise NoteError("malformed signature line in the note")
        try:
            name, raw = line[2:].split(" ")
        except ValueError:
            raise NoteError("malformed signature line in the note") from None
        sig = _b64decode(raw, "a signature")
        if len(sig) < 5:
            raise NoteError("malformed signature line in the note")
        verifier = known.get((name, sig[:4]))
        if verifier is None:
            continue
        if not verifier.verify(text.encode(), sig[4:]):
            raise NoteError(f"the signature of {name} does not verify: the note was altered")
        signed_by.append(verifier)
    if not signed_by:
        names = ", ".join(sorted({line[2:].split(" ")[0] for line in lines})) or "nobody"
        raise NoteError(f"the note is not signed by a key you gave (signed by: {names})")
    return Opened(text, signed_by)


@dataclass(frozen=True)
class Checkpoint:
    """A tree head: the log's origin, its size, its root hash (and any extension lines)."""

    origin: str
    size: int
    root_hash: bytes
    extensions: tuple[str, ...] = ()

    def text(self) -> str:
        lines = [self.origin, str(self.size), base64.b64encode(self.root_hash).decode()]
        return "\n".join([*lines, *self.extensions]) + "\n"

    @classmethod
    def parse(cls, text: str) -> Checkpoint:
        """Parse a checkpoint's text (the part a signed note signs); raises ``NoteError``."""
        lines = text.split("\n")
        if len(lines) < 4 or lines[-1] != "":
            raise NoteError("not a checkpoint: expected origin, size and root hash lines")
        origin, size, root = lines[0], lines[1], lines[2]
        if not origin:
            raise NoteError("the checkpoint has no origin")
        if not _SIZE.fullmatch(size):
            raise NoteError("the checkpoint's tree size is not a decimal number")
        root_hash = _b64decode(root, "the checkpoint's root hash")
        if len(root_hash) != 32:
            raise NoteError("the checkpoint's root hash is not a SHA-256 hash")
        return cls(origin, int(size), root_hash, tuple(lines[3:-1]))


def open_checkpoint(note: str | bytes, verifiers: list[Verifier], origin: str | None = None):
    """``(Checkpoint, Opened)`` of a signed checkpoint; raises ``NoteError`` if the signature
    fails or the origin is not ``origin`` (when given)."""
    opened = open_note(note, verifiers)
    checkpoint = Checkpoint.parse(opened.text)
    if origin is not None and checkpoint.origin != origin:
        raise NoteError(
            f"the checkpoint is from another log ({checkpoint.origin!r}, expected {origin!r})"
        )
    return checkpoint, opened


def transport(note: str) -> str:
    """A signed note as one base64 line, for an email header, a text line or a URL."""
    return base64.b64encode(note.encode()).decode()


def from_transport(value: str) -> str:
    """The signed note carried by ``transport``'s base64 line; raises ``NoteError``."""
    data = _b64decode(value.strip(), "the checkpoint")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise NoteError("the checkpoint is not valid UTF-8") from None
