"""The signed acknowledgement link in notice emails: GET shows, only POST records; every
link that no longer applies gets a clear page and changes nothing."""

import datetime as dt

import pytest
from itsdangerous import TimestampSigner, URLSafeTimedSerializer
from sqlalchemy import select

from portal.acks.links import SALT, acknowledge_url, make_ack_token, read_ack_token
from portal.acks.models import Acknowledgement
from portal.changes.models import ChangeTenant
from portal.clock import now
from portal.extensions import db
from portal.tenants.models import NoticeContact
from tests.acks.conftest import csrf_token_from, db_state, revise_materially
from tests.conftest import T0


@pytest.fixture
def app_config(app_config):
    """These tests run with CSRF protection on, as in production."""
    return {**app_config, "WTF_CSRF_ENABLED": True}


def _link(story, recipient="ops1@tapai.example", tenant=None, revision=1):
    tenant = tenant or story.tapai
    return "/ack/" + make_ack_token(story.change.id, revision, tenant.id, recipient)


def _session_token(client, story):
    """A valid CSRF token of this browser session (from opening a good link)."""
    return csrf_token_from(client.get(_link(story)).get_data(as_text=True))


def _confirm(client, link):
    """What a person does: open the link, then press the button."""
    page = client.get(link)
    assert page.status_code == 200
    return client.post(link, data={"csrf_token": csrf_token_from(page.get_data(as_text=True))})


def test_email_link_url_is_absolute_and_bound_to_change_revision_tenant_and_recipient(story, app):
    with app.test_request_context():
        url = acknowledge_url(story.change.id, 1, story.tapai.id, "Ops1@Tapai.example")
        claim = read_ack_token(url.rsplit("/", 1)[1])
    assert url.startswith("http://portal.test/ack/")
    assert (claim.change_id, claim.revision, claim.tenant_id, claim.recipient) == (
        story.change.id,
        1,
        story.tapai.id,
        "ops1@tapai.example",
    )


def test_opening_the_link_shows_the_change_and_a_confirm_button_without_login(client, story):
    link = _link(story)
    response = client.get(link)
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert story.change.title in html and "Tapai" in html and "ops1@tapai.example" in html
    assert '<form method="post">' in html and ">Acknowledge</button>" in html
    assert "Opening this page records nothing" in html


def test_mail_scanner_prefetching_the_link_acknowledges_nothing(client, story):
    before = db_state()
    link = _link(story)
    for _ in range(3):
        assert client.get(link).status_code == 200
    assert client.head(link).status_code == 200
    assert db_state() == before
    assert db_state()["acknowledgements"] == 0


def test_confirming_records_a_counted_email_acknowledgement_in_the_ledger(client, story):
    response = _confirm(client, _link(story))
    assert response.status_code == 200
    assert "Acknowledged" in response.get_data(as_text=True)
    ack = db.session.execute(select(Acknowledgement)).scalar_one()
    assert (ack.counts, ack.channel, ack.recipient, ack.tenant_id, ack.revision_number) == (
        True,
        "email",
        "ops1@tapai.example",
        story.tapai.id,
        1,
    )
    assert ack.actor_label == "Ops 1 <ops1@tapai.example>" and ack.at == T0
    assert db_state()["ledger_entries"] == 1 and ack.ledger_seq == 1


def test_second_contact_of_the_same_tenant_is_recorded_as_seen(client, story):
    _confirm(client, _link(story))
    response = _confirm(client, _link(story, recipient="ops2@tapai.example"))
    assert response.status_code == 200 and "Noted" in response.get_data(as_text=True)
    rows = db.session.execute(
        select(Acknowledgement.recipient, Acknowledgement.counts).order_by(Acknowledgement.id)
    ).all()
    assert [tuple(r) for r in rows] == [("ops1@tapai.example", True), ("ops2@tapai.example", False)]


def test_post_without_a_csrf_token_records_nothing(client, story):
    before = db_state()
    response = client.post(_link(story))
    assert response.status_code == 400
    assert db_state() == before


def test_replayed_link_is_refused_and_changes_nothing(client, story):
    link = _link(story)
    page = client.get(link)
    token = csrf_token_from(page.get_data(as_text=True))
    assert client.post(link, data={"csrf_token": token}).status_code == 200
    before = db_state()
    replay = client.post(link, data={"csrf_token": token})
    assert replay.status_code == 409
    assert "already used" in replay.get_data(as_text=True)
    assert db_state() == before
    again = client.get(link).get_data(as_text=True)
    assert "already acknowledged" in again and ">Acknowledge</button>" not in again


def test_tampered_link_gets_a_clear_page_and_changes_nothing(client, story):
    token = make_ack_token(story.change.id, 1, story.tapai.id, "ops1@tapai.example")
    tampered = token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB")
    csrf = _session_token(client, story)
    before = db_state()
    for response in (
        client.get(f"/ack/{tampered}"),
        client.post(f"/ack/{tampered}", data={"csrf_token": csrf}),
    ):
        assert response.status_code == 400
        assert "not valid" in response.get_data(as_text=True)
    assert db_state() == before


def test_forged_link_signed_with_another_key_is_refused(client, story):
    forged = URLSafeTimedSerializer("not-our-secret-key-" * 3, salt=SALT).dumps(
        [story.change.id, 1, story.tapai.id, "ops1@tapai.example"]
    )
    csrf = _session_token(client, story)
    before = db_state()
    response = client.post(f"/ack/{forged}", data={"csrf_token": csrf})
    assert response.status_code == 400 and "not valid" in response.get_data(as_text=True)
    assert db_state() == before


def test_expired_link_is_refused_with_a_clear_page(client, story, app, clock):
    link = _link(story)
    page = client.get(link)
    clock.advance(days=121)
    before = db_state()
    response = client.post(link, data={"csrf_token": csrf_token_from(page.get_data(as_text=True))})
    assert response.status_code == 410
    assert "expired" in response.get_data(as_text=True)
    assert client.get(link).status_code == 410
    assert db_state() == before


def test_link_is_revoked_when_the_recipient_is_no_longer_a_notice_contact(client, story):
    link = _link(story)
    page = client.get(link)
    db.session.execute(
        NoticeContact.__table__.delete().where(NoticeContact.email == "ops1@tapai.example")
    )
    db.session.commit()
    before = db_state()
    response = client.post(link, data={"csrf_token": csrf_token_from(page.get_data(as_text=True))})
    assert response.status_code == 410
    assert "no longer) a notice contact of Tapai" in response.get_data(as_text=True)
    assert db_state() == before


def test_link_is_revoked_when_the_change_is_cancelled(client, story):
    link = _link(story)
    page = client.get(link)
    story.change.status = "cancelled"
    db.session.commit()
    before = db_state()
    response = client.post(link, data={"csrf_token": csrf_token_from(page.get_data(as_text=True))})
    assert response.status_code == 409
    assert "This change is cancelled" in response.get_data(as_text=True)
    assert db_state() == before


def test_link_is_superseded_by_a_material_revision_and_the_new_one_works(client, story):
    old = _link(story, revision=1)
    revise_materially(story.change, at=T0 + dt.timedelta(hours=1))
    db.session.commit()
    before = db_state()
    response = client.get(old)
    assert response.status_code == 409
    assert "revised after this email" in response.get_data(as_text=True)
    assert db_state() == before
    assert _confirm(client, _link(story, revision=2)).status_code == 200
    assert db.session.execute(select(Acknowledgement.revision_number)).scalar_one() == 2


def test_link_for_a_tenant_the_change_does_not_affect_is_refused(client, story):
    before = db_state()
    response = client.get(_link(story, tenant=story.other, recipient="ops1@other.example"))
    assert response.status_code == 404
    assert "does not match any announced change" in response.get_data(as_text=True)
    assert (
        client.post(
            _link(story, tenant=story.other, recipient="ops1@other.example"),
            data={"csrf_token": _session_token(client, story)},
        ).status_code
        == 404
    )
    assert db_state() == before


def test_cross_tenant_link_naming_another_tenants_contact_is_refused(client, story):
    before = db_state()
    response = client.get(_link(story, tenant=story.tapai, recipient="ops1@ptu.example"))
    assert response.status_code == 410
    assert "notice contact of Tapai" in response.get_data(as_text=True)
    assert db_state() == before


def test_link_naming_a_revision_that_does_not_exist_is_refused(client, story):
    before = db_state()
    assert client.get(_link(story, revision=7)).status_code == 400
    assert db_state() == before


def test_link_for_a_tenant_narrowed_out_of_the_change_is_refused(client, story):
    link = _link(story)
    db.session.execute(
        ChangeTenant.__table__.update()
        .where(ChangeTenant.tenant_id == story.tapai.id)
        .values(active=False)
    )
    db.session.commit()
    response = client.get(link)
    assert response.status_code == 410 and "no longer affected" in response.get_data(as_text=True)


def test_overlong_garbage_token_is_refused(client):
    assert client.get("/ack/" + "x" * 2000).status_code == 400


def test_non_material_update_keeps_earlier_links_working(client, story):
    from portal.changes.models import Revision

    story.change.revision_number = 2  # clarification: the notice clock stays at revision 1
    db.session.add(
        Revision(
            change_id=story.change.id,
            number=2,
            kind="update",
            material=False,
            summary="clarified",
            snapshot="{}",
            author_id=story.engineer.id,
            created_at=T0,
        )
    )
    db.session.commit()
    assert _confirm(client, _link(story, revision=1)).status_code == 200
    assert (
        _confirm(client, _link(story, recipient="ops2@tapai.example", revision=2)).status_code
        == 200
    )
    rows = db.session.execute(
        select(Acknowledgement.revision_number, Acknowledgement.counts).order_by(Acknowledgement.id)
    ).all()
    assert [tuple(r) for r in rows] == [(1, True), (1, False)]


class _PortalClockSigner(TimestampSigner):
    """Stock itsdangerous signing on the portal's clock: what links were signed with."""

    def get_timestamp(self) -> int:
        return int(now().timestamp())


def test_links_signed_before_the_fast_signer_still_open(client, story, app, clock):
    """Links already in customers' mailboxes were signed by stock itsdangerous (zlib-checked
    payload, a signer per call): they verify unchanged, and ours verify with stock code."""
    with app.app_context():
        key = app.config["SECRET_KEY"]
        stock = URLSafeTimedSerializer(key, salt=SALT, signer=_PortalClockSigner)
        claim = [story.change.id, 1, story.tapai.id, "ops1@tapai.example"]
        old = stock.dumps(claim)
        assert read_ack_token(old).tenant_id == story.tapai.id
        ours = make_ack_token(*claim)
        assert stock.loads(ours) == claim
    assert client.get("/ack/" + old).status_code == 200


def test_a_rotated_secret_key_keeps_links_signed_with_the_previous_key(app):
    """SECRET_KEY as a list (newest last) is itsdangerous' key rotation: a link signed with
    the old key still opens; a new link is signed with the newest."""
    with app.app_context():
        old_key = app.config["SECRET_KEY"]
        old = make_ack_token(1, 1, 1, "a@b.example")
        app.config["SECRET_KEY"] = [old_key, "a-new-and-long-enough-secret-key-for-tests"]
        try:
            assert read_ack_token(old).change_id == 1
            new = make_ack_token(1, 1, 1, "a@b.example")
            assert new != old
            stock_new = URLSafeTimedSerializer(
                "a-new-and-long-enough-secret-key-for-tests",
                salt=SALT,
                signer=_PortalClockSigner,
            )
            assert stock_new.loads(new)[3] == "a@b.example"
        finally:
            app.config["SECRET_KEY"] = old_key
