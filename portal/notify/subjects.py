"""Subject lines a customer can act on from the inbox (issue 15 item 2).

A notice's subject carries, in this order: the action asked of the tenant and by when (a tag
in brackets), what kind of notice it is, the impact, the tenant's own affected services, the
time in the tenant's zone with its UTC offset (never an abbreviation such as "CST"), then the
change's title, which phones cut off first but searches need:

    [Action required by 3 Dec] Degradation: Face Fusion API, Thu 3 Dec 05:00 (UTC+8) - Upgrade …
    Scheduled maintenance: Object Storage, Sat 5 Dec 02:00 (UTC+1) - Replace the controllers
    Rescheduled degradation (notice period restarts): Face Fusion API, Fri 4 Dec 05:00 (UTC+8) …
    Cancelled degradation: Face Fusion API, Thu 3 Dec 05:00 (UTC+8) - Upgrade the fusion model
    [Acknowledge by 3 Dec] Reminder: Face Fusion API degradation in 2 days 4 h, Thu 3 Dec …

Pure functions over plain values; every result is one line (``portal.inputs.one_line``), so
a title or name stored before input was checked cannot break the header.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Sequence

from portal.inputs import one_line
from portal.notify.models import APPROVAL, ESCALATION, NOTICE_FAILED, OBJECTION
from portal.timezones import get_zone, offset_label

SERVICES_IN_SUBJECT = 2  # more are summed up as "and N more"


def _local(when: dt.datetime, zone: str) -> dt.datetime:
    return when.astimezone(get_zone(zone))


@functools.lru_cache(maxsize=1024)
def day_month(when: dt.datetime, zone: str) -> str:
    """The local date in ``zone`` as "3 Dec" (the tag's deadline)."""
    local = _local(when, zone)
    return f"{local.day} {local:%b}"


@functools.lru_cache(maxsize=1024)
def subject_time(when: dt.datetime, zone: str) -> str:
    """ "Thu 3 Dec 05:00 (UTC+8)": the local time in ``zone`` with its UTC offset."""
    local = _local(when, zone)
    return f"{local:%a} {local.day} {local:%b} {local:%H:%M} ({offset_label(local, zone)})"


def services_phrase(names: Sequence[str]) -> str:
    """ "A", "A, B", "A, B and 3 more" (at most ``SERVICES_IN_SUBJECT`` names)."""
    names = list(names)
    if len(names) <= SERVICES_IN_SUBJECT:
        return ", ".join(names)
    shown = ", ".join(names[:SERVICES_IN_SUBJECT])
    return f"{shown} and {len(names) - SERVICES_IN_SUBJECT} more"


def lower_first(name: str) -> str:
    """An impact name inside a phrase: "Breaking change" → "breaking change" (an acronym
    such as "API change" keeps its capitals)."""
    if len(name) > 1 and name[1].isupper():
        return name
    return name[:1].lower() + name[1:]


def action_tag(
    *,
    action: bool,
    act_by: dt.datetime | None,
    ack_required: bool,
    starts_at: dt.datetime,
    zone: str,
    now: dt.datetime,
) -> str:
    """The bracketed tag, without brackets: "Action required by 3 Dec" when the tenant must
    act (by the act-by time, else before the start), "Action was due 1 Dec" once that has
    passed, "Acknowledge by 3 Dec" when only an acknowledgement is asked; "" otherwise."""
    if action:
        deadline = act_by or starts_at
        if deadline <= now:
            return f"Action was due {day_month(deadline, zone)}"
        return f"Action required by {day_month(deadline, zone)}"
    if ack_required:
        return f"Acknowledge by {day_month(starts_at, zone)}"
    return ""


def notice_lead(
    revision_kind: str,
    impact: str,
    *,
    tagged: bool,
    short_notice: bool = False,
    rescheduled: bool = False,
    restarts: bool = False,
    now_affected: bool = False,
    no_longer_affected: bool = False,
) -> str:
    """What kind of notice, with the impact: "Degradation" (a tagged announcement),
    "Scheduled maintenance", "Short-notice degradation", "Rescheduled degradation (notice
    period restarts)", "Cancelled …", "Started …", "Completed …", "Degradation now affects
    you", "Degradation no longer affects you"."""
    word = lower_first(impact)
    if no_longer_affected:
        return f"{impact} no longer affects you"
    if now_affected:
        return f"{impact} now affects you"
    if revision_kind == "publish":
        if short_notice:
            return f"Short-notice {word}"
        return impact if tagged else f"Scheduled {word}"
    if revision_kind == "update":
        lead = f"{'Rescheduled' if rescheduled else 'Updated'} {word}"
        return f"{lead} (notice period restarts)" if restarts else lead
    state = {"cancel": "Cancelled", "start": "Started", "complete": "Completed"}
    return f"{state.get(revision_kind, 'Updated')} {word}"


def _titled(text: str, title: str) -> str:
    return one_line(f"{text} - {title}" if title.strip() else text)


def notice_subject(tag: str, lead: str, services: Sequence[str], when: str, title: str = "") -> str:
    """ "[tag] lead: services, when - title" on one line (without " - title" when ``title``
    is empty: the notice's heading)."""
    prefix = f"[{tag}] " if tag else ""
    return _titled(f"{prefix}{lead}: {services_phrase(services)}, {when}", title)


def reminder_subject(
    tag: str, impact: str, services: Sequence[str], left: str, when: str, title: str = ""
) -> str:
    """ "[tag] Reminder: Face Fusion API degradation in 2 days 4 h, Thu 3 Dec 05:00 (UTC+8) -
    title"."""
    prefix = f"[{tag}] " if tag else ""
    return _titled(
        f"{prefix}Reminder: {services_phrase(services)} {lower_first(impact)} in {left}, {when}",
        title,
    )


def staff_subject(kind: str, tenant_name: str, title: str, when: str = "") -> str:
    """Subjects of the provider's internal messages (escalation, objection, approval request,
    failed notice), which name the change by its title; ``when`` is appended as ", starts …"."""
    who = tenant_name or "a customer"
    text = {
        ESCALATION: f"Not acknowledged by {who}: {title}",
        OBJECTION: f"Objection from {who}: {title}",
        APPROVAL: f"Emergency approval requested: {title}",
        NOTICE_FAILED: f"Notice could not be delivered to {who}: {title}",
    }.get(kind, title)
    return one_line(f"{text}, starts {when}" if when else text)
