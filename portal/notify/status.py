"""What delivery has achieved, per change and tenant: for the gate, the change page and the
account manager's view.

``notice_state`` is the one function that decides a tenant's delivery state and words it; the
gate (``gate_reasons``), the change page (``deliveries_for_change``), and the desk, its CSV and
API (``portal.desk.evidence.delivery_of``) all ask it, so they say the same thing.

``gate_reasons`` tells the go-live gate why a tenant's notice has not been given (no notice
contact, failed with the server's answer, retrying, queued). ``deliveries_for_change`` is the
per-tenant summary the change page shows, restricted to the tenants the viewer may see: a
customer user only ever sees their own tenant's row.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import and_, case, false, func, or_, select
from sqlalchemy.orm import selectinload

from portal.access import tenant_ids_visible_to
from portal.changes.models import Change, ChangeTenant
from portal.extensions import db
from portal.notify.models import FAILED, NOTICE, SENT, SKIPPED, OutboxMessage
from portal.tenants.models import NoticeContact, Tenant

FEW_TENANTS = 500  # up to this many tenants, filter by id instead of reading the whole change
DETAIL_LIMIT = 20  # tenant rows listed on a change page; the rest are counted


# State codes (as the desk's API and CSV give them) and the words shown for them.
DELIVERED, FAILED_STATE, RETRYING, QUEUED, NO_CONTACT = (
    "delivered",
    "failed",
    "retrying",
    "queued",
    "no_contact",
)
LABELS = {
    DELIVERED: "delivered",
    FAILED_STATE: "failed",
    RETRYING: "retrying",
    QUEUED: "queued",
    NO_CONTACT: "no contact",
}
FAILURES_NAMED = 3  # failed recipients named in a reason


@dataclass(frozen=True)
class NoticeState:
    """A tenant's notice of its clock revision: ``state`` (a code above), ``label`` and
    ``reason`` (the words every screen and the gate use), and per-contact counts."""

    state: str
    reason: str
    contacts: int
    sent: int
    failed: int
    waiting: int
    retrying: int

    @property
    def label(self) -> str:
        return LABELS[self.state]

    @property
    def partly_bounced(self) -> bool:
        """Delivered, though one or more of the tenant's contacts finally failed."""
        return self.state == DELIVERED and self.failed > 0


def notice_state(
    *,
    notice_given_at: dt.datetime | None,
    sent: int,
    waiting: int,
    failed: int,
    retrying: int,
    failures: Sequence[tuple[str, str]] = (),
    retry_error: str | None = None,
    contacts_on_file: bool = False,
) -> NoticeState:
    """Decide the notice state of one tenant for its clock revision (DESIGN.md "The notice
    window": the gate stays shut while the notice is not given, and says why).

    Counts are per contact (one outbox row each): ``sent`` accepted, ``failed`` finally
    failed, ``waiting`` not yet accepted nor finally failed, ``retrying`` those of
    ``waiting`` already tried. ``failures``: (recipient, server's answer) of the failed ones;
    ``retry_error``: the last temporary error; ``contacts_on_file``: the tenant has a notice
    contact now (it had none when the revision was announced).
    """
    contacts = sent + waiting + failed
    named = "; ".join(f"{r}: {a}" for r, a in list(failures)[:FAILURES_NAMED])
    counts = dict(contacts=contacts, sent=sent, failed=failed, waiting=waiting, retrying=retrying)
    if notice_given_at is not None or sent:
        reason = "notice given"
        if failed:
            reason += f"; {failed} of {contacts} contacts bounced: {named}"
        return NoticeState(DELIVERED, reason, **counts)
    if contacts == 0:
        reason = (
            "no notice contact when the revision was announced"
            if contacts_on_file
            else "no notice contact to deliver the notice to"
        )
        return NoticeState(NO_CONTACT, reason, **counts)
    if waiting == 0:
        return NoticeState(FAILED_STATE, f"notice failed: {named}", **counts)
    if retrying:
        reason = f"notice not delivered yet, retrying: {retry_error}"
        return NoticeState(RETRYING, reason, **counts)
    return NoticeState(QUEUED, "notice queued, not delivered yet", **counts)


@dataclass
class TenantDelivery:
    """The notice state of one tenant for the change's clock revision."""

    tenant_id: int
    name: str
    first_party: bool
    notice_given_at: dt.datetime | None
    sent: int = 0
    pending: int = 0
    failed: int = 0
    retrying: int = 0
    failures: list[tuple[str, str]] = field(default_factory=list)  # (recipient, answer)
    retry_error: str | None = None

    def decided(self, contacts_on_file: bool = False) -> NoticeState:
        return notice_state(
            notice_given_at=self.notice_given_at,
            sent=self.sent,
            waiting=self.pending,
            failed=self.failed,
            retrying=self.retrying,
            failures=self.failures,
            retry_error=self.retry_error,
            contacts_on_file=contacts_on_file,
        )

    @property
    def state(self) -> str:
        """The state's label ("delivered", "failed", "retrying", "queued", "no contact")."""
        return self.decided().label

    @property
    def partly_bounced(self) -> bool:
        return self.decided().partly_bounced

    @property
    def reason(self) -> str:
        """Why the notice has not been given (what the gate says)."""
        return self.decided().reason


def _notice_rows(change_id: int, tenant_ids=None):
    """Contractual notice rows of each tenant's clock revision (only the columns we need)."""
    q = (
        select(
            OutboxMessage.tenant_id,
            OutboxMessage.recipient,
            OutboxMessage.status,
            OutboxMessage.attempts,
            OutboxMessage.last_error,
        )
        .join(
            ChangeTenant,
            and_(
                ChangeTenant.change_id == OutboxMessage.change_id,
                ChangeTenant.tenant_id == OutboxMessage.tenant_id,
                ChangeTenant.clock_revision == OutboxMessage.revision_number,
            ),
        )
        .where(
            OutboxMessage.change_id == change_id,
            OutboxMessage.kind == NOTICE,
            OutboxMessage.status != SKIPPED,
        )
    )
    if tenant_ids is not None:
        q = q.where(ChangeTenant.notice_given_at.is_(None))
        if len(tenant_ids) <= FEW_TENANTS:  # a gate polled for one tenant reads only its rows
            q = q.where(OutboxMessage.tenant_id.in_(tenant_ids))
    return db.session.execute(q)


def _fold(deliveries: dict[int, TenantDelivery], rows) -> None:
    for tenant_id, recipient, status, attempts, error in rows:
        d = deliveries.get(tenant_id)
        if d is None:
            continue
        if status == SENT:
            d.sent += 1
        elif status == FAILED:
            d.failed += 1
            d.failures.append((recipient, error or "failed"))
        else:
            d.pending += 1
            if attempts:
                d.retrying += 1
                d.retry_error = d.retry_error or error


def gate_reasons(change_id: int, tenant_ids: list[int]) -> dict[int, str]:
    """Why notice is not given, for each of ``tenant_ids`` whose notice is not given yet."""
    wanted = set(tenant_ids)
    if not wanted:
        return {}
    deliveries = {tid: TenantDelivery(tid, "", False, None) for tid in wanted}
    _fold(deliveries, _notice_rows(change_id, wanted))
    contacts = select(NoticeContact.tenant_id).join(
        ChangeTenant,
        and_(
            ChangeTenant.tenant_id == NoticeContact.tenant_id, ChangeTenant.change_id == change_id
        ),
    )
    if len(wanted) <= FEW_TENANTS:
        contacts = contacts.where(NoticeContact.tenant_id.in_(wanted))
    with_contacts = set(db.session.execute(contacts.distinct()).scalars())
    return {tid: d.decided(tid in with_contacts).reason for tid, d in deliveries.items()}


@dataclass
class ChangeDeliveries:
    """What the change page's delivery panel shows: counts per state over every tenant the
    viewer may see, and the first few tenants, problems first (the rest are counted)."""

    tenants: list[TenantDelivery]
    counts: dict[str, int]
    total: int
    hidden: int
    partly_bounced: int = 0  # delivered tenants one of whose contacts finally failed

    @property
    def shown(self) -> bool:
        return self.total > 0

    @property
    def problems(self) -> int:
        return self.total - self.counts.get("delivered", 0)


def _visible_tenant_ids(change: Change, user):
    """None = all the change's tenants; else a SELECT of tenant ids (customers: their own)."""
    if user is None or not getattr(user, "is_authenticated", False):
        return select(Tenant.id).where(false())
    if user.is_customer:
        return select(Tenant.id).where(Tenant.id == user.tenant_id)
    if user.is_admin or change.team_id in {m.team_id for m in user.memberships}:
        return None
    return tenant_ids_visible_to(user)


STATE_ORDER = {"failed": 0, "no contact": 1, "retrying": 2, "queued": 3, "delivered": 5}
PARTLY_BOUNCED_RANK = 4  # delivered, but a contact bounced: listed before the clean ones


def _tenant_states(change_id: int, visible):
    """One row per active tenant of the change the viewer may see, with its notice rows of
    the clock revision counted by status and its state (the SQL twin of ``notice_state``,
    which ``tests/notify/test_status_panel.py`` holds to the same answers), so the panel
    never loads the rows themselves."""
    om, ct = OutboxMessage, ChangeTenant
    waiting = om.status.not_in((SENT, FAILED))

    def count(condition):
        return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)

    agg = (
        select(
            om.tenant_id.label("tenant_id"),
            count(om.status == SENT).label("sent"),
            count(om.status == FAILED).label("failed"),
            count(waiting).label("pending"),
            count(and_(waiting, om.attempts > 0)).label("retrying"),
        )
        .join(
            ct,
            and_(
                ct.change_id == om.change_id,
                ct.tenant_id == om.tenant_id,
                ct.clock_revision == om.revision_number,
            ),
        )
        .where(om.change_id == change_id, om.kind == NOTICE, om.status != SKIPPED)
        .group_by(om.tenant_id)
    )
    if visible is not None:
        agg = agg.where(om.tenant_id.in_(visible))
    per_tenant = agg.subquery()
    sent, failed = func.coalesce(per_tenant.c.sent, 0), func.coalesce(per_tenant.c.failed, 0)
    pending = func.coalesce(per_tenant.c.pending, 0)
    retrying = func.coalesce(per_tenant.c.retrying, 0)
    state = case(
        (or_(ct.notice_given_at.is_not(None), sent > 0), "delivered"),
        (sent + pending + failed == 0, "no contact"),
        (and_(pending == 0, failed > 0), "failed"),
        (retrying > 0, "retrying"),
        else_="queued",
    )
    q = (
        select(
            ct.tenant_id,
            Tenant.name,
            Tenant.first_party,
            ct.notice_given_at,
            sent.label("sent"),
            failed.label("failed"),
            pending.label("pending"),
            retrying.label("retrying"),
            state.label("state"),
        )
        .join(Tenant, Tenant.id == ct.tenant_id)
        .outerjoin(per_tenant, per_tenant.c.tenant_id == ct.tenant_id)
        .where(ct.change_id == change_id, ct.active.is_(True))
    )
    if visible is not None:
        q = q.where(ct.tenant_id.in_(visible))
    return q


def deliveries_for_change(change: Change, user, *, limit: int = DETAIL_LIMIT) -> ChangeDeliveries:
    """Counts per notice state over the tenants the viewer may see, and up to ``limit`` of
    them (problems first) with failures and server answers. Two statements whatever the
    number of tenants; customer users only ever see their own tenant."""
    empty = ChangeDeliveries([], {}, 0, 0)
    if change is None or not change.is_published:
        return empty
    visible = _visible_tenant_ids(change, user)
    states = _tenant_states(change.id, visible).subquery()
    # One pass: the per-state totals are window sums over every visible tenant, computed
    # before the LIMIT keeps the first few rows.
    totals = [
        func.sum(case((states.c.state == name, 1), else_=0)).over().label(f"n{i}")
        for i, name in enumerate(STATE_ORDER)
    ]
    bounced = and_(states.c.state == "delivered", states.c.failed > 0)
    totals.append(func.sum(case((bounced, 1), else_=0)).over().label("bounced"))
    rank = case(
        (bounced, PARTLY_BOUNCED_RANK),
        *((states.c.state == name, n) for name, n in STATE_ORDER.items()),
        else_=9,
    )
    rows = db.session.execute(
        select(states, *totals)
        .order_by(rank, func.lower(states.c.name), states.c.tenant_id)
        .limit(limit)
    ).all()
    if not rows:
        return empty
    counts = {name: int(getattr(rows[0], f"n{i}")) for i, name in enumerate(STATE_ORDER)}
    counts = {name: n for name, n in counts.items() if n}
    total = sum(counts.values())
    listed = [
        TenantDelivery(
            r.tenant_id,
            r.name,
            bool(r.first_party),
            r.notice_given_at,
            sent=r.sent,
            pending=r.pending,
            failed=r.failed,
            retrying=r.retrying,
        )
        for r in rows
    ]
    _add_problem_details(change.id, listed)
    return ChangeDeliveries(
        listed, counts, total, max(0, total - len(listed)), int(rows[0].bounced or 0)
    )


PROBLEMS_SHOWN = 5  # failed recipients listed per tenant on the change page


def _add_problem_details(change_id: int, listed: list[TenantDelivery]) -> None:
    """Failures (recipient, server's answer) and the retry error of the listed tenants."""
    by_id = {d.tenant_id: d for d in listed if d.failed or d.retrying}
    if not by_id:
        return
    om, ct = OutboxMessage, ChangeTenant
    rows = db.session.execute(
        select(ct.tenant_id, om.recipient, om.status, om.last_error)
        .join(
            ct,
            and_(
                ct.change_id == om.change_id,
                ct.tenant_id == om.tenant_id,
                ct.clock_revision == om.revision_number,
            ),
        )
        .where(
            om.change_id == change_id,
            om.kind == NOTICE,
            om.tenant_id.in_(list(by_id)),
            or_(om.status == FAILED, and_(om.status.not_in((SENT, SKIPPED)), om.attempts > 0)),
        )
        .order_by(om.tenant_id, om.id)
    )
    for tenant_id, recipient, row_status, error in rows:
        d = by_id[tenant_id]
        if row_status == FAILED:
            if len(d.failures) < PROBLEMS_SHOWN:
                d.failures.append((recipient, error or "failed"))
        else:
            d.retry_error = d.retry_error or error


def failed_deliveries(user, *, limit: int = 200) -> list[OutboxMessage]:
    """Failed messages to the tenants ``user`` may see, newest first (account manager view)."""
    q = (
        select(OutboxMessage)
        .options(selectinload(OutboxMessage.tenant), selectinload(OutboxMessage.change))
        .where(OutboxMessage.status == FAILED, OutboxMessage.tenant_id.is_not(None))
        .order_by(OutboxMessage.failed_at.desc(), OutboxMessage.id.desc())
        .limit(limit)
    )
    ids = tenant_ids_visible_to(user)
    if ids is not None:
        q = q.where(OutboxMessage.tenant_id.in_(ids))
    return list(db.session.scalars(q))
