"""The whole loop with the real publish, dispatcher and a real SMTP server: the notice email's
link acknowledges (only on confirm), and an objection reaches the team and account manager
by email."""

import re

from sqlalchemy import select

from portal.acks.models import Acknowledgement
from portal.acks.services import object_to
from portal.extensions import db
from tests.acks.conftest import db_state
from tests.conftest import T0
from tests.notify import conftest as notify

# The delivery tests' fixtures: a real SMTP server on a free port, the world, the dispatcher.
smtp_server, sink, app_config = notify.smtp_server, notify.sink, notify.app_config
world, published, dispatch = notify.world, notify.published, notify.dispatch


def _ack_path(message) -> str:
    text = message.get_body(preferencelist=("plain",)).get_content()
    return re.search(r"http://portal\.test(/ack/\S+)", text).group(1)


def test_the_link_in_a_delivered_notice_acknowledges_only_when_confirmed(
    published, dispatch, sink, client
):
    dispatch()
    [message] = sink.to("ops1@tapai.example")
    path = _ack_path(message)
    before = db_state()
    page = client.get(path)
    assert page.status_code == 200 and published.change.title in page.get_data(as_text=True)
    assert db_state() == before  # a scanner fetching the link records nothing
    response = client.post(path)
    assert response.status_code == 200
    ack = db.session.execute(select(Acknowledgement)).scalar_one()
    assert (ack.tenant_id, ack.channel, ack.recipient, ack.counts) == (
        published.tapai.id,
        "email",
        "ops1@tapai.example",
        True,
    )


def test_an_objection_is_emailed_to_the_owning_team_and_the_account_manager(
    published, dispatch, sink, make_user
):
    dispatch()
    customer = make_user("tom@tapai.example", tenant=published.tapai)
    object_to(
        published.change,
        published.tapai.id,
        user=customer,
        reason="Our launch is that week",
        now=T0,
    )
    db.session.commit()
    dispatch()
    for address in ("eng@provider.example", "am@provider.example"):
        [message] = sink.to(address)
        assert (
            "Our launch is that week" in message.get_body(preferencelist=("plain",)).get_content()
        )
