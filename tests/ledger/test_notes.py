"""Signed notes and checkpoints: the Go sumdb/note reference vector (golang.org/x/mod
sumdb/note, as quoted by the C2SP signed-note ecosystem) and the tlog-checkpoint format."""

from __future__ import annotations

import base64

import pytest

from forewarn_verify.notes import (
    Checkpoint,
    NoteError,
    Signer,
    open_checkpoint,
    open_note,
    parse_signer_key,
    parse_verifier_key,
)

VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
TEXT = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
)
NOTE = (
    TEXT + "\n\u2014 PeterNeumann "
    "x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
)


def test_signing_reproduces_the_go_reference_note_byte_for_byte():
    signer = parse_signer_key(SKEY)
    assert signer.verifier.encoded() == VKEY  # key ID computed as the spec says
    assert signer.encoded() == SKEY
    assert signer.sign(TEXT) == NOTE


def test_the_reference_note_opens_and_an_altered_one_does_not():
    verifier = parse_verifier_key(VKEY)
    assert open_note(NOTE, [verifier]).text == TEXT
    with pytest.raises(NoteError, match="altered"):
        open_note(NOTE.replace("cryptography", "cryptographY"), [verifier])


def test_a_note_signed_by_another_key_is_refused():
    other = Signer.generate("PeterNeumann")
    with pytest.raises(NoteError, match="not signed by a key you gave"):
        open_note(NOTE, [other.verifier])


@pytest.mark.parametrize(
    "bad",
    [
        "PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  # wrong key ID
        "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10T",  # truncated
        "Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        "c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
    ],
)
def test_malformed_verifier_keys_are_refused(bad):
    with pytest.raises(NoteError):
        parse_verifier_key(bad)


def test_checkpoint_text_round_trips_and_is_signed_with_its_origin():
    root = bytes(range(32))
    cp = Checkpoint("forewarn.example/ledger", 12, root)
    assert cp.text() == f"forewarn.example/ledger\n12\n{base64.b64encode(root).decode()}\n"
    signer = Signer.generate("forewarn.example/ledger")
    note = signer.sign(cp.text())
    opened, _ = open_checkpoint(note, [signer.verifier], "forewarn.example/ledger")
    assert opened == cp
    with pytest.raises(NoteError, match="another log"):
        open_checkpoint(note, [signer.verifier], "other.example/log")


@pytest.mark.parametrize(
    "text",
    ["origin\n012\nAAAA\n", "origin\n12\n", "\n12\n" + "A" * 43 + "=\n", "origin\n-1\nAA==\n"],
)
def test_malformed_checkpoints_are_refused(text):
    with pytest.raises(NoteError):
        Checkpoint.parse(text)
