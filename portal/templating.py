"""Template filters and globals: times in the viewer's zone, durations, sanitised Markdown."""

from __future__ import annotations

import datetime as dt

import nh3
from flask import Flask, current_app
from flask_login import current_user
from markdown_it import MarkdownIt
from markupsafe import Markup

from portal.timezones import format_duration, format_in_zone, viewer_zone_name

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
    return viewer_zone_name(current_user, current_app.config.get("DEFAULT_TIME_ZONE", "UTC"))


def local_time(when: dt.datetime | None, fmt: str = "%a %d %b %Y %H:%M %Z") -> str:
    return format_in_zone(when, viewer_zone(), fmt)


def local_and_utc(when: dt.datetime | None) -> Markup:
    """ "Tue 01 Dec 2026 10:00 CET (09:00 UTC)" with a machine-readable <time> element."""
    if when is None:
        return Markup("—")
    zone = viewer_zone()
    local = format_in_zone(when, zone)
    text = local if zone == "UTC" else f"{local} ({format_in_zone(when, 'UTC', '%H:%M UTC')})"
    return Markup('<time datetime="{}">{}</time>').format(when.astimezone(dt.UTC).isoformat(), text)


def init_app(app: Flask) -> None:
    app.jinja_env.filters["markdown"] = render_markdown
    app.jinja_env.filters["local_time"] = local_time
    app.jinja_env.filters["local_and_utc"] = local_and_utc
    app.jinja_env.filters["duration"] = format_duration
    from portal.changes.serialise import customer_summary

    app.jinja_env.filters["customer_summary"] = customer_summary
    app.jinja_env.globals["viewer_zone"] = viewer_zone

    @app.context_processor
    def inject_clock():
        from portal.access import has_role
        from portal.clock import now

        return {
            "clock_now": now(),
            "demo_mode": app.config.get("DEMO", False),
            "has_role": has_role,
        }
