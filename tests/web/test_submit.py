"""The one commit shape of the form views (portal.web.submit): a refusal rolls back and comes
back to the view, on the form or as a flashed line; other errors are not swallowed."""

import pytest
from flask import get_flashed_messages
from sqlalchemy import func, select

from portal.errors import Conflict, InvalidInput
from portal.extensions import db
from portal.feeds.forms import FeedTokenForm
from portal.tenants.models import Tenant
from portal.web.submit import commit, commit_or_flash, commit_or_show


def _tenants() -> int:
    return db.session.execute(select(func.count()).select_from(Tenant)).scalar_one()


def test_a_refusal_rolls_back_what_the_service_wrote_and_is_returned(make_tenant):
    def refused():
        make_tenant("tapai", "Tapai")
        db.session.flush()
        raise Conflict("not now")

    done = commit(refused)
    assert isinstance(done, Conflict) and done.message == "not now"
    assert _tenants() == 0


def test_an_accepted_action_is_committed_and_its_answer_returned(make_tenant):
    done = commit(lambda: make_tenant("tapai", "Tapai"))
    assert isinstance(done, Tenant)
    db.session.rollback()  # nothing left to undo: the row was committed
    assert _tenants() == 1


@pytest.mark.usefixtures("app")
def test_a_refusal_goes_on_the_field_it_names_else_on_the_default():
    form = FeedTokenForm()

    def named():
        raise InvalidInput("too long", field="name")

    def unnamed():
        raise Conflict("already there")

    def elsewhere():
        raise InvalidInput("no such field here", field="revision")

    for action in (named, unnamed, elsewhere):
        assert isinstance(commit_or_show(form, action, field="name"), InvalidInput | Conflict)
    assert form.name.errors == ["too long", "already there", "no such field here"]


@pytest.mark.usefixtures("app")
def test_refusals_of_other_kinds_than_those_named_propagate():
    form = FeedTokenForm()

    def conflict():
        raise Conflict("refused by policy")

    with pytest.raises(Conflict):
        commit_or_show(form, conflict, field="name", refusals=InvalidInput)
    with pytest.raises(Conflict):
        commit(conflict, refusals=InvalidInput)
    assert list(form.name.errors) == []


@pytest.mark.usefixtures("app")
def test_commit_or_flash_flashes_the_refusal_between_prefix_and_suffix():
    def refused():
        raise Conflict("the start has passed")

    commit_or_flash(refused, prefix="Not sent: ", suffix=".")
    assert get_flashed_messages(with_categories=True) == [
        ("error", "Not sent: the start has passed.")
    ]
