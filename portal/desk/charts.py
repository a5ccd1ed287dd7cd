"""Server-rendered inline SVG charts for a change's summary (no JavaScript, no CDN).

- acknowledgement progress: the share of tenants that have acknowledged, over time;
- notice delivery times: how long after its revision was published each tenant's notice was
  accepted (measured from the revision that started the tenant's notice clock, so a tenant
  told of a later material revision is not shown as days late).
Both are pure functions over plain data; every text is escaped.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from markupsafe import Markup, escape
from sqlalchemy import select

from portal.access import tenant_filter
from portal.acks.models import Acknowledgement
from portal.changes.models import Change, ChangeTenant, Revision
from portal.extensions import db

WIDTH, HEIGHT, PAD_L, PAD_B, PAD_T, PAD_R = 640, 240, 48, 40, 16, 16

# Delivery-time buckets: (upper bound in seconds, label).
BUCKETS = (
    (60, "< 1 min"),
    (300, "1–5 min"),
    (900, "5–15 min"),
    (3600, "15–60 min"),
    (6 * 3600, "1–6 h"),
    (24 * 3600, "6–24 h"),
    (None, "> 24 h"),
)


def chart_data(change: Change, user) -> tuple[list[dt.datetime], list[float | None]]:
    """Counted acknowledgement times, and for each tenant the user may see the delay in
    seconds from its clock revision's publication to its notice (None: not delivered)."""
    ct = ChangeTenant
    scope = (ct.change_id == change.id, ct.active.is_(True), tenant_filter(ct.tenant_id, user))
    ack_times = list(
        db.session.execute(
            select(Acknowledgement.at)
            .join(
                ct,
                (ct.change_id == Acknowledgement.change_id)
                & (ct.tenant_id == Acknowledgement.tenant_id)
                & (ct.clock_revision == Acknowledgement.revision_number),
            )
            .where(*scope, Acknowledgement.counts.is_(True))
            .order_by(Acknowledgement.at)
        ).scalars()
    )
    rows = db.session.execute(
        select(ct.notice_given_at, Revision.created_at)
        .outerjoin(
            Revision,
            (Revision.change_id == ct.change_id) & (Revision.number == ct.clock_revision),
        )
        .where(*scope)
    ).all()
    delays = [
        None if given is None else max(0.0, (given - (since or given)).total_seconds())
        for given, since in rows
    ]
    return ack_times, delays


def _frame(title: str, body: str) -> Markup:
    # Every piece of outside text in ``body`` and ``title`` went through ``escape``.
    return Markup(  # noqa: S704
        f'<svg class="chart" role="img" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'xmlns="http://www.w3.org/2000/svg" width="100%" style="max-width:{WIDTH}px">'
        f"<title>{escape(title)}</title>{body}</svg>"
    )


def _axes() -> str:
    x0, y0 = PAD_L, HEIGHT - PAD_B
    return (
        f'<line x1="{x0}" y1="{PAD_T}" x2="{x0}" y2="{y0}" stroke="#98a2b3"/>'
        f'<line x1="{x0}" y1="{y0}" x2="{WIDTH - PAD_R}" y2="{y0}" stroke="#98a2b3"/>'
    )


def _text(x: float, y: float, text: str, anchor: str = "middle", size: int = 11) -> str:
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" fill="#475467" '
        f'text-anchor="{anchor}">{escape(text)}</text>'
    )


def ack_progress(
    ack_times: Sequence[dt.datetime], tenants: int, *, since: dt.datetime, until: dt.datetime
) -> Markup:
    """A step line of the acknowledged share from ``since`` (publication) to ``until``."""
    title = f"Acknowledgement progress: {len(ack_times)} of {tenants} tenants"
    if tenants == 0:
        return _frame(title, _text(WIDTH / 2, HEIGHT / 2, "no tenants"))
    until = max([until, since + dt.timedelta(minutes=1), *ack_times])
    span = (until - since).total_seconds()
    plot_w, plot_h = WIDTH - PAD_L - PAD_R, HEIGHT - PAD_T - PAD_B

    def x(at: dt.datetime) -> float:
        return PAD_L + plot_w * max(0.0, (at - since).total_seconds()) / span

    def y(count: int) -> float:
        return HEIGHT - PAD_B - plot_h * count / tenants

    points = [f"{x(since):.1f},{y(0):.1f}"]
    for i, at in enumerate(sorted(ack_times), start=1):
        points.append(f"{x(at):.1f},{y(i - 1):.1f}")
        points.append(f"{x(at):.1f},{y(i):.1f}")
    points.append(f"{x(until):.1f},{y(len(ack_times)):.1f}")
    grid = "".join(
        f'<line x1="{PAD_L}" y1="{y(round(tenants * p)):.1f}" x2="{WIDTH - PAD_R}" '
        f'y2="{y(round(tenants * p)):.1f}" stroke="#eaecf0"/>'
        + _text(PAD_L - 6, y(round(tenants * p)) + 4, f"{int(p * 100)}%", "end")
        for p in (0.25, 0.5, 0.75, 1.0)
    )
    share = round(100 * len(ack_times) / tenants)
    body = (
        grid
        + _axes()
        + '<polyline fill="none" stroke="#12805c" stroke-width="2" '
        + f'points="{" ".join(points)}"/>'
        + _text(PAD_L, HEIGHT - PAD_B + 16, since.strftime("%d %b %H:%M UTC"), "start")
        + _text(WIDTH - PAD_R, HEIGHT - PAD_B + 16, until.strftime("%d %b %H:%M UTC"), "end")
        + _text(WIDTH / 2, HEIGHT - 6, f"{share}% acknowledged · time (UTC)", size=12)
        + _y_label("tenants acknowledged")
    )
    return _frame(title, body)


def delivery_buckets(delays: Sequence[float | None]) -> list[tuple[str, int]]:
    """Tenants per bucket of delay (seconds from the revision's publication to delivery),
    then "not delivered" (None)."""
    counts = [0] * len(BUCKETS)
    missing = 0
    for delay in delays:
        if delay is None:
            missing += 1
            continue
        for i, (limit, _label) in enumerate(BUCKETS):
            if limit is None or delay < limit:
                counts[i] += 1
                break
    labelled = [(label, n) for (_limit, label), n in zip(BUCKETS, counts, strict=True)]
    return [*labelled, ("not delivered", missing)]


def delivery_times(delays: Sequence[float | None]) -> Markup:
    """Bars: how many tenants received their notice within each delay after their revision
    was published; the axes say so."""
    buckets = delivery_buckets(delays)
    title = "Notice delivery times after each tenant's revision was published"
    peak = max((n for _, n in buckets), default=0) or 1
    plot_w, plot_h = WIDTH - PAD_L - PAD_R, HEIGHT - PAD_T - PAD_B
    slot = plot_w / len(buckets)
    bars = []
    for i, (label, n) in enumerate(buckets):
        h = plot_h * n / peak
        bx = PAD_L + i * slot + slot * 0.15
        colour = "#b42318" if label == "not delivered" else "#1f5eff"
        bars.append(
            f'<rect x="{bx:.1f}" y="{HEIGHT - PAD_B - h:.1f}" width="{slot * 0.7:.1f}" '
            f'height="{h:.1f}" fill="{colour}"><title>{escape(label)}: {n}</title></rect>'
        )
        bars.append(_text(bx + slot * 0.35, HEIGHT - PAD_B - h - 4, str(n)))
        bars.append(_text(bx + slot * 0.35, HEIGHT - PAD_B + 16, label, size=10))
    labels = _text(WIDTH / 2, HEIGHT - 6, "delay from the revision's publication to delivery")
    labels += _y_label("tenants")
    return _frame(title, _axes() + "".join(bars) + labels)


def _y_label(text: str) -> str:
    x, y = 12, (HEIGHT - PAD_B + PAD_T) / 2
    return (
        f'<text x="{x}" y="{y:.1f}" font-size="11" fill="#475467" text-anchor="middle" '
        f'transform="rotate(-90 {x} {y:.1f})">{escape(text)}</text>'
    )
