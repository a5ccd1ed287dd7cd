"""The pure pieces of the desk: chart drawing, delay buckets and CSV cell neutralising."""

from __future__ import annotations

import datetime as dt

import pytest

from portal.desk.charts import ack_progress, delivery_buckets, delivery_times
from portal.desk.export import safe_cell
from portal.desk.params import Listing, parse_listing
from portal.errors import InvalidInput
from tests.conftest import T0


def test_delivery_buckets_count_delays_and_missing_notices():
    times = [30, 3 * 60, 2 * 3600, 2 * 86400, None, None]  # seconds after the revision
    buckets = dict(delivery_buckets(times))
    assert buckets["< 1 min"] == 1 and buckets["1–5 min"] == 1 and buckets["1–6 h"] == 1
    assert buckets["> 24 h"] == 1 and buckets["not delivered"] == 2
    assert sum(buckets.values()) == len(times)


def test_ack_progress_reaches_the_acknowledged_share():
    svg = str(
        ack_progress(
            [T0 + dt.timedelta(hours=h) for h in (1, 2, 3)],
            4,
            since=T0,
            until=T0 + dt.timedelta(hours=5),
        )
    )
    assert svg.startswith("<svg") and "75% acknowledged" in svg
    assert "3 of 4 tenants" in svg


def test_charts_cope_with_nothing_to_show():
    assert "no tenants" in str(ack_progress([], 0, since=T0, until=T0))
    assert "<svg" in str(delivery_times([]))


@pytest.mark.parametrize(
    "value,expected",
    [
        ("=1+1", "'=1+1"),
        ("+1", "'+1"),
        ("-1", "'-1"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("Tapai", "Tapai"),
        (None, ""),
        (3, "3"),
    ],
)
def test_csv_cells_never_start_a_formula(value, expected):
    assert safe_cell(value) == expected


def test_listing_parsing():
    assert parse_listing({}) == Listing()
    assert parse_listing({"filter": "objecting", "q": " x ", "page": "2"}) == Listing(
        "objecting", "x", 2
    )
    with pytest.raises(InvalidInput):
        parse_listing({"filter": "objecting"}, filters=False)
