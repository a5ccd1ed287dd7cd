"""Acknowledging, objecting, answering and waiving in the portal; every refusal says why and
changes nothing."""

import datetime as dt

from sqlalchemy import select

from portal.acks.models import Acknowledgement, Objection, Waiver
from portal.changes import lifecycle
from portal.changes.models import ChangeTenant, NoticeBreach
from portal.extensions import db
from portal.notify.models import OutboxMessage
from tests.acks.conftest import db_state
from tests.conftest import T0


def _page(story):
    return f"/changes/{story.change.id}"


def _ct(story, tenant):
    return db.session.execute(
        select(ChangeTenant).filter_by(change_id=story.change.id, tenant_id=tenant.id)
    ).scalar_one()


# Acknowledging
def test_customer_acknowledges_in_the_portal_and_returns_to_the_change(login, story):
    client = login(story.tapai_user)
    response = client.post(f"{_page(story)}/acknowledge")
    assert response.status_code == 302 and response.headers["Location"] == _page(story)
    ack = db.session.execute(select(Acknowledgement)).scalar_one()
    assert (ack.channel, ack.user_id, ack.counts) == ("portal", story.tapai_user.id, True)
    before = db_state()
    again = client.post(f"{_page(story)}/acknowledge", follow_redirects=False)
    assert again.status_code == 302 and db_state() == before
    with client.session_transaction() as session:
        assert "already acknowledged this version" in str(session["_flashes"])


def test_customer_of_another_tenant_cannot_acknowledge(login, story):
    before = db_state()
    assert login(story.other_user).post(f"{_page(story)}/acknowledge").status_code == 404
    assert db_state() == before


def test_staff_cannot_acknowledge_in_the_portal(login, story):
    before = db_state()
    assert login(story.am).post(f"{_page(story)}/acknowledge").status_code == 404
    assert db_state() == before


def test_acknowledging_a_cancelled_change_is_refused_with_a_message(login, story):
    story.change.status = "cancelled"
    db.session.commit()
    client = login(story.tapai_user)
    before = db_state()
    response = client.post(f"{_page(story)}/acknowledge")
    assert response.status_code == 302 and db_state() == before
    with client.session_transaction() as session:
        assert "no longer takes acknowledgements" in str(session["_flashes"])


def test_anonymous_user_is_sent_to_sign_in(client, story):
    before = db_state()
    response = client.post(f"{_page(story)}/acknowledge")
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    assert db_state() == before


# Objecting and answering
def test_objection_reaches_team_and_account_manager_and_is_answered_on_the_page(login, story):
    client = login(story.tapai_user)
    assert client.get(f"{_page(story)}/object").status_code == 200
    response = client.post(f"{_page(story)}/object", data={"reason": "Our launch week"})
    assert response.status_code == 302 and response.headers["Location"] == _page(story)
    objection = db.session.execute(select(Objection)).scalar_one()
    assert objection.reason == "Our launch week" and objection.is_open
    mail = (
        db.session.execute(
            select(OutboxMessage)
            .where(OutboxMessage.kind == "objection")
            .order_by(OutboxMessage.recipient)
        )
        .scalars()
        .all()
    )
    assert [(m.recipient, m.tenant_id, m.note) for m in mail] == [
        ("am@provider.example", story.tapai.id, "Our launch week"),
        ("eng@provider.example", story.tapai.id, "Our launch week"),
    ]
    engineer = login(story.engineer)
    answer = engineer.post(
        f"/objections/{objection.id}/answer", data={"answer": "We will move it a week"}
    )
    assert answer.status_code == 302 and answer.headers["Location"] == _page(story)
    db.session.refresh(objection)
    assert objection.answer == "We will move it a week"
    assert objection.answered_by_id == story.engineer.id


def test_objection_with_an_empty_or_overlong_reason_is_refused(login, story):
    client = login(story.tapai_user)
    before = db_state()
    for reason in ("", "   ", "x" * 4001):
        response = client.post(f"{_page(story)}/object", data={"reason": reason})
        assert response.status_code == 400
        assert 'role="alert"' in response.get_data(as_text=True)
    assert db_state() == before
    assert db.session.execute(select(OutboxMessage)).first() is None


def test_objection_to_another_tenants_change_is_404(login, story):
    before = db_state()
    client = login(story.other_user)
    assert client.get(f"{_page(story)}/object").status_code == 404
    assert client.post(f"{_page(story)}/object", data={"reason": "no"}).status_code == 404
    assert db_state() == before


def test_answer_refusals_change_nothing(login, story, make_user):
    from portal.acks.services import object_to

    objection = object_to(story.change, story.tapai.id, user=story.tapai_user, reason="why", now=T0)
    db.session.commit()
    path = f"/objections/{objection.id}/answer"
    before = db_state()
    assert login(story.am).post(path, data={"answer": "ok"}).status_code == 403
    assert login(story.other_user).post(path, data={"answer": "ok"}).status_code == 404
    assert login(make_user()).post(path, data={"answer": "ok"}).status_code == 404
    engineer = login(story.engineer)
    for text in ("", "x" * 4001):
        response = engineer.post(path, data={"answer": text})
        assert response.status_code == 302
    assert db_state() == before
    assert engineer.post("/objections/9999/answer", data={"answer": "x"}).status_code == 404


# Waiving
def test_tenant_admin_waiver_opens_the_gate_and_is_not_a_breach(login, story):
    client = login(story.tapai_admin)
    assert client.get(f"{_page(story)}/waive").status_code == 200
    response = client.post(f"{_page(story)}/waive", data={"note": "go ahead"})
    assert response.status_code == 302 and response.headers["Location"] == _page(story)
    assert _ct(story, story.tapai).waived_at == T0
    gates = {g.slug: g for g in lifecycle.gates(story.change, story.change.starts_at)}
    # Tapai's notice was never delivered, yet its waiver opens its gate at the start;
    # Ptu (no waiver, no delivery) stays shut.
    assert gates["tapai"].state.open and gates["tapai"].state.opens_at == story.change.starts_at
    assert "waived" in lifecycle.gates(story.change, T0)[1].state.reason
    assert not gates["ptu"].state.open
    assert db.session.execute(select(NoticeBreach)).first() is None
    from portal.ledger.models import LedgerEntry

    actions = db.session.execute(select(LedgerEntry.action)).scalars().all()
    assert actions == ["waiver.recorded"]


def test_waiver_by_a_customer_who_is_not_a_tenant_admin_is_403(login, story):
    client = login(story.tapai_user)
    before = db_state()
    assert client.get(f"{_page(story)}/waive").status_code == 403
    assert client.post(f"{_page(story)}/waive", data={"note": "x"}).status_code == 403
    assert db_state() == before


def test_waiver_for_another_tenants_change_is_404(login, story, make_user):
    admin_of_other = make_user(tenant=story.other, is_tenant_admin=True)
    db.session.commit()
    before = db_state()
    assert login(admin_of_other).post(f"{_page(story)}/waive", data={}).status_code == 404
    assert db_state() == before


def test_account_manager_records_an_offline_waiver_naming_who_agreed(login, story):
    client = login(story.am)
    form = client.get(f"{_page(story)}/waive").get_data(as_text=True)
    assert 'value="tapai"' in form and 'value="ptu"' not in form
    response = client.post(
        f"{_page(story)}/waive",
        data={"tenant": "tapai", "agreed_by": "Ann Admin, phone call 3 Nov", "note": ""},
    )
    assert response.status_code == 302
    waiver = db.session.execute(select(Waiver)).scalar_one()
    assert (waiver.channel, waiver.agreed_by, waiver.recorded_by_id) == (
        "offline",
        "Ann Admin, phone call 3 Nov",
        story.am.id,
    )


def test_account_manager_waiver_refusals_change_nothing(login, story):
    client = login(story.am)
    before = db_state()
    cases = [
        ({"tenant": "ptu", "agreed_by": "Pat"}, 400),  # not assigned to them
        ({"tenant": "tapai", "agreed_by": ""}, 400),  # who agreed is required
        ({"tenant": "tapai", "agreed_by": "x" * 301}, 400),  # over-long
        ({"tenant": "tapai", "agreed_by": "A", "note": "x" * 4001}, 400),
    ]
    for data, status in cases:
        response = client.post(f"{_page(story)}/waive", data=data)
        assert response.status_code == status, data
        assert 'role="alert"' in response.get_data(as_text=True)
    assert (
        login(story.other_am)
        .post(f"{_page(story)}/waive", data={"tenant": "other", "agreed_by": "O"})
        .status_code
        == 404
    )
    assert (
        login(story.engineer)
        .post(f"{_page(story)}/waive", data={"tenant": "tapai", "agreed_by": "T"})
        .status_code
        == 403
    )
    assert db_state() == before


def test_second_waiver_for_the_same_version_is_refused(login, story):
    client = login(story.tapai_admin)
    client.post(f"{_page(story)}/waive", data={})
    before = db_state()
    response = client.post(f"{_page(story)}/waive", data={})
    assert response.status_code == 409 and "already waived" in response.get_data(as_text=True)
    assert db_state() == before


def test_waiver_after_the_start_for_that_tenant_is_refused(login, story):
    _ct(story, story.tapai).started_at = T0
    db.session.commit()
    before = db_state()
    response = login(story.tapai_admin).post(f"{_page(story)}/waive", data={})
    assert response.status_code == 409 and db_state() == before


def test_material_revision_clears_the_waiver_and_keeps_it_in_history(story):
    from portal.acks.services import waive
    from tests.acks.conftest import revise_materially

    waive(story.change, story.tapai.id, user=story.tapai_admin, now=T0, channel="portal")
    revise_materially(story.change, at=T0 + dt.timedelta(hours=1))
    assert _ct(story, story.tapai).waived_at is None
    assert db.session.execute(select(Waiver.revision_number)).scalar_one() == 1
