"""Tamper drills (issue 13 item 7): someone with write access to the database rewrites
history; each rewrite must be detected by `forewarn ledger verify` or by `forewarn-verify`
holding a checkpoint from an email sent before the tampering.

Usage: python bench/tamper.py [--entries N] [--database-url URL]

Builds a ledger of N entries (default 10,000): a change published to Tapai and Ptu through
the real services, its notices recorded as the dispatcher records them, then other tenants'
facts up to N; a signing key (in a temporary folder, outside the database), a signed
checkpoint, and the email Tapai received carrying it. Then, each on a fresh copy of that
database (a file copy on SQLite, ``CREATE DATABASE … TEMPLATE`` on PostgreSQL), it tries:
one entry edited, one deleted, two swapped, the tail truncated with the head moved, the
ledger wiped (checkpoints too), a forged ``notice.given`` inserted with the chain and the
Merkle tree recomputed (stored checkpoints deleted), and a table value edited (Tapai's
notice-given time moved two days earlier). For each it runs the ledger audit (`forewarn
ledger verify --checkpoint email`) and issues Tapai's certificate with ``since`` = the email's
checkpoint and runs the offline verifier on it with the email.

``run(database_url) -> dict`` returns ``{"tamper_tried", "tamper_detected", "drills"}``;
run as a script it prints one line per drill and the dict as JSON on the last line.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import secrets
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from scratch import scratch_database  # noqa: E402

T0 = dt.datetime(2026, 11, 2, 9, 0, tzinfo=dt.UTC)


def _config(url: str, folder: Path) -> dict:
    return {
        "SQLALCHEMY_DATABASE_URI": url,
        "SECRET_KEY": secrets.token_hex(32),
        "BASE_URL": "https://forewarn.test",
        "LEDGER_SIGNING_KEY_FILE": str(folder / "ledger-signing.key"),
        "LEDGER_WITNESS_FILE": str(folder / "ledger-checkpoint.txt"),
        "REMINDER_OFFSETS_HOURS": [],
    }


def build(app, entries: int) -> dict:
    """The story and filler up to ``entries``; returns ids and the email's checkpoint."""
    from sqlalchemy import select

    from portal.auth.models import User
    from portal.catalog.models import PlatformTeam, Service, TeamMembership, Usage
    from portal.changes.models import Change, ChangeTarget
    from portal.changes.services import publish
    from portal.extensions import db
    from portal.ledger import checkpoints, keys, witness
    from portal.ledger.services import Fact, record_many
    from portal.notify.evidence import record_batch
    from portal.notify.models import NOTICE, SENT, OutboxMessage
    from portal.tenants.models import NoticeContact, Tenant

    team = PlatformTeam(slug="face-fusion", name="Face Fusion")
    db.session.add(team)
    db.session.flush()
    service = Service(slug="face-fusion-api", name="Face Fusion API", team_id=team.id)
    engineer = User(email="eng@provider.example", name="Eve Engineer")
    tapai = Tenant(slug="tapai", name="Tapai", time_zone="UTC", created_at=T0)
    ptu = Tenant(slug="ptu", name="Ptu", time_zone="UTC", first_party=True, created_at=T0)
    db.session.add_all([service, engineer, tapai, ptu])
    db.session.flush()
    db.session.add(TeamMembership(team_id=team.id, user_id=engineer.id))
    for t in (tapai, ptu):
        db.session.add(NoticeContact(tenant_id=t.id, email=f"ops@{t.slug}.example", name="Ops",
                                     created_at=T0))  # fmt: skip
        db.session.add(Usage(tenant_id=t.id, service_id=service.id))
    change = Change(
        team_id=team.id, author_id=engineer.id, impact="maintenance", title="Upgrade the model",
        body_md="v5", starts_at=T0 + dt.timedelta(days=10),
        ends_at=T0 + dt.timedelta(days=10, hours=1), ack_required=True,
    )  # fmt: skip
    db.session.add(change)
    db.session.flush()
    db.session.add(ChangeTarget(change_id=change.id, service_id=service.id))
    db.session.flush()
    publish(change, actor=engineer, now=T0)
    rows = list(db.session.scalars(select(OutboxMessage).where(OutboxMessage.kind == NOTICE)))
    sent = T0 + dt.timedelta(minutes=1)
    outcomes = {}
    for i, row in enumerate(rows):
        row.status, row.sent_at, row.attempts = SENT, sent, 1
        row.message_id, row.smtp_reply = f"<n{row.id}@forewarn.test>", f"250 2.0.0 Ok {i}"
        outcomes[row.id] = {"status": SENT, "sent_at": sent, "message_id": row.message_id,
                            "smtp_reply": row.smtp_reply, "attempts": 1}  # fmt: skip
    db.session.flush()
    record_batch(rows, outcomes, now=sent)
    db.session.commit()
    keys.keygen()
    checkpoints.issue(sent)
    db.session.commit()
    email_checkpoint = witness.latest_transport()
    from portal.ledger.models import LedgerHead

    have = db.session.get(LedgerHead, 1).seq
    filler = [
        Fact("test.filler", "filler", i, {"i": i, "note": "another tenant's fact"}, tenant_id=999)
        for i in range(entries - have)
    ]
    for start in range(0, len(filler), 2000):
        record_many(filler[start : start + 2000], actor="filler", now=sent)
    db.session.commit()
    checkpoints.issue(sent + dt.timedelta(minutes=1))
    db.session.commit()
    checkpoints.write_witness(checkpoints.latest().note)
    return {"change_id": change.id, "tapai_id": tapai.id, "email": email_checkpoint}


def _tamperings():
    from sqlalchemy import delete, update

    from portal.changes.models import ChangeTenant
    from portal.extensions import db
    from portal.ledger.drills import rewrite
    from portal.ledger.models import LedgerCheckpoint, LedgerEntry, LedgerHead, LedgerTreeNode

    # Where each tampering strikes scales with the ledger: entries 5,000, 4,000/4,001 and the
    # tail after 9,000 of the default 10,000, all in the filler after the story's entries.
    def edit(ctx):
        middle = ctx["entries"] // 2
        db.session.execute(
            update(LedgerEntry).where(LedgerEntry.seq == middle).values(payload='{"i":-1}')
        )

    def remove(ctx):
        db.session.execute(delete(LedgerEntry).where(LedgerEntry.seq == ctx["entries"] // 2))

    def swap(ctx):
        a = ctx["entries"] * 2 // 5
        for old, new in ((a, -1), (a + 1, a), (-1, a + 1)):
            db.session.execute(update(LedgerEntry).where(LedgerEntry.seq == old).values(seq=new))

    def truncate(ctx):
        cut = ctx["entries"] * 9 // 10
        keep = db.session.get(LedgerEntry, cut)
        db.session.execute(delete(LedgerEntry).where(LedgerEntry.seq > cut))
        db.session.execute(update(LedgerHead).values(seq=cut, hash=keep.hash))

    def wipe(ctx):
        for model in (LedgerEntry, LedgerTreeNode, LedgerCheckpoint, LedgerHead):
            db.session.execute(delete(model))

    def forge(ctx):
        def insert_forged(rows):
            given = next(r for r in rows if r["action"] == "notice.given")
            fake = {**given, "at": T0 - dt.timedelta(days=2),
                    "payload": given["payload"].replace("2026-11-02", "2026-10-31")}  # fmt: skip
            at = rows.index(given)
            return [*rows[:at], fake, *rows[at:]]

        rewrite(insert_forged)
        db.session.execute(delete(LedgerCheckpoint))

    def table_value(ctx):
        db.session.execute(
            update(ChangeTenant)
            .where(ChangeTenant.tenant_id == ctx["tapai_id"])
            .values(notice_given_at=T0 - dt.timedelta(days=2))
        )

    return [
        ("one entry edited", edit),
        ("one entry deleted", remove),
        ("two entries swapped", swap),
        ("tail truncated, head moved", truncate),
        ("ledger wiped", wipe),
        ("forged entry, chain and tree recomputed", forge),
        ("table value edited", table_value),
    ]


def check(app, ctx: dict) -> list[str]:
    """What detects the current state: the audit and the offline verifier (empty = nothing)."""
    from sqlalchemy import select

    from forewarn_verify.cli import verify as offline_verify
    from forewarn_verify.notes import from_transport
    from portal.certificates import services
    from portal.changes.models import Change, ChangeTenant
    from portal.extensions import db
    from portal.ledger import keys
    from portal.ledger.audit import audit
    from portal.tenants.models import Tenant

    note = from_transport(ctx["email"])
    found = []
    result = audit({"email": note})
    if not result.ok:
        found.append("forewarn ledger verify: " + (result.problems or [result.chain.reason])[0])
    change = db.session.get(Change, ctx["change_id"])
    tenant = db.session.get(Tenant, ctx["tapai_id"])
    ct = db.session.scalars(
        select(ChangeTenant).filter_by(change_id=change.id, tenant_id=tenant.id)
    ).one()
    try:
        cert = services.build(change, tenant, ct, now=T0 + dt.timedelta(days=1),
                              issued_to="drill", since=[ctx["email"]])  # fmt: skip
        db.session.rollback()
        cert = json.loads(json.dumps(cert))  # exactly what a customer downloads
        failures, _ = offline_verify(cert, keys.trusted_verifiers(), {"email": note})
    except Exception as err:  # the provider cannot even issue a certificate consistent with it
        db.session.rollback()
        failures = [f"no certificate could be issued: {err}"]
    if failures:
        found.append("forewarn-verify: " + failures[0])
    return found


def _copy(url: str, kind: str, base: str, n: int, folder: Path) -> tuple[str, callable]:
    if kind == "sqlite":
        src = Path(base.removeprefix("sqlite:///"))
        dst = folder / f"copy{n}.sqlite3"
        shutil.copyfile(src, dst)
        return f"sqlite:///{dst}", lambda: dst.unlink(missing_ok=True)
    from sqlalchemy import create_engine, make_url, text

    base_url = make_url(base)
    name = f"{base_url.database}_c{n}"
    admin = create_engine(base_url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{base_url.database}"'))

    def drop():
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return base_url.set(database=name).render_as_string(hide_password=False), drop


def run(database_url: str | None, entries: int = 10_000) -> dict:
    """Build the ledger, try each tampering on a fresh copy; ``{"tamper_tried",
    "tamper_detected", "drills": [{"tampering", "detected_by"}]}``."""
    import flask_migrate

    from portal import create_app
    from portal.extensions import dispose_engines

    url, kind, cleanup = scratch_database(database_url, "tamper")
    folder = Path(tempfile.mkdtemp(prefix="forewarn-tamper-"))
    drills = []
    try:
        app = create_app(_config(url, folder))
        with app.app_context():
            flask_migrate.upgrade(directory=str(ROOT / "migrations"))
            t = time.perf_counter()
            ctx = {**build(app, entries), "entries": entries}
            built = time.perf_counter() - t
            untouched = check(app, ctx)
            assert not untouched, f"the untouched ledger fails: {untouched}"
            dispose_engines()
        print(f"built {entries} entries in {built:.1f} s ({kind}); untouched copy verifies")
        witness_file = folder / "ledger-checkpoint.txt"
        pristine = witness_file.read_text()
        for n, (name, tamper) in enumerate(_tamperings()):
            copy_url, drop = _copy(url, kind, url, n, folder)
            witness_file.write_text(pristine)
            try:
                copy = create_app(_config(copy_url, folder))
                with copy.app_context():
                    tamper(ctx)
                    from portal.extensions import db

                    db.session.commit()
                    found = check(copy, ctx)
                    dispose_engines()
            finally:
                drop()
            drills.append({"tampering": name, "detected_by": found})
            print(f"{name}: {'DETECTED' if found else 'NOT DETECTED'}"
                  + (f" — {found[0]}" if found else ""))  # fmt: skip
    finally:
        cleanup()
        shutil.rmtree(folder, ignore_errors=True)
    return {
        "tamper_tried": len(drills),
        "tamper_detected": sum(1 for d in drills if d["detected_by"]),
        "drills": drills,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--entries", type=int, default=10_000)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    if args.entries < 1_000:
        parser.error("--entries must be at least 1,000 (the story's entries come first)")
    os.environ.setdefault("PORTAL_INSTANCE_PATH", tempfile.mkdtemp(prefix="forewarn-instance-"))
    print(json.dumps(run(args.database_url, args.entries)))


if __name__ == "__main__":
    main()
