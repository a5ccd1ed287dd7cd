"""Template filters and globals: times in the viewer's zone, durations, sanitised Markdown."""

from __future__ import annotations

import datetime as dt

import nh3
from flask import Flask, current_app
from flask_login import current_user
from markdown_it import MarkdownIt
from markupsafe import Markup

from portal.access import has_role
from portal.changes.serialise import customer_summary
from portal.clock import now
from portal.timezones import (
    format_duration,
    format_in_zone,
    format_when,
    format_when_and_utc,
    relative_to,
    viewer_zone_name,
)

_markdown = MarkdownIt("commonmark", {"html": False, "linkify": False}).enable("table")

ALLOWED_TAGS = {
    "p",
    "br",
    "hr",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "strong",
    "em",
    "code",
    "pre",
    "blockquote",
    "ul",
    "ol",
    "li",
    "a",
    "table",
    "thead",
    "tbody",
    "tr",
    "th",
    "td",
    "del",
}


def render_markdown(text: str | None) -> Markup:
    """Markdown to HTML, then sanitised with nh3: outside text can never inject markup."""
    html = _markdown.render(text or "")
    clean = nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes={"a": {"href", "title"}},
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer",
    )
    return Markup(clean)  # noqa: S704  (sanitised by nh3 just above)


def viewer_zone() -> str:
    """The signed-in viewer's zone name (``viewer_zone_name``; the portal default otherwise)."""
    return viewer_zone_name(current_user, current_app.config.get("DEFAULT_TIME_ZONE", "UTC"))


def local_time(when: dt.datetime | None, fmt: str | None = None) -> str:
    """``when`` in the viewer's zone: ``Thu 3 Dec 2026 05:00 UTC+8`` (``format_in_zone``)."""
    return format_in_zone(when, viewer_zone(), fmt)


def local_and_utc(
    when: dt.datetime | None,
    zone: str | None = None,
    *,
    seconds: bool = False,
    relative: bool = False,
) -> Markup:
    """``Thu 3 Dec 2026 05:00 UTC+8 (Wed 2 Dec 21:00 UTC)`` in a machine-readable <time>
    element: in ``zone`` (default: the viewer's), UTC alongside (``format_when_and_utc``);
    with ``relative``, a hint such as "in 3 days" after it, from the portal clock."""
    if when is None:
        return Markup("—")
    text = format_when_and_utc(when, zone or viewer_zone(), seconds=seconds)
    html = Markup('<time datetime="{}">{}</time>').format(when.astimezone(dt.UTC).isoformat(), text)
    if relative:
        html += Markup(' <span class="when-relative">({})</span>').format(relative_time(when))
    return html


def relative_time(when: dt.datetime | None) -> str:
    """ "in 3 days", "2 h ago" from the portal clock (the demo's travelled time included)."""

    return relative_to(when, now())


def when_in(when: dt.datetime | None, zone: str, *, utc: bool = True, year: bool = True) -> str:
    """Plain text for mails, feeds and CSV, where there is no viewer: ``when`` in ``zone``
    (a tenant's), with UTC alongside unless ``utc`` is false."""
    if utc:
        return format_when_and_utc(when, zone or "UTC", year=year)
    return format_when(when, zone or "UTC", year=year)


def init_app(app: Flask) -> None:
    app.jinja_env.filters["markdown"] = render_markdown
    app.jinja_env.filters["local_time"] = local_time
    app.jinja_env.filters["local_and_utc"] = local_and_utc
    app.jinja_env.filters["relative_time"] = relative_time
    app.jinja_env.filters["when_in"] = when_in
    app.jinja_env.filters["duration"] = format_duration
    app.jinja_env.filters["customer_summary"] = customer_summary
    app.jinja_env.globals["viewer_zone"] = viewer_zone

    @app.context_processor
    def inject_clock():
        return {
            "clock_now": now(),
            "demo_mode": app.config.get("DEMO", False),
            "has_role": has_role,
        }
