"""Feeds carry what customers need to do and by when, first in each entry (issue 15 item 1),
in RSS, Atom and the calendar's description; sanitised like the body; gone once cancelled."""

from __future__ import annotations

from tests.conftest import T0
from tests.feeds.conftest import DAY
from tests.feeds.test_feed_content import calendar, parsed

ACTION = "Rotate your **API keys** <script>alert(1)</script>"


def _asking(world):
    change = world.published()
    world.revise_to(change, at=T0, customer_action=ACTION, act_by=T0 + 5 * DAY)
    return change


def test_rss_and_atom_entries_open_with_what_to_do_and_the_act_by_time(world, client):
    _asking(world)
    _, secret = world.token()
    for fmt in ("rss", "atom"):
        [entry] = parsed(client, secret, fmt).entries
        html = entry.content[0].value if fmt == "atom" else entry.summary
        assert html.index("What you need to do") < html.index("Status:")
        assert "Act by:</strong> Sat 7 Nov 2026 09:00 UTC" in html
        assert "<strong>API keys</strong>" in html
        assert "<script" not in html


def test_calendar_description_starts_with_what_to_do(world, client):
    change = _asking(world)
    _, secret = world.token()
    event = calendar(client, secret)[f"change-{change.id}@portal.test"]
    description = str(event["description"])
    assert description.startswith(
        "What you need to do (act by Sat 7 Nov 2026 09:00 UTC):\nRotate your **API keys**"
    )
    assert "Starts: Thu 12 Nov 2026 09:00 UTC" in description


def test_a_cancelled_change_asks_nothing_in_its_feeds(world, client):
    change = _asking(world)
    world.cancel(change, at=T0 + DAY)
    _, secret = world.token()
    [entry] = parsed(client, secret, "rss").entries
    assert "What you need to do" not in entry.summary
    event = calendar(client, secret)[f"change-{change.id}@portal.test"]
    assert "What you need to do" not in str(event["description"])


def test_the_public_change_page_opens_with_what_to_do(world, client):
    change = world.published(visibility="public")
    world.revise_to(change, at=T0, customer_action=ACTION, act_by=T0 + 5 * DAY)
    page = client.get(f"/public/changes/{change.id}").get_data(as_text=True)
    assert page.index("What you need to do") < page.index("What changes")
    assert "Sat 7 Nov 2026 09:00 UTC" in page and "(in 5 days)" in page
    assert "<strong>API keys</strong>" in page and "<script>alert" not in page
