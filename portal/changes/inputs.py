"""Turning raw input (the web form or an API body) into a checked ``ChangeInput``.

Every refusal is an ``InvalidInput`` naming the field, so the form can show it next to the
field and the API can answer 400 with it. Times must carry an offset or a separate zone
(``time_zone``); naive times and wall times a DST change skips or doubles are refused.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from portal.catalog.models import Component, Service
from portal.changes.models import VISIBILITY_AFFECTED, VISIBILITY_PUBLIC, ImpactLevel
from portal.errors import InvalidInput
from portal.extensions import db
from portal.inputs import check_single_line, check_text
from portal.timezones import check_time_bounds, format_when_and_utc, input_zone, parse_aware

VISIBILITIES = (VISIBILITY_PUBLIC, VISIBILITY_AFFECTED)


@dataclass(frozen=True)
class ChangeInput:
    """A change's content as the services take it: checked, UTC, ids resolved."""

    title: str
    body_md: str
    impact: str
    starts_at: dt.datetime
    ends_at: dt.datetime
    targets: tuple[tuple[int, int | None], ...]
    team_id: int
    ack_required: bool = False
    visibility: str = VISIBILITY_AFFECTED
    customer_action: str = ""  # Markdown; "" = nothing asked of customers
    act_by: dt.datetime | None = None  # UTC; only with a customer_action, never after the start


# Longest "what you need to do" (Markdown characters): a few paragraphs and a list, not a manual.
CUSTOMER_ACTION_MAX = 20_000


def check_customer_action(
    customer_action: str,
    act_by: dt.datetime | None,
    starts_at: dt.datetime,
    *,
    now: dt.datetime,
    kept_act_by: dt.datetime | None = None,
    zone: str | None = None,
) -> tuple[str, dt.datetime | None]:
    """The one rule for "what you need to do" and "act by" (issue 15 item 1), used by the
    editor, the API and the demo through ``parse_change_input``.

    - ``customer_action`` is Markdown of at most ``CUSTOMER_ACTION_MAX`` characters, one
      paragraph or more; blank means nothing is asked. Raw HTML is not refused but never
      reaches a reader as markup: it is escaped and sanitised when shown (``render_markdown``),
      like the body.
    - ``act_by`` (aware, UTC) needs a ``customer_action``: a deadline with nothing to do by it
      is refused (as in Microsoft 365's Message Center, where "Act by" accompanies "What you
      need to do to prepare"). A ``customer_action`` without ``act_by`` is allowed: preparation
      with no deadline of its own beyond the start.
    - ``act_by`` must not be after ``starts_at`` (customers act before the change, not
      during it) and, unless it is the stored value ``kept_act_by``, must be in the future.

    Returns the stripped action and ``act_by``; raises ``InvalidInput`` naming the field, with
    the times in ``zone`` (default UTC) and UTC.
    """
    if not isinstance(customer_action, str):
        raise InvalidInput("customer_action must be Markdown text", field="customer_action")
    action = customer_action.strip()
    if len(action) > CUSTOMER_ACTION_MAX:
        raise InvalidInput(
            f"what customers need to do must be under {CUSTOMER_ACTION_MAX:,} characters",
            field="customer_action",
        )
    check_text(action, "customer_action")
    if act_by is None:
        return action, None
    if not action:
        raise InvalidInput(
            'an act-by time needs a "what you need to do": say what customers must do by '
            "then, or clear the act-by time",
            field="customer_action",
        )
    shown = zone or "UTC"
    if act_by > starts_at:
        raise InvalidInput(
            f"the act-by time ({format_when_and_utc(act_by, shown)}) is after the change "
            f"starts ({format_when_and_utc(starts_at, shown)}): customers must be able to act "
            "before it starts",
            field="act_by",
        )
    if act_by <= now and act_by != kept_act_by:
        raise InvalidInput("the act-by time is in the past", field="act_by")
    check_time_bounds(act_by, "act_by", now=now)
    return action, act_by


def parse_targets(value: Any) -> tuple[tuple[int, int | None], ...]:
    """Service references ``"slug"`` or ``"slug/component"`` → (service_id, component_id)."""
    if isinstance(value, str):
        value = [v for v in value.replace(",", "\n").split() if v]
    if not isinstance(value, list) or not value:
        raise InvalidInput("name at least one service the change touches", field="services")
    targets = []
    for ref in value:
        if not isinstance(ref, str) or not ref.strip():
            raise InvalidInput("each service must be a slug string", field="services")
        slug, _, component_slug = ref.strip().partition("/")
        service = db.session.execute(
            select(Service).where(Service.slug == slug)
        ).scalar_one_or_none()
        if service is None:
            raise InvalidInput(f"unknown service {slug!r}", field="services")
        component_id = None
        if component_slug:
            component = db.session.execute(
                select(Component).where(
                    Component.service_id == service.id, Component.slug == component_slug
                )
            ).scalar_one_or_none()
            if component is None:
                raise InvalidInput(
                    f"service {slug!r} has no component {component_slug!r}", field="services"
                )
            component_id = component.id
        if (service.id, component_id) not in targets:
            targets.append((service.id, component_id))
    return tuple(sorted(targets, key=lambda t: (t[0], t[1] or 0)))


def owning_team(targets, user) -> int:
    """The one team owning every touched service; the user must belong to it (or be admin)."""
    service_ids = {s for s, _ in targets}
    teams = set(
        db.session.execute(select(Service.team_id).where(Service.id.in_(service_ids))).scalars()
    )
    if len(teams) != 1:
        raise InvalidInput(
            "the services belong to different teams; schedule one change per team", field="services"
        )
    team_id = teams.pop()
    if not user.is_admin and team_id not in {m.team_id for m in user.memberships}:
        raise InvalidInput(
            "you are not a member of the team that owns these services", field="services"
        )
    return team_id


def _bool(value: Any, name: str) -> bool:
    if isinstance(value, bool):
        return value
    if value in (None, ""):
        return False
    if isinstance(value, str) and value.lower() in ("true", "1", "yes", "on", "y"):
        return True
    if isinstance(value, str) and value.lower() in ("false", "0", "no", "off", "n"):
        return False
    raise InvalidInput(f"{name} must be true or false", field=name)


def parse_change_input(
    raw: Mapping[str, Any], *, user, now: dt.datetime, current=None
) -> ChangeInput:
    """Check ``raw`` (missing keys fall back to ``current``, a Change being edited)."""

    def pick(key, fallback=None):
        return raw[key] if key in raw and raw[key] is not None else fallback

    title = pick("title", current.title if current else None)
    if not isinstance(title, str) or not title.strip():
        raise InvalidInput("a title is required", field="title")
    if len(title.strip()) > 200:
        raise InvalidInput("the title is longer than 200 characters", field="title")
    check_single_line(title.strip(), "title")
    body = pick("body", current.body_md if current else "")
    if not isinstance(body, str) or len(body) > 100_000:
        raise InvalidInput("the body must be Markdown text under 100,000 characters", field="body")
    check_text(body, "body")
    impact = pick("impact", current.impact if current else None)
    if not isinstance(impact, str) or db.session.get(ImpactLevel, impact) is None:
        raise InvalidInput(f"unknown impact level {impact!r}", field="impact")
    zone = pick("time_zone") or None
    if zone is not None and not isinstance(zone, str):
        raise InvalidInput("time_zone must be an IANA zone name", field="time_zone")
    if zone is not None:
        input_zone(zone, field="time_zone")
    for key in ("starts_at", "ends_at"):
        if raw.get(key) is not None and not isinstance(raw[key], str):
            raise InvalidInput(f"{key} must be an ISO-8601 date-time string", field=key)
    starts_at = (
        parse_aware(raw["starts_at"], "starts_at", zone)
        if pick("starts_at")
        else current.starts_at
        if current
        else None
    )
    if starts_at is None:
        raise InvalidInput("a start time is required", field="starts_at")
    ends_at = (
        parse_aware(raw["ends_at"], "ends_at", zone)
        if pick("ends_at")
        else current.ends_at
        if current
        else None
    )
    if ends_at is None:
        raise InvalidInput("an end time is required", field="ends_at")
    # An edit that keeps a start which has since passed (e.g. fixing a typo while the gate
    # waits) is not "a start in the past"; a new start must be in the future.
    if starts_at <= now and (current is None or starts_at != current.starts_at):
        raise InvalidInput("the start is in the past", field="starts_at")
    check_time_bounds(starts_at, "starts_at", now=now)
    check_time_bounds(ends_at, "ends_at", now=now)
    if ends_at <= starts_at:
        raise InvalidInput("the end must be after the start", field="ends_at")
    if "services" in raw and raw["services"] is not None:
        targets = parse_targets(raw["services"])
    elif current is not None:
        targets = tuple(
            sorted(
                ((t.service_id, t.component_id) for t in current.targets),
                key=lambda t: (t[0], t[1] or 0),
            )
        )
    else:
        targets = parse_targets(None)
    team_id = owning_team(targets, user)
    visibility = pick("visibility", current.visibility if current else VISIBILITY_AFFECTED)
    if visibility not in VISIBILITIES:
        raise InvalidInput(
            f"visibility must be one of {', '.join(VISIBILITIES)}", field="visibility"
        )
    ack = _bool(pick("ack_required", current.ack_required if current else False), "ack_required")
    action, act_by = _customer_action(raw, current, starts_at, now=now, zone=zone)
    return ChangeInput(
        title.strip(),
        body,
        impact,
        starts_at,
        ends_at,
        targets,
        team_id,
        ack,
        visibility,
        action,
        act_by,
    )


def _customer_action(
    raw: Mapping[str, Any], current, starts_at: dt.datetime, *, now: dt.datetime, zone
) -> tuple[str, dt.datetime | None]:
    """``customer_action`` and ``act_by`` from ``raw``: a missing or null key keeps the
    stored value; ``""`` clears it. ``act_by`` is read like ``starts_at`` (an offset, or a
    wall time in ``time_zone``), then ``check_customer_action`` applies the rule."""
    kept_act_by = current.act_by if current is not None else None
    action = raw.get("customer_action")
    if action is None:
        action = current.customer_action if current is not None else ""
    value = raw.get("act_by")
    if value is None:
        act_by = kept_act_by
    elif not isinstance(value, str):
        raise InvalidInput("act_by must be an ISO-8601 date-time string", field="act_by")
    elif not value.strip():
        act_by = None
    else:
        act_by = parse_aware(value, "act_by", zone)
    return check_customer_action(
        action, act_by, starts_at, now=now, kept_act_by=kept_act_by, zone=zone
    )
