"""Publishing and revising changes through the services: the publish check, blackouts,
material revisions and their consequences, each with its ledger entries in one transaction."""

import datetime as dt

import pytest
from sqlalchemy import select

from portal.changes import services
from portal.changes.models import BlackoutWindow, Change, ChangeTenant
from portal.errors import Conflict
from portal.extensions import db
from tests.changes.helpers import HOUR, actions, draft_input, outbox_count, rows
from tests.conftest import T0


def _draft(story, **kw):
    change = services.create_change(draft_input(story, **kw), author=story.ana, now=T0)
    db.session.commit()
    return change


def test_create_makes_a_ledgered_draft(story):
    change = _draft(story)
    assert change.status == "draft" and change.revision_number == 0
    assert actions(change.id) == ["change.created"]
    assert rows(change) == {}


def test_publish_refused_when_contract_requires_more_notice(story):
    change = _draft(story, start=T0 + 30 * HOUR)
    with pytest.raises(services.NoticeWindowViolation) as refusal:
        services.publish(change, actor=story.ana, now=T0)
    body = refusal.value.to_dict()
    assert [b["tenant"] for b in body["blocking_tenants"]] == ["tapai"]
    assert body["blocking_tenants"][0]["required_notice_seconds"] == 72 * 3600
    assert body["earliest_allowed_start"] == (T0 + 73 * HOUR).isoformat()
    assert "Tapai" in refusal.value.message
    db.session.rollback()
    assert db.session.get(Change, change.id).status == "draft"
    assert actions(change.id) == ["change.created"] and rows(change) == {}
    assert outbox_count(change.id) == 0


def test_publish_at_exactly_the_earliest_allowed_start_passes(story):
    change = _draft(story, start=T0 + 73 * HOUR)
    services.publish(change, actor=story.ana, now=T0)
    assert change.status == "scheduled"


def test_publish_schedules_rows_ledger_and_outbox_in_one_transaction(story):
    change = _draft(story)
    revision = services.publish(change, actor=story.ana, now=T0)
    assert change.status == "scheduled" and change.published_at == T0
    assert revision.number == 1 and revision.material and revision.kind == "publish"
    notice = rows(change)
    assert set(notice) == {story.tapai.id, story.ptu.id}  # not the bystander
    assert notice[story.tapai.id].required_notice_seconds == 72 * 3600
    assert notice[story.ptu.id].required_notice_seconds == 24 * 3600
    assert all(r.notice_given_at is None and r.clock_revision == 1 for r in notice.values())
    assert actions(change.id) == [
        "change.created",
        "change.published",
        "change.tenant_notice_required",
        "change.tenant_notice_required",
        "notices.queued",
    ]
    assert outbox_count(change.id) == 2  # one notice contact each
    db.session.rollback()  # nothing was committed: all of it goes together
    assert db.session.get(Change, change.id).status == "draft"
    assert actions(change.id) == ["change.created"] and outbox_count(change.id) == 0


def test_publish_twice_is_a_conflict(story):
    change = _draft(story)
    services.publish(change, actor=story.ana, now=T0)
    with pytest.raises(Conflict):
        services.publish(change, actor=story.ana, now=T0)


def test_publish_with_a_start_that_has_passed_is_refused(story, clock):
    change = _draft(story, start=T0 + HOUR)
    with pytest.raises(Conflict, match="past"):
        services.publish(change, actor=story.ana, now=T0 + 2 * HOUR)


def _blackout(tenant=None, start=T0 + 95 * HOUR, end=T0 + 97 * HOUR):
    window = BlackoutWindow(
        tenant_id=tenant.id if tenant else None,
        starts_at=start,
        ends_at=end,
        reason="launch week",
        created_at=T0,
    )
    db.session.add(window)
    db.session.commit()
    return window


def test_provider_blackout_refuses_publishing(story):
    _blackout()
    change = _draft(story)
    with pytest.raises(services.NoticeWindowViolation) as refusal:
        services.publish(change, actor=story.ana, now=T0)
    assert refusal.value.to_dict()["blackout_conflicts"][0]["tenant"] is None
    assert "blackout" in refusal.value.message


def test_affected_tenant_blackout_refuses_and_unaffected_one_does_not(story):
    _blackout(story.bystander)
    change = _draft(story)
    assert services.preview(draft_input(story), T0).check.ok
    _blackout(story.tapai)
    with pytest.raises(services.NoticeWindowViolation) as refusal:
        services.publish(change, actor=story.ana, now=T0)
    assert [w["tenant"] for w in refusal.value.to_dict()["blackout_conflicts"]] == ["tapai"]


def test_preview_shows_count_strictest_and_earliest_start(story):
    data = services.preview(draft_input(story, start=T0 + 30 * HOUR), T0).as_dict()
    assert data["affected_tenants"] == 2 and data["publishable"] is False
    assert data["strictest"]["tenant"] == "tapai"
    assert data["earliest_allowed_start"] == (T0 + 73 * HOUR).isoformat()


def test_service_policy_tightens_and_contract_per_service_raises(story, make_contract_term):
    from portal.changes.models import ServicePolicy

    db.session.add(
        ServicePolicy(service_id=story.service.id, impact="degradation", notice_seconds=48 * 3600)
    )
    make_contract_term(story.ptu, 10)  # lower than the policy: changes nothing
    plan = services.plan_notice("degradation", ((story.service.id, None),))
    assert plan.by_tenant[story.ptu.id].seconds == 48 * 3600
    assert plan.by_tenant[story.tapai.id].seconds == 72 * 3600


# --- revisions -------------------------------------------------------------------------


def _published(story, **kw):
    change = _draft(story, **kw)
    services.publish(change, actor=story.ana, now=T0)
    for row in rows(change).values():
        row.notice_given_at = T0 + dt.timedelta(minutes=1)
    db.session.commit()
    return change


def test_postponing_is_non_material_and_keeps_the_clock(story):
    change = _published(story)
    later = draft_input(story, start=T0 + 120 * HOUR)
    assert services.preview(later, T0 + HOUR, change).classification.material is False
    revision = services.update_change(change, later, actor=story.ana, now=T0 + HOUR)
    assert revision.number == 2 and not revision.material
    assert change.material_revision_number == 1
    assert all(
        r.notice_given_at is not None and r.clock_revision == 1 for r in rows(change).values()
    )
    assert actions(change.id)[-2:] == ["change.revised", "notices.queued"]


def test_moving_the_start_earlier_restarts_every_clock(story):
    change = _published(story, start=T0 + 200 * HOUR)
    revision = services.update_change(
        change, draft_input(story, start=T0 + 150 * HOUR), actor=story.ana, now=T0 + HOUR
    )
    assert revision.material and "start moved earlier" in revision.summary
    assert change.material_revision_number == 2
    assert all(r.notice_given_at is None and r.clock_revision == 2 for r in rows(change).values())
    assert actions(change.id).count("change.tenant_clock_restarted") == 2


def test_material_revision_inside_the_window_is_refused_and_changes_nothing(story):
    change = _published(story, start=T0 + 100 * HOUR)
    with pytest.raises(services.NoticeWindowViolation) as refusal:
        services.update_change(
            change, draft_input(story, start=T0 + 50 * HOUR), actor=story.ana, now=T0 + HOUR
        )
    assert [b["tenant"] for b in refusal.value.to_dict()["blocking_tenants"]] == ["tapai"]
    db.session.rollback()
    change = db.session.get(Change, change.id)
    assert change.starts_at == T0 + 100 * HOUR and change.revision_number == 1


def test_raising_the_impact_is_material_and_raises_the_requirement(story):
    change = _published(story, start=T0 + 60 * 24 * HOUR)
    revision = services.update_change(
        change,
        draft_input(story, start=T0 + 60 * 24 * HOUR, impact="breaking"),
        actor=story.ana,
        now=T0 + HOUR,
    )
    assert revision.material and revision.summary == "impact raised"
    assert rows(change)[story.ptu.id].required_notice_seconds == 30 * 24 * 3600


def test_widening_restarts_only_the_newly_affected_tenant(
    story, make_service, make_usage, make_tenant
):
    extra = make_service(story.team, "face-fusion-batch")
    newcomer = make_tenant("newcomer")
    make_usage(newcomer, extra)
    change = _published(story)
    inp = draft_input(story, targets=((story.service.id, None), (extra.id, None)))
    revision = services.update_change(change, inp, actor=story.ana, now=T0 + HOUR)
    assert revision.material and "widened" in revision.summary
    notice = rows(change)
    assert notice[newcomer.id].clock_revision == 2 and notice[newcomer.id].notice_given_at is None
    assert notice[story.tapai.id].clock_revision == 1
    assert notice[story.tapai.id].notice_given_at is not None


def test_narrowing_keeps_the_row_but_marks_it_inactive(story):
    component = story.service.components[0]
    from portal.catalog.models import Usage

    db.session.execute(
        Usage.__table__.update()
        .where(Usage.tenant_id == story.ptu.id)
        .values(component_id=component.id)
    )
    other_component_only = _published(story)
    from portal.catalog.models import Component

    west = Component(service_id=story.service.id, slug="west", name="west")
    db.session.add(west)
    db.session.flush()
    inp = draft_input(story, targets=((story.service.id, west.id),))
    revision = services.update_change(other_component_only, inp, actor=story.ana, now=T0 + HOUR)
    assert not revision.material
    notice = rows(other_component_only)
    assert notice[story.ptu.id].active is False and notice[story.tapai.id].active is True


def test_edit_of_a_completed_change_is_refused(story):
    change = _published(story)
    change.status = "completed"
    db.session.commit()
    with pytest.raises(Conflict, match="completed"):
        services.update_change(
            change, draft_input(story, start=T0 + 200 * HOUR), actor=story.ana, now=T0 + HOUR
        )
    assert db.session.get(Change, change.id).starts_at == T0 + 96 * HOUR


def test_draft_edit_is_in_place_without_revision(story):
    change = _draft(story, start=T0 + HOUR)
    assert (
        services.update_change(
            change, draft_input(story, start=T0 + 2 * HOUR), actor=story.ana, now=T0
        )
        is None
    )
    assert change.starts_at == T0 + 2 * HOUR and change.revision_number == 0
    assert actions(change.id) == ["change.created", "change.draft_updated"]
    assert db.session.execute(select(ChangeTenant)).first() is None
