"""Signed checkpoints: the key outside the database, the worker's hook, what `forewarn ledger
verify` detects with them (truncation with the head moved, a wipe, a forged entry with the
chain recomputed), rotation, the public URLs, and the copies emails and feeds carry."""

from __future__ import annotations

import datetime as dt
import os
import stat

import feedparser
import pytest
from icalendar import Calendar
from sqlalchemy import delete, update

from forewarn_verify.cli import note_in
from forewarn_verify.notes import open_checkpoint, transport
from portal.extensions import db
from portal.feeds.content import Scope
from portal.ledger import checkpoints, keys, witness
from portal.ledger.drills import rewrite
from portal.ledger.models import LedgerCheckpoint, LedgerEntry, LedgerHead, LedgerTreeNode
from portal.ledger.services import record
from tests.conftest import T0


def _append(n, start=0):
    for i in range(start, start + n):
        record("test.fact", subject_type="t", subject_id=i, payload={"i": i}, now=T0)
    db.session.commit()


@pytest.fixture
def signer(app):
    return keys.keygen()


@pytest.fixture
def signed_ledger(signer):
    _append(20)
    assert checkpoints.issue_checkpoint_if_due(T0) is not None
    return signer


def _verify(app, *args):
    return app.test_cli_runner().invoke(args=["ledger", "verify", *args])


def test_keygen_writes_a_private_file_and_refuses_to_overwrite(app):
    runner = app.test_cli_runner()
    made = runner.invoke(args=["ledger", "keygen"])
    assert made.exit_code == 0, made.output
    mode = stat.S_IMODE(os.stat(keys.key_path()).st_mode)
    assert mode == 0o600
    assert keys.signer().verifier.encoded() in made.output
    again = runner.invoke(args=["ledger", "keygen"])
    assert again.exit_code != 0 and "--rotate" in again.output
    shown = runner.invoke(args=["ledger", "public-key"])
    assert shown.output.strip() == keys.signer().verifier.encoded()


def test_worker_hook_issues_after_appends_and_at_most_every_interval(app, signer):
    assert checkpoints.issue_checkpoint_if_due(T0) is None  # empty ledger
    _append(3)
    first = checkpoints.issue_checkpoint_if_due(T0)
    assert first is not None and first.tree_size == 3
    _append(2, 3)
    assert checkpoints.issue_checkpoint_if_due(T0 + dt.timedelta(seconds=1)) is None
    later = T0 + dt.timedelta(seconds=app.config["LEDGER_CHECKPOINT_INTERVAL_SECONDS"])
    second = checkpoints.issue_checkpoint_if_due(later)
    assert second.tree_size == 5
    assert checkpoints.issue_checkpoint_if_due(later + dt.timedelta(hours=1)) is None  # nothing new
    assert db.session.query(LedgerCheckpoint).count() == 2
    opened, _ = open_checkpoint(second.note, [signer.verifier], keys.origin())
    assert (opened.size, opened.root_hash) == (5, second.root_hash)
    assert checkpoints.read_witness() == second.note


def test_without_a_key_the_hook_does_nothing(app):
    _append(2)
    assert checkpoints.issue_checkpoint_if_due(T0) is None


def test_verify_passes_with_checkpoints(app, signed_ledger):
    result = _verify(app)
    assert result.exit_code == 0, result.output
    assert "OK: 20 entries" in result.output and "20 entries" in result.output


def test_truncation_with_the_head_moved_is_detected(app, signed_ledger):
    last = db.session.get(LedgerEntry, 15)
    db.session.execute(delete(LedgerEntry).where(LedgerEntry.seq > 15))
    db.session.execute(delete(LedgerTreeNode))
    db.session.execute(update(LedgerHead).values(seq=15, hash=last.hash))
    db.session.commit()
    result = _verify(app)
    assert result.exit_code == 1 and "entries were removed" in result.output


def test_a_wipe_is_detected_by_the_witness_file(app, signed_ledger):
    for model in (LedgerEntry, LedgerTreeNode, LedgerCheckpoint, LedgerHead):
        db.session.execute(delete(model))
    db.session.commit()
    result = _verify(app)
    assert result.exit_code == 1
    assert "holds 0" in result.output and "witness file" in result.output


def test_a_forged_entry_with_the_chain_recomputed_is_detected(app, signed_ledger):
    def forge(rows):
        fake = {**rows[4], "action": "notice.given", "payload": '{"forged":true}'}
        return [*rows[:5], fake, *rows[5:]]

    rewrite(forge)
    db.session.commit()
    result = _verify(app)
    assert result.exit_code == 1 and "history rewritten or forged" in result.output


def test_a_wipe_of_everything_but_a_customers_email_is_detected(app, signed_ledger, tmp_path):
    eml = tmp_path / "notice.eml"
    eml.write_text(
        f"Subject: x\r\n{witness.HEADER}: {transport(checkpoints.latest().note)}\r\n\r\n"
    )
    for model in (LedgerEntry, LedgerTreeNode, LedgerCheckpoint, LedgerHead):
        db.session.execute(delete(model))
    db.session.commit()
    checkpoints.witness_path().unlink()
    assert _verify(app).exit_code == 0  # nothing left on the provider's side to compare
    result = _verify(app, "--checkpoint", str(eml))
    assert result.exit_code == 1 and "entries were removed" in result.output


def test_rotated_key_still_verifies_old_checkpoints(app, signed_ledger):
    old = checkpoints.latest()
    result = app.test_cli_runner().invoke(args=["ledger", "keygen", "--rotate"])
    assert result.exit_code == 0, result.output
    assert keys.signer().verifier != signed_ledger.verifier
    assert checkpoints.open_stored(old.note).size == 20  # retired key still trusted
    _append(1, 20)
    new = checkpoints.issue(T0)
    db.session.commit()
    assert checkpoints.open_stored(new.note).size == 21
    assert _verify(app).exit_code == 0
    listed = app.test_cli_runner().invoke(args=["ledger", "public-key", "--all"]).output.split()
    assert listed == [keys.signer().verifier.encoded(), signed_ledger.verifier.encoded()]


def test_public_key_and_checkpoint_urls(app, client, signed_ledger):
    r = client.get("/ledger/public-key")
    assert r.status_code == 200 and r.get_data(as_text=True).strip() == (
        signed_ledger.verifier.encoded()
    )
    assert client.get("/ledger/keys").get_data(as_text=True).split() == [
        signed_ledger.verifier.encoded()
    ]
    note = client.get("/ledger/checkpoint").get_data(as_text=True)
    assert note == checkpoints.latest().note


def test_public_key_url_is_404_without_a_key(client):
    assert client.get("/ledger/public-key").status_code == 404
    assert client.get("/ledger/checkpoint").status_code == 404


def test_private_feeds_carry_the_checkpoint_and_still_parse(app, signed_ledger):
    from portal.feeds import builders

    scope = Scope("tenant", 1, "Tapai")
    note = checkpoints.latest().note
    for fmt in ("rss", "atom"):
        body = builders.build(fmt, scope, [], base_url="http://x", self_url=None,
                              last_modified=None)  # fmt: skip
        stamped = witness.stamp_feed(scope, fmt, body)
        parsed = feedparser.parse(stamped)
        assert not parsed.bozo, parsed.bozo_exception
        assert note_in(stamped, fmt) == note
    ics = witness.stamp_feed(scope, "ics", builders.build("ics", scope, [], base_url="http://x"))
    Calendar.from_ical(ics)
    assert note_in(ics, "ics") == note
    public = builders.build("rss", Scope("service", 1, "S"), [], base_url="http://x",
                            self_url=None, last_modified=None)  # fmt: skip
    assert witness.stamp_feed(Scope("service", 1, "S"), "rss", public) == public


def test_notice_emails_carry_the_checkpoint_in_a_header_and_the_text(app, signed_ledger):
    from types import SimpleNamespace

    from portal.notify.render import NoticeMessage

    msg = NoticeMessage(subject="s", recipients=["a@example.com"], body="Hello", html="<p>x</p>")
    msg.extra_headers = {}
    witness.stamp_email(msg, SimpleNamespace())
    value = transport(checkpoints.latest().note)
    assert msg.extra_headers[witness.HEADER] == value
    assert msg.body.endswith(f"Ledger checkpoint: {value}\n")
    raw = msg.as_bytes()
    assert note_in(raw, "email") == checkpoints.latest().note
    # The text part alone (as a mail client shows it) is enough too.
    assert note_in(msg.body.encode(), "text") == checkpoints.latest().note
