"""The notice-window rules (DESIGN.md "The notice window, exactly"), as pure functions.

Nothing here touches Flask or the database: callers load plain data (dataclasses below), ask
these functions, and act on the answers. That keeps the rules in one place, testable with
property-based tests, and identical for the web form, the API, the services and the gate.

- Required notice N(t) = max(impact level's global notice, the policy for that impact of each
  touched service the tenant uses, the tenant's contract for all services, the tenant's
  contract for each touched service it uses). Policies and contracts only ever add notice.
- Publish check: refused unless s >= p + N(t) + dispatch margin for every affected tenant and
  the change overlaps no blackout window of the provider or of an affected tenant.
- Gate for tenant t: opens at max(s, D(t) + N(t)), D(t) = notice given at (delivery); shut
  while D(t) is unknown. A waiver or an approved emergency opens it at s.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

NOT_DELIVERED = "notice not yet delivered"


@dataclass(frozen=True)
class ContractTermData:
    """A tenant's contractual notice: for every service (service_id None) or one service."""

    notice_seconds: int
    service_id: int | None = None
    reference: str = ""


@dataclass(frozen=True)
class Requirement:
    """N(t) in seconds and the list of rules that produced it (for certificates)."""

    seconds: int
    basis: tuple[dict, ...]


@dataclass(frozen=True)
class TenantRequirement:
    """One affected tenant with its required notice, as the publish check needs it."""

    tenant_id: int
    slug: str
    name: str
    seconds: int
    basis: tuple[dict, ...] = ()


@dataclass(frozen=True)
class Blocker:
    """A tenant whose required notice the proposed start does not give."""

    tenant_id: int
    slug: str
    name: str
    required_seconds: int
    earliest_start: dt.datetime
    basis: tuple[dict, ...] = ()  # the rules behind the requirement (``required_notice``)

    @property
    def source(self) -> str:
        """The rule that sets the requirement, in words: "policy", "service policy" or
        "contract (reference)"; the strictest basis item wins, contract first on a tie."""
        for item in sorted(
            self.basis, key=lambda b: (b["seconds"], b["source"] == "contract"), reverse=True
        ):
            if item["source"] == "contract":
                return f"contract ({item.get('reference') or 'no reference'})"
            return item["source"].replace("_", " ")
        return "policy"

    def as_dict(self) -> dict:
        return {
            "tenant": self.slug,
            "name": self.name,
            "required_notice_seconds": self.required_seconds,
            "earliest_start": self.earliest_start.astimezone(dt.UTC).isoformat(),
            "source": self.source,
        }


@dataclass(frozen=True)
class Blackout:
    """A period in which no change may start or run; tenant_id None = provider-wide."""

    starts_at: dt.datetime
    ends_at: dt.datetime
    tenant_id: int | None = None
    reason: str = ""
    id: int | None = None
    tenant_slug: str | None = None

    def as_dict(self) -> dict:
        return {
            "id": self.id,
            "tenant": self.tenant_slug,
            "starts_at": self.starts_at.astimezone(dt.UTC).isoformat(),
            "ends_at": self.ends_at.astimezone(dt.UTC).isoformat(),
            "reason": self.reason,
        }


@dataclass(frozen=True)
class PublishCheck:
    """Outcome of the publish check; ``ok`` only when nothing blocks."""

    earliest_start: dt.datetime
    blockers: tuple[Blocker, ...] = ()
    blackouts: tuple[Blackout, ...] = ()
    strictest: TenantRequirement | None = None

    @property
    def ok(self) -> bool:
        return not self.blockers and not self.blackouts


@dataclass(frozen=True)
class GateState:
    """One tenant's go-live gate: open or shut, when it opens (None = unknown), and why."""

    open: bool
    opens_at: dt.datetime | None
    reason: str


@dataclass(frozen=True)
class Content:
    """What classifying a revision compares: the change's schedule, impact and reach."""

    starts_at: dt.datetime
    ends_at: dt.datetime
    impact_rank: int
    affected: frozenset[int] = field(default_factory=frozenset)


@dataclass(frozen=True)
class Classification:
    """Whether a revision is material (restarts the notice clock), why, and for whom.

    ``restarts_all``: the schedule or impact got worse for everyone, so every affected
    tenant's clock restarts; otherwise only the ``widened`` (newly affected) tenants start one.
    """

    material: bool
    reasons: tuple[str, ...]
    restarts_all: bool = False
    widened: frozenset[int] = frozenset()

    def concerned(self, affected: Iterable[int]) -> set[int]:
        """The tenants (of ``affected``, the new set) whose notice clock this revision restarts."""
        if not self.material:
            return set()
        return set(affected) if self.restarts_all else set(self.widened) & set(affected)


def required_notice(
    *,
    impact: str,
    impact_notice_seconds: int,
    service_policies: Mapping[int, int],
    contract_terms: Iterable[ContractTermData],
    services_used: Iterable[int],
) -> Requirement:
    """N(t): the maximum of every policy and contract term that applies to this tenant.

    ``service_policies`` maps each touched service to its own notice for ``impact``;
    ``services_used`` are the touched services this tenant uses (per-service contract terms
    count only for those).
    """
    used = set(services_used)
    basis: list[dict] = [{"source": "policy", "impact": impact, "seconds": impact_notice_seconds}]
    for service_id, seconds in sorted(service_policies.items()):
        if service_id not in used:
            continue  # another touched service's policy is owed to that service's users
        basis.append(
            {
                "source": "service_policy",
                "service_id": service_id,
                "impact": impact,
                "seconds": seconds,
            }
        )
    for term in contract_terms:
        if term.service_id is None or term.service_id in used:
            basis.append(
                {
                    "source": "contract",
                    "service_id": term.service_id,
                    "reference": term.reference,
                    "seconds": term.notice_seconds,
                }
            )
    seconds = max(item["seconds"] for item in basis)
    return Requirement(seconds, tuple(basis))


def earliest_allowed_start(
    published_at: dt.datetime, required_seconds: int, margin_seconds: int
) -> dt.datetime:
    """p + N(t) + dispatch margin: the earliest start a publish at ``published_at`` allows."""
    return published_at + dt.timedelta(seconds=required_seconds + margin_seconds)


def overlapping_blackouts(
    starts_at: dt.datetime,
    ends_at: dt.datetime,
    blackouts: Iterable[Blackout],
    tenant_ids: Iterable[int] | None = None,
) -> list[Blackout]:
    """Blackout windows overlapping [start, end): provider-wide ones and affected tenants'."""
    tenants = None if tenant_ids is None else set(tenant_ids)
    hits = []
    for window in blackouts:
        if window.tenant_id is not None and tenants is not None and window.tenant_id not in tenants:
            continue
        if window.starts_at < ends_at and starts_at < window.ends_at:
            hits.append(window)
    return sorted(hits, key=lambda w: (w.starts_at, w.id or 0))


def check_publish(
    *,
    published_at: dt.datetime,
    starts_at: dt.datetime,
    ends_at: dt.datetime,
    tenants: Iterable[TenantRequirement],
    margin_seconds: int,
    base_notice_seconds: int = 0,
    blackouts: Iterable[Blackout] = (),
) -> PublishCheck:
    """The publish check: every affected tenant's notice, and no blackout overlap.

    ``base_notice_seconds`` is the change's own policy notice: it only gives the earliest
    start shown when no tenant is affected (nobody is then owed notice, so nothing blocks).
    """
    tenants = list(tenants)
    blockers = []
    strictest = max(tenants, key=lambda t: (t.seconds, -t.tenant_id), default=None)
    for t in tenants:
        earliest = earliest_allowed_start(published_at, t.seconds, margin_seconds)
        if starts_at < earliest:
            blockers.append(Blocker(t.tenant_id, t.slug, t.name, t.seconds, earliest, t.basis))
    blockers.sort(key=lambda b: (-b.required_seconds, b.slug))
    longest = max(t.seconds for t in tenants) if tenants else base_notice_seconds
    earliest_overall = earliest_allowed_start(published_at, longest, margin_seconds)
    conflicts = overlapping_blackouts(starts_at, ends_at, blackouts, [t.tenant_id for t in tenants])
    return PublishCheck(earliest_overall, tuple(blockers), tuple(conflicts), strictest)


def gate_for(
    *,
    starts_at: dt.datetime,
    required_seconds: int,
    now: dt.datetime,
    notice_given_at: dt.datetime | None,
    waived_at: dt.datetime | None = None,
    emergency_approved_at: dt.datetime | None = None,
    delivery_problem: str | None = None,
) -> GateState:
    """The go-live gate for one tenant at ``now`` (the only place that decides it)."""
    if emergency_approved_at is not None:
        return _at(starts_at, now, "emergency approved: open at the start")
    if waived_at is not None:
        return _at(starts_at, now, "notice waived by the tenant: open at the start")
    if notice_given_at is None:
        return GateState(False, None, delivery_problem or NOT_DELIVERED)
    window_ends = notice_given_at + dt.timedelta(seconds=required_seconds)
    if window_ends > starts_at:
        return _at(window_ends, now, "notice window still running")
    return _at(starts_at, now, "start time not reached")


def _at(opens_at: dt.datetime, now: dt.datetime, waiting_reason: str) -> GateState:
    if now >= opens_at:
        return GateState(True, opens_at, "open")
    return GateState(False, opens_at, waiting_reason)


def classify_revision(old: Content, new: Content) -> Classification:
    """Material = start earlier, end extended, impact raised or affected set widened.

    DESIGN.md: "moving a change later ... is a non-material update", so a postponement that
    shifts the whole window is not "end later"; the end counts as extended only when it moves
    later *and* the window gets longer.
    """
    reasons = []
    if new.starts_at < old.starts_at:
        reasons.append("start moved earlier")
    if new.ends_at > old.ends_at and (new.ends_at - new.starts_at) > (old.ends_at - old.starts_at):
        reasons.append("end moved later")
    if new.impact_rank > old.impact_rank:
        reasons.append("impact raised")
    restarts_all = bool(reasons)
    widened = new.affected - old.affected
    if widened:
        reasons.append(f"affected set widened by {len(widened)} tenant(s)")
    return Classification(bool(reasons), tuple(reasons), restarts_all, frozenset(widened))
