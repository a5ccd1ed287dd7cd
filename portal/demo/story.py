"""The demo's changes: DESIGN.md "The story, end to end", told through the real services.

Every change is created, published, approved, started, completed or cancelled by the same
services the web UI and the API call (``portal.changes.services`` and friends), so the outbox
rows, revisions, gate state and ledger entries are exactly what a real provider would have and
the worker mails them into the demo mailbox. A story change is looked up by its title before it
is created, so seeding twice adds nothing, and a visitor's edits (publishing the draft, say)
survive a restart.

Times are relative to the moment of seeding. Starts that must respect every affected tenant's
notice are placed at the earliest allowed start (rounded up to the hour) when that is later
than the story's wish, so the random usage of the demo never makes a publish fail.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import select

from portal.changes import emergency, lifecycle, services
from portal.changes.inputs import ChangeInput, parse_change_input
from portal.changes.models import Change
from portal.extensions import db

H = dt.timedelta(hours=1)
D = dt.timedelta(days=1)

FUSION_BODY = """\
We are replacing the face-fusion model behind **Face Fusion API** with the 2027 generation.

* Output images are produced at **1024×1024** instead of 768×768; clients that assume the old
  size must scale or crop.
* Latency rises by about 15 % at the 95th percentile during the first week.

Nothing else changes: request format, endpoints and authentication stay as they are.
"""

RATE_LIMIT_BODY = """\
`/v2/blend` moves from 50 to **30 requests per second per project**; bursts above that get
`429 Too Many Requests` with a `Retry-After` header. Batch jobs should use `/v2/blend:batch`.
"""

MODERATION_BODY = """\
Since yesterday's model update, Image Moderation flags about 4 % of medical images (X-rays,
dermatology photos) as unsafe. We roll back to the previous model today.
"""

SSO_BODY = """\
A flaw in ID-token validation accepted tokens signed with a rotated key for up to an hour.
The patch closes it; sessions are not affected.
"""

STORAGE_BODY = """\
Controllers in the Dublin storage region are replaced one rack at a time. Expect a few
seconds of elevated latency per rack; no data is moved.
"""

TLS_BODY = """\
The Global CDN stops accepting TLS 1.0 and 1.1 connections. Clients must support TLS 1.2 or
newer; check with `openssl s_client -tls1_2 -connect your-domain:443`.
"""

DNS_BODY = "Rolling restart of the resolver fleet to apply kernel updates."

# What customers need to do (issue 15 item 1), as a Message Center post would say it.
FUSION_ACTION = """\
Check that your clients accept **1024×1024** output images (or scale them down), using the
`model=2027-preview` parameter on your test project.
"""

RATE_LIMIT_ACTION = """\
* Make your clients honour `Retry-After` on `429` answers.
* Move batch jobs to `/v2/blend:batch`.
"""

TLS_ACTION = """\
Upgrade every client that connects to your CDN domains to **TLS 1.2 or newer**, and test with
`openssl s_client -tls1_2 -connect your-domain:443`.
"""


@dataclass(frozen=True)
class StoryChange:
    """What the story says about one change; ``plot`` is how far through its life it is."""

    key: str
    title: str
    author: str
    services: tuple[str, ...]
    impact: str
    body: str
    start_in: dt.timedelta
    duration: dt.timedelta
    plot: str  # draft | scheduled | pending_approval | completed_emergency | cancelled
    ack_required: bool = False
    visibility: str = "affected"
    approver: str | None = None
    justification: str = ""
    begun: dt.timedelta = dt.timedelta(0)  # how long before seeding the story of it began
    customer_action: str = ""
    act_by_before_start: dt.timedelta | None = None  # act-by time = start minus this


STORY = [
    StoryChange(
        "fusion-upgrade",
        "Upgrade the fusion model; output resolution changes",
        "engineer",
        ("face-fusion-api",),
        "degradation",
        FUSION_BODY,
        30 * H,
        2 * H,
        "draft",
        ack_required=True,
        customer_action=FUSION_ACTION,
        act_by_before_start=12 * H,
    ),
    StoryChange(
        "rate-limits",
        "Face Fusion API: lower rate limit on /v2/blend",
        "engineer",
        ("face-fusion-api",),
        "degradation",
        RATE_LIMIT_BODY,
        3 * D + 2 * H,
        1 * H,
        "scheduled",
        ack_required=True,
        customer_action=RATE_LIMIT_ACTION,
        act_by_before_start=1 * D,
    ),
    StoryChange(
        "moderation-hotfix",
        "Hotfix: Image Moderation misflags medical images",
        "engineer",
        ("image-moderation",),
        "maintenance",
        MODERATION_BODY,
        6 * H,
        1 * H,
        "pending_approval",
        justification="Hospitals' uploads are being rejected since yesterday's model update; "
        "waiting 24 hours keeps blocking patient images.",
    ),
    StoryChange(
        "sso-patch",
        "Single Sign-On: emergency patch for a token-validation flaw",
        "identity-engineer",
        ("sso",),
        "maintenance",
        SSO_BODY,
        3 * H,
        1 * H,
        "completed_emergency",
        approver="edge-engineer",
        begun=6 * D,
        justification="Security fix for a token-validation flaw reported by a customer; "
        "cannot wait for the 24 h window.",
    ),
    StoryChange(
        "storage-controllers",
        "Object Storage: replace the Dublin storage controllers",
        "data-engineer",
        ("object-storage/eu-west",),
        "maintenance",
        STORAGE_BODY,
        2 * D,
        4 * H,
        "scheduled",
        visibility="public",
    ),
    StoryChange(
        "cdn-tls",
        "Global CDN: retire TLS 1.0 and 1.1",
        "edge-engineer",
        ("cdn",),
        "deprecation",
        TLS_BODY,
        95 * D,
        1 * D,
        "scheduled",
        ack_required=True,
        visibility="public",
        customer_action=TLS_ACTION,
        act_by_before_start=14 * D,
    ),
    StoryChange(
        "dns-restart",
        "Managed DNS: rolling restart of the resolver fleet",
        "edge-engineer",
        ("dns",),
        "maintenance",
        DNS_BODY,
        2 * D,
        2 * H,
        "cancelled",
        begun=1 * D,
    ),
]


def _iso(when: dt.datetime) -> str:
    return when.astimezone(dt.UTC).isoformat()


def _ceil_hour(when: dt.datetime) -> dt.datetime:
    floor = when.replace(minute=0, second=0, microsecond=0)
    return floor if floor == when else floor + H


def _input(story: StoryChange, user, now: dt.datetime, start: dt.datetime) -> ChangeInput:
    return parse_change_input(
        {
            "title": story.title,
            "body": story.body,
            "impact": story.impact,
            "services": list(story.services),
            "starts_at": _iso(start),
            "ends_at": _iso(start + story.duration),
            "ack_required": story.ack_required,
            "visibility": story.visibility,
            "customer_action": story.customer_action,
            "act_by": _iso(start - story.act_by_before_start)
            if story.act_by_before_start is not None
            else None,
        },
        user=user,
        now=now,
    )


def _publishable_start(story: StoryChange, user, at: dt.datetime) -> dt.datetime:
    """The story's start, or the earliest start every affected tenant's notice allows."""
    wanted = _ceil_hour(at + story.start_in)
    check = services.preview(_input(story, user, at, wanted), at).check
    return max(wanted, _ceil_hour(check.earliest_start))


def existing(title: str) -> Change | None:
    return db.session.execute(select(Change).where(Change.title == title)).scalars().first()


Deliver = Callable[[dt.datetime], None]


def _no_delivery(_at: dt.datetime) -> None:
    """Without a mail server (tests), the worker delivers whatever is due when it runs."""


def tell(
    story: StoryChange, users: dict, *, now: dt.datetime, deliver: Deliver = _no_delivery
) -> Change | None:
    """Bring one story change to its point in the plot; None if it already exists.

    ``deliver(at)`` sends whatever the outbox holds as of ``at`` (UTC): the demo passes a real
    dispatch to its mail sink, so a change whose story lies in the past was told at that past
    time (its notices are "given" before it started, as they were), not when the demo starts.
    """
    if existing(story.title) is not None:
        return None
    author = users[story.author]
    at = now - story.begun
    if story.plot in ("scheduled", "cancelled"):
        start = _publishable_start(story, author, at)
    else:
        start = _ceil_hour(at + story.start_in)
    change = services.create_change(_input(story, author, at, start), author=author, now=at)
    if story.plot in ("scheduled", "cancelled"):
        services.publish(change, actor=author, now=at)
        _deliver_past(deliver, at, now)
    if story.plot == "cancelled":
        lifecycle.cancel(
            change,
            actor=author,
            now=now - 2 * H,
            reason="Postponed: it clashes with a customer's product launch.",
        )
        _deliver_past(deliver, now - 2 * H, now)
    if story.plot in ("pending_approval", "completed_emergency"):
        emergency.request_emergency(change, story.justification, actor=author, now=at)
        _deliver_past(deliver, at, now)
    if story.plot == "completed_emergency":
        approver = users[story.approver]
        approved_at = at + 10 * dt.timedelta(minutes=1)
        emergency.approve(
            change,
            approver=approver,
            now=approved_at,
            note="Checked the patch and the rollback plan.",
        )
        _deliver_past(deliver, approved_at, now)
        lifecycle.start(change, actor=author, now=start)
        _deliver_past(deliver, start, now)
        lifecycle.complete(change, actor=author, now=start + story.duration)
        _deliver_past(deliver, start + story.duration, now)
    db.session.flush()
    return change


def _deliver_past(deliver: Deliver, at: dt.datetime, now: dt.datetime) -> None:
    """Send what is due at ``at`` if that lies in the story's past; the present is the
    worker's job once the demo runs."""
    if at < now:
        db.session.flush()
        deliver(at)


def seed_changes(users: dict, *, now: dt.datetime, deliver: Deliver = _no_delivery) -> int:
    """Tell the whole story; returns how many changes were created."""
    return sum(tell(story, users, now=now, deliver=deliver) is not None for story in STORY)
