"""Certificates a customer can check without trusting the provider (issue 13): claims read
against their entries, inclusion and consistency proofs, signed checkpoints, carried by
emails and feeds, and ``forewarn-verify`` offline with one-line reasons for bad input."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from sqlalchemy import update

from forewarn_verify.cli import main as verify_main
from forewarn_verify.notes import Signer, transport
from portal.changes.models import ChangeTenant
from portal.extensions import db
from portal.ledger import checkpoints, keys
from portal.ledger.drills import rewrite
from portal.ledger.services import record
from tests.certificates.test_certificates import answered  # noqa: F401
from tests.conftest import T0


@pytest.fixture
def signer(app):
    return keys.keygen()


@pytest.fixture
def signed(signer, answered):  # noqa: F811
    checkpoints.issue(T0 + dt.timedelta(hours=4))
    db.session.commit()
    return answered


def _cert(login, w, tmp_path, name="cert.json", **query):
    url = f"/certificates/{w.change.id}/tapai.json"
    r = login(w.tapai_user).get(url, query_string=query)
    assert r.status_code == 200, r.get_data(as_text=True)
    path = tmp_path / name
    path.write_bytes(r.get_data())
    return r.get_json(), path


def _run(capsys, *args):
    code = verify_main([str(a) for a in args])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_certificate_verifies_offline_with_only_the_public_key(
    login, signed, signer, tmp_path, capsys
):
    cert, path = _cert(login, signed, tmp_path)
    assert cert["ledger_verification"]["ok"], cert["ledger_verification"]
    assert cert["ledger_agreement"] == {"ok": True, "problems": []}
    proof = cert["proof"]
    assert proof["checkpoint"].startswith(keys.origin() + "\n")
    assert proof["entries"] and all(e.get("inclusion_proof") is not None for e in proof["entries"])
    code, out, err = _run(capsys, path, "--key", signer.verifier.encoded())
    assert (code, err) == (0, "")
    assert out.startswith("OK: ") and "every claim matches" in out


def test_certificate_reveals_no_other_tenants_entries(login, signed, tmp_path):
    w = signed
    record("test.other", subject_type="x", subject_id=1, now=T0, tenant_id=w.ptu.id)
    db.session.commit()
    cert, _ = _cert(login, w, tmp_path)
    assert {e["tenant_id"] for e in cert["proof"]["entries"]} <= {w.tapai.id, None}
    assert all("ptu" not in e["payload"] for e in cert["proof"]["entries"])


def test_edited_table_value_is_flagged_in_page_json_and_verifier(
    client, login, signed, signer, tmp_path, capsys
):
    w = signed
    db.session.execute(
        update(ChangeTenant)
        .where(ChangeTenant.change_id == w.change.id, ChangeTenant.tenant_id == w.tapai.id)
        .values(notice_given_at=T0 - dt.timedelta(days=2))
    )
    db.session.commit()
    cert, path = _cert(login, w, tmp_path)
    agreement = cert["ledger_agreement"]
    assert not agreement["ok"]
    assert any(p.startswith("notice given at") for p in agreement["problems"])
    page = client.get(f"/certificates/{w.change.id}/tapai").get_data(as_text=True)
    assert "TABLE VALUES DISAGREE WITH THE LEDGER" in page and "notice given at" in page
    code, _out, err = _run(capsys, path, "--key", signer.verifier.encoded())
    assert code == 1 and "FAIL: notice given at" in err


def test_truncated_certificate_gets_a_one_line_reason(login, signed, signer, tmp_path, capsys):
    _cert_json, path = _cert(login, signed, tmp_path)
    path.write_bytes(path.read_bytes()[:500])
    code, out, err = _run(capsys, path, "--key", signer.verifier.encoded())
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and "truncated" in err


def test_wrong_key_fails(login, signed, tmp_path, capsys):
    _cert_json, path = _cert(login, signed, tmp_path)
    other = Signer.generate(keys.origin())
    code, _out, err = _run(capsys, path, "--key", other.verifier.encoded())
    assert code == 1 and "not signed by a key you gave" in err and "Traceback" not in err


def test_malformed_key_gets_a_one_line_reason(login, signed, tmp_path, capsys):
    _cert_json, path = _cert(login, signed, tmp_path)
    code, _out, err = _run(capsys, path, "--key", "not-a-key")
    assert code == 2 and err.count("\n") == 1


def test_checkpoint_from_another_log_fails(login, signed, signer, tmp_path, capsys):
    _cert_json, path = _cert(login, signed, tmp_path)
    stranger = Signer.generate("other.example/log")
    note = stranger.sign(f"other.example/log\n5\n{'A' * 43}=\n")
    (tmp_path / "other.txt").write_text(note)
    code, _out, err = _run(
        capsys,
        path,
        "--key",
        signer.verifier.encoded(),
        "--key",
        stranger.verifier.encoded(),
        "--checkpoint",
        tmp_path / "other.txt",
    )
    assert code == 1 and "another log" in err


def test_proof_for_another_tree_size_fails(login, signed, signer, tmp_path, capsys):
    w = signed
    older = checkpoints.latest().note
    record("test.more", subject_type="x", subject_id=1, now=T0, tenant_id=w.tapai.id)
    checkpoints.issue(T0 + dt.timedelta(hours=5))
    db.session.commit()
    cert, path = _cert(login, w, tmp_path)
    cert["proof"]["checkpoint"] = older  # a genuine checkpoint, but of another size
    path.write_text(json.dumps(cert))
    code, _out, err = _run(capsys, path, "--key", signer.verifier.encoded())
    assert code == 1 and "inclusion proof" in err


def test_altered_entry_in_the_certificate_fails(login, signed, signer, tmp_path, capsys):
    cert, path = _cert(login, signed, tmp_path)
    cert["proof"]["entries"][0]["payload"] = "{}"
    path.write_text(json.dumps(cert))
    code, _out, err = _run(capsys, path, "--key", signer.verifier.encoded())
    assert code == 1 and "altered" in err


def test_kept_checkpoint_needs_and_passes_a_consistency_proof(
    login, signed, signer, tmp_path, capsys
):
    w = signed
    kept = tmp_path / "kept.txt"
    kept.write_text(f"Ledger checkpoint: {transport(checkpoints.latest().note)}\n")
    record("test.more", subject_type="x", subject_id=1, now=T0, tenant_id=w.tapai.id)
    checkpoints.issue(T0 + dt.timedelta(hours=5))
    db.session.commit()
    key = signer.verifier.encoded()
    _cert_json, path = _cert(login, w, tmp_path)
    code, _out, err = _run(capsys, path, "--key", key, "--checkpoint", kept)
    assert code == 1 and "?since=" in err
    since = transport(checkpoints.at_size(checkpoints.latest().tree_size - 1).note)
    cert, path = _cert(login, w, tmp_path, since=since)
    assert cert["proof"]["consistency"][0]["from_size"] == checkpoints.latest().tree_size - 1
    code, out, err = _run(capsys, path, "--key", key, "--checkpoint", kept)
    assert (code, err) == (0, "") and "1 kept checkpoint(s) consistent" in out


def test_history_rewritten_after_a_kept_checkpoint_is_detected(
    login, signed, signer, tmp_path, capsys
):
    """Even an insider holding the signing key cannot rewrite history a customer witnessed."""
    w = signed
    kept_note = checkpoints.latest().note
    (tmp_path / "kept.txt").write_text(kept_note)
    kept_size = checkpoints.latest().tree_size

    def forge(rows):
        rows[1]["payload"] = '{"forged":true}'
        return rows

    rewrite(forge)
    db.session.query(checkpoints.LedgerCheckpoint).delete()
    checkpoints.issue(T0 + dt.timedelta(hours=6))
    db.session.commit()
    r = login(w.tapai_user).get(
        f"/certificates/{w.change.id}/tapai.json", query_string={"since": str(kept_size)}
    )
    (tmp_path / "cert.json").write_bytes(r.get_data())
    code, _out, err = _run(
        capsys,
        tmp_path / "cert.json",
        "--key",
        signer.verifier.encoded(),
        "--checkpoint",
        tmp_path / "kept.txt",
    )
    assert code == 1 and "checkpoint" in err and ("rewritten" in err or "root" in err)


def test_bad_since_is_a_400(login, signed):
    w = signed
    r = login(w.tapai_user).get(
        f"/certificates/{w.change.id}/tapai.json", query_string={"since": "bm90IGEgbm90ZQ=="}
    )
    assert r.status_code == 400
    r = login(w.tapai_user).get(
        f"/certificates/{w.change.id}/tapai.json", query_string={"since": "999999"}
    )
    assert r.status_code == 400
    for since in ("1" * 5000, "\u0661\u0662"):  # past int's 4,300 digits; Arabic-Indic digits
        r = login(w.tapai_user).get(
            f"/certificates/{w.change.id}/tapai.json", query_string={"since": since}
        )
        assert r.status_code == 400


def test_certificate_without_a_key_says_no_checkpoint(login, answered, tmp_path, capsys):  # noqa: F811
    cert, path = _cert(login, answered, tmp_path)
    assert cert["proof"]["checkpoint"] is None
    other = Signer.generate("x.example/ledger")
    code, _out, err = _run(capsys, path, "--key", other.verifier.encoded())
    assert code == 1 and "no signed checkpoint" in err


def test_entries_newer_than_any_checkpoint_get_one_issued(login, signed, tmp_path):
    from portal.acks.services import object_to

    w = signed
    before = checkpoints.latest().tree_size
    object_to(
        w.change, w.tapai.id, user=w.tapai_user, reason="Later", now=T0 + dt.timedelta(hours=7)
    )
    db.session.commit()
    cert, _ = _cert(login, w, tmp_path)
    assert cert["proof"]["tree_size"] > before
    assert checkpoints.latest().tree_size == cert["proof"]["tree_size"]
    assert all("inclusion_proof" in e for e in cert["proof"]["entries"])


def test_revised_change_certificate_agrees_with_the_ledger(login, signed, signer, tmp_path, capsys):
    import dataclasses

    from portal.changes.services import input_of, revise

    w = signed
    inp = input_of(w.change)
    later = dataclasses.replace(
        inp,
        starts_at=inp.starts_at + dt.timedelta(days=2),
        ends_at=inp.ends_at + dt.timedelta(days=2),
    )
    revise(w.change, later, actor=w.engineer, now=T0 + dt.timedelta(hours=8))
    db.session.commit()
    cert, path = _cert(login, w, tmp_path)
    assert len(cert["revisions"]) == 2
    assert cert["ledger_agreement"] == {"ok": True, "problems": []}
    code, _out, err = _run(capsys, path, "--key", signer.verifier.encoded())
    assert (code, err) == (0, "")
