"""``forewarn-verify CERT.json --key KEY [--checkpoint FILE …]``: check a notice certificate
offline, with only the provider's public key and checkpoints kept from emails or feeds.

It checks that the certificate's checkpoint is signed by a given key; that every cited ledger
entry matches its hash and is included in that checkpoint's tree (RFC 9162 inclusion proof);
that every claim matches the entry it cites (``forewarn_verify.claims``); and that each
checkpoint given is from the same log, signed, and consistent with the certificate's (RFC 9162
consistency proof): the provider did not rewrite, truncate or fork its ledger since. Exit 0
only when all of that holds; otherwise one line per failure on stderr and exit 1 (2 for
unusable input). Needs no database, no configuration and no network.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import email
import email.policy
import json
import re
import sys
from pathlib import Path

from forewarn_verify import claims
from forewarn_verify.entries import body, chain_hash
from forewarn_verify.notes import (
    Checkpoint,
    NoteError,
    Verifier,
    from_transport,
    open_checkpoint,
    parse_verifier_key,
)
from forewarn_verify.rfc9162 import ProofError, leaf_hash, verify_consistency, verify_inclusion

_CARRIED = re.compile(
    r"(?:X-Forewarn-Checkpoint:|Ledger checkpoint:|X-FOREWARN-CHECKPOINT:|"
    r"<forewarn:checkpoint[^>]*>)\s*([A-Za-z0-9+/=]{40,})",
    re.IGNORECASE,
)


class Unusable(Exception):
    """Input that cannot be checked at all (exit 2)."""


def read_keys(values: list[str]) -> list[Verifier]:
    """Each ``--key``: a verifier key, or a file holding one or more (one a line)."""
    out = []
    for value in values:
        path = Path(value)
        text = value
        if "+" not in value or path.exists():
            try:
                text = path.read_text()
            except (OSError, UnicodeDecodeError) as err:
                raise Unusable(f"cannot read key file {value}: {err}") from None
        for line in text.split():
            try:
                out.append(parse_verifier_key(line))
            except NoteError as err:
                raise Unusable(f"--key {value}: {err}") from None
    if not out:
        raise Unusable("no public key given (--key)")
    return out


def note_in(data: bytes, source: str) -> str:
    """The signed checkpoint in a file: a signed note itself, or one carried as a base64 line
    by an email (header or text line, .eml as saved by a mail client), a feed or a calendar."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise Unusable(f"{source} is not UTF-8 text") from None
    if "\n\n\u2014 " in text.replace("\r\n", "\n"):
        return text.replace("\r\n", "\n")
    carried = _from_email(data)
    if carried:
        try:
            return from_transport(carried)
        except NoteError:
            pass
    unfolded = re.sub(r"\r?\n[ \t]", "", text)  # header and iCalendar line folding
    # A text part in quoted-printable keeps the line split by soft line breaks ("=" + EOL).
    for candidate in (unfolded, re.sub(r"=\r?\n", "", unfolded)):
        match = _CARRIED.search(candidate)
        try:
            return from_transport(match.group(1) if match else candidate.strip())
        except NoteError:
            continue
    raise Unusable(f"{source} holds no Forewarn checkpoint")


def _from_email(data: bytes) -> str | None:
    """The checkpoint header, or the text part's checkpoint line, of a saved email (any
    folding or transfer encoding undone by the standard library's parser)."""
    msg = email.message_from_bytes(data, policy=email.policy.default)
    if not msg.keys():
        return None
    value = msg.get("X-Forewarn-Checkpoint")
    if value:
        return "".join(str(value).split())
    for part in msg.walk():
        if part.get_content_type() == "text/plain":
            try:
                match = _CARRIED.search(part.get_content())
            except (LookupError, ValueError):
                continue
            if match:
                return match.group(1)
    return None


def _unsigned(note: str) -> Checkpoint:
    split = note.rfind("\n\n")
    return Checkpoint.parse(note[: split + 1] if split >= 0 else note)


def _b64list(values, what: str) -> list[bytes]:
    try:
        return [base64.b64decode(v, validate=True) for v in values]
    except (binascii.Error, TypeError, ValueError):
        raise Unusable(f"{what} is not a list of base64 hashes") from None


def verify(
    cert: dict, verifiers: list[Verifier], witnessed: dict[str, str]
) -> tuple[list[str], str]:
    """``(failures, summary)`` for a parsed certificate and the checkpoints (name → note)."""
    proof = cert.get("proof")
    if not isinstance(proof, dict) or not proof.get("checkpoint"):
        return ["the certificate carries no signed checkpoint"], ""
    failures: list[str] = []
    try:
        origin = _unsigned(proof["checkpoint"]).origin
        head, opened = open_checkpoint(proof["checkpoint"], verifiers, origin)
    except NoteError as err:
        return [f"the certificate's checkpoint: {err}"], ""
    entries: dict[int, dict] = {}
    for entry in proof.get("entries") or []:
        try:
            seq = entry["seq"]
            if chain_hash(entry) != entry["hash"]:
                failures.append(f"ledger entry #{seq} does not match its hash (altered)")
                continue
            path = entry.get("inclusion_proof")
            if path is None:
                failures.append(
                    f"ledger entry #{seq} is not covered by the certificate's checkpoint "
                    f"({head.size} entries)"
                )
                continue
            verify_inclusion(
                seq - 1,
                head.size,
                leaf_hash(body(entry)),
                _b64list(path, f"#{seq}'s proof"),
                head.root_hash,
            )
            entries[seq] = entry
        except ProofError as err:
            failures.append(f"ledger entry #{entry.get('seq')}: {err}")
        except (KeyError, TypeError) as err:
            failures.append(f"a ledger entry in the certificate is incomplete (missing {err})")
    failures += claims.check(cert, entries)
    proofs = {}
    for item in proof.get("consistency") or []:
        if isinstance(item, dict) and isinstance(item.get("from_size"), int):
            proofs[item["from_size"]] = item.get("proof") or []
    for name, note in witnessed.items():
        try:
            older = _unsigned(note)
            if older.origin != head.origin:
                raise NoteError(
                    f"it is from another log ({older.origin!r}, "
                    f"the certificate's is {head.origin!r})"
                )
            older, _ = open_checkpoint(note, verifiers, head.origin)
            if older.size > head.size:
                raise NoteError(
                    f"it covers {older.size} entries, more than the certificate's {head.size}: "
                    "download a newer certificate"
                )
            if older.size < head.size and older.size not in proofs:
                raise NoteError(
                    f"the certificate has no consistency proof from {older.size} entries; "
                    f"download it with ?since={older.size}"
                )
            verify_consistency(
                older.size, head.size, older.root_hash, head.root_hash,
                _b64list(proofs.get(older.size, []), "a consistency proof"),
            )  # fmt: skip
        except (NoteError, ProofError) as err:
            failures.append(f"checkpoint {name}: {err}")
    signer = opened.signed_by[0].name
    summary = (
        f"OK: {len(entries)} ledger entries proven in the checkpoint of {head.size} entries "
        f"signed by {signer}; every claim matches its entry; "
        f"{len(witnessed)} kept checkpoint(s) consistent with it"
    )
    return failures, summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="forewarn-verify", description="Check a Forewarn notice certificate offline."
    )
    parser.add_argument("certificate", help="the certificate JSON file")
    parser.add_argument(
        "--key", action="append", required=True, help="the provider's public key, or a file of keys"
    )
    parser.add_argument(
        "--checkpoint", action="append", default=[],
        help="a checkpoint you kept: a saved email (.eml), feed, calendar or checkpoint file",
    )  # fmt: skip
    args = parser.parse_args(argv)
    try:
        verifiers = read_keys(args.key)
        try:
            raw = Path(args.certificate).read_bytes()
        except OSError as err:
            raise Unusable(f"cannot read {args.certificate}: {err.strerror}") from None
        try:
            cert = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            raise Unusable(
                f"{args.certificate} is not a complete JSON document (truncated?)"
            ) from None
        if not isinstance(cert, dict):
            raise Unusable(f"{args.certificate} is not a certificate")
        witnessed = {}
        for name in args.checkpoint:
            try:
                witnessed[name] = note_in(Path(name).read_bytes(), name)
            except OSError as err:
                raise Unusable(f"cannot read {name}: {err.strerror}") from None
    except Unusable as err:
        print(f"forewarn-verify: {err}", file=sys.stderr)
        return 2
    failures, summary = verify(cert, verifiers, witnessed)
    for line in failures:
        print(f"FAIL: {line}", file=sys.stderr)
    if failures:
        return 1
    print(summary)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
