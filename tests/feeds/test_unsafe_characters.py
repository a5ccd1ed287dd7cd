"""Characters no feed can carry (XML 1.0 §2.2): refused at input, dropped on output.

A vertical tab, a form feed, a pasted terminal colour code (ESC) or U+FFFE/U+FFFF in one
change's text made the RSS and Atom of every feed showing the change answer 500 (lxml refuses
to write them): every tenant it affects and every public feed of its services lost all their
entries, upcoming ones included, until someone edited the change.
"""

from __future__ import annotations

import feedparser
import icalendar
import pytest
from sqlalchemy import update

from portal.acks.models import Objection, Waiver
from portal.catalog.models import Service
from portal.changes.inputs import parse_change_input
from portal.changes.models import Change, EmergencyRequest, NoticeBreach, Revision
from portal.errors import InvalidInput
from portal.extensions import db
from portal.feeds.upstream import _text
from portal.inputs import check_text, clean_text
from tests.conftest import T0
from tests.feeds.conftest import feed_url

UNSAFE = {
    "vertical tab": "\x0b",
    "form feed": "\x0c",
    "escape": "\x1b",
    "bell": "\x07",
    "U+FFFE": "\ufffe",
    "U+FFFF": "\uffff",
    "DEL": "\x7f",  # XML allows it, iCalendar TEXT does not (RFC 5545 §3.3.11)
}
FORMATS = ("rss", "atom", "ics")


def _parses(fmt: str, data: bytes) -> None:
    if fmt == "ics":
        assert icalendar.Calendar.from_ical(data).walk("VEVENT")
    else:
        parsed = feedparser.parse(data)
        assert parsed.bozo == 0, parsed.get("bozo_exception")
        assert len(parsed.entries) == 1


@pytest.mark.parametrize("name", list(UNSAFE))
def test_a_change_stored_with_a_character_xml_forbids_still_serves_every_feed(world, client, name):
    """Rows stored before the input check (or by a path that skipped it): every format of the
    tenant's and the service's public feeds answers 200, parses, and drops the character."""
    char = UNSAFE[name]
    change = world.published(visibility="public")
    db.session.execute(  # Core UPDATEs skip the ORM listeners, as an older row would
        update(Change)
        .where(Change.id == change.id)
        .values(
            title=f"Upgrade{char} the model",
            body_md=f"line{char}break and \x1b[31mred\x1b[0m",
            customer_action=f"Retrain{char} the model.",
        )
    )
    db.session.commit()
    _, secret = world.token()
    for url in [feed_url(secret, f) for f in FORMATS] + [
        f"/public/services/{world.service.slug}/changes.{f}" for f in FORMATS
    ]:
        r = client.get(url)
        assert r.status_code == 200, url
        fmt = url.rsplit(".", 1)[1]
        _parses(fmt, r.data)
        text = r.get_data(as_text=True)
        assert char not in text and "\x1b" not in text
        assert "Upgrade the model" in text and "linebreak" in text


def test_a_cancellation_reason_stored_with_a_character_xml_forbids_still_serves_the_feeds(
    world, client, clock
):
    change = world.published(visibility="public")
    world.cancel(change, at=T0)
    db.session.execute(
        update(Revision).where(Revision.change_id == change.id).values(summary="gone\x0bnow")
    )
    db.session.commit()
    _, secret = world.token()
    for fmt in FORMATS:
        r = client.get(feed_url(secret, fmt))
        assert r.status_code == 200
        _parses(fmt, r.data)
        assert "\x0b" not in r.get_data(as_text=True)


def _form(world, **fields) -> dict:
    """What the change form or the API sends for a plain change, with ``fields`` replaced."""
    return {
        "title": "Upgrade",
        "body": "ok",
        "services": [world.service.slug],
        "impact": "maintenance",
        "starts_at": "2026-12-20T09:00",
        "ends_at": "2026-12-20T11:00",
        "time_zone": "UTC",
        "visibility": "affected",
        "customer_action": "",
        "act_by": "",
        "ack_required": False,
        **fields,
    }


@pytest.mark.parametrize("name", list(UNSAFE))
def test_the_change_form_and_api_refuse_a_character_no_feed_can_carry(world, name):
    char = UNSAFE[name]
    for field, value in [
        ("body", f"pasted{char}output"),
        ("customer_action", f"do{char}this"),
        ("title", f"Upgrade{char}now"),
    ]:
        with pytest.raises(InvalidInput) as refused:
            parse_change_input(_form(world, **{field: value}), user=world.engineer, now=T0)
        assert refused.value.field == field


def test_line_breaks_and_tabs_stay_welcome_in_multi_line_text(world):
    body = "First line\r\nsecond\tcolumn\n\n- item"
    inp = parse_change_input(_form(world, body=body), user=world.engineer, now=T0)
    assert inp.body_md == body
    assert check_text(body, "body") == body and clean_text(body) == body


@pytest.mark.parametrize(
    "model, attribute",
    [
        (Change, "body_md"),
        (Change, "customer_action"),
        (Revision, "summary"),
        (EmergencyRequest, "justification"),
        (EmergencyRequest, "decision_reason"),
        (NoticeBreach, "justification"),
        (Objection, "reason"),
        (Objection, "answer"),
        (Waiver, "note"),
        (Service, "description"),
    ],
)
def test_every_multi_line_attribute_refuses_them_wherever_it_is_set(app, model, attribute):
    """Forms, API, CLI and imports all assign through the ORM, where the check sits."""
    with pytest.raises(InvalidInput) as refused:
        model(**{attribute: "pasted\x1b[31m"})
    assert refused.value.field == attribute
    assert getattr(model(**{attribute: "two\nlines\tok"}), attribute) == "two\nlines\tok"


def test_an_upstream_changelog_cannot_smuggle_one_in_as_a_character_reference():
    """Outside text is not refused but cleaned: ``&#11;`` unescapes to a vertical tab."""
    assert _text("<p>before&#11;after &#x1b;[31m &#xFFFE;</p>") == "beforeafter [31m"
