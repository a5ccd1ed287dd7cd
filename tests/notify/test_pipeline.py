"""The dispatcher's fast path: a sender process per worker, one message prototype per subject,
plain addresses without a full parse. Each must keep the guarantees of the slow path."""

from __future__ import annotations

import datetime as dt
import json
import re
import sys
from email.utils import parseaddr

import pytest
from flask_mail import sanitize_address
from sqlalchemy import select

from portal.extensions import db
from portal.ledger.models import LedgerEntry
from portal.notify.dispatch import clock_times
from portal.notify.models import SENT, OutboxMessage
from portal.notify.render import BadRecipient, check_address
from portal.notify.smtp import envelope_address
from tests.conftest import T0


def test_answers_keep_their_time_on_a_real_clock_and_the_frozen_time_on_a_frozen_one():
    start, end = T0, T0 + dt.timedelta(seconds=10)
    real = clock_times((start, 100.0), (end, 110.0))
    assert real(100.0) == start
    assert real(102.5) == T0 + dt.timedelta(seconds=2.5)
    assert real(90.0) == start  # never before the batch started
    assert real(999.0) == end  # nor after it ended
    frozen = clock_times((T0, 100.0), (T0, 110.0))
    assert {frozen(m) for m in (100.0, 105.0, 110.0)} == {T0}
    backwards = clock_times((end, 100.0), (start, 110.0))  # the wall clock was stepped back
    assert backwards(105.0) == end


def test_pipelined_small_batches_send_every_row_once_with_its_own_evidence(
    published, dispatch, sink
):
    # Batches of two: the sender process sends one while the next is claimed and rendered.
    result = dispatch(batch_size=2)
    assert (result.claimed, result.sent, result.failed) == (5, 5, 0)
    assert len(sink.received) == 5
    ids = [m["Message-ID"] for m in sink.received]
    assert len(set(ids)) == 5
    rows = db.session.scalars(select(OutboxMessage)).all()
    assert {r.status for r in rows} == {SENT}
    assert {r.sent_at for r in rows} == {T0}  # the frozen clock's time, not the wall clock's
    assert {r.message_id for r in rows} == set(ids)
    listed = [
        (entry.tenant_id, item)
        for entry in db.session.scalars(
            select(LedgerEntry).where(LedgerEntry.action == "notice.delivered")
        )
        for item in json.loads(entry.payload)["deliveries"]
    ]
    assert sorted(item["outbox_id"] for _t, item in listed) == sorted(r.id for r in rows)
    by_id = {r.id: r for r in rows}
    for tenant_id, item in listed:
        row = by_id[item["outbox_id"]]
        assert (tenant_id, item["recipient"], item["message_id"]) == (
            row.tenant_id,
            row.recipient,
            row.message_id,
        )
        assert item["smtp_reply"].startswith("250") and item["accepted_at"] == T0.isoformat()
    assert sys.getswitchinterval() == pytest.approx(0.005)  # never touched by a run


def test_one_ledger_entry_per_tenant_lists_its_contacts_and_backs_the_certificate(
    published, dispatch, login
):
    dispatch()
    entries = db.session.scalars(
        select(LedgerEntry).where(
            LedgerEntry.action == "notice.delivered", LedgerEntry.tenant_id == published.tapai.id
        )
    ).all()
    (entry,) = entries  # one batch: one entry for Tapai's two contacts
    assert (entry.subject_type, entry.subject_id) == (
        "change_tenant",
        f"{published.change.id}:{published.tapai.id}",
    )
    payload = json.loads(entry.payload)
    assert payload["revision"] == 1
    assert sorted(i["recipient"] for i in payload["deliveries"]) == [
        "ops1@tapai.example",
        "ops2@tapai.example",
    ]
    cert = (
        login(published.manager).get(f"/certificates/{published.change.id}/tapai.json").get_json()
    )
    assert len(cert["deliveries"]) == 2
    for d in cert["deliveries"]:
        assert d["evidence"] == "ledger"
        assert [(c["seq"], c["hash"]) for c in d["ledger"]] == [(entry.seq, entry.hash)]


def test_a_second_run_sends_nothing_again(published, dispatch, sink):
    dispatch(batch_size=3)
    assert dispatch(batch_size=3).claimed == 0
    assert len(sink.received) == 5


def test_contacts_of_one_tenant_get_the_same_text_with_their_own_link_and_id(
    published, dispatch, sink
):
    result = dispatch()
    assert result.sent == 5, result  # a failure says why, before looking for the messages
    one, two = sink.to("ops1@tapai.example")[0], sink.to("ops2@tapai.example")[0]
    link = re.compile(r"http://portal\.test/ack/[A-Za-z0-9_.-]+")
    for part in ("plain", "html"):
        a = one.get_body(preferencelist=(part,)).get_content()
        b = two.get_body(preferencelist=(part,)).get_content()
        assert link.findall(a) and link.findall(b)
        assert set(link.findall(a)).isdisjoint(link.findall(b))
        assert link.sub("LINK", a) == link.sub("LINK", b)
    assert one["Message-ID"] != two["Message-ID"]
    assert one["To"] == "ops1@tapai.example" and two["To"] == "ops2@tapai.example"


@pytest.mark.parametrize(
    "address",
    [
        "ops1@tapai.example",
        "a.b+c@x-y.example.com",
        "o'neil@t.example",
        "x@[127.0.0.1]",
        "Ops <ops@t.example>",
        '"q q"@t.example',
        "a@b",
        "a..b@t.example",
        "a@t.example ",
        "bücher@t.example",
        "a@t.example, b@t.example",
        "",
        "@t.example",
        "a@.example",
    ],
)
def test_the_plain_address_shortcut_agrees_with_the_full_check(address):
    def full(value):
        name, addr = parseaddr(value)
        local, _, domain = addr.rpartition("@")
        if (
            not addr
            or addr != value.strip()
            or not local
            or "." not in domain
            or any(c.isspace() or ord(c) < 32 for c in value)
            or len(value) > 254
        ):
            raise BadRecipient(value)
        return addr

    try:
        expected = full(address)
    except BadRecipient:
        with pytest.raises(BadRecipient):
            check_address(address)
    else:
        assert check_address(address) == expected


@pytest.mark.parametrize(
    "address",
    [
        "ops1@tapai.example",
        "Forewarn <notices@forewarn.example>",
        ("Forewarn", "n@f.example"),
        "o@bücher.example",
        "Zoë <z@t.example>",
        '"q"@t.example',
    ],
)
def test_envelope_addresses_are_flask_mails(address):
    assert envelope_address(address) == sanitize_address(address)


def test_a_stop_request_ends_the_run_between_batches_and_the_rest_waits(published, dispatch, sink):
    """The worker passes its stop event: the batch in hand is finished, nothing more claimed."""
    asked = []

    def stop_after_first_batch():
        asked.append(True)
        return len(asked) > 1

    first = dispatch(batch_size=2, should_stop=stop_after_first_batch)
    assert (first.claimed, first.sent) == (2, 2)
    assert len(sink.received) == 2
    rest = dispatch(batch_size=2)
    assert (rest.claimed, rest.sent) == (3, 3)
    assert len({m["Message-ID"] for m in sink.received}) == 5
