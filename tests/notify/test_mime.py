"""Messages on the wire: ``email.policy.SMTP`` serialisation, CRLF everywhere, RFC 2047 words
of at most 75 characters, and the skeleton shortcut giving the package's very bytes."""

from __future__ import annotations

import email
import re
from email import policy

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from portal.notify.mime import EncodedBody, full_message, quoted_printable, serialise

SUBJECT = "P2 Wartung: Größenänderung der Speicher-Controller in Frankfurt und Zürich"
TEXT = (
    "Grüße aus Zürich.\nA long line "
    + "x" * 200
    + "\n\nAcknowledge: https://portal.test/a?t=1&b=2\n"
)
HTML = "<p>Grüße</p>\n<p>" + "ä" * 120 + "</p>\n"


def fields(**over):
    base = {
        "Subject": SUBJECT,
        "From": "Forewarn <notices@forewarn.example>",
        "To": "ops1@tapai.example",
        "Date": "Mon, 02 Nov 2026 10:00:00 +0100",
        "Message-ID": "<change-1.rev-1.tenant-1.0123456789abcdef@forewarn>",
        "Auto-Submitted": "auto-generated",
        "X-Forewarn-Change": "1",
        "X-Forewarn-Kind": "notice",
    }
    base.update(over)
    return [(k, v) for k, v in base.items() if v is not None]


def wire_lines(raw: bytes) -> list[bytes]:
    assert raw.endswith(b"\r\n")
    lines = raw[:-2].split(b"\r\n")
    assert not any(b"\n" in line or b"\r" in line for line in lines), "bare LF or CR"
    return lines


@pytest.mark.parametrize(
    "over",
    [
        {},
        {"Subject": "Scheduled: plain ASCII"},
        {"Subject": "Updated: " + "a rather long subject that needs folding " * 4},
        {
            "In-Reply-To": "<change-1.rev-1.tenant-1.aaaa@forewarn>",
            "References": "<change-1.rev-1.tenant-1.aaaa@forewarn>",
        },
        {
            "List-Unsubscribe": "<https://portal.test/u/abc>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        },
        {"To": "a.very.long.local.part.of.an.address.that.goes.on.and.on@example-domain.example"},
        {"X-Forewarn-Kind": "two  spaces"},
    ],
)
def test_the_shortcut_gives_the_email_packages_bytes(over):
    f = fields(**over)
    fast = serialise(f, (TEXT, HTML), "=_b1")
    assert fast == full_message(f, (TEXT, HTML), "=_b1").as_bytes(policy=policy.SMTP)
    again = serialise(fields(**over, **{"Message-ID": "<other@forewarn>"}), (HTML, TEXT), "=_b1")
    assert again == full_message(
        fields(**over, **{"Message-ID": "<other@forewarn>"}), (HTML, TEXT), "=_b1"
    ).as_bytes(policy=policy.SMTP)


def test_a_long_non_ascii_subject_is_folded_with_crlf_and_short_encoded_words():
    raw = serialise(fields(), (TEXT, HTML), "=_b1")
    lines = wire_lines(raw)
    assert all(len(line) <= 78 for line in lines)
    for word in re.findall(rb"=\?[^?]+\?[bqBQ]\?[^?]*\?=", raw):
        assert len(word) <= 75  # RFC 2047 §2
    msg = email.message_from_bytes(raw, policy=policy.default)
    assert msg["Subject"] == SUBJECT
    text, html = (p.get_content().replace("\r\n", "\n") for p in msg.iter_parts())
    assert text == TEXT and html == HTML


def test_internationalised_addresses_go_out_as_utf8_headers():
    raw = serialise(fields(To="用户@例子.广告"), (TEXT, HTML), "=_b1", utf8=True)
    wire_lines(raw)
    assert "To: 用户@例子.广告\r\n".encode() in raw


def test_messages_of_one_shape_share_one_skeleton():
    from portal.notify import mime

    mime._skeleton.cache_clear()
    for n in range(5):
        serialise(
            fields(To=f"ops{n}@tapai.example", Subject="Scheduled: plain"), (TEXT, HTML), "=_b1"
        )
    info = mime._skeleton.cache_info()
    assert info.misses == 1 and info.hits == 4
    key = tuple((k, None if mime._plain(k, v) else v) for k, v in fields(Subject="Scheduled: x"))
    assert mime._skeleton(key, "=_b1", False) is not None  # the slots came out verbatim


def test_bodies_without_a_final_newline_come_out_as_the_package_writes_them():
    f = fields(Subject="Scheduled: plain")
    assert serialise(f, ("text", "<p>html</p>"), "=_b1") == full_message(
        f, ("text", "<p>html</p>"), "=_b1"
    ).as_bytes(policy=policy.SMTP)


_QP_PIECES = ["a", " ", "\t", "=", ".", "é", "€", "\n", "\r\n", "\r", "x" * 80, "y" * 75, "-"]


_SLOT = "https://forewarn.invalid/slot/acknowledge"


@settings(max_examples=400, deadline=None)
@given(
    st.lists(st.sampled_from([*_QP_PIECES, _SLOT]), max_size=40).map("".join),
    st.lists(
        st.sampled_from(["https://p.test/ack/a.b-c_d", " ", "=", "é", "x" * 70]),
        min_size=1,  # a link is never empty (EncodedBody.fill)
        max_size=4,
    ).map("".join),
)
def test_a_body_encoded_once_and_filled_per_recipient_gives_the_same_bytes(text, link):
    """A batch encodes a rendering once (``EncodedBody``) and only the lines holding a
    recipient's link per message: whatever the text and link — trailing white space at a soft
    break, a lone dot, no final newline, a line of 75 characters — the result is the
    whole-text encoding of the filled-in text."""
    body = EncodedBody(text, (_SLOT,))
    assert body.fill({_SLOT: link}) == quoted_printable(text.replace(_SLOT, link))


def test_an_empty_value_between_a_bare_cr_and_a_newline_is_outside_the_contract():
    """Why the properties above draw non-empty values: a template "\\r<slot>\\n" is two line
    breaks, but filled with "" it reads "\\r\\n", one. Links and tenant names are never
    empty, and templates hold no bare CR."""
    body = EncodedBody("\r" + _SLOT + "\n", (_SLOT,))
    assert body.fill({_SLOT: "x"}) == quoted_printable("\rx\n")
    assert body.fill({_SLOT: ""}) != quoted_printable("\r\n")


def test_a_pre_encoded_body_gives_the_email_packages_bytes():
    for link in ("https://portal.test/a?t=1", "https://portal.test/a?t=" + "z" * 90):
        template = TEXT + "Acknowledge: " + _SLOT + " \n"
        text = template.replace(_SLOT, link)
        bodies = (EncodedBody(template, (_SLOT,)).fill({_SLOT: link}), quoted_printable(HTML))
        fast = serialise(fields(), bodies, "=_b1", encoded=True)
        assert fast == full_message(fields(), (text, HTML), "=_b1").as_bytes(policy=policy.SMTP)


@pytest.mark.parametrize("length", range(60, 130, 3))
def test_ascii_subjects_of_any_length_read_back_exactly(length):
    """Notices' subjects are often 70–110 characters; the ``email`` package on its own moves a
    70–77 character one whole onto a continuation line, which its parser reads back with a
    leading space. Folded at spaces instead (RFC 5322 §2.2.3), every length reads back as
    written, in lines of at most 78 characters, on both serialisation paths."""
    words = "[Action required by 3 Dec] Degradation: Face Fusion API, Thu 3 Dec 05:00 (UTC+8) - "
    subject = (words + "Upgrade the fusion model and more words " * 3)[:length].strip()
    f = fields(Subject=subject)
    raw = serialise(f, (TEXT, HTML), "=_b1")
    assert raw == full_message(f, (TEXT, HTML), "=_b1").as_bytes(policy=policy.SMTP)
    lines = wire_lines(raw)
    assert all(len(line) <= 78 for line in lines[:3])
    assert lines[0].startswith(b"Subject: [Action")
    assert email.message_from_bytes(raw, policy=policy.default)["Subject"] == subject


_NAME_SLOT = "x-forewarn-tenant-name-slot"


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.sampled_from([*_QP_PIECES, _SLOT, _NAME_SLOT]), max_size=40).map("".join),
    st.lists(
        st.sampled_from(["Tapai", " ", "=", "Zürich AG", "x" * 70, "&amp;"]), min_size=1, max_size=4
    ).map("".join),
    st.sampled_from(["https://p.test/ack/a.b-c_d", "https://p.test/" + "z" * 80]),
)
def test_a_rendering_shared_by_tenants_gives_each_the_same_bytes(text, name, link):
    """Customer notices are encoded once per shape with a slot for the tenant's name
    (``EncodedBody.partial`` fills it per tenant, ``fill`` the recipient's link): the result
    is the whole-text encoding of the text with both filled in."""
    shared = EncodedBody(text, (_SLOT, _NAME_SLOT))
    body = shared.partial({_NAME_SLOT: name})
    assert body.slots == (_SLOT,)
    expected = quoted_printable(text.replace(_NAME_SLOT, name).replace(_SLOT, link))
    assert body.fill({_SLOT: link}) == expected
    assert shared.partial({_NAME_SLOT: name}).fill({_SLOT: link}) == expected  # shared intact
