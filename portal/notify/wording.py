"""The sentences of a notice: what it says to the customer in words, from plain values.

Pure functions over the values ``portal.notify.context`` builds (no database, no Flask):
the sentence under the title, the notes on the notice period, the "When" lines, what "What you
need to do" says when nothing is asked, the rule a short notice fell short of, a cancellation's
reason, and Markdown styled for mail clients. DESIGN.md "What customers read": each kind of
notice says what is specific to it.
"""

from __future__ import annotations

import datetime as dt
import json

from markupsafe import Markup

from portal.changes.models import Revision
from portal.notify import subjects
from portal.notify.content import CONTENT_KINDS, NO_LONGER_AFFECTED, NOW_AFFECTED, remaining
from portal.notify.models import REMINDER
from portal.templating import render_markdown
from portal.timezones import relative_to


def cancellation_reason(revision: Revision | None) -> str:
    """The reason a cancel revision gave ("" when none was written)."""
    if revision is None or revision.kind != "cancel":
        return ""
    return "" if revision.summary in ("", "cancelled") else revision.summary


def owed_by(basis: str, impacts: dict[str, str]) -> str:
    """In the customer's words, the rule behind the notice it is owed: "your contract
    (MSA-7)", "the service's notice policy", "our notice policy for degradation"; the
    strictest rule wins, a contract first on a tie (as ``rules.Blocker.source``)."""
    try:
        items = [b for b in json.loads(basis or "[]") if isinstance(b, dict)]
    except ValueError:
        items = []
    if not items:
        return "our notice policy"
    best = max(items, key=lambda b: (b.get("seconds", 0), b.get("source") == "contract"))
    if best.get("source") == "contract":
        ref = best.get("reference") or ""
        return f"your contract ({ref})" if ref else "your contract"
    if best.get("source") == "service_policy":
        return "the service's notice policy"
    impact = impacts.get(best.get("impact", ""), best.get("impact", ""))
    return f"our notice policy for {subjects.lower_first(impact)}" if impact else "our policy"


# Inline styles for sanitised Markdown in mails (clients drop <style> blocks): the sanitiser
# (``render_markdown``) emits these tags without attributes, ``<a`` with href/title/rel only.
_EMAIL_TAG_STYLES = {
    "<p>": '<p style="margin:0 0 12px;">',
    "<ul>": '<ul style="margin:0 0 12px; padding-left:22px;">',
    "<ol>": '<ol style="margin:0 0 12px; padding-left:22px;">',
    "<li>": '<li style="margin:0 0 4px;">',
    "<blockquote>": (
        '<blockquote style="margin:0 0 12px; padding:0 0 0 12px; border-left:3px solid #d0d7de;'
        ' color:#4a5a6a;">'
    ),
    "<pre>": (
        '<pre style="margin:0 0 12px; padding:8px; background-color:#f3f5f7; white-space:pre-wrap;'
        " word-wrap:break-word; overflow-wrap:anywhere; font-family:Consolas, Menlo, monospace;"
        ' font-size:13px;">'
    ),
    "<code>": '<code style="font-family:Consolas, Menlo, monospace; font-size:13px;">',
    "<table>": (
        '<table style="border-collapse:collapse; width:100%; table-layout:fixed;'
        ' margin:0 0 12px; font-size:14px;">'
    ),
    "<th>": '<th style="border:1px solid #d0d7de; padding:4px 6px; text-align:left;">',
    "<td>": (
        '<td style="border:1px solid #d0d7de; padding:4px 6px; word-wrap:break-word;'
        ' overflow-wrap:anywhere;">'
    ),
    "<h1>": '<h3 style="margin:16px 0 8px; font-size:17px;">',
    "</h1>": "</h3>",
    "<h2>": '<h3 style="margin:16px 0 8px; font-size:16px;">',
    "</h2>": "</h3>",
    "<h3>": '<h3 style="margin:16px 0 8px; font-size:15px;">',
    "<h4>": '<h4 style="margin:12px 0 6px; font-size:14px;">',
}


def email_markdown(source: str, accent: str) -> Markup:
    """Markdown sanitised exactly as on the pages (``render_markdown``), with inline styles
    for mail clients; headings start at level 3, below the notice's own."""
    html = str(render_markdown(source))
    for tag, styled in _EMAIL_TAG_STYLES.items():
        html = html.replace(tag, styled)
    html = html.replace("<a ", f'<a style="color:{accent}; word-break:break-word;" ')
    return Markup(html)  # noqa: S704  (sanitised by render_markdown; styles are constants)


def time_until(when: dt.datetime, now: dt.datetime) -> str:
    """ "in 23 h 50 min": the real time left, to the minute, as reminders state it in their
    subject (``remaining``); "2 h ago" once it has passed."""
    if when > now:
        return f"in {remaining(when, now)}"
    return relative_to(when, now)


def intro(values: dict, provider: str, *, short: bool, left: str) -> str:
    """The sentence under the title saying what this notice is (DESIGN.md "What customers
    read": each kind says what is specific to it)."""
    who = values["tenant_name"] or "your organisation"
    kind, note = values["revision_kind"], values["note"]
    if note == NO_LONGER_AFFECTED:
        return (
            f"This change no longer affects {who}: it no longer touches services you use. "
            "Nothing will happen to you; you need not do anything."
        )
    if note == NOW_AFFECTED:
        return (
            f"This change now affects {who}: it touches services you use. "
            "Your notice period starts from this message."
        )
    if values["kind"] == REMINDER:
        text = f"A reminder: this change starts in {left}, and {who} has not acknowledged it yet."
        return text + (" An acknowledgement is required." if values["ack_required"] else "")
    if kind == "publish":
        article = "a short-notice (emergency) change" if short else "a change"
        return f"{provider} has scheduled {article} to services {who} uses."
    if kind == "cancel":
        return "This change has been cancelled; it will not happen."
    if kind == "start":
        return f"This change has started for {who}."
    if kind == "complete":
        return "This change is complete."
    if values["restarts"]:
        return "This change was revised materially; your notice period restarts from this message."
    return "This change was rescheduled." if values["rescheduled"] else "This change was updated."


def notes(values: dict, *, resent: bool) -> tuple[str, ...]:
    """Further sentences about the tenant's notice period."""
    if resent:
        return (
            "Our earlier notice of this change could not be delivered; this is that notice "
            "again. Your notice period starts from this message.",
        )
    if (
        values["clock_starts"]
        and values["revision_kind"] == "update"
        and not values["material"]
        and not values["note"]
    ):
        return (
            "Your notice period starts from this message (the earlier notice did not reach you).",
        )
    return ()


def when_rows(values: dict) -> tuple[tuple[str, str], ...]:
    """(label, time) lines of the "When" section, in the tenant's zone and UTC."""
    kind = values["revision_kind"]
    starts = values["starts"]
    if values["starts_relative"] and kind in CONTENT_KINDS:
        starts = f"{starts}, {values['starts_relative']}"
    if kind == "cancel":
        return (("Was to start", values["starts"]), ("Was to end", values["ends"]))
    if kind == "start":
        return (
            ("Started", values["started"]),
            ("Planned start", values["starts"]),
            ("Ends", values["ends"]),
        )
    if kind == "complete":
        return (
            ("Completed", values["event"]),
            ("Started", values["started"]),
            ("Planned end", values["ends"]),
        )
    return (("Starts", starts), ("Ends", values["ends"]))


def nothing_to_do(values: dict) -> str:
    """What "What you need to do" says when nothing is asked."""
    kind = values["revision_kind"]
    if values["note"] == NO_LONGER_AFFECTED or kind == "cancel":
        return "Nothing."
    if values["contacts_ack"]:
        return (
            "Nothing yourself: your organisation's notice contacts are asked to acknowledge "
            f"this change by {values['starts']}."
        )
    return "Nothing is required of you."
