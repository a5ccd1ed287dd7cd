"""Fan-out benchmark: one change published to 10,000 tenants × 5 notice contacts.

Usage: python bench/fanout.py [--tenants N] [--contacts K] [--database-url URL]
                              [--batch-size B]

Builds a fresh database (a temporary SQLite file, or with ``--database-url`` a new database on
that PostgreSQL server, dropped afterwards), seeds N tenants with K notice contacts each using
one service, then:

1. enqueue: publishes one change through the real publish service and commits (the outbox
   rows are written in that transaction; the outbox part alone is printed too);
2. baseline: a plain ``smtplib`` loop over one connection pushes the same number of
   pre-rendered messages (real notices rendered once beforehand, of the same size) into the
   sink;
3. dispatch: a separate worker process runs the dispatcher (claim, render, send over one
   connection per batch, record outcomes, notice-given times and ledger) until the outbox is
   empty; its peak RSS is read with ``wait4``.

The sink is aiosmtpd in its own process on 127.0.0.1 (the same server the demo uses), counting
messages. Targets: enqueue <= 3 s, dispatch throughput >= 0.8x the plain loop, peak <= 250 MB.
The last output line is one JSON object.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import secrets
import smtplib
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from scratch import scratch_database  # noqa: E402  (bench/, the script's folder)

SINK = r"""
import sys, threading
from aiosmtpd.controller import Controller
class Count:
    n = 0
    lock = threading.Lock()
    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            Count.n += 1
        return "250 2.0.0 Ok: queued"
c = Controller(Count(), hostname="127.0.0.1", port=int(sys.argv[1]))
c.start()
print("ready", flush=True)
for line in sys.stdin:
    if line.strip() == "count":
        print(Count.n, flush=True)
c.stop()
"""


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class SinkProcess:
    """aiosmtpd in a child process; ``count()`` asks how many messages it accepted."""

    def __init__(self):
        self.port = free_port()
        self.proc = subprocess.Popen(
            [sys.executable, "-c", SINK, str(self.port)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout.readline().strip() == "ready"

    def count(self) -> int:
        self.proc.stdin.write("count\n")
        self.proc.stdin.flush()
        return int(self.proc.stdout.readline())

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=10)


def config(url: str, port: int, key: str, batch: int) -> dict:
    return {
        "SQLALCHEMY_DATABASE_URI": url,
        "SECRET_KEY": key,
        "MAIL_SERVER": "127.0.0.1",
        "MAIL_PORT": port,
        "MAIL_SUPPRESS_SEND": False,
        "BASE_URL": "https://forewarn.test",
        "REMINDER_OFFSETS_HOURS": [],
        "DISPATCH_BATCH_SIZE": batch,
    }


def seed(app, tenants: int, contacts: int):
    """Tenants, their notice contacts and usage of one service; a draft change 40 days out."""
    from sqlalchemy import insert

    from portal.auth.models import User
    from portal.catalog.models import PlatformTeam, Service, TeamMembership, Usage
    from portal.changes.models import Change, ChangeTarget
    from portal.extensions import db
    from portal.tenants.models import NoticeContact, Tenant

    now = dt.datetime.now(dt.UTC)
    team = PlatformTeam(slug="face-fusion", name="Face Fusion")
    db.session.add(team)
    db.session.flush()
    service = Service(slug="face-fusion-api", name="Face Fusion API", team_id=team.id)
    engineer = User(email="eng@provider.example", name="Eve Engineer")
    db.session.add_all([service, engineer])
    db.session.flush()
    db.session.add(TeamMembership(team_id=team.id, user_id=engineer.id))
    db.session.execute(
        insert(Tenant),
        [
            {
                "slug": f"t{i:05d}",
                "name": f"Tenant {i:05d}",
                "time_zone": "Europe/Paris",
                "first_party": i % 100 == 0,
                "created_at": now,
            }
            for i in range(tenants)
        ],
    )
    ids = db.session.scalars(db.select(Tenant.id).order_by(Tenant.id)).all()
    db.session.execute(
        insert(NoticeContact),
        [
            {
                "tenant_id": tid,
                "email": f"ops{k}@t{tid}.example",
                "name": f"Ops {k}",
                "created_at": now,
            }
            for tid in ids
            for k in range(contacts)
        ],
    )
    db.session.execute(insert(Usage), [{"tenant_id": tid, "service_id": service.id} for tid in ids])
    change = Change(
        team_id=team.id,
        author_id=engineer.id,
        impact="maintenance",
        title="Upgrade the fusion model; output resolution changes",
        body_md="The fusion model moves to v5. **Output resolution** doubles.\n\n"
        "- Clients reading `width` must accept 2048.\n- No downtime.",
        starts_at=now + dt.timedelta(days=40),
        ends_at=now + dt.timedelta(days=40, hours=2),
        ack_required=True,
    )
    db.session.add(change)
    db.session.flush()
    db.session.add(ChangeTarget(change_id=change.id, service_id=service.id))
    db.session.commit()
    return change.id, engineer.id


def enqueue(app, change_id: int, engineer_id: int) -> tuple[float, float, int]:
    """Publish (outbox rows in the same transaction) and commit: (total s, outbox s, rows)."""
    from portal import hooks
    from portal.auth.models import User
    from portal.changes.models import Change
    from portal.changes.services import publish
    from portal.extensions import db
    from portal.notify.announce import announce

    timing = {}

    def timed(*args, **kwargs):
        t = time.perf_counter()
        n = announce(*args, **kwargs)
        timing["outbox"], timing["rows"] = time.perf_counter() - t, n
        return n

    # Publishing reaches the outbox through the change_announced hook (portal.subscriptions).
    with hooks.change_announced.replaced(announce, timed):
        change, engineer = db.session.get(Change, change_id), db.session.get(User, engineer_id)
        start = time.perf_counter()
        publish(change, actor=engineer, now=dt.datetime.now(dt.UTC))
        db.session.commit()
        total = time.perf_counter() - start
    return total, timing["outbox"], timing["rows"]


def sample_messages(app, count: int) -> list[tuple[str, bytes]]:
    """Real notices of this change rendered once (for the baseline loop to replay)."""
    from sqlalchemy import select

    from portal.extensions import db
    from portal.notify.models import OutboxMessage
    from portal.notify.render import build_message, load_context

    rows = list(db.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id).limit(count)))
    ctx = load_context(rows)
    out = []
    for row in rows:
        msg = build_message(row, ctx)
        out.append((msg.recipients[0], msg.as_bytes()))
    db.session.rollback()
    return out


def baseline(port: int, samples: list[tuple[str, bytes]], total: int) -> float:
    """A plain smtplib loop over one connection: ``total`` pre-rendered messages."""
    sender = "notices@forewarn.example"
    start = time.perf_counter()
    with smtplib.SMTP("127.0.0.1", port) as smtp:
        for i in range(total):
            to, payload = samples[i % len(samples)]
            smtp.sendmail(sender, [to], payload)
    return time.perf_counter() - start


def _vm_hwm_kb(pid: int) -> int:
    """A process's peak resident set (VmHWM, kB) from /proc."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def dispatch_child(args) -> None:
    """Child mode: run the dispatcher to the end and print its figures as JSON."""
    from portal import create_app
    from portal.clock import get_clock
    from portal.notify.dispatch import dispatch_due
    from portal.notify.sender import close_idle, idle_pids

    app = create_app(config(args.database_url, args.port, args.key, args.batch_size))
    with app.app_context():
        start, cpu = time.perf_counter(), time.process_time()
        result = dispatch_due(now=get_clock().now)
        elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    # The SMTP conversation ran in a sender process (portal.notify.sender). Its peak RSS is
    # its own VmHWM: the ru_maxrss of a child keeps the high-water mark of the process it was
    # forked from (Linux carries it across exec), here this worker's. Its CPU is read from
    # this process's waited-for children once it is closed.
    sender_peak_kb = max((_vm_hwm_kb(pid) for pid in idle_pids()), default=0)
    close_idle()
    sender = resource.getrusage(resource.RUSAGE_CHILDREN)
    print(
        json.dumps(
            {
                "dispatch_s": elapsed,
                "dispatch_cpu_s": cpu,
                "sender_cpu_s": sender.ru_utime + sender.ru_stime,
                "sender_peak_rss_mb": sender_peak_kb / 1024,
                "sent": result.sent,
                "failed": result.failed,
                "retrying": result.retrying,
            }
        )
    )


def run_dispatch(url: str, port: int, key: str, batch: int) -> tuple[dict, float]:
    proc = subprocess.Popen(
        [
            sys.executable,
            __file__,
            "--child-dispatch",
            "--database-url",
            url,
            "--port",
            str(port),
            "--key",
            key,
            "--batch-size",
            str(batch),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise SystemExit(f"dispatch worker failed ({proc.returncode})")
    return json.loads(out.strip().splitlines()[-1]), usage.ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tenants", type=int, default=10_000)
    parser.add_argument("--contacts", type=int, default=5)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--batch-size", type=int, default=200)
    parser.add_argument("--child-dispatch", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--key", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_dispatch:
        if os.environ.get("FANOUT_PROFILE"):  # where the worker's time goes, for tuning
            import cProfile

            cProfile.runctx(
                "dispatch_child(args)", globals(), locals(), os.environ["FANOUT_PROFILE"]
            )
        else:
            dispatch_child(args)
        return

    import flask_migrate

    from portal import create_app
    from portal.extensions import dispose_engines

    url, kind, cleanup = scratch_database(args.database_url, "fanout")
    sink = SinkProcess()
    key = secrets.token_hex(32)
    try:
        app = create_app(config(url, sink.port, key, args.batch_size))
        with app.app_context():
            flask_migrate.upgrade(directory=str(ROOT / "migrations"))
            t = time.perf_counter()
            change_id, engineer_id = seed(app, args.tenants, args.contacts)
            print(
                f"seeded {args.tenants} tenants x {args.contacts} contacts "
                f"in {time.perf_counter() - t:.1f} s ({kind})"
            )
            enqueue_s, outbox_s, rows = enqueue(app, change_id, engineer_id)
            print(
                f"enqueue: publish transaction {enqueue_s:.2f} s "
                f"(of which outbox rows {outbox_s:.2f} s) for {rows} notices"
            )
            samples = sample_messages(app, 200)
            dispose_engines()
        size = sum(len(p) for _, p in samples) / len(samples)
        baseline_cpu = time.process_time()
        baseline_s = baseline(sink.port, samples, rows)
        baseline_cpu = time.process_time() - baseline_cpu
        print(
            f"baseline: plain smtplib loop, one connection, {rows} pre-rendered messages "
            f"(~{size / 1024:.1f} KiB): {baseline_s:.2f} s ({rows / baseline_s:.0f} msg/s), "
            f"CPU {baseline_cpu / rows * 1e6:.0f} µs/message"
        )
        before = sink.count()
        figures, peak_mb = run_dispatch(url, sink.port, key, args.batch_size)
        arrived = sink.count() - before
        dispatch_s = figures["dispatch_s"]
        print(
            f"dispatch: {figures['sent']} sent ({arrived} arrived at the sink), "
            f"{figures['failed']} failed, {figures['retrying']} to retry in "
            f"{dispatch_s:.2f} s ({rows / dispatch_s:.0f} msg/s), batches of "
            f"{args.batch_size}; worker peak RSS {peak_mb:.0f} MB, "
            f"CPU {figures['dispatch_cpu_s'] / rows * 1e6:.0f} µs/message; its sender process "
            f"peak RSS {figures['sender_peak_rss_mb']:.0f} MB, "
            f"CPU {figures['sender_cpu_s'] / rows * 1e6:.0f} µs/message"
        )
        ratio = baseline_s / dispatch_s
        print(
            f"throughput ratio dispatch/baseline: {ratio:.2f} (target >= 0.8); "
            f"enqueue target <= 3 s; peak target <= 250 MB"
        )
        print(
            json.dumps(
                {
                    "db": kind,
                    "notices": rows,
                    "enqueue_s": round(enqueue_s, 3),
                    "dispatch_s": round(dispatch_s, 3),
                    "baseline_s": round(baseline_s, 3),
                    "throughput_ratio": round(ratio, 3),
                    "peak_rss_mb": round(peak_mb, 1),
                    "baseline_cpu_us": round(baseline_cpu / rows * 1e6),
                    "dispatch_cpu_us": round(figures["dispatch_cpu_s"] / rows * 1e6),
                    "sender_peak_rss_mb": round(figures["sender_peak_rss_mb"], 1),
                    "sender_cpu_us": round(figures["sender_cpu_s"] / rows * 1e6),
                }
            )
        )
    finally:
        sink.close()
        cleanup()


if __name__ == "__main__":
    main()
