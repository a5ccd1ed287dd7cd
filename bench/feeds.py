"""Benchmark of the private RSS feed under gunicorn: 200s, conditional 304s, and the ceiling.

Usage: python bench/feeds.py [--changes N] [--upcoming U] [--database-url URL] [--seconds S]
                             [--rounds R] [--workers W] [--clients C]

A tenant is given N published changes, U of them still upcoming and the rest completed (rows
written directly: publishing's notice checks are not what is measured). The feed shows every
upcoming change and the FEED_MAX_ENTRIES (100) most recently updated ended ones. The app runs
under gunicorn on 127.0.0.1 with ``bench/feeds_wsgi.py``, which adds a route returning the RSS
feed's exact bytes (the framework ceiling); it is never part of the production app. Client
processes then hammer, in interleaved rounds, the RSS feed (200, with its token: each fetch is
counted in the token's receipt), the same URL with If-None-Match (304), and the ceiling route.
Each round measures the ceiling just before and just after the feed (A-B-A), and a round's
ratio is the feed's rate over the mean of those two: this machine's speed drifts by a quarter
between seconds, which unpaired medians measured seconds apart took for cost. Each ratio is the
median of its rounds' (their spread is printed, and the old ratio of medians for comparison);
targets: 200 >= 0.5x ceiling, 304 >= 0.7x ceiling. The last output line is one JSON object.
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import json
import multiprocessing
import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from scratch import scratch_database  # noqa: E402  (bench/, the script's folder)

DAY = dt.timedelta(days=1)


def seed(url: str, changes: int, upcoming: int) -> str:
    """Migrate, create a tenant with ``changes`` published changes (the last ``upcoming`` of
    them scheduled, the others completed), return a feed secret."""
    import flask_migrate
    from sqlalchemy import insert

    from portal import create_app
    from portal.auth.models import User
    from portal.catalog.models import PlatformTeam, Service, Usage
    from portal.changes.models import Change, ChangeTarget, ChangeTenant, Revision
    from portal.extensions import db, dispose_engines
    from portal.feeds.models import FeedVersion
    from portal.feeds.tokens import issue_feed_token
    from portal.feeds.versions import last_modified_epoch
    from portal.tenants.models import Tenant

    app = create_app({"DATABASE_URL": url})
    with app.app_context():
        flask_migrate.upgrade(directory=str(ROOT / "migrations"))
        now = dt.datetime.now(dt.UTC)
        tag = secrets.token_hex(3)
        team = PlatformTeam(slug=f"bench-{tag}", name=f"Bench team {tag}")
        tenant = Tenant(
            slug=f"bench-{tag}", name=f"Bench tenant {tag}", first_party=False, time_zone="UTC"
        )
        db.session.add_all([team, tenant])
        db.session.flush()
        service = Service(slug=f"bench-{tag}", name=f"Bench service {tag}", team_id=team.id)
        user = User(email=f"bench-{tag}@provider.example", name="Bench", tenant_id=None)
        user.set_password(secrets.token_hex(16))
        admin = User(
            email=f"admin-{tag}@tenant.example",
            name="Bench admin",
            tenant_id=tenant.id,
            is_tenant_admin=True,
        )
        admin.set_password(secrets.token_hex(16))
        db.session.add_all([service, user, admin])
        db.session.flush()
        db.session.add(Usage(tenant_id=tenant.id, service_id=service.id))
        rows = []
        for i in range(changes):
            published = now - dt.timedelta(minutes=changes - i)
            rows.append(
                dict(
                    team_id=team.id,
                    author_id=user.id,
                    title=f"Change {i}: rotate keys",
                    body_md=f"Change **{i}** touches the *bench* service.\n\n- step 1\n- step 2",
                    impact="maintenance",
                    starts_at=now + (10 + i % 30) * DAY,
                    ends_at=now + (10 + i % 30) * DAY + dt.timedelta(hours=2),
                    status="scheduled" if i >= changes - upcoming else "completed",
                    revision_number=1,
                    material_revision_number=1,
                    published_at=published,
                    created_at=published,
                    updated_at=published,
                    ack_required=False,
                    visibility="affected",
                    short_notice=False,
                )
            )
        ids = (
            [c.id for c in db.session.execute(insert(Change).returning(Change.id), rows).all()]
            if db.engine.dialect.insert_executemany_returning
            else None
        )
        if ids is None:
            db.session.execute(insert(Change), rows)
            from sqlalchemy import select

            ids = list(
                db.session.execute(
                    select(Change.id).where(Change.team_id == team.id).order_by(Change.id)
                ).scalars()
            )
        db.session.execute(
            insert(ChangeTarget), [dict(change_id=c, service_id=service.id) for c in ids]
        )
        db.session.execute(
            insert(Revision),
            [
                dict(
                    change_id=c,
                    number=1,
                    kind="publish",
                    material=True,
                    summary="published",
                    snapshot="{}",
                    author_id=user.id,
                    created_at=r["published_at"],
                )
                for c, r in zip(ids, rows, strict=True)
            ],
        )
        db.session.execute(
            insert(ChangeTenant),
            [
                dict(
                    change_id=c,
                    tenant_id=tenant.id,
                    required_notice_seconds=86400,
                    notice_basis="[]",
                    clock_revision=1,
                    active=True,
                )
                for c in ids
            ],
        )
        # Rows written directly skip the services, so set the feed's version as they would.
        db.session.add(
            FeedVersion(
                scope=f"tenant:{tenant.id}",
                version=changes,
                changed_at=now,
                last_modified_epoch=last_modified_epoch(now),
            )
        )
        _, secret = issue_feed_token(tenant, "bench", actor=admin, now=now)
        db.session.commit()
        dispose_engines()
    return secret


GZIP = {"Accept-Encoding": "gzip"}  # what feed readers send (libcurl, feedparser, requests)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(port: int, path: str, headers: dict | None = None) -> tuple[int, dict, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", path, headers=headers or {})
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


def _client(args) -> int:
    port, path, headers, expected, seconds = args
    done = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        status, _, _ = get(port, path, headers)
        if status != expected:
            raise RuntimeError(f"{path} answered {status}, expected {expected}")
        done += 1
    return done


def measure(
    pool, clients: int, port: int, path: str, headers: dict, expected: int, seconds: float
) -> float:
    started = time.monotonic()
    counts = pool.map(_client, [(port, path, headers, expected, seconds)] * clients)
    return sum(counts) / (time.monotonic() - started)


# Each ratio: a feed measurement against the mean of the ceiling measured just before and just
# after it, in the same round.
PAIRS = {
    "ratio_200": ("200", ("ceiling", "ceiling after")),
    "ratio_304": ("304", ("ceiling", "ceiling after")),
    "ratio_200_gzip": ("200 gzip", ("ceiling gzip", "ceiling gzip after")),
}


def round_ratios(rounds: list[dict[str, float]]) -> dict[str, list[float]]:
    """Per ratio, its value in each round: the feed's rate over its bracketing ceilings' mean."""
    return {
        name: [r[feed] / statistics.mean(r[c] for c in ceilings) for r in rounds]
        for name, (feed, ceilings) in PAIRS.items()
    }


def spread(rounds: list[dict[str, float]]) -> dict[str, tuple[float, float]]:
    return {k: (min(v), max(v)) for k, v in round_ratios(rounds).items()}


def ratios_of_medians(rounds: list[dict[str, float]]) -> dict[str, float]:
    """The median feed rate over the median ceiling rate, pairing nothing (the old figure)."""
    med = {k: statistics.median(r[k] for r in rounds) for k in rounds[0]}
    return {
        name: med[feed] / statistics.median([*(r[c] for r in rounds for c in ceilings)])
        for name, (feed, ceilings) in PAIRS.items()
    }


def summarise(rounds: list[dict[str, float]]) -> dict[str, float]:
    """The JSON line: median rates, and each ratio as the median of its rounds' ratios."""
    med = {k: statistics.median(r[k] for r in rounds) for k in rounds[0]}
    ceiling = statistics.median([r[c] for r in rounds for c in ("ceiling", "ceiling after")])
    ceiling_gzip = statistics.median(
        [r[c] for r in rounds for c in ("ceiling gzip", "ceiling gzip after")]
    )
    out = {
        "rps_200": round(med["200"], 1),
        "rps_304": round(med["304"], 1),
        "rps_ceiling": round(ceiling, 1),
        "rps_200_gzip": round(med["200 gzip"], 1),
        "rps_ceiling_gzip": round(ceiling_gzip, 1),
    }
    for name, values in round_ratios(rounds).items():
        out[name] = round(statistics.median(values), 3)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--changes", type=int, default=1000)
    parser.add_argument(
        "--upcoming", type=int, default=50, help="how many of the changes are still upcoming"
    )
    parser.add_argument(
        "--database-url", default=None, help="default: a new SQLite file in a temporary directory"
    )
    parser.add_argument("--seconds", type=float, default=2.0, help="per measurement")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn sync workers")
    parser.add_argument("--clients", type=int, default=4, help="client processes")
    args = parser.parse_args()

    tmp = tempfile.TemporaryDirectory(prefix="forewarn-feeds-")  # instance folder, ceiling file
    url, _kind, cleanup = scratch_database(args.database_url, "feeds")
    env = {
        **os.environ,
        "PORTAL_DATABASE_URL": url,
        "PORTAL_INSTANCE_PATH": tmp.name,
        "PORTAL_SECRET_KEY": secrets.token_hex(32),
        "PORTAL_BASE_URL": "http://127.0.0.1",
    }
    os.environ.update(
        {k: env[k] for k in ("PORTAL_INSTANCE_PATH", "PORTAL_SECRET_KEY", "PORTAL_BASE_URL")}
    )
    print(
        f"seeding {args.changes} changes ({args.upcoming} upcoming) into {url.split('@')[-1]}",
        flush=True,
    )
    secret = seed(url, args.changes, min(args.upcoming, args.changes))
    feed_path = f"/feeds/t/{secret}/changes.rss"
    ceiling_file = Path(tmp.name) / "ceiling.rss"
    ceiling_file.write_bytes(b"")
    port = free_port()
    gunicorn = [
        sys.executable,
        "-m",
        "gunicorn",
        "--no-control-socket",
        "-w",
        str(args.workers),
        "-b",
        f"127.0.0.1:{port}",
        "--chdir",
        str(ROOT / "bench"),
        "--pythonpath",
        str(ROOT),
        "--log-level",
        "warning",
        "feeds_wsgi:app",
    ]
    # The ceiling's bytes come from the app itself: one warm-up fetch through a first server.
    server = subprocess.Popen(gunicorn, env={**env, "BENCH_CEILING_FILE": str(ceiling_file)})
    try:
        wait_for(port)
        status, headers, body = get(port, feed_path)
        assert status == 200, status
        etag = headers["ETag"]
    finally:
        stop(server)
    ceiling_file.write_bytes(body)
    server = subprocess.Popen(gunicorn, env={**env, "BENCH_CEILING_FILE": str(ceiling_file)})
    try:
        wait_for(port)
        assert get(port, "/bench/ceiling")[2] == body
        assert get(port, feed_path)[2] == body
        assert get(port, feed_path, {"If-None-Match": etag})[0] == 304
        packed = get(port, feed_path, GZIP)
        assert packed[1].get("Content-Encoding") == "gzip", packed[1]
        assert get(port, "/bench/ceiling", GZIP)[2] == packed[2]
        print(
            f"RSS body {len(body)} bytes, {body.count(b'<item>')} items; gunicorn "
            f"{args.workers} workers, {args.clients} client processes, {args.rounds} rounds "
            f"of {args.seconds:g} s; gzip-coded {len(packed[2])} bytes",
            flush=True,
        )
        rounds = []
        with multiprocessing.Pool(args.clients) as pool:

            def rate(path: str, headers: dict, expected: int) -> float:
                return measure(pool, args.clients, port, path, headers, expected, args.seconds)

            for _ in range(args.rounds):
                # Each feed measurement between two of its ceiling's (A-B-A): the machine's
                # speed drifts between seconds, and the pair cancels a steady drift.
                one = {"ceiling": rate("/bench/ceiling", {}, 200)}
                one["200"] = rate(feed_path, {}, 200)
                one["304"] = rate(feed_path, {"If-None-Match": etag}, 304)
                one["ceiling after"] = rate("/bench/ceiling", {}, 200)
                one["ceiling gzip"] = rate("/bench/ceiling", GZIP, 200)
                one["200 gzip"] = rate(feed_path, GZIP, 200)
                one["ceiling gzip after"] = rate("/bench/ceiling", GZIP, 200)
                rounds.append(one)
                print("round: " + ", ".join(f"{k} {v:.0f}/s" for k, v in one.items()), flush=True)
    finally:
        stop(server)
        tmp.cleanup()
        cleanup()
    out = summarise(rounds)
    print(
        "per-round ratios (min-max): "
        + ", ".join(f"{k} {v[0]:.3f}-{v[1]:.3f}" for k, v in spread(rounds).items())
    )
    print(
        "ratios of medians, unpaired (the statistic before 2026-11-30): "
        + ", ".join(f"{k} {v:.3f}" for k, v in ratios_of_medians(rounds).items())
    )
    print(
        f"targets: 200 >= 0.5x ceiling ({'met' if out['ratio_200'] >= 0.5 else 'MISSED'}), "
        f"304 >= 0.7x ceiling ({'met' if out['ratio_304'] >= 0.7 else 'MISSED'}); "
        f"readers accepting gzip: 200 >= 0.5x the gzip ceiling "
        f"({'met' if out['ratio_200_gzip'] >= 0.5 else 'MISSED'})"
    )
    print(json.dumps(out))
    return 0


def wait_for(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("gunicorn did not start")


def stop(server: subprocess.Popen) -> None:
    server.terminate()
    try:
        server.wait(timeout=15)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


if __name__ == "__main__":
    sys.exit(main())
