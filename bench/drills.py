"""Fault drills for the notice guarantee (issue #11): real worker processes, a real SMTP server
in its own process, and faults injected while a change fans out.

Usage: python bench/drills.py [--database-url URL] [--only NAME] [--tenants N] [--contacts K]

Builds a fresh database (a temporary SQLite file, or with ``--database-url`` a new database on
that PostgreSQL server, dropped afterwards) with N tenants (default 2,000, 1 % first-party)
of K notice contacts each (default 3), then runs each drill on a freshly published change:

  a. smtp_down     the SMTP server stops for 75 s in the middle of the fan-out
  b. smtp_451      the server answers 451 to every message for 30 s
  c. kill9         the worker is killed with SIGKILL 5 times at random moments, restarted
  d. four_workers  4 workers at once (PostgreSQL only)
  e. smtp_550      the server answers 550 for 10 s (those notices fail, permanently)
  f. db_down       the database is unreachable for 30 s while the worker runs (PostgreSQL:
                   the worker connects through a TCP proxy that is cut; SQLite: another
                   connection holds the database's exclusive lock)
  tamper           bench/tamper.py's ``run(database_url)``, when that file exists

Counted for each drill, from what the server received (its own log) and from the database:
``lost`` (a notice neither received nor marked failed), ``duplicates`` (extra copies a
recipient received), ``duplicates_same_message_id`` (of those, copies carrying their first
copy's Message-ID), ``first_party_earlier`` (first-party acceptances before the last
third-party tenant's notice was given, by the server's clock), ``notice_given_duplicates``
(``notice.given`` ledger entries beyond one per revision and tenant), ``stuck_max_s`` (sampled
each second: the longest a row stayed with a killed worker, counted from the kill, or rows
stayed claimable while no worker made progress on the change; a backlog being worked
through is not stuck) and ``drain_s``
(publish to the last row sent or failed). Targets: lost 0, first_party_earlier 0,
notice_given_duplicates 0, duplicates == duplicates_same_message_id, stuck_max_s <= 60.

Retries use a shorter backoff than production (first retry after 10–20 s, capped at 60 s) so
that each drill drains in minutes; leases and the worker's interval are the defaults (45 s,
5 s). The last output line is one JSON object: the totals under the names above, and
``"drills"``, one object per drill.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from fanout import config, free_port, seed  # noqa: E402  (bench/, the script's folder)
from scratch import scratch_database  # noqa: E402

DRILLS = ("smtp_down", "smtp_451", "kill9", "four_workers", "smtp_550", "db_down", "tamper")
LETTERS = dict(zip("abcdef", DRILLS, strict=False))
TOTALS = (
    "lost",
    "duplicates",
    "duplicates_same_message_id",
    "first_party_earlier",
    "notice_given_duplicates",
)
DRILL_SETTINGS = {
    "PORTAL_DELIVERY_RETRY_BASE_SECONDS": "20",
    "PORTAL_DELIVERY_RETRY_MAX_SECONDS": "60",
}

# The SMTP server, in its own process: it logs every accepted message (time, recipient,
# Message-ID, change) as a JSON line, and obeys "ok", "451", "550", "down", "up" on stdin.
SINK = r"""
import json, sys, threading, time
from email.parser import BytesHeaderParser
from aiosmtpd.controller import Controller
mode = {"answer": None}
log = open(sys.argv[2], "a", buffering=1)
lock = threading.Lock()
class Handler:
    async def handle_DATA(self, server, session, envelope):
        if mode["answer"] == "451":
            return "451 4.3.0 Drill: try again later"
        if mode["answer"] == "550":
            return "550 5.7.1 Drill: refused"
        head = BytesHeaderParser().parsebytes(envelope.original_content or envelope.content)
        with lock:
            log.write(json.dumps({"t": time.time(), "rcpt": envelope.rcpt_tos[0],
                                  "mid": head["Message-ID"],
                                  "change": head["X-Forewarn-Change"]}) + "\n")
        return "250 2.0.0 Ok: queued"
def start():
    c = Controller(Handler(), hostname="127.0.0.1", port=int(sys.argv[1]))
    c.start()
    return c
c = start()
print("ready", flush=True)
for line in sys.stdin:
    cmd = line.strip()
    if cmd in ("451", "550"):
        mode["answer"] = cmd
    elif cmd == "ok":
        mode["answer"] = None
    elif cmd == "down" and c is not None:
        c.stop(); c = None
    elif cmd == "up" and c is None:
        c = start()
    print("done", flush=True)
if c is not None:
    c.stop()
"""


class Sink:
    """The SMTP server process and its log of accepted messages."""

    def __init__(self, folder: Path):
        self.port = free_port()
        self.log = folder / "received.jsonl"
        self.log.touch()
        self.proc = subprocess.Popen(
            [sys.executable, "-c", SINK, str(self.port), str(self.log)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout.readline().strip() == "ready"

    def tell(self, command: str) -> None:
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        assert self.proc.stdout.readline().strip() == "done"

    def received(self, change_id: int) -> list[dict]:
        lines = self.log.read_text().splitlines()
        return [r for r in map(json.loads, lines) if r["change"] == str(change_id)]

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=20)


class Proxy:
    """A TCP proxy in front of PostgreSQL that can be cut (every connection dropped, new ones
    refused) and restored: the database becomes unreachable for the worker only."""

    def __init__(self, host: str, port: int):
        self.target = (host, port)
        self.port = free_port()
        self.conns: list[socket.socket] = []
        self.lock = threading.Lock()
        self.listener: socket.socket | None = None
        self.restore()

    def restore(self) -> None:
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", self.port))
        self.listener.listen(64)
        threading.Thread(target=self._accept, args=(self.listener,), daemon=True).start()

    def cut(self) -> None:
        self.listener.close()
        with self.lock:
            for conn in self.conns:
                try:
                    conn.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                conn.close()
            self.conns.clear()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.target)
            with self.lock:
                self.conns += [client, server]
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.close()
                except OSError:
                    pass


class Drill:
    """One drill: a freshly published change, worker processes, and the measurements."""

    def __init__(self, ctx, name: str):
        self.ctx, self.name = ctx, name
        self.workers: list[subprocess.Popen] = []
        self.stuck_max = 0.0
        self.sampling = True
        self.killed: dict[int, float] = {}  # pid → when it was killed

    def start_worker(self, database_url: str | None = None) -> subprocess.Popen:
        env = {**self.ctx.env, **DRILL_SETTINGS}
        if database_url:
            env["PORTAL_DATABASE_URL"] = database_url
        proc = subprocess.Popen(
            [sys.executable, "-c", "from portal.cli import main; main()", "worker"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.workers.append(proc)
        return proc

    def stop_workers(self) -> None:
        for proc in self.workers:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.workers:
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()

    def publish(self) -> None:
        self.change_id = self.ctx.new_change()
        self.published = time.time()
        threading.Thread(target=self._sample, daemon=True).start()

    def _sample(self) -> None:
        """Each second: is any row stuck? A row counts as stuck while it is held by a worker
        that was killed (since the kill: its lease has to run out first), or while rows are
        claimable and no worker makes any progress on the change (no attempt, no outcome).
        Rows waiting their turn behind a backlog that is being worked through are not stuck."""
        from sqlalchemy import and_, func, or_, select

        from portal.extensions import db
        from portal.notify.claims import due, expired_leases, fair
        from portal.notify.models import OutboxMessage as OM

        progress, progress_at = None, time.time()
        with self.ctx.app.app_context():
            while self.sampling:
                try:
                    now = dt.datetime.now(dt.UTC)
                    where = OM.change_id == self.change_id
                    done = db.session.scalar(
                        select(func.coalesce(func.sum(OM.attempts), 0)).where(where)
                    )
                    waiting = db.session.scalar(
                        select(func.count()).where(
                            and_(where, or_(due(now), expired_leases(now)), fair())
                        )
                    )
                    holders = db.session.scalars(
                        select(OM.claimed_by).where(where, OM.status == "sending").distinct()
                    ).all()
                    db.session.rollback()
                    if done != progress:
                        progress, progress_at = done, time.time()
                    stuck = time.time() - progress_at if waiting else 0.0
                    for holder in holders:
                        pid = int((holder or "::").split(":")[1] or 0)
                        if pid in self.killed:
                            stuck = max(stuck, time.time() - self.killed[pid])
                    self.stuck_max = max(self.stuck_max, stuck)
                except Exception:  # noqa: BLE001 (the database may be down on purpose)
                    db.session.rollback()
                time.sleep(1)

    def sent_count(self) -> int:
        return len(self.ctx.sink.received(self.change_id))

    def wait_until_received(self, fraction: float, timeout: float = 300) -> None:
        target = int(self.ctx.rows_per_change * fraction)
        end = time.time() + timeout
        while self.sent_count() < target and time.time() < end:
            time.sleep(0.2)

    def drain(self, timeout: float = 1200) -> float:
        """Wait until every row of the change is sent or failed; seconds since publish."""
        from sqlalchemy import func, select

        from portal.extensions import db
        from portal.notify.models import FAILED, SENT
        from portal.notify.models import OutboxMessage as OM

        end = time.time() + timeout
        with self.ctx.app.app_context():
            while time.time() < end:
                open_rows = db.session.scalar(
                    select(func.count()).where(
                        OM.change_id == self.change_id, OM.status.not_in((SENT, FAILED))
                    )
                )
                db.session.rollback()
                if open_rows == 0:
                    break
                time.sleep(0.5)
        return time.time() - self.published

    def measure(self, drain_s: float) -> dict:
        self.sampling = False
        self.stop_workers()
        return {
            "drill": self.name,
            **self.ctx.count(self.change_id),
            "stuck_max_s": round(self.stuck_max, 1),
            "drain_s": round(drain_s, 1),
        }


class Context:
    """The database, the app, the SMTP server and what every drill shares."""

    def __init__(self, args, folder: Path):
        import flask_migrate

        from portal import create_app

        self.url, self.db_kind, self.cleanup = scratch_database(args.database_url, "drills")
        self.sink = Sink(folder)
        key = os.urandom(16).hex()
        self.app = create_app(config(self.url, self.sink.port, key, 200))
        with self.app.app_context():
            flask_migrate.upgrade()
            self.template_change, self.engineer_id = seed(self.app, args.tenants, args.contacts)
        self.rows_per_change = args.tenants * args.contacts
        self.env = {
            **os.environ,
            "PORTAL_DATABASE_URL": self.url,
            "PORTAL_SECRET_KEY": key,
            "PORTAL_MAIL_SERVER": "127.0.0.1",
            "PORTAL_MAIL_PORT": str(self.sink.port),
            "PORTAL_BASE_URL": "https://forewarn.test",
            "PORTAL_INSTANCE_PATH": str(folder / "instance"),
            "PORTAL_REMINDER_OFFSETS_HOURS": "[]",
        }

    def new_change(self) -> int:
        """A copy of the seeded draft, published now (outbox rows in the same transaction)."""
        from portal.auth.models import User
        from portal.changes.models import Change, ChangeTarget
        from portal.changes.services import publish
        from portal.extensions import db

        with self.app.app_context():
            base = db.session.get(Change, self.template_change)
            now = dt.datetime.now(dt.UTC)
            change = Change(
                team_id=base.team_id,
                author_id=base.author_id,
                impact=base.impact,
                title=f"P2 Wartung: Größenänderung der Speicher-Controller ({now:%H:%M:%S})",
                body_md=base.body_md,
                starts_at=now + dt.timedelta(days=40),
                ends_at=now + dt.timedelta(days=40, hours=2),
                ack_required=True,
            )
            db.session.add(change)
            db.session.flush()
            for target in db.session.scalars(db.select(ChangeTarget).filter_by(change_id=base.id)):
                db.session.add(ChangeTarget(change_id=change.id, service_id=target.service_id))
            publish(change, actor=db.session.get(User, self.engineer_id), now=now)
            db.session.commit()
            return change.id

    def count(self, change_id: int) -> dict:
        """The drill's figures, from the server's log and the database."""
        from sqlalchemy import func, select

        from portal.extensions import db
        from portal.ledger.models import LedgerEntry
        from portal.notify.models import FAILED
        from portal.notify.models import OutboxMessage as OM
        from portal.notify.render import message_id

        received = self.sink.received(change_id)
        with self.app.app_context():
            rows = list(db.session.scalars(select(OM).where(OM.change_id == change_id)))
            by_mid = {message_id(r): r for r in rows}
            got = Counter(r["mid"] for r in received)
            lost = sum(1 for mid, r in by_mid.items() if mid not in got and r.status != FAILED)
            per_rcpt: dict[str, list[str]] = defaultdict(list)
            for r in received:
                per_rcpt[r["rcpt"].lower()].append(r["mid"])
            duplicates = sum(len(m) - 1 for m in per_rcpt.values())
            same = sum(len(m) - 1 for m in per_rcpt.values() if len(set(m)) == 1)
            # Equal notice, by the server's clock: each tenant's first acceptance.
            tenant_of = {mid: r.tenant_id for mid, r in by_mid.items()}
            first_party = {r.tenant_id for r in rows if r.first_party}
            given: dict[int, float] = {}
            for r in received:
                tid = tenant_of.get(r["mid"])
                if tid is not None:
                    given[tid] = min(given.get(tid, r["t"]), r["t"])
            third = [t for tid, t in given.items() if tid not in first_party]
            last_third = max(third) if third else 0.0
            earlier = sum(
                1
                for r in received
                if tenant_of.get(r["mid"]) in first_party and r["t"] < last_third
            )
            entries = db.session.execute(
                select(LedgerEntry.tenant_id, LedgerEntry.payload).where(
                    LedgerEntry.change_id == change_id, LedgerEntry.action == "notice.given"
                )
            ).all()
            clocks = Counter((tid, json.loads(p)["revision"]) for tid, p in entries)
            statuses = dict(
                db.session.execute(
                    select(OM.status, func.count())
                    .where(OM.change_id == change_id)
                    .group_by(OM.status)
                ).all()
            )
            db.session.rollback()
        return {
            "notices": len(rows),
            "received": len(received),
            "statuses": statuses,
            "lost": lost,
            "duplicates": duplicates,
            "duplicates_same_message_id": same,
            "first_party_earlier": earlier,
            "notice_given_duplicates": sum(n - 1 for n in clocks.values()),
        }

    def close(self) -> None:
        from portal.extensions import dispose_engines

        with self.app.app_context():
            dispose_engines()
        self.sink.close()
        self.cleanup()


def smtp_down(ctx) -> dict:
    d = Drill(ctx, "smtp_down")
    d.publish()
    d.start_worker()
    d.wait_until_received(0.3)
    ctx.sink.tell("down")
    time.sleep(75)
    ctx.sink.tell("up")
    return d.measure(d.drain())


def smtp_451(ctx) -> dict:
    d = Drill(ctx, "smtp_451")
    d.publish()
    d.start_worker()
    d.wait_until_received(0.3)
    ctx.sink.tell("451")
    time.sleep(30)
    ctx.sink.tell("ok")
    return d.measure(d.drain())


def smtp_550(ctx) -> dict:
    d = Drill(ctx, "smtp_550")
    d.publish()
    d.start_worker()
    d.wait_until_received(0.3)
    ctx.sink.tell("550")
    time.sleep(10)
    ctx.sink.tell("ok")
    return d.measure(d.drain())


def kill9(ctx) -> dict:
    d = Drill(ctx, "kill9")
    d.publish()
    worker = d.start_worker()
    rng = random.Random(11)  # noqa: S311 (moments of the drill, not security)
    for _ in range(5):
        time.sleep(rng.uniform(1.0, 6.0))
        worker.send_signal(signal.SIGKILL)
        d.killed[worker.pid] = time.time()
        worker.wait()
        worker = d.start_worker()
    return d.measure(d.drain())


def four_workers(ctx) -> dict:
    if ctx.db_kind != "postgresql":
        return {"drill": "four_workers", "skipped": "needs PostgreSQL (--database-url)"}
    d = Drill(ctx, "four_workers")
    d.publish()
    for _ in range(4):
        d.start_worker()
    return d.measure(d.drain())


def db_down(ctx) -> dict:
    d = Drill(ctx, "db_down")
    if ctx.db_kind == "postgresql":
        from sqlalchemy import make_url

        url = make_url(ctx.url)
        proxy = Proxy(url.host or "127.0.0.1", url.port or 5432)
        through = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
        d.publish()
        d.start_worker(through)
        d.wait_until_received(0.3)
        proxy.cut()
        time.sleep(30)
        proxy.restore()
    else:
        path = ctx.url.removeprefix("sqlite:///")
        d.publish()
        d.start_worker()
        d.wait_until_received(0.3)
        holder = sqlite3.connect(path, timeout=60)
        holder.execute("BEGIN EXCLUSIVE")
        time.sleep(30)
        holder.rollback()
        holder.close()
    return d.measure(d.drain())


def tamper(ctx) -> dict:
    path = Path(__file__).with_name("tamper.py")
    if not path.exists():
        return {"drill": "tamper", "skipped": "not available (bench/tamper.py does not exist)"}
    import importlib.util

    spec = importlib.util.spec_from_file_location("tamper", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return {"drill": "tamper", **module.run(ctx.args.database_url)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", help="a PostgreSQL server (default: SQLite)")
    parser.add_argument("--only", help="one drill: " + ", ".join(DRILLS) + " (or a–f)")
    parser.add_argument("--tenants", type=int, default=2000)
    parser.add_argument("--contacts", type=int, default=3)
    args = parser.parse_args(argv)
    names = list(DRILLS)
    if args.only:
        only = LETTERS.get(args.only, args.only)
        if only not in DRILLS:
            parser.error(f"--only: one of {', '.join(DRILLS)}")
        names = [only]
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="forewarn-drills-"))
    ctx = None
    results = []
    try:
        if names != ["tamper"]:
            ctx = Context(args, folder)
            print(
                f"{ctx.db_kind}: {args.tenants} tenants × {args.contacts} contacts "
                f"({ctx.rows_per_change} notices per drill)",
                flush=True,
            )
        else:
            ctx = argparse.Namespace()
        ctx.args = args
        for name in names:
            started = time.time()
            result = globals()[name](ctx)
            results.append(result)
            print(f"{name} ({time.time() - started:.0f} s): {json.dumps(result)}", flush=True)
    finally:
        if isinstance(ctx, Context):
            ctx.close()
    ran = [r for r in results if "lost" in r]
    totals = {key: sum(r[key] for r in ran) for key in TOTALS}
    totals["stuck_max_s"] = max((r["stuck_max_s"] for r in ran), default=0.0)
    totals["drain_s"] = round(sum(r["drain_s"] for r in ran), 1)
    print(json.dumps({**totals, "drills": results}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
