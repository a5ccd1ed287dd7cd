"""Issue 13 end to end: notices delivered over real SMTP carry the latest signed checkpoint,
and a customer holding one of those emails can check its certificate offline and would see
any rewrite of the ledger after the email was sent."""

from __future__ import annotations

import datetime as dt
import json
import threading

from sqlalchemy import select

from forewarn_verify.cli import main as verify_main
from forewarn_verify.cli import note_in
from portal.certificates import services as certificates
from portal.changes.models import ChangeTenant
from portal.extensions import db
from portal.ledger import checkpoints, keys, witness
from portal.notify.worker import work_once
from tests.conftest import T0


def test_notices_carry_the_checkpoint_and_prove_the_certificate(
    app, published, dispatch, sink, tmp_path, capsys
):
    signer = keys.keygen()
    first = checkpoints.issue_checkpoint_if_due(T0)  # covers the publication
    app.config["LEDGER_CHECKPOINT_INTERVAL_SECONDS"] = 0  # the frozen clock does not move
    work_once("w1", threading.Event())  # sends, then the hook signs the deliveries
    assert len(sink.received) == 5
    for message in sink.received:
        assert message[witness.HEADER]
        assert note_in(message.as_bytes(), "email") == first.note
        text = next(p for p in message.walk() if p.get_content_type() == "text/plain")
        assert "Ledger checkpoint: " in text.get_content()
    latest = checkpoints.latest()
    assert latest.tree_size > first.tree_size  # the worker signed what the batch appended

    eml = tmp_path / "notice.eml"
    eml.write_bytes(sink.received[0].as_bytes())
    w = published
    ct = db.session.scalars(
        select(ChangeTenant).filter_by(change_id=w.change.id, tenant_id=w.tapai.id)
    ).one()
    cert = certificates.build(
        w.change, w.tapai, ct, now=T0 + dt.timedelta(minutes=1), issued_to="t",
        since=[str(first.tree_size)],
    )  # fmt: skip
    assert cert["ledger_agreement"]["ok"], cert["ledger_agreement"]
    assert cert["notice_given"]["ledger"] is not None
    path = tmp_path / "cert.json"
    path.write_text(json.dumps(cert))
    code = verify_main([str(path), "--key", signer.verifier.encoded(), "--checkpoint", str(eml)])
    out = capsys.readouterr()
    assert (code, out.err) == (0, ""), out.err
