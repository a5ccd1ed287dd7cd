"""Acknowledging, objecting and waiving: the rules, in one place.

Every function takes plain arguments (the acting user or link claim, ``now``), changes state,
writes the ledger entry in the same transaction, flushes and returns; the view or API commits.

- The first acknowledgement per (change, tenant, material revision) counts; later ones by other
  people are kept as "seen"; the same person again for the same revision is a replay and
  changes nothing. A material revision (``ChangeTenant.clock_revision``) asks for a fresh one.
- An objection needs a reason; the owning team answers it.
- A waiver is given by a tenant admin, or recorded by the tenant's account manager (or an
  admin) naming who agreed. It sets ``ChangeTenant.waived_at``, which opens the gate at the
  start (DESIGN.md "The notice window, exactly").
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import func, select

from portal.access import tenant_ids_visible_to
from portal.acks.links import AckClaim
from portal.acks.models import CHANNEL_EMAIL, CHANNEL_OFFLINE, Acknowledgement, Objection, Waiver
from portal.auth.models import User
from portal.catalog.models import TeamMembership
from portal.changes.models import IN_PROGRESS, SCHEDULED, Change, ChangeTenant
from portal.errors import Conflict, DomainError, Forbidden, InvalidInput, NotFound
from portal.extensions import db
from portal.ledger.services import record
from portal.notify.outbox import notify_staff
from portal.tenants.models import AccountManagerAssignment, NoticeContact

ACKNOWLEDGEABLE = (SCHEDULED, IN_PROGRESS)
OBJECTABLE = (SCHEDULED,)  # customers may object (ask to postpone) only before the start
WAIVABLE = (SCHEDULED,)  # and waive the remaining notice only before it
REASON_MAX = 4000


class LinkRefused(DomainError):
    """An acknowledgement link that cannot be used; ``status`` says how (400/404/409/410)."""

    def __init__(self, message: str, status: int = 409, **details):
        super().__init__(message, **details)
        self.status = status


@dataclass(frozen=True)
class AckOutcome:
    """What an acknowledgement attempt did: ``counted``, ``seen`` or ``replay`` (nothing)."""

    status: str
    ack: Acknowledgement

    @property
    def changed_anything(self) -> bool:
        return self.status != "replay"


def user_label(user) -> str:
    return f"{user.name} <{user.email}>"


def acknowledged_tenant_ids(change_id: int, revision_number: int | None = None) -> set[int]:
    """Tenants whose acknowledgement counts for the change's current material revision (per
    tenant, ``ChangeTenant.clock_revision``), or for ``revision_number`` when given."""
    q = select(Acknowledgement.tenant_id).where(
        Acknowledgement.change_id == change_id, Acknowledgement.counts.is_(True)
    )
    if revision_number is None:
        q = _of_clock_revision(q)
    else:
        q = q.where(Acknowledgement.revision_number == revision_number)
    return set(db.session.execute(q).scalars())


def acknowledged_change_ids(tenant_id: int, change_ids: list[int]) -> set[int]:
    """Which of ``change_ids`` the tenant has acknowledged for their current material revision
    (one query)."""
    if not change_ids:
        return set()
    return set(
        db.session.execute(
            _of_clock_revision(
                select(Acknowledgement.change_id).where(
                    Acknowledgement.tenant_id == tenant_id,
                    Acknowledgement.counts.is_(True),
                    Acknowledgement.change_id.in_(change_ids),
                )
            )
        ).scalars()
    )


def _of_clock_revision(q):
    """Keep acknowledgements of the revision that restarted each tenant's notice clock."""
    return q.join(
        ChangeTenant,
        (ChangeTenant.change_id == Acknowledgement.change_id)
        & (ChangeTenant.tenant_id == Acknowledgement.tenant_id)
        & (ChangeTenant.clock_revision == Acknowledgement.revision_number),
    )


def change_tenant(change_id: int, tenant_id: int, *, lock: bool = False) -> ChangeTenant | None:
    """The (change, tenant) notice row. ``lock`` serialises answers for it, so that two people
    acknowledging at once cannot both be "first": a row lock on PostgreSQL; on SQLite a no-op
    write first, which takes the database's write lock before anything is read."""
    where = (ChangeTenant.change_id == change_id, ChangeTenant.tenant_id == tenant_id)
    q = select(ChangeTenant).where(*where)
    if lock and db.engine.dialect.name == "sqlite":
        table = ChangeTenant.__table__
        db.session.execute(
            table.update()
            .where(table.c.change_id == change_id, table.c.tenant_id == tenant_id)
            .values(tenant_id=table.c.tenant_id)
        )
    elif lock:
        q = q.with_for_update()
    return db.session.execute(q).scalar_one_or_none()


def _require_affected(
    change: Change, tenant_id: int, *, states: tuple[str, ...] | None = None
) -> ChangeTenant:
    """The tenant's row of ``change``, locked, while ``change`` is in ``states`` (by default
    ``ACKNOWLEDGEABLE``, read at each call); NotFound / Conflict otherwise."""
    if states is None:
        states = ACKNOWLEDGEABLE
    ct = change_tenant(change.id, tenant_id, lock=True)
    if ct is None or not change.is_published:
        raise NotFound("this change does not affect your organisation")
    if not ct.active:
        raise Conflict("your organisation is no longer affected by this change")
    if change.status not in states:
        raise Conflict(
            f"this change is {change.status.replace('_', ' ')}; "
            "it no longer takes acknowledgements, objections or waivers"
        )
    return ct


def _require_current(change: Change, ct: ChangeTenant, revision: int) -> None:
    """``revision`` (as the caller saw it) must still be covered by the current material
    revision: between ``clock_revision`` and the change's latest revision."""
    if (
        isinstance(revision, bool)
        or not isinstance(revision, int)
        or not (1 <= revision <= change.revision_number)
    ):
        raise InvalidInput(
            f"revision must be a revision number of this change (1 to {change.revision_number})",
            field="revision",
        )
    if revision < ct.clock_revision:
        raise Conflict(
            f"the change was materially revised since revision {revision}; "
            f"acknowledge revision {change.revision_number} instead",
            current_revision=change.revision_number,
        )


def acknowledge(
    change: Change,
    tenant_id: int,
    *,
    now: dt.datetime,
    channel: str,
    user=None,
    recipient: str | None = None,
    revision: int | None = None,
) -> AckOutcome:
    """Record an acknowledgement by ``user`` or by notice contact ``recipient``; with
    ``revision``, refuse if that revision has been superseded by a material one."""
    ct = _require_affected(change, tenant_id)
    if revision is not None:
        _require_current(change, ct, revision)
    if user is not None:
        key, label, email = f"user:{user.id}", user_label(user), None
    elif recipient is None:
        raise TypeError("acknowledge needs a user or a recipient")
    else:
        email = recipient.lower()
        key, label = f"contact:{email}", _contact_label(tenant_id, email)
    rows = (
        db.session.execute(
            select(Acknowledgement).where(
                Acknowledgement.change_id == change.id,
                Acknowledgement.tenant_id == tenant_id,
                Acknowledgement.revision_number == ct.clock_revision,
            )
        )
        .scalars()
        .all()
    )
    for row in rows:
        if row.actor_key == key:
            return AckOutcome("replay", row)
    counts = not any(r.counts for r in rows)
    ack = Acknowledgement(
        change_id=change.id,
        tenant_id=tenant_id,
        revision_number=ct.clock_revision,
        counts=counts,
        channel=channel,
        actor_key=key,
        user_id=user.id if user else None,
        recipient=email,
        actor_label=label,
        at=now,
    )
    db.session.add(ack)
    db.session.flush()
    entry = record(
        "ack.recorded" if counts else "ack.seen",
        subject_type="acknowledgement",
        subject_id=ack.id,
        actor=user or label,
        now=now,
        tenant_id=tenant_id,
        change_id=change.id,
        payload={"revision": ct.clock_revision, "channel": channel, "by": label, "counts": counts},
    )
    ack.ledger_seq = entry.seq
    return AckOutcome("counted" if counts else "seen", ack)


def _contact_label(tenant_id: int, email: str) -> str:
    name = db.session.execute(
        select(NoticeContact.name).where(
            NoticeContact.tenant_id == tenant_id, func.lower(NoticeContact.email) == email
        )
    ).scalar_one_or_none()
    return f"{name} <{email}>" if name else email


def check_link(claim: AckClaim) -> tuple[Change, ChangeTenant]:
    """Refuse a signed link that no longer applies; return its change and tenant row."""
    change = db.session.get(Change, claim.change_id)
    ct = change_tenant(claim.change_id, claim.tenant_id) if change else None
    if change is None or ct is None or not change.is_published:
        raise LinkRefused("This acknowledgement link does not match any announced change.", 404)
    if claim.revision > change.revision_number or claim.revision < 1:
        raise LinkRefused("This acknowledgement link is not valid.", 400)
    is_contact = db.session.execute(
        select(NoticeContact.id).where(
            NoticeContact.tenant_id == claim.tenant_id,
            func.lower(NoticeContact.email) == claim.recipient.lower(),
        )
    ).first()
    if not is_contact:
        raise LinkRefused(
            f"{claim.recipient} is not (or no longer) a notice contact of "
            f"{ct.tenant.name}, so links sent to it do not work. "
            "Sign in to the portal to acknowledge.",
            410,
        )
    if not ct.active:
        raise LinkRefused(f"{ct.tenant.name} is no longer affected by this change.", 410)
    if change.status not in ACKNOWLEDGEABLE:
        raise LinkRefused(
            f"This change is {change.status.replace('_', ' ')}; there is nothing "
            "left to acknowledge.",
            409,
        )
    if claim.revision < ct.clock_revision:
        raise LinkRefused(
            f"This change was revised after this email (now version {ct.clock_revision}); a "
            "newer version needs acknowledging. Use the link in the latest email about it.",
            409,
            current_revision=ct.clock_revision,
        )
    return change, ct


def link_ack(claim: AckClaim) -> Acknowledgement | None:
    """This link's recipient's acknowledgement of the current revision, if they already gave it."""
    ct = change_tenant(claim.change_id, claim.tenant_id)
    if ct is None:  # not affected: nothing to have acknowledged
        return None
    return db.session.execute(
        select(Acknowledgement).where(
            Acknowledgement.change_id == claim.change_id,
            Acknowledgement.tenant_id == claim.tenant_id,
            Acknowledgement.revision_number == ct.clock_revision,
            Acknowledgement.actor_key == f"contact:{claim.recipient.lower()}",
        )
    ).scalar_one_or_none()


def acknowledge_by_link(claim: AckClaim, *, now: dt.datetime) -> AckOutcome:
    """The POST behind an email link: checks the link still applies, then acknowledges."""
    change, _ = check_link(claim)
    outcome = acknowledge(
        change, claim.tenant_id, now=now, channel=CHANNEL_EMAIL, recipient=claim.recipient
    )
    if outcome.status == "replay":
        raise LinkRefused(
            f"This link was already used: {outcome.ack.actor_label} acknowledged on "
            f"{outcome.ack.at:%Y-%m-%d %H:%M} UTC. Nothing more to do.",
            409,
        )
    return outcome


def object_to(change: Change, tenant_id: int, *, user, reason: str, now: dt.datetime) -> Objection:
    """A customer asks for postponement; the owning team and the tenant's account managers
    see it on the change and are emailed (an ``objection`` outbox row each)."""
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput("say why you object (a reason is required)", field="reason")
    if len(reason) > REASON_MAX:
        raise InvalidInput(f"the reason is longer than {REASON_MAX} characters", field="reason")
    ct = _require_affected(change, tenant_id, states=OBJECTABLE)
    objection = Objection(
        change_id=change.id,
        tenant_id=tenant_id,
        revision_number=ct.clock_revision,
        user_id=user.id,
        actor_label=user_label(user),
        reason=reason,
        at=now,
    )
    db.session.add(objection)
    db.session.flush()
    objection.ledger_seq = record(
        "objection.raised",
        subject_type="objection",
        subject_id=objection.id,
        actor=user,
        now=now,
        tenant_id=tenant_id,
        change_id=change.id,
        payload={"revision": ct.clock_revision, "reason": reason},
    ).seq
    # Queued in the same transaction; the dispatcher emails it (nothing sent in the request).
    notify_staff(
        change,
        kind="objection",
        recipients=objection_recipients(change, tenant_id),
        now=now,
        note=reason,
        tenant_id=tenant_id,
    )
    return objection


def objection_recipients(change: Change, tenant_id: int) -> list[tuple[str, str]]:
    """(email, name) of the owning team's engineers and the tenant's account managers
    (active users only, each address once), in a stable order."""
    team = select(TeamMembership.user_id).where(TeamMembership.team_id == change.team_id)
    managers = select(AccountManagerAssignment.user_id).where(
        AccountManagerAssignment.tenant_id == tenant_id
    )
    rows = db.session.execute(
        select(User.email, User.name)
        .where(User.active.is_(True), User.id.in_(team.union(managers)))
        .order_by(User.email)
    ).all()
    return [(r.email, r.name) for r in rows]


def can_answer(user, change: Change) -> bool:
    """Engineers of the owning team (and admins) answer objections."""
    return user.is_admin or (
        user.is_staff and change.team_id in {m.team_id for m in user.memberships}
    )


def answer_objection(objection: Objection, *, user, answer: str, now: dt.datetime) -> Objection:
    """The owning team's answer to an objection, shown on the change page."""
    change = db.session.get_one(Change, objection.change_id)
    if not can_answer(user, change):
        raise Forbidden("only engineers of the owning team answer objections")
    answer = (answer or "").strip()
    if not answer:
        raise InvalidInput("write an answer", field="answer")
    if len(answer) > REASON_MAX:
        raise InvalidInput(f"the answer is longer than {REASON_MAX} characters", field="answer")
    if objection.answered_at is not None:
        raise Conflict("this objection was already answered")
    objection.answer, objection.answered_at = answer, now
    objection.answered_by_id, objection.answered_by_label = user.id, user_label(user)
    db.session.flush()
    objection.answer_ledger_seq = record(
        "objection.answered",
        subject_type="objection",
        subject_id=objection.id,
        actor=user,
        now=now,
        tenant_id=objection.tenant_id,
        change_id=objection.change_id,
        payload={"answer": answer},
    ).seq
    return objection


def accepts_acknowledgements(change: Change) -> bool:
    """Whether ``acknowledge`` (and the signed link) takes acknowledgements of ``change`` now
    (its status is in ``ACKNOWLEDGEABLE``: scheduled or in progress). Pages and notices ask
    this rather than restating it (issue #19 item 2)."""
    return change.status in ACKNOWLEDGEABLE


def may_object(change: Change) -> bool:
    """Whether ``object_to`` takes objections to ``change`` now (its status is in
    ``OBJECTABLE``); the page asks this rather than restating it."""
    return change.status in OBJECTABLE


def may_waive(change: Change) -> bool:
    """Whether ``waive`` takes a waiver for ``change`` now (its status is in ``WAIVABLE``)."""
    return change.status in WAIVABLE


def may_record_waiver_for(user, tenant_id: int) -> bool:
    """Tenant admins for their own tenant; account managers for assigned tenants; admins."""
    if user.is_customer:
        return user.is_tenant_admin and user.tenant_id == tenant_id
    ids = tenant_ids_visible_to(user)
    if ids is None:
        return True
    return user.is_account_manager and tenant_id in set(db.session.execute(ids).scalars())


def waive(
    change: Change,
    tenant_id: int,
    *,
    user,
    now: dt.datetime,
    channel: str,
    agreed_by: str | None = None,
    note: str = "",
) -> Waiver:
    """Waive the remaining notice for one tenant: opens its gate at the start."""
    if not may_record_waiver_for(user, tenant_id):
        raise Forbidden(
            "only a tenant admin can waive notice (or the tenant's account "
            "manager, recording a waiver agreed offline)"
        )
    if user.is_staff:
        agreed_by = (agreed_by or "").strip()
        if not agreed_by:
            raise InvalidInput("name the person at the tenant who agreed", field="agreed_by")
        channel = CHANNEL_OFFLINE
    else:
        agreed_by = user_label(user)
    if len(agreed_by) > 300 or len(note or "") > REASON_MAX:
        raise InvalidInput("the name or note is too long", field="agreed_by")
    ct = _require_affected(change, tenant_id, states=WAIVABLE)
    if ct.started_at is not None:
        raise Conflict("the change has already started for this tenant")
    if ct.waived_at is not None:
        raise Conflict("notice for this version of the change is already waived")
    waiver = Waiver(
        change_id=change.id,
        tenant_id=tenant_id,
        revision_number=ct.clock_revision,
        channel=channel,
        recorded_by_id=user.id,
        recorded_by_label=user_label(user),
        agreed_by=agreed_by,
        note=(note or "").strip(),
        at=now,
    )
    db.session.add(waiver)
    ct.waived_at = now
    db.session.flush()
    waiver.ledger_seq = record(
        "waiver.recorded",
        subject_type="waiver",
        subject_id=waiver.id,
        actor=user,
        now=now,
        tenant_id=tenant_id,
        change_id=change.id,
        payload={
            "revision": ct.clock_revision,
            "channel": channel,
            "agreed_by": agreed_by,
            "note": waiver.note,
        },
    ).seq
    return waiver
