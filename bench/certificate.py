"""Certificate-with-proofs benchmark (issue 13 item 8): a notice certificate, with its cited
entries, inclusion proofs, signed checkpoint and a consistency proof, rendered at 10^6 ledger
entries.

Usage: python bench/certificate.py [--entries N] [--database-url URL] [--runs R]

Builds the tamper drill's ledger (``bench/tamper.py``: a change published to Tapai and Ptu,
notices recorded as the dispatcher does, other tenants' facts up to N, default 1,000,000,
signed checkpoints), then through the Flask test client, signed in as an admin, takes the
median of R runs (default 15) of Tapai's certificate as JSON (with ``?since=`` the checkpoint
Tapai's email carried, so the consistency proof is computed too) and as the printable page.
The baseline is the same two requests measured before the filler was appended (a ledger of a
dozen entries). Target: <= 300 ms at 10^6 entries. The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import tamper  # noqa: E402  (bench/, the script's folder)
from scratch import scratch_database  # noqa: E402


def measure(client, ctx: dict, runs: int) -> tuple[float, float, int]:
    base = f"/certificates/{ctx['change_id']}/tapai"
    times_json, times_html = [], []
    size = 0
    for _ in range(runs):
        t = time.perf_counter()
        r = client.get(base + ".json", query_string={"since": ctx["email"]})
        times_json.append(time.perf_counter() - t)
        assert r.status_code == 200, r.get_data(as_text=True)[:300]
        size = r.get_json()["proof"]["tree_size"]
        t = time.perf_counter()
        r = client.get(base)
        times_html.append(time.perf_counter() - t)
        assert r.status_code == 200
    return statistics.median(times_json) * 1000, statistics.median(times_html) * 1000, size


def slowest_statements(client, ctx: dict, top: int = 5) -> list[tuple[float, str]]:
    """The ``top`` slowest SQL statements of one certificate JSON request (seconds, SQL)."""
    from sqlalchemy import event

    from portal.extensions import db

    timings: list[tuple[float, str]] = []

    def before(conn, cursor, statement, parameters, context, executemany):
        conn.info.setdefault("started", []).append(time.perf_counter())

    def after(conn, cursor, statement, parameters, context, executemany):
        timings.append((time.perf_counter() - conn.info["started"].pop(), statement))

    engines = list({id(e): e for e in [db.engine, *db.engines.values()]}.values())
    for engine in engines:
        event.listen(engine, "before_cursor_execute", before)
        event.listen(engine, "after_cursor_execute", after)
    try:
        client.get(
            f"/certificates/{ctx['change_id']}/tapai.json", query_string={"since": ctx["email"]}
        )
    finally:
        for engine in engines:
            event.remove(engine, "before_cursor_execute", before)
            event.remove(engine, "after_cursor_execute", after)
    print(f"one request: {len(timings)} statements, {sum(t for t, _ in timings) * 1000:.1f} ms")
    return sorted(timings, reverse=True)[:top]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()

    import flask_migrate
    from sqlalchemy import text

    from portal import create_app
    from portal.auth.models import User
    from portal.extensions import db, dispose_engines
    from portal.ledger import checkpoints
    from portal.ledger.services import Fact, record_many

    url, kind, cleanup = scratch_database(args.database_url, "certificate")
    folder = Path(tempfile.mkdtemp(prefix="forewarn-certificate-"))
    try:
        app = create_app({**tamper._config(url, folder), "SECRET_KEY": secrets.token_hex(32)})
        with app.app_context():
            flask_migrate.upgrade(directory=str(tamper.ROOT / "migrations"))
            ctx = tamper.build(app, 0)
            admin = User(email="admin@provider.example", name="Ada Admin", is_admin=True)
            db.session.add(admin)
            db.session.commit()
            client = app.test_client()
            with client.session_transaction() as session:
                session["_user_id"], session["_fresh"] = str(admin.id), True
            small_json, small_html, small_size = measure(client, ctx, args.runs)
            print(f"baseline at {small_size} entries: JSON {small_json:.1f} ms, "
                  f"page {small_html:.1f} ms")  # fmt: skip
            t = time.perf_counter()
            have = small_size
            chunk = 10_000
            for start in range(have, args.entries, chunk):
                facts = [
                    Fact("test.filler", "filler", i, {"i": i}, tenant_id=999)
                    for i in range(start, min(start + chunk, args.entries))
                ]
                record_many(facts, actor="filler", now=tamper.T0)
                db.session.commit()
            checkpoints.issue(tamper.T0)
            db.session.commit()
            build_s = time.perf_counter() - t
            per_entry_us = build_s / max(args.entries - have, 1) * 1e6
            print(f"appended {args.entries - have} entries in {build_s:.1f} s "
                  f"({per_entry_us:.0f} us per entry, tree included; {kind})")  # fmt: skip
            # A live database has planner statistics (PostgreSQL's autovacuum gathers them a
            # minute or so after a load like this one); without them it plans for an empty
            # ledger. Then the slowest statements of one request, to see where time goes.
            db.session.execute(text("ANALYZE"))
            db.session.commit()
            for seconds, sql in slowest_statements(client, ctx):
                print(f"  {seconds * 1000:7.1f} ms  {' '.join(sql.split())[:150]}")
            big_json, big_html, big_size = measure(client, ctx, args.runs)
            print(f"at {big_size} entries: JSON {big_json:.1f} ms, page {big_html:.1f} ms "
                  f"(target <= 300 ms)")  # fmt: skip
            dispose_engines()
    finally:
        cleanup()
    print(json.dumps({
        "entries": big_size, "json_ms": round(big_json, 1), "page_ms": round(big_html, 1),
        "baseline_json_ms": round(small_json, 1), "baseline_page_ms": round(small_html, 1),
        "append_us_per_entry": round(per_entry_us, 1), "database": kind,
    }))  # fmt: skip


if __name__ == "__main__":
    main()
