"""Times nobody can misread (issue 15 item 3): a wall time with its UTC offset, never an
abbreviation ("CST" is Taipei and Chicago, "IST" Kolkata and Dublin), UTC alongside, and a
relative hint on pages."""

from __future__ import annotations

import datetime as dt

import pytest

from portal.timezones import (
    format_in_zone,
    format_when,
    format_when_and_utc,
    offset_label,
    relative_to,
)

# 21:00 UTC on Wed 2 Dec 2026: already Thursday in Asia.
AT = dt.datetime(2026, 12, 2, 21, 0, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    "zone, expected",
    [
        ("Asia/Taipei", "Thu 3 Dec 2026 05:00 UTC+8 (Wed 2 Dec 21:00 UTC)"),
        ("Asia/Shanghai", "Thu 3 Dec 2026 05:00 UTC+8 (Wed 2 Dec 21:00 UTC)"),
        ("America/Chicago", "Wed 2 Dec 2026 15:00 UTC-6 (21:00 UTC)"),
        ("Asia/Kolkata", "Thu 3 Dec 2026 02:30 UTC+5:30 (Wed 2 Dec 21:00 UTC)"),
        ("Europe/Dublin", "Wed 2 Dec 2026 21:00 UTC+0"),
        ("Asia/Kathmandu", "Thu 3 Dec 2026 02:45 UTC+5:45 (Wed 2 Dec 21:00 UTC)"),
        ("America/St_Johns", "Wed 2 Dec 2026 17:30 UTC-3:30 (21:00 UTC)"),
        ("UTC", "Wed 2 Dec 2026 21:00 UTC"),
    ],
)
def test_a_time_shows_its_offset_and_utc_never_an_abbreviation(zone, expected):
    text = format_when_and_utc(AT, zone)
    assert text == expected
    for ambiguous in ("CST", "IST", "GMT", "NST", "+0545"):
        assert ambiguous not in text


def test_the_offset_follows_daylight_saving():
    summer = dt.datetime(2026, 7, 1, 8, 0, tzinfo=dt.UTC)
    assert format_when(summer, "Europe/Berlin") == "Wed 1 Jul 2026 10:00 UTC+2"
    assert format_when(AT, "Europe/Berlin") == "Wed 2 Dec 2026 22:00 UTC+1"
    assert format_when(summer, "America/New_York") == "Wed 1 Jul 2026 04:00 UTC-4"


def test_short_forms_and_seconds():
    assert format_when(AT, "Asia/Taipei", year=False) == "Thu 3 Dec 05:00 UTC+8"
    assert (
        format_when_and_utc(AT + dt.timedelta(seconds=7), "Europe/Paris", seconds=True)
        == "Wed 2 Dec 2026 22:00:07 UTC+1 (21:00:07 UTC)"
    )
    assert format_when(None, "UTC") == format_when_and_utc(None, "UTC") == "—"


def test_strftime_formats_get_the_offset_for_percent_z():
    assert format_in_zone(AT, "Asia/Kolkata", "%H:%M %Z") == "02:30 UTC+5:30"
    assert format_in_zone(AT, "Asia/Taipei") == "Thu 3 Dec 2026 05:00 UTC+8"
    assert offset_label(AT, "UTC") == "UTC"
    assert offset_label(AT.astimezone(dt.timezone(-dt.timedelta(hours=9, minutes=30)))) == (
        "UTC-9:30"
    )


@pytest.mark.parametrize(
    "delta, expected",
    [
        (dt.timedelta(days=3), "in 3 days"),
        (dt.timedelta(hours=50), "in 2 days"),
        (dt.timedelta(hours=47), "in 47 h"),
        (dt.timedelta(minutes=90), "in 2 h"),
        (dt.timedelta(minutes=20), "in 20 min"),
        (dt.timedelta(seconds=20), "now"),
        (-dt.timedelta(hours=2), "2 h ago"),
        (-dt.timedelta(days=10), "10 days ago"),
    ],
)
def test_relative_hints(delta, expected):
    assert relative_to(AT + delta, AT) == expected


def test_relative_hints_compare_instants_not_wall_times():
    # 1 h apart in reality across Berlin's autumn change, though both read 02:30 on the wall.
    first = dt.datetime(2026, 10, 25, 0, 30, tzinfo=dt.UTC)
    second = first + dt.timedelta(hours=1)
    berlin = dt.timezone(dt.timedelta(hours=2)), dt.timezone(dt.timedelta(hours=1))
    assert relative_to(second.astimezone(berlin[1]), first.astimezone(berlin[0])) == "in 1 h"


def test_page_filters_use_the_viewers_zone_with_utc_and_a_hint(app, clock):
    from portal.templating import local_and_utc, when_in

    clock.set(AT - dt.timedelta(days=3))
    with app.test_request_context():
        html = str(local_and_utc(AT, "Asia/Taipei", relative=True))
        assert '<time datetime="2026-12-02T21:00:00+00:00">' in html
        assert "Thu 3 Dec 2026 05:00 UTC+8 (Wed 2 Dec 21:00 UTC)" in html
        assert "(in 3 days)" in html
        assert "UTC" in str(local_and_utc(AT))  # anonymous viewer: the portal default zone
        assert when_in(AT, "Asia/Kolkata", year=False) == (
            "Thu 3 Dec 02:30 UTC+5:30 (Wed 2 Dec 21:00 UTC)"
        )
