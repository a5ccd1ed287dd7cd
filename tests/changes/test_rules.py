"""Unit tests of the pure notice-window rules (DESIGN.md "The notice window, exactly")."""

import datetime as dt

from portal.changes import rules
from portal.changes.rules import (
    Blackout,
    Content,
    ContractTermData,
    TenantRequirement,
    check_publish,
    classify_revision,
    earliest_allowed_start,
    gate_for,
    overlapping_blackouts,
    required_notice,
)

P = dt.datetime(2026, 11, 2, 9, 0, tzinfo=dt.UTC)
H = 3600
HOUR = dt.timedelta(hours=1)


def _req(**kw):
    args = {
        "impact": "degradation",
        "impact_notice_seconds": 24 * H,
        "service_policies": {},
        "contract_terms": (),
        "services_used": {1},
    }
    args.update(kw)
    return required_notice(**args)


def test_required_notice_is_the_impact_policy_when_nothing_else_applies():
    req = _req()
    assert req.seconds == 24 * H
    assert req.basis == ({"source": "policy", "impact": "degradation", "seconds": 24 * H},)


def test_service_policy_tightens_the_global_policy():
    assert _req(service_policies={1: 48 * H}).seconds == 48 * H


def test_service_policy_never_loosens_the_global_policy():
    assert _req(service_policies={1: 1 * H}).seconds == 24 * H


def test_service_policy_of_a_service_the_tenant_does_not_use_does_not_count():
    assert _req(service_policies={2: 99 * H}, services_used={1}).seconds == 24 * H


def test_global_contract_raises_the_requirement():
    req = _req(contract_terms=[ContractTermData(72 * H, None, "MSA 4.2")])
    assert req.seconds == 72 * H
    assert {
        "source": "contract",
        "service_id": None,
        "reference": "MSA 4.2",
        "seconds": 72 * H,
    } in req.basis


def test_per_service_contract_counts_only_for_a_touched_service_the_tenant_uses():
    terms = [ContractTermData(72 * H, 1), ContractTermData(500 * H, 2)]
    assert _req(contract_terms=terms, services_used={1}).seconds == 72 * H
    assert _req(contract_terms=terms, services_used={1, 2}).seconds == 500 * H


def test_lower_contract_never_loosens_the_policy():
    assert _req(contract_terms=[ContractTermData(1 * H)]).seconds == 24 * H


def test_earliest_allowed_start_adds_notice_and_dispatch_margin():
    assert earliest_allowed_start(P, 72 * H, 3600) == P + 73 * HOUR


def _tenants():
    return [
        TenantRequirement(1, "tapai", "Tapai", 72 * H),
        TenantRequirement(2, "ptu", "Ptu", 24 * H),
    ]


def test_publish_check_names_every_blocking_tenant_with_its_earliest_start():
    check = check_publish(
        published_at=P,
        starts_at=P + 30 * HOUR,
        ends_at=P + 32 * HOUR,
        tenants=_tenants(),
        margin_seconds=3600,
    )
    assert not check.ok
    assert [b.slug for b in check.blockers] == ["tapai"]
    assert check.blockers[0].earliest_start == P + 73 * HOUR
    assert check.earliest_start == P + 73 * HOUR
    assert check.strictest.slug == "tapai"


def test_publish_check_at_exactly_the_limit_passes_and_one_second_less_fails():
    limit = P + 73 * HOUR
    ok = check_publish(
        published_at=P,
        starts_at=limit,
        ends_at=limit + HOUR,
        tenants=_tenants(),
        margin_seconds=3600,
    )
    short = check_publish(
        published_at=P,
        starts_at=limit - dt.timedelta(seconds=1),
        ends_at=limit + HOUR,
        tenants=_tenants(),
        margin_seconds=3600,
    )
    assert ok.ok and not short.ok


def test_publish_check_without_margin_still_needs_the_full_notice():
    check = check_publish(
        published_at=P,
        starts_at=P + 72 * HOUR - dt.timedelta(seconds=1),
        ends_at=P + 80 * HOUR,
        tenants=_tenants(),
        margin_seconds=0,
    )
    assert [b.slug for b in check.blockers] == ["tapai"]


def test_publish_check_refuses_an_overlapping_blackout():
    window = Blackout(P + 100 * HOUR, P + 110 * HOUR, None, "freeze", 1)
    check = check_publish(
        published_at=P,
        starts_at=P + 99 * HOUR,
        ends_at=P + 101 * HOUR,
        tenants=_tenants(),
        margin_seconds=3600,
        blackouts=[window],
    )
    assert not check.ok and check.blackouts == (window,) and not check.blockers


def test_blackouts_touching_but_not_overlapping_do_not_conflict():
    window = Blackout(P + 10 * HOUR, P + 20 * HOUR)
    assert overlapping_blackouts(P + 20 * HOUR, P + 22 * HOUR, [window]) == []
    assert overlapping_blackouts(P + 8 * HOUR, P + 10 * HOUR, [window]) == []
    assert overlapping_blackouts(P + 19 * HOUR, P + 22 * HOUR, [window]) == [window]


def test_blackout_of_an_unaffected_tenant_does_not_conflict():
    mine, theirs = Blackout(P, P + 5 * HOUR, 1), Blackout(P, P + 5 * HOUR, 9)
    assert overlapping_blackouts(P, P + HOUR, [mine, theirs], [1]) == [mine]


def test_no_affected_tenant_means_nothing_blocks_and_policy_gives_the_earliest_start():
    check = check_publish(
        published_at=P,
        starts_at=P + HOUR,
        ends_at=P + 2 * HOUR,
        tenants=[],
        margin_seconds=3600,
        base_notice_seconds=24 * H,
    )
    assert check.ok and check.earliest_start == P + 25 * HOUR and check.strictest is None


def test_gate_is_shut_until_notice_is_delivered():
    state = gate_for(
        starts_at=P + 100 * HOUR, required_seconds=72 * H, now=P + 200 * HOUR, notice_given_at=None
    )
    assert state == rules.GateState(False, None, "notice not yet delivered")


def test_gate_reports_the_delivery_problem_when_there_is_one():
    state = gate_for(
        starts_at=P,
        required_seconds=H,
        now=P,
        notice_given_at=None,
        delivery_problem="email bounced",
    )
    assert not state.open and state.reason == "email bounced"


def test_gate_opens_at_delivery_plus_notice_when_that_is_after_the_start():
    delivered = P + 30 * HOUR
    start = P + 73 * HOUR
    before = gate_for(
        starts_at=start, required_seconds=72 * H, now=start, notice_given_at=delivered
    )
    assert not before.open and before.opens_at == P + 102 * HOUR
    assert before.reason == "notice window still running"
    after = gate_for(
        starts_at=start, required_seconds=72 * H, now=P + 102 * HOUR, notice_given_at=delivered
    )
    assert after.open and after.opens_at == P + 102 * HOUR


def test_gate_opens_at_the_start_when_notice_ran_out_earlier():
    state = gate_for(
        starts_at=P + 100 * HOUR,
        required_seconds=24 * H,
        now=P + 99 * HOUR,
        notice_given_at=P + HOUR,
    )
    assert not state.open and state.opens_at == P + 100 * HOUR
    assert state.reason == "start time not reached"


def test_waiver_and_approved_emergency_open_the_gate_at_the_start():
    for kw in ({"waived_at": P}, {"emergency_approved_at": P}):
        shut = gate_for(
            starts_at=P + 5 * HOUR,
            required_seconds=72 * H,
            now=P + 4 * HOUR,
            notice_given_at=None,
            **kw,
        )
        open_ = gate_for(
            starts_at=P + 5 * HOUR,
            required_seconds=72 * H,
            now=P + 5 * HOUR,
            notice_given_at=None,
            **kw,
        )
        assert not shut.open and shut.opens_at == P + 5 * HOUR
        assert open_.open


def _content(start=0, end=2, rank=20, affected=(1, 2)):
    return Content(P + start * HOUR, P + end * HOUR, rank, frozenset(affected))


def test_start_earlier_is_material_for_everyone():
    c = classify_revision(_content(), _content(start=-1))
    assert c.material and c.restarts_all and c.reasons == ("start moved earlier",)
    assert c.concerned({1, 2}) == {1, 2}


def test_longer_window_is_material():
    c = classify_revision(_content(), _content(end=3))
    assert c.material and c.reasons == ("end moved later",)


def test_postponing_the_whole_window_is_not_material():
    c = classify_revision(_content(), _content(start=24, end=26))
    assert not c.material and c.concerned({1, 2}) == set()


def test_clarification_and_shorter_window_are_not_material():
    assert not classify_revision(_content(), _content(end=1)).material
    assert not classify_revision(_content(), _content(rank=10)).material


def test_raised_impact_is_material():
    c = classify_revision(_content(), _content(rank=30))
    assert c.material and c.reasons == ("impact raised",)


def test_widened_affected_set_restarts_only_the_new_tenants():
    c = classify_revision(_content(), _content(affected=(1, 2, 3)))
    assert c.material and not c.restarts_all and c.widened == {3}
    assert c.concerned({1, 2, 3}) == {3}


def test_narrowed_affected_set_is_not_material():
    assert not classify_revision(_content(), _content(affected=(1,))).material
