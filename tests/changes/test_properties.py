"""Property-based tests (hypothesis) of the notice-window invariants (DESIGN.md):

1. no publish is accepted with a start earlier than p + N(t) for any affected tenant, unless
   approved as an emergency;
2. no gate opens before D(t) + N(t) without a waiver or an approved emergency;
3. moving a change later never shortens anyone's notice.
"""

import datetime as dt

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from portal.changes import lifecycle, rules, services
from portal.changes.emergency import approve, request_emergency
from portal.changes.inputs import ChangeInput
from portal.changes.models import ChangeTenant
from portal.extensions import db
from tests.conftest import T0

H = 3600
P = dt.datetime(2026, 11, 2, 9, 0, tzinfo=dt.UTC)

seconds = st.integers(min_value=0, max_value=120 * 24 * H)
moments = st.integers(min_value=-30 * 24 * H, max_value=240 * 24 * H).map(
    lambda s: P + dt.timedelta(seconds=s)
)
terms = st.lists(
    st.builds(rules.ContractTermData, seconds, st.one_of(st.none(), st.integers(1, 4))), max_size=4
)


@st.composite
def tenant_requirements(draw):
    """Tenants with N(t) computed by the real ``required_notice`` from random rules."""
    impact_notice = draw(seconds)
    policies = draw(st.dictionaries(st.integers(1, 4), seconds, max_size=4))
    out = []
    for i in range(draw(st.integers(0, 6))):
        req = rules.required_notice(
            impact="x",
            impact_notice_seconds=impact_notice,
            service_policies=policies,
            contract_terms=draw(terms),
            services_used=draw(st.sets(st.integers(1, 4), min_size=1)),
        )
        out.append(rules.TenantRequirement(i, f"t{i}", f"T{i}", req.seconds))
    return impact_notice, out


@given(tenant_requirements(), moments, st.integers(0, 6 * H))
def test_accepted_publish_gives_every_tenant_its_notice(data, start, margin):
    base, tenants = data
    check = rules.check_publish(
        published_at=P,
        starts_at=start,
        ends_at=start + dt.timedelta(hours=1),
        tenants=tenants,
        margin_seconds=margin,
        base_notice_seconds=base,
    )
    for t in tenants:
        enough = start >= P + dt.timedelta(seconds=t.seconds + margin)
        assert enough == (t.tenant_id not in {b.tenant_id for b in check.blockers})
    if check.ok:
        assert all(start >= P + dt.timedelta(seconds=t.seconds) for t in tenants)
        if tenants:
            assert start >= check.earliest_start
    if tenants:  # the earliest allowed start always passes the notice part of the check
        again = rules.check_publish(
            published_at=P,
            starts_at=check.earliest_start,
            ends_at=check.earliest_start + dt.timedelta(hours=1),
            tenants=tenants,
            margin_seconds=margin,
        )
        assert not again.blockers


@given(tenant_requirements(), st.sampled_from([rules.Blackout(P, P + dt.timedelta(days=400))]))
def test_a_blackout_over_the_change_always_refuses(data, window):
    base, tenants = data
    start = P + dt.timedelta(days=200)
    check = rules.check_publish(
        published_at=P,
        starts_at=start,
        ends_at=start + dt.timedelta(hours=1),
        tenants=tenants,
        margin_seconds=0,
        blackouts=[window],
    )
    assert not check.ok


@given(
    moments,
    seconds,
    st.one_of(st.none(), moments),
    moments,
    st.one_of(st.none(), st.just("email bounced")),
)
def test_no_gate_opens_before_delivery_plus_notice_or_the_start(
    start, required, delivered, now, problem
):
    state = rules.gate_for(
        starts_at=start,
        required_seconds=required,
        now=now,
        notice_given_at=delivered,
        delivery_problem=problem,
    )
    if delivered is None:
        assert not state.open and state.opens_at is None
    else:
        assert state.opens_at == max(start, delivered + dt.timedelta(seconds=required))
    if state.open:
        assert now >= start and now >= delivered + dt.timedelta(seconds=required)


@given(
    moments,
    seconds,
    st.one_of(st.none(), moments),
    moments,
    st.sampled_from(["waived_at", "emergency_approved_at"]),
)
def test_only_a_waiver_or_emergency_opens_the_gate_early_and_never_before_the_start(
    start, required, delivered, now, key
):
    state = rules.gate_for(
        starts_at=start, required_seconds=required, now=now, notice_given_at=delivered, **{key: P}
    )
    assert state.open == (now >= start)


@given(moments, st.integers(0, 60 * 24 * H), seconds, st.one_of(st.none(), moments), moments)
def test_moving_the_start_later_never_opens_a_gate_earlier(start, delay, required, delivered, now):
    later = start + dt.timedelta(seconds=delay)
    before = rules.gate_for(
        starts_at=start, required_seconds=required, now=now, notice_given_at=delivered
    )
    after = rules.gate_for(
        starts_at=later, required_seconds=required, now=now, notice_given_at=delivered
    )
    assert not (after.open and not before.open)
    if before.opens_at is not None:
        assert after.opens_at >= before.opens_at
    same = frozenset({1, 2})
    old = rules.Content(start, start + dt.timedelta(hours=2), 20, same)
    new = rules.Content(later, later + dt.timedelta(hours=2), 20, same)
    assert not rules.classify_revision(old, new).material


# --- The same invariants through the services and the database -------------------------

DB_SETTINGS = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def _input(story, start, hours=2, impact="degradation"):
    return ChangeInput(
        "Upgrade",
        "",
        impact,
        start,
        start + dt.timedelta(hours=hours),
        ((story.service.id, None),),
        story.team.id,
    )


def _rows(change):
    return (
        db.session.execute(select(ChangeTenant).where(ChangeTenant.change_id == change.id))
        .scalars()
        .all()
    )


@DB_SETTINGS
@given(
    offset=st.integers(min_value=60, max_value=10 * 24 * H),
    impact=st.sampled_from(["maintenance", "degradation", "breaking"]),
)
def test_service_publish_never_accepts_a_short_start(app, story, offset, impact):
    start = T0 + dt.timedelta(seconds=offset)
    change = services.create_change(_input(story, start, impact=impact), author=story.ana, now=T0)
    try:
        services.publish(change, actor=story.ana, now=T0)
    except services.NoticeWindowViolation as refusal:
        assert refusal.check.blockers and start < refusal.check.earliest_start
    else:
        rows = _rows(change)
        assert rows and all(
            start >= T0 + dt.timedelta(seconds=r.required_notice_seconds + 3600) for r in rows
        )
    finally:
        db.session.rollback()


@DB_SETTINGS
@given(offset=st.integers(min_value=60, max_value=70 * H))
def test_service_short_start_publishes_only_through_an_approved_emergency(app, story, offset):
    start = T0 + dt.timedelta(seconds=offset)
    change = services.create_change(_input(story, start), author=story.ana, now=T0)
    try:
        with pytest.raises(services.NoticeWindowViolation):
            services.publish(change, actor=story.ana, now=T0)
        request_emergency(
            change, "Security fix for an actively exploited flaw", actor=story.ana, now=T0
        )
        approve(change, approver=story.bo, now=T0)
        assert change.short_notice and change.status == "scheduled"
        gates = lifecycle.gates(change, start - dt.timedelta(seconds=1))
        assert gates and not any(g.state.open for g in gates)
        assert all(g.state.open for g in lifecycle.gates(change, start))
    finally:
        db.session.rollback()


@DB_SETTINGS
@given(
    delay=st.integers(min_value=0, max_value=30 * 24 * H),
    longer=st.integers(min_value=0, max_value=48 * H),
    delivered_after=st.integers(min_value=0, max_value=50 * H),
)
def test_service_moving_a_change_later_never_shortens_notice(
    app, story, delay, longer, delivered_after
):
    start = T0 + dt.timedelta(hours=100)
    change = services.create_change(_input(story, start), author=story.ana, now=T0)
    try:
        services.publish(change, actor=story.ana, now=T0)
        delivered = T0 + dt.timedelta(seconds=delivered_after)
        for row in _rows(change):
            row.notice_given_at = delivered
        db.session.flush()
        probe = start + dt.timedelta(days=60)
        before = {g.tenant_id: g for g in lifecycle.gates(change, probe)}
        later = start + dt.timedelta(seconds=delay)
        inp = _input(story, later, hours=2 + longer / H)
        services.update_change(change, inp, actor=story.ana, now=T0 + dt.timedelta(hours=1))
        after = {g.tenant_id: g for g in lifecycle.gates(change, probe)}
        assert after.keys() == before.keys()
        for tenant_id, old in before.items():
            new = after[tenant_id]
            assert new.required_seconds >= old.required_seconds
            assert new.state.opens_at is None or new.state.opens_at >= old.state.opens_at
    finally:
        db.session.rollback()
