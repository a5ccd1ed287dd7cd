"""Benchmark of the account manager's desk matrix (issue 6).

Usage: python bench/desk.py [--tenants N] [--database-url URL] [--runs R]

Builds, with bulk inserts (no per-row ORM work), a change affecting N tenants (default 10,000)
with 5 notice deliveries per tenant (50,000 outbox rows: most accepted, some failed, some
pending) and acknowledgements from 60 % of them (6,000), plus a "small" change affecting 100
tenants built the same way. An account manager is assigned every tenant (the worst case for
the desk's scoping). Then, through the Flask test client (sign-in, scoping, templates, JSON):

- the desk matrix page ``/desk/changes/<id>`` and its API
  ``/api/v1/desk/changes/<id>/matrix`` for the large change: median over R runs;
- the baseline measured in the same run: the same page for the 100-tenant change (the ratio
  says how much the page slows down with 100 times the tenants);
- the SQL statements one request runs (SQLAlchemy ``before_cursor_execute``), for the small
  and the large change: they must be equal.

Target: median <= 300 ms on SQLite and PostgreSQL. Without --database-url a temporary SQLite
file is used; with one, rows are added beside whatever is there (unique slugs). The last
output line is one JSON object: {"median_ms_page", "median_ms_api", "sql_small", "sql_large"}.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import secrets
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from scratch import scratch_database  # noqa: E402  (bench/, the script's folder)

CHUNK = 5_000
SMALL = 100
DELIVERIES_PER_TENANT = 5
ACK_SHARE = 0.6


def bulk(table, rows: list[dict]) -> None:
    from sqlalchemy import insert

    from portal.extensions import db

    for i in range(0, len(rows), CHUNK):
        db.session.execute(insert(table), rows[i : i + CHUNK])


def seed_change(
    n: int, *, tag: str, team_id: int, author_id: int, manager_id: int, now: dt.datetime
) -> int:
    """A scheduled change affecting ``n`` new tenants, with deliveries and acknowledgements."""
    from sqlalchemy import select

    from portal.acks.models import Acknowledgement
    from portal.changes.models import Change, ChangeTenant, Revision
    from portal.extensions import db
    from portal.notify.models import FAILED, NOTICE, PENDING, SENT, OutboxMessage
    from portal.tenants.models import AccountManagerAssignment, Tenant

    published = now - dt.timedelta(days=1)
    change = Change(
        team_id=team_id,
        author_id=author_id,
        title=f"Bench change {tag} ({n:,})",
        body_md="",
        impact="degradation",
        starts_at=now + dt.timedelta(days=9),
        ends_at=now + dt.timedelta(days=9, hours=2),
        status="scheduled",
        revision_number=1,
        material_revision_number=1,
        published_at=published,
        created_at=published,
        updated_at=published,
    )
    db.session.add(change)
    db.session.flush()
    db.session.add(
        Revision(
            change_id=change.id,
            number=1,
            kind="publish",
            material=True,
            summary="published",
            snapshot="{}",
            author_id=author_id,
            created_at=published,
        )
    )
    bulk(
        Tenant.__table__,
        [
            {
                "slug": f"b{tag}-{i}",
                "name": f"Bench tenant {tag} {i:05d}",
                "time_zone": "UTC",
                "first_party": i % 50 == 0,
                "created_at": published,
            }
            for i in range(n)
        ],
    )
    ids = list(
        db.session.execute(
            select(Tenant.id).where(Tenant.slug.like(f"b{tag}-%")).order_by(Tenant.id)
        ).scalars()
    )
    bulk(AccountManagerAssignment.__table__, [{"user_id": manager_id, "tenant_id": t} for t in ids])
    delivered_at = {
        t: published + dt.timedelta(seconds=i % 3600) for i, t in enumerate(ids) if i % 10 != 9
    }  # one tenant in ten is not delivered
    bulk(
        ChangeTenant.__table__,
        [
            {
                "change_id": change.id,
                "tenant_id": t,
                "required_notice_seconds": 72 * 3600,
                "notice_basis": '[{"source":"policy","impact":"degradation","seconds":259200}]',
                "clock_revision": 1,
                "notice_given_at": delivered_at.get(t),
                "active": True,
            }
            for t in ids
        ],
    )
    outbox = []
    for i, t in enumerate(ids):
        for k in range(DELIVERIES_PER_TENANT):
            row = {
                "change_id": change.id,
                "revision_number": 1,
                "tenant_id": t,
                "recipient": f"ops{k}@b{tag}-{i}.example",
                "kind": NOTICE,
                "first_party": i % 50 == 0,
                "offset_seconds": 0,
                "due_at": published,
                "created_at": published,
                "attempts": 1,
                "status": SENT,
                "sent_at": delivered_at.get(t),
                "smtp_reply": "250 2.0.0 Ok: queued",
                "last_error": None,
            }
            if t not in delivered_at:
                failed = i % 20 == 9
                row |= {
                    "status": FAILED if failed else PENDING,
                    "sent_at": None,
                    "smtp_reply": None,
                    "attempts": 5 if failed else 2,
                    "last_error": "550 5.1.1 mailbox unavailable"
                    if failed
                    else "451 4.3.0 try again later",
                }
            outbox.append(row)
    bulk(OutboxMessage.__table__, outbox)
    acked = ids[: int(n * ACK_SHARE)]
    bulk(
        Acknowledgement.__table__,
        [
            {
                "change_id": change.id,
                "tenant_id": t,
                "revision_number": 1,
                "counts": True,
                "channel": "email",
                "actor_key": f"contact:ops0@{t}",
                "recipient": f"ops0@{t}",
                "actor_label": f"Ops 0 <ops0@{t}>",
                "at": published + dt.timedelta(hours=2, seconds=j),
            }
            for j, t in enumerate(acked)
        ],
    )
    db.session.commit()
    return change.id


def seed(n: int, now: dt.datetime) -> dict:
    from portal.auth.models import User
    from portal.auth.services import issue_token
    from portal.catalog.models import PlatformTeam, TeamMembership
    from portal.extensions import db

    tag = secrets.token_hex(3)
    team = PlatformTeam(slug=f"desk-{tag}", name=f"Desk bench {tag}")
    engineer = User(email=f"eng-{tag}@bench.example", name="Bench Engineer")
    manager = User(email=f"am-{tag}@bench.example", name="Bench Manager", is_account_manager=True)
    db.session.add_all([team, engineer, manager])
    db.session.flush()
    db.session.add(TeamMembership(team_id=team.id, user_id=engineer.id))
    ids = {"team_id": team.id, "author_id": engineer.id, "manager_id": manager.id}
    small = seed_change(SMALL, tag=f"{tag}s", now=now, **ids)
    large = seed_change(n, tag=f"{tag}l", now=now, **ids)
    _, secret = issue_token(manager, "desk bench", now=now, days=1)
    db.session.commit()
    return {"small": small, "large": large, "manager": manager.id, "token": secret}


def analyse() -> None:
    """Refresh the planner's statistics after the bulk load, as a live database has them
    (PostgreSQL's autovacuum would, a little later); without them it guesses badly."""
    from sqlalchemy import text

    from portal.extensions import db

    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("ANALYZE"))


def timed(fn, runs: int, warmup: int = 2) -> list[float]:
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t) * 1000)
    return out


def count_statements(app, fn) -> int:
    from sqlalchemy import event

    from portal.extensions import db

    with app.app_context():
        engine = db.engine
    seen = []

    def count(*_args, **_kwargs):
        seen.append(1)

    event.listen(engine, "before_cursor_execute", count)
    try:
        fn()
    finally:
        event.remove(engine, "before_cursor_execute", count)
    return len(seen)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tenants", type=int, default=10_000)
    parser.add_argument("--database-url", help="default: a temporary SQLite file")
    parser.add_argument("--runs", type=int, default=21)
    args = parser.parse_args()

    import flask_migrate

    from portal import create_app
    from portal.extensions import db, dispose_engines

    url, _kind, cleanup = scratch_database(args.database_url, "desk")
    app = create_app(
        {"DATABASE_URL": url, "SECRET_KEY": secrets.token_hex(32), "RATELIMIT_ENABLED": False}
    )
    now = dt.datetime.now(dt.UTC)
    with app.app_context():
        flask_migrate.upgrade(directory=str(ROOT / "migrations"))
        t = time.perf_counter()
        data = seed(args.tenants, now)
        analyse()
        print(f"database: {db.engine.url.render_as_string(hide_password=True)}")
        print(
            f"seeded {args.tenants:,} + {SMALL} tenants, "
            f"{(args.tenants + SMALL) * DELIVERIES_PER_TENANT:,} deliveries, "
            f"{int(args.tenants * ACK_SHARE) + int(SMALL * ACK_SHARE):,} acknowledgements "
            f"in {time.perf_counter() - t:.1f} s"
        )
        db.session.remove()

    client = app.test_client()
    with client.session_transaction() as session:
        session["_user_id"] = str(data["manager"])
        session["_fresh"] = True
    auth = {"Authorization": f"Bearer {data['token']}"}

    def page(change_id: int):
        def go():
            r = client.get(f"/desk/changes/{change_id}")
            if r.status_code != 200:
                raise SystemExit(f"page answered {r.status_code}")
            return r

        return go

    def api(change_id: int):
        def go():
            r = client.get(f"/api/v1/desk/changes/{change_id}/matrix", headers=auth)
            if r.status_code != 200:
                raise SystemExit(f"API answered {r.status_code}: {r.get_data()[:200]!r}")
            return r

        return go

    body = api(data["large"])().get_json()
    assert body["summary"]["tenants"] == args.tenants, body["summary"]
    print(f"matrix summary: {json.dumps(body['summary'])}")

    sql = {
        (size, kind): count_statements(app, fn(data[size]))
        for size in ("small", "large")
        for kind, fn in (("page", page), ("api", api))
    }
    baseline = timed(page(data["small"]), args.runs)
    page_ms = timed(page(data["large"]), args.runs)
    api_ms = timed(api(data["large"]), args.runs)
    med_base, med_page, med_api = (statistics.median(x) for x in (baseline, page_ms, api_ms))
    verdict = "met" if max(med_page, med_api) <= 300 else "MISSED"
    print(f"baseline: desk page, {SMALL} tenants   median {med_base:7.1f} ms")
    print(
        f"desk page, {args.tenants:,} tenants        median {med_page:7.1f} ms "
        f"(ratio to baseline {med_page / med_base:.2f}x)"
    )
    print(f"desk API,  {args.tenants:,} tenants        median {med_api:7.1f} ms")
    print(f"target median <= 300 ms: {verdict}")
    equal = (
        sql["small", "page"] == sql["large", "page"] and sql["small", "api"] == sql["large", "api"]
    )
    print(
        f"SQL statements per request: page {sql['small', 'page']} (small) vs "
        f"{sql['large', 'page']} (large); API {sql['small', 'api']} vs {sql['large', 'api']}"
        f" — {'equal' if equal else 'NOT EQUAL'}"
    )
    with app.app_context():
        dispose_engines()
    cleanup()
    print(
        json.dumps(
            {
                "median_ms_page": round(med_page, 1),
                "median_ms_api": round(med_api, 1),
                "sql_small": sql["small", "page"],
                "sql_large": sql["large", "page"],
            }
        )
    )


if __name__ == "__main__":
    main()
