"""Benchmark of every list page and list endpoint at 10,000 changes (issue 20).

Usage: python bench/lists.py [--changes N] [--database-url URL] [--runs R]

Builds, with bulk inserts (no per-row ORM work), N changes (default 10,000) across N tenants:
change i affects tenant i and the customer's own tenant, is owned by one of N/100 teams (the
engineer is in every one), written by one of 100 authors and targets one of N/10 services
(every other change one of its components); the statuses rotate through the lifecycle. Beside
them, per tenant two notice contacts and a customer user, one failed notice for one tenant in
ten, a caught mail per change (the demo mailbox) and feed receipts of the customer's tenant.
The account manager looks after every tenant (the worst case for scoping). This is done in two
steps in the same database: first 100 changes across 100 tenants (the baseline), then the rest.

After each step, through the Flask test client (sign-in, scoping, templates, JSON and all), it
measures every list page as the role that uses it, the median of R requests (default 21), and
counts the SQL statements of one request (SQLAlchemy ``before_cursor_execute``): the counts of
the two steps must be equal.

Target: median <= 150 ms on SQLite and PostgreSQL. Without --database-url a temporary SQLite
file is used; with one, a new database on that server, dropped afterwards. The last output line
is one JSON object: {"median_ms_changes", "median_ms_api_changes", "sql_small", "sql_large"}
(the engineer's change list, page and API; the statement counts of the change list page).
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

from desk import analyse, bulk, count_statements, timed  # noqa: E402  (bench/, this folder)
from scratch import scratch_database  # noqa: E402

SMALL = 100
TARGET_MS = 150
STATUSES = ("scheduled", "scheduled", "in_progress", "completed", "draft", "cancelled")
IMPACTS = ("maintenance", "degradation", "breaking", "deprecation")

# (name, viewer, URL): every list page and list endpoint, as the role that uses it.
PAGES = [
    ("changes", "engineer", "/changes?when=all"),
    ("api_changes", "engineer", "/api/v1/changes"),
    ("changes_admin", "admin", "/changes?when=all"),
    ("changes_manager", "manager", "/changes?when=all"),
    ("changes_customer", "customer", "/changes"),
    ("api_changes_customer", "customer", "/api/v1/changes"),
    ("tenants", "admin", "/admin/tenants"),
    ("users", "admin", "/admin/users"),
    ("services", "admin", "/admin/services"),
    ("teams", "admin", "/admin/teams"),
    ("failed_deliveries", "manager", "/deliveries/failed"),
    ("feeds", "customer", "/feeds"),
    ("mailbox", "admin", "/mailbox/"),
    ("desk_changes", "manager", "/desk/"),
    ("desk_tenants", "manager", "/desk/tenants"),
]


def seed_people(now: dt.datetime) -> dict:
    """The four viewers, the customer's tenant (tenant 0) and 100 authors."""
    from portal.auth.models import User
    from portal.auth.services import issue_token
    from portal.extensions import db
    from portal.tenants.models import Tenant

    tenant = Tenant(slug="t-00000", name="Tenant 00000", time_zone="Europe/Berlin")
    db.session.add(tenant)
    db.session.flush()
    people = {
        "admin": User(email="admin@bench.example", name="Bench Admin", is_admin=True),
        "engineer": User(email="engineer@bench.example", name="Bench Engineer"),
        "manager": User(email="am@bench.example", name="Bench Manager", is_account_manager=True),
        "customer": User(
            email="ops@t-00000.example",
            name="Bench Customer",
            tenant_id=tenant.id,
            is_tenant_admin=True,
        ),
    }
    db.session.add_all(people.values())
    db.session.flush()
    bulk(
        User.__table__,
        [{"email": f"author{i}@bench.example", "name": f"Author {i:03d}"} for i in range(100)],
    )
    tokens = {role: issue_token(u, "bench", now=now, days=1)[1] for role, u in people.items()}
    ids = {role: u.id for role, u in people.items()}
    db.session.commit()
    return {"ids": ids, "tokens": tokens, "tenant": tenant.id}


def seed_rows(start: int, stop: int, people: dict, now: dt.datetime) -> None:
    """Changes ``start..stop`` and everything listed beside them (see the module docstring)."""
    from sqlalchemy import select

    from portal.auth.models import User
    from portal.catalog.models import Component, PlatformTeam, Service, TeamMembership
    from portal.changes.models import Change, ChangeTarget, ChangeTenant
    from portal.extensions import db
    from portal.feeds.models import FeedReceipt, FeedToken
    from portal.mailbox.models import CaughtMail, CaughtMailRecipient
    from portal.notify.models import FAILED, NOTICE, OutboxMessage
    from portal.tenants.models import AccountManagerAssignment, NoticeContact, Tenant

    ids, customer_tenant = people["ids"], people["tenant"]
    # Teams (one per 100 changes), services (one per 10), feed tokens (one per 100).
    bulk(
        PlatformTeam.__table__,
        [{"slug": f"team-{i}", "name": f"Team {i:04d}"} for i in range(start // 100, stop // 100)],
    )
    teams = dict(db.session.execute(select(PlatformTeam.slug, PlatformTeam.id)).all())  # slug -> id
    bulk(
        TeamMembership.__table__,
        [
            {"team_id": teams[f"team-{i}"], "user_id": ids["engineer"], "is_approver": True}
            for i in range(start // 100, stop // 100)
        ],
    )
    bulk(
        Service.__table__,
        [
            {
                "slug": f"service-{i}",
                "name": f"Service {i:04d}",
                "description": "",
                "team_id": teams[f"team-{i // 10}"],
            }
            for i in range(start // 10, stop // 10)
        ],
    )
    services = dict(db.session.execute(select(Service.slug, Service.id)).all())
    bulk(
        Component.__table__,
        [
            {"service_id": services[f"service-{i}"], "slug": f"eu-{k}", "name": f"EU {k}"}
            for i in range(start // 10, stop // 10)
            for k in (1, 2)
        ],
    )
    components = {
        sid: cid
        for sid, cid in db.session.execute(
            select(Component.service_id, Component.id).where(Component.slug == "eu-1")
        ).all()
    }
    authors = list(
        db.session.execute(
            select(User.id).where(User.email.like("author%@bench.example")).order_by(User.id)
        ).scalars()
    )

    first = max(start, 1)  # tenant 0 is the customer's, made with the people
    bulk(
        Tenant.__table__,
        [
            {
                "slug": f"t-{i:05d}",
                "name": f"Tenant {i:05d}",
                "time_zone": "UTC",
                "first_party": i % 50 == 0,
                "created_at": now,
            }
            for i in range(first, stop)
        ],
    )
    tenants = {
        int(slug[2:]): tid
        for slug, tid in db.session.execute(
            select(Tenant.slug, Tenant.id).where(Tenant.slug.like("t-%"))
        ).all()
    }
    bulk(
        NoticeContact.__table__,
        [
            {"tenant_id": tenants[i], "email": f"ops{k}@t-{i:05d}.example", "name": f"Ops {k}"}
            for i in range(first, stop)
            for k in (1, 2)
        ],
    )
    bulk(
        User.__table__,
        [
            {"email": f"user@t-{i:05d}.example", "name": f"User {i:05d}", "tenant_id": tenants[i]}
            for i in range(first, stop)
        ],
    )
    bulk(
        AccountManagerAssignment.__table__,
        [{"user_id": ids["manager"], "tenant_id": tenants[i]} for i in range(start, stop)],
    )

    published = now - dt.timedelta(days=2)
    rows = []
    for i in range(start, stop):
        status = STATUSES[i % len(STATUSES)]
        starts = now + dt.timedelta(hours=(i * 37) % 1000 - 100)  # one in ten has ended
        rows.append(
            {
                "team_id": teams[f"team-{i // 100}"],
                "author_id": authors[i % len(authors)],
                "title": f"Change {i:05d}",
                "body_md": "Bench change.",
                "impact": IMPACTS[i % len(IMPACTS)],
                "starts_at": starts,
                "ends_at": starts + dt.timedelta(hours=2),
                "ack_required": i % 3 == 0,
                "visibility": "affected",
                "status": status,
                "revision_number": 0 if status == "draft" else 1,
                "material_revision_number": 0 if status == "draft" else 1,
                "published_at": None if status == "draft" else published,
                "short_notice": i % 97 == 0,
                "created_at": published,
                "updated_at": published,
            }
        )
    bulk(Change.__table__, rows)
    changes = {
        int(title[7:]): cid
        for title, cid in db.session.execute(
            select(Change.title, Change.id).where(Change.title.like("Change %"))
        ).all()
    }
    bulk(
        ChangeTarget.__table__,
        [
            {
                "change_id": changes[i],
                "service_id": services[f"service-{i // 10}"],
                "component_id": components[services[f"service-{i // 10}"]] if i % 2 else None,
            }
            for i in range(start, stop)
        ],
    )
    affected = [(i, tenants[i]) for i in range(start, stop)]
    affected += [(i, customer_tenant) for i in range(max(start, 1), stop)]
    bulk(
        ChangeTenant.__table__,
        [
            {
                "change_id": changes[i],
                "tenant_id": t,
                "required_notice_seconds": 72 * 3600,
                "notice_basis": "[]",
                "clock_revision": 1,
                "notice_given_at": published,
                "active": True,
            }
            for i, t in affected
            if STATUSES[i % len(STATUSES)] != "draft"
        ],
    )
    bulk(
        OutboxMessage.__table__,
        [
            {
                "change_id": changes[i],
                "revision_number": 1,
                "tenant_id": tenants[i],
                "recipient": f"ops1@t-{i:05d}.example",
                "kind": NOTICE,
                "first_party": i % 50 == 0,
                "offset_seconds": 0,
                "status": FAILED,
                "attempts": 5,
                "due_at": published,
                "failed_at": published + dt.timedelta(seconds=i),
                "last_error": "550 5.1.1 mailbox unavailable",
                "created_at": published,
            }
            for i in range(start, stop)
            if i % 10 == 3
        ],
    )
    bulk(
        FeedToken.__table__,
        [
            {
                "tenant_id": customer_tenant,
                "name": f"reader {i}",
                "token_hash": f"{i:064x}",
                "prefix": f"fw{i:04d}",
                "created_by_id": ids["customer"],
                "created_at": published,
            }
            for i in range(start // 100, stop // 100)
        ],
    )
    feed_tokens = dict(
        db.session.execute(
            select(FeedToken.prefix, FeedToken.id).where(FeedToken.tenant_id == customer_tenant)
        ).all()
    )
    bulk(
        FeedReceipt.__table__,
        [
            {
                "token_id": feed_tokens[f"fw{i // 100:04d}"],
                "tenant_id": customer_tenant,
                "formats": "rss,atom",
                "first_fetched_at": published,
                "last_fetched_at": published + dt.timedelta(seconds=i),
                "fetch_count": 3,
                "user_agent": "newsboat/2.36",
                "etag": f"{i:032x}",
                "revisions": json.dumps([[changes[i], 1]]),
            }
            for i in range(start, stop)
        ],
    )
    bulk(
        CaughtMail.__table__,
        [
            {
                "received_at": published + dt.timedelta(seconds=i),
                "mail_from": "notices@provider.example",
                "subject": f"[Notice] Change {i:05d}",
                "message_id": f"<change-{i}@provider.example>",
                "raw": (
                    f"From: notices@provider.example\r\nSubject: [Notice] Change {i:05d}\r\n\r\n"
                ).encode()
                + b"x" * 2000,
            }
            for i in range(start, stop)
        ],
    )
    mails = {
        int(mid[8:-18]): pk
        for mid, pk in db.session.execute(
            select(CaughtMail.message_id, CaughtMail.id).where(
                CaughtMail.message_id.like("<change-%")
            )
        ).all()
    }
    bulk(
        CaughtMailRecipient.__table__,
        [
            {"mail_id": mails[i], "address": f"ops{k}@t-{i:05d}.example"}
            for i in range(start, stop)
            for k in (1, 2)
        ],
    )
    db.session.commit()


def measure(app, clients: dict, headers: dict, runs: int) -> dict:
    """Per page: (median ms of ``runs`` requests, SQL statements of one request)."""
    results = {}
    for name, viewer, url in PAGES:
        api = url.startswith("/api/")
        client = clients[viewer]

        def go(client=client, url=url, api=api, viewer=viewer):
            r = client.get(url, headers=headers[viewer] if api else {})
            if r.status_code != 200:
                raise SystemExit(f"{url} as {viewer} answered {r.status_code}")
            return r

        go()  # a first use may write once (an API token's last use): neither timed nor counted
        sql = count_statements(app, go)
        results[name] = (statistics.median(timed(go, runs)), sql)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--changes", type=int, default=10_000)
    parser.add_argument("--database-url", help="default: a temporary SQLite file")
    parser.add_argument("--runs", type=int, default=21)
    args = parser.parse_args()

    import flask_migrate

    from portal import create_app
    from portal.extensions import db, dispose_engines

    url, _kind, cleanup = scratch_database(args.database_url, "lists")
    app = create_app(
        {
            "DATABASE_URL": url,
            "SECRET_KEY": secrets.token_hex(32),
            "RATELIMIT_ENABLED": False,
            "DEMO": True,  # the mailbox exists only in demo mode
        }
    )
    now = dt.datetime.now(dt.UTC)
    with app.app_context():
        flask_migrate.upgrade(directory=str(ROOT / "migrations"))
        print(f"database: {db.engine.url.render_as_string(hide_password=True)}")
        people = seed_people(now)
        db.session.remove()

    clients, headers = {}, {}
    for role, user_id in people["ids"].items():
        clients[role] = app.test_client()
        with clients[role].session_transaction() as session:
            session["_user_id"] = str(user_id)
            session["_fresh"] = True
        headers[role] = {"Authorization": f"Bearer {people['tokens'][role]}"}

    results = {}
    for size, (start, stop) in (("small", (0, SMALL)), ("large", (SMALL, args.changes))):
        with app.app_context():
            t = time.perf_counter()
            seed_rows(start, stop, people, now)
            analyse()
            print(
                f"seeded changes {start:,}..{stop:,} (and their tenants, users, deliveries, "
                f"mail, receipts) in {time.perf_counter() - t:.1f} s"
            )
            db.session.remove()
        results[size] = measure(app, clients, headers, args.runs)

    print(
        f"\n{'page':<22} {'viewer':<9} {SMALL:>7,} rows {args.changes:>7,} rows   ratio"
        f"   SQL small/large"
    )
    worst = 0.0
    unequal = []
    for name, viewer, _url in PAGES:
        (base_ms, base_sql), (ms, sql) = results["small"][name], results["large"][name]
        worst = max(worst, ms)
        if sql != base_sql:
            unequal.append(name)
        print(
            f"{name:<22} {viewer:<9} {base_ms:8.1f} ms {ms:8.1f} ms {ms / base_ms:6.2f}x"
            f"   {base_sql:>3} / {sql:<3}{'' if sql == base_sql else '  NOT EQUAL'}"
        )
    print(
        f"\nslowest median at {args.changes:,} changes: {worst:.1f} ms "
        f"(target <= {TARGET_MS} ms: {'met' if worst <= TARGET_MS else 'MISSED'}); "
        f"statement counts {'differ: ' + ', '.join(unequal) if unequal else 'equal on every page'}"
    )
    with app.app_context():
        dispose_engines()
    cleanup()
    print(
        json.dumps(
            {
                "median_ms_changes": round(results["large"]["changes"][0], 1),
                "median_ms_api_changes": round(results["large"]["api_changes"][0], 1),
                "sql_small": results["small"]["changes"][1],
                "sql_large": results["large"]["changes"][1],
            }
        )
    )


if __name__ == "__main__":
    main()
