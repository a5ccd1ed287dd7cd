"""Benchmark of the go-live gate API and the publish check at scale (issue 3).

Usage: python bench/gate.py [--database-url URL] [--changes N] [--tenants T] [--runs R]

Builds (bulk inserts, no per-row ORM work) T tenants all using one "big" service, N changes
(one of them scheduled and affecting every tenant, the others each affecting two tenants),
contract terms for a third of the tenants and some blackout windows. Then, through the Flask
test client with a real Bearer token (authentication, scoping, JSON and all):

- the gate API for the change affecting every tenant (p50/p99 over R/20 runs),
- the gate API for one tenant, ``?tenant=<slug>`` (p50/p99 over R runs, random tenants),
- the baseline measured in the same run: ``GET /api/v1/me`` with the same token, the
  cheapest authenticated API call (the ratio says what the gate adds on top of it),
- the publish check (``services.run_check``) for a draft affecting every tenant.

Targets: gate for one tenant p99 <= 20 ms; publish check <= 1 s. Without --database-url a
temporary SQLite file is used. The last output line is one JSON object:
{"gate_one_p99_ms", "gate_all_p50_ms", "publish_check_s"}.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import random
import secrets
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from scratch import scratch_database  # noqa: E402  (bench/, the script's folder)

HOUR = dt.timedelta(hours=1)
CHUNK = 10_000


def pct(values: list[float], q: float) -> float:
    """The q-quantile (nearest rank) of ``values``."""
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1))]


def bulk(table, rows) -> None:
    """INSERT in chunks (executemany; SQLAlchemy batches it into multi-row VALUES)."""
    from sqlalchemy import insert

    from portal.extensions import db

    for i in range(0, len(rows), CHUNK):
        db.session.execute(insert(table), rows[i : i + CHUNK])


def seed(n_changes: int, n_tenants: int, now: dt.datetime) -> dict:
    """Write the data set; returns what the measurements need."""
    from sqlalchemy import select

    from portal.auth.models import User
    from portal.auth.services import issue_token
    from portal.catalog.models import PlatformTeam, Service, TeamMembership, Usage
    from portal.changes.models import (
        BlackoutWindow,
        Change,
        ChangeTarget,
        ChangeTenant,
        Revision,
    )
    from portal.extensions import db
    from portal.tenants.models import ContractTerm, Tenant

    tag = secrets.token_hex(3)
    team = PlatformTeam(slug=f"gate-{tag}", name=f"Gate bench {tag}")
    db.session.add(team)
    db.session.flush()
    big = Service(slug=f"big-{tag}", name="Big API", team_id=team.id)
    small = [
        Service(slug=f"small-{tag}-{i}", name=f"Small {i}", team_id=team.id) for i in range(50)
    ]
    engineer = User(email=f"engineer-{tag}@provider.example", name="Bench engineer")
    db.session.add_all([big, *small, engineer])
    db.session.flush()
    db.session.add(TeamMembership(team_id=team.id, user_id=engineer.id, is_approver=False))

    bulk(
        Tenant,
        [
            {
                "slug": f"t-{tag}-{i:05d}",
                "name": f"Tenant {i}",
                "time_zone": "UTC",
                "first_party": i % 100 == 0,
                "created_at": now,
            }
            for i in range(n_tenants)
        ],
    )
    tenant_ids = list(
        db.session.execute(
            select(Tenant.id).where(Tenant.slug.like(f"t-{tag}-%")).order_by(Tenant.id)
        ).scalars()
    )
    slugs = {tid: f"t-{tag}-{i:05d}" for i, tid in enumerate(tenant_ids)}
    bulk(
        Usage,
        [{"tenant_id": t, "service_id": big.id} for t in tenant_ids]
        + [{"tenant_id": t, "service_id": small[i % 50].id} for i, t in enumerate(tenant_ids)],
    )
    bulk(
        ContractTerm,
        [
            {
                "tenant_id": t,
                "service_id": None if i % 2 else big.id,
                "notice_seconds": (96 + i % 48) * 3600,
                "reference": "bench",
            }
            for i, t in enumerate(tenant_ids)
            if i % 3 == 0
        ],
    )
    bulk(
        BlackoutWindow,
        [
            {
                "tenant_id": tenant_ids[i * 97 % n_tenants] if i % 4 else None,
                "starts_at": now + (200 + i) * 24 * HOUR,
                "ends_at": now + (200 + i) * 24 * HOUR + 6 * HOUR,
                "reason": "bench",
                "created_at": now,
            }
            for i in range(500)
        ],
    )

    start = now + 30 * 24 * HOUR
    common = {
        "team_id": team.id,
        "author_id": engineer.id,
        "body_md": "Bench change.",
        "ack_required": False,
        "visibility": "affected",
        "short_notice": False,
        "created_at": now,
        "updated_at": now,
    }
    bulk(
        Change,
        [
            {
                **common,
                "title": f"Change {i}",
                "impact": "maintenance",
                "starts_at": start + (i % 1000) * HOUR,
                "ends_at": start + (i % 1000) * HOUR + 2 * HOUR,
                "status": ("scheduled", "completed", "draft", "in_progress")[i % 4],
                "revision_number": 1,
                "material_revision_number": 1,
                "published_at": now - 24 * HOUR,
            }
            for i in range(n_changes)
        ],
    )
    change_ids = list(
        db.session.execute(
            select(Change.id).where(Change.team_id == team.id).order_by(Change.id)
        ).scalars()
    )
    target, draft = change_ids[0], change_ids[1]
    db.session.execute(
        Change.__table__.update()
        .where(Change.id == target)
        .values(status="scheduled", impact="degradation", title="Big change")
    )
    db.session.execute(
        Change.__table__.update()
        .where(Change.id == draft)
        .values(
            status="draft",
            impact="degradation",
            published_at=None,
            revision_number=0,
            material_revision_number=0,
        )
    )
    bulk(
        ChangeTarget,
        [
            {"change_id": c, "service_id": big.id if c in (target, draft) else small[i % 50].id}
            for i, c in enumerate(change_ids)
        ],
    )
    bulk(
        Revision,
        [
            {
                "change_id": target,
                "number": 1,
                "kind": "publish",
                "material": True,
                "summary": "published",
                "snapshot": "{}",
                "created_at": now,
            }
        ],
    )
    delivered = now - 23 * HOUR
    rows = [
        {
            "change_id": target,
            "tenant_id": t,
            "required_notice_seconds": 72 * 3600,
            "notice_basis": "[]",
            "clock_revision": 1,
            "active": True,
            # 1 % not delivered yet, so the gate also asks delivery why
            "notice_given_at": None if i % 100 == 7 else delivered,
        }
        for i, t in enumerate(tenant_ids)
    ]
    for i, c in enumerate(change_ids[2:]):
        for k in (0, 1):
            t = tenant_ids[(2 * i + k * 4999) % n_tenants]
            rows.append(
                {
                    "change_id": c,
                    "tenant_id": t,
                    "required_notice_seconds": 86400,
                    "notice_basis": "[]",
                    "clock_revision": 1,
                    "active": True,
                    "notice_given_at": delivered,
                }
            )
    bulk(ChangeTenant, rows)
    _, secret = issue_token(engineer, "bench", now=now, days=1)
    db.session.commit()
    return {
        "target": target,
        "draft": draft,
        "slugs": list(slugs.values()),
        "token": secret,
        "change_tenant_rows": len(rows),
    }


def timed(fn, runs: int, warmup: int = 5) -> list[float]:
    """Wall time of ``fn()`` in milliseconds, ``runs`` times after ``warmup`` calls."""
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t) * 1000)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", help="default: a temporary SQLite file")
    parser.add_argument("--changes", type=int, default=100_000)
    parser.add_argument("--tenants", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=1000, help="runs of the one-tenant gate")
    args = parser.parse_args()

    import flask_migrate

    from portal import create_app
    from portal.changes import services
    from portal.changes.models import Change
    from portal.extensions import db, dispose_engines

    url, _kind, cleanup = scratch_database(args.database_url, "gate")
    app = create_app(
        {"DATABASE_URL": url, "SECRET_KEY": secrets.token_hex(32), "RATELIMIT_ENABLED": False}
    )
    rng = random.Random(3)
    with app.app_context():
        flask_migrate.upgrade(directory=str(ROOT / "migrations"))
        now = dt.datetime.now(dt.UTC)
        t = time.perf_counter()
        data = seed(args.changes, args.tenants, now)
        print(f"database: {db.engine.url.render_as_string(hide_password=True)}")
        print(
            f"seeded {args.changes:,} changes, {args.tenants:,} tenants, "
            f"{data['change_tenant_rows']:,} change-tenant rows in "
            f"{time.perf_counter() - t:.1f} s"
        )
        db.session.remove()

    client = app.test_client()
    auth = {"Authorization": f"Bearer {data['token']}"}
    gate_url = f"/api/v1/changes/{data['target']}/gate"

    def get(url: str) -> None:
        response = client.get(url, headers=auth)
        if response.status_code != 200:
            raise SystemExit(f"{url} answered {response.status_code}: {response.get_data()!r}")

    body = client.get(gate_url, headers=auth).get_json()
    assert len(body["tenants"]) == args.tenants, len(body["tenants"])
    print(f"gate (all): {body['open_tenants']:,} open, {body['shut_tenants']:,} shut")

    baseline = timed(lambda: get("/api/v1/me"), args.runs)
    one = timed(lambda: get(f"{gate_url}?tenant={rng.choice(data['slugs'])}"), args.runs)
    everyone = timed(lambda: get(gate_url), max(10, args.runs // 20), warmup=2)

    with app.app_context():
        draft = db.session.get(Change, data["draft"])
        inp = services.input_of(draft)
        check_ms = timed(lambda: services.run_check(inp, dt.datetime.now(dt.UTC)), 5, warmup=1)
        plan, check = services.run_check(inp, dt.datetime.now(dt.UTC))
        assert len(plan.tenants) == args.tenants
        print(
            f"publish check: {len(plan.tenants):,} tenants, {len(check.blockers):,} blocking, "
            f"strictest {check.strictest.seconds // 3600} h"
        )
        db.session.remove()

    base_p99, one_p99 = pct(baseline, 0.99), pct(one, 0.99)
    print(f"baseline GET /api/v1/me      p50 {pct(baseline, 0.5):7.2f} ms  p99 {base_p99:7.2f} ms")
    print(
        f"gate, one tenant ({args.runs} runs) p50 {pct(one, 0.5):7.2f} ms  p99 {one_p99:7.2f} ms"
        f"  (target p99 <= 20 ms: {'met' if one_p99 <= 20 else 'MISSED'})"
    )
    print(
        f"gate, all {args.tenants:,} tenants ({len(everyone)} runs) "
        f"p50 {pct(everyone, 0.5):7.2f} ms  p99 {pct(everyone, 0.99):7.2f} ms"
    )
    worst_check = max(check_ms) / 1000
    print(
        f"publish check, {args.tenants:,} tenants (5 runs) median "
        f"{pct(check_ms, 0.5) / 1000:.3f} s  worst {worst_check:.3f} s"
        f"  (target <= 1 s: {'met' if worst_check <= 1 else 'MISSED'})"
    )
    print(f"ratio gate one-tenant p99 / baseline p99: {one_p99 / base_p99:.2f}x")
    with app.app_context():
        dispose_engines()
    cleanup()
    print(
        json.dumps(
            {
                "gate_one_p99_ms": round(one_p99, 2),
                "gate_all_p50_ms": round(pct(everyone, 0.5), 2),
                "publish_check_s": round(worst_check, 3),
            }
        )
    )


if __name__ == "__main__":
    main()
