"""``forewarn feeds import``: turn new entries of registered upstream feeds into drafts."""

from __future__ import annotations

import math
import sys

import click
from flask import Flask, current_app
from sqlalchemy import select

from portal.clock import get_clock
from portal.extensions import db
from portal.feeds.models import UpstreamFeed
from portal.feeds.upstream import import_upstream
from portal.inputs import MAX_ID


def _finite(ctx, param, value: float | None) -> float | None:
    """Refuse NaN, which every range comparison lets through (a usage error, exit status 2)."""
    if value is not None and not math.isfinite(value):
        raise click.BadParameter("must be a number of seconds")
    return value


def register(app: Flask) -> None:
    @app.cli.group("feeds")
    def feeds():
        """RSS, Atom and iCalendar feeds; upstream changelog import."""

    @feeds.command("import")
    @click.option(
        "--feed",
        "feed_ids",
        type=click.IntRange(1, MAX_ID),
        multiple=True,
        help="Only this upstream feed id (repeatable). Default: every active feed.",
    )
    @click.option(
        "--timeout",
        type=click.FloatRange(0, 3600, min_open=True),
        callback=_finite,
        default=None,
        help="Seconds allowed per feed download (default FEED_IMPORT_TIMEOUT_SECONDS).",
    )
    def import_command(feed_ids: tuple[int, ...], timeout: float | None):
        """Fetch each registered upstream feed and create draft changes for new entries.

        Never publishes. Unreachable, slow, huge or malformed feeds are reported and skipped;
        the exit status is 1 when any feed was skipped."""
        config = current_app.config
        timeout = timeout or float(config["FEED_IMPORT_TIMEOUT_SECONDS"])
        max_bytes = int(config["FEED_IMPORT_MAX_BYTES"])
        q = select(UpstreamFeed.id).where(UpstreamFeed.active.is_(True)).order_by(UpstreamFeed.id)
        if feed_ids:
            q = q.where(UpstreamFeed.id.in_(feed_ids))
        ids = list(db.session.execute(q).scalars())
        created = skipped = 0
        with click.progressbar(ids, label="Importing upstream feeds", file=sys.stderr) as bar:
            for feed_id in bar:
                feed = db.session.get_one(UpstreamFeed, feed_id)
                result = import_upstream(
                    feed, now=get_clock().now(), timeout=timeout, max_bytes=max_bytes
                )
                db.session.commit()  # one feed at a time: a later failure keeps earlier drafts
                created += len(result.created)
                skipped += bool(result.error)
                line = f"feed {feed.id} ({feed.name}): {result.summary}"
                click.echo(line, err=bool(result.error))
        click.echo(f"{len(ids)} feed(s) checked, {created} draft(s) created, {skipped} skipped")
        sys.exit(1 if skipped else 0)
