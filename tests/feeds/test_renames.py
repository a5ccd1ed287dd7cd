"""Renaming a service, an impact level or a tenant moves exactly the feeds that show the name
(portal.feeds.renames; DESIGN.md "Feeds": a 304 only when the content is unchanged, and a
public feed's validators move only when its own content does)."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from werkzeug.http import parse_date

from portal.catalog.services import save_service
from portal.changes.models import ImpactLevel
from portal.extensions import db
from portal.feeds import versions
from portal.tenants.services import update_tenant
from tests.conftest import T0
from tests.feeds.conftest import feed_url

FORMATS = ("rss", "atom", "ics")


def public_url(service, fmt):
    return f"/public/services/{service.slug}/changes.{fmt}"


def fetch_all(client, urls):
    """{url: (ETag, Last-Modified, body)} of a plain GET of each URL."""
    seen = {}
    for url in urls:
        response = client.get(url)
        assert response.status_code == 200, url
        seen[url] = (response.headers["ETag"], response.headers["Last-Modified"], response.data)
    return seen


def assert_moved(client, before, after, new_name: bytes, shown_in=FORMATS):
    """Every feed's ETag and Last-Modified moved (one version per scope, whatever the format),
    old validators get the content again, and the formats ``shown_in`` show ``new_name``."""
    for url, (etag, last_modified, _) in before.items():
        new_etag, new_last_modified, body = after[url]
        assert new_etag != etag and parse_date(new_last_modified) > parse_date(last_modified), url
        shown = url.rsplit(".", 1)[1] in shown_in
        assert not shown or new_name in body, url
        held = client.get(url, headers={"If-None-Match": etag})
        assert held.status_code == 200 and (not shown or new_name in held.data), url
        since = client.get(url, headers={"If-Modified-Since": last_modified})
        assert since.status_code == 200, url


def assert_kept(client, before, after):
    for url, (etag, last_modified, body) in before.items():
        assert after[url] == (etag, last_modified, body), url
        assert client.get(url, headers={"If-None-Match": etag}).status_code == 304, url


@pytest.fixture
def feeds(world, client, clock, make_usage):
    """A public change to Face Fusion API (Tapai, Other), a public change to Document OCR
    (Lonely), and every tenant's feed URLs."""
    make_usage(world.lonely, world.ocr)
    world.published(at=T0, visibility="public")
    world.published("Retrain OCR", at=T0, visibility="public", services=[world.ocr])
    urls = {}
    for tenant in (world.tapai, world.other, world.lonely):
        _, secret = world.token(tenant)
        urls[tenant.slug] = [feed_url(secret, fmt) for fmt in FORMATS]
    urls["fusion"] = [public_url(world.service, fmt) for fmt in FORMATS]
    urls["ocr"] = [public_url(world.ocr, fmt) for fmt in FORMATS]
    clock.advance(minutes=1)  # past the versions' Last-Modified, so the headers are stable
    return urls


def rename_service(world, admin, clock, *, slug: str, name: str) -> None:
    """Save Face Fusion API through the catalog service with this slug and name (not committed)."""
    save_service(
        world.service,
        slug=slug,
        name=name,
        description="",
        team=world.team,
        actor=admin,
        now=clock.now(),
    )


def _all(feeds, *keys):
    return [url for key in keys for url in feeds[key]]


def test_renaming_a_service_moves_the_feeds_that_show_it(world, client, clock, admin, feeds):
    before = fetch_all(client, _all(feeds, "tapai", "other", "fusion", "lonely", "ocr"))
    clock.advance(minutes=1)
    rename_service(world, admin, clock, slug="face-fusion-api", name="Renamed Fusion")
    db.session.commit()
    clock.advance(minutes=1)
    moved = _all(feeds, "tapai", "other", "fusion")
    kept = _all(feeds, "lonely", "ocr")
    after = fetch_all(client, moved + kept)
    assert_moved(client, {u: before[u] for u in moved}, after, b"Renamed Fusion")
    assert_kept(client, {u: before[u] for u in kept}, after)


def test_a_change_to_two_services_moves_the_other_public_feed_too(world, client, clock, admin):
    world.published(
        "Shared upgrade", at=T0, visibility="public", services=[world.ocr, world.service]
    )
    clock.advance(minutes=1)
    urls = [public_url(world.ocr, fmt) for fmt in FORMATS]
    before = fetch_all(client, urls)
    clock.advance(minutes=1)
    rename_service(world, admin, clock, slug="face-fusion-api", name="Renamed Fusion")
    db.session.commit()
    assert_moved(client, before, fetch_all(client, urls), b"Renamed Fusion")


def test_a_new_slug_moves_the_feeds_whose_categories_show_it(world, client, clock, admin, feeds):
    before = fetch_all(client, _all(feeds, "tapai", "lonely"))
    clock.advance(minutes=1)
    rename_service(world, admin, clock, slug="fusion-v2", name="Face Fusion API")
    db.session.commit()
    after = fetch_all(client, _all(feeds, "tapai", "lonely"))
    # Only Atom shows the slug (a category's term); RSS and calendars move with it.
    assert_moved(
        client, {u: before[u] for u in feeds["tapai"]}, after, b"fusion-v2", shown_in=("atom",)
    )
    assert_kept(client, {u: before[u] for u in feeds["lonely"]}, after)
    assert client.get(public_url(world.service, "atom")).status_code == 200  # the new slug


def test_renaming_a_service_through_the_admin_form_moves_its_feeds(
    world, client, clock, admin, login, feeds
):
    before = fetch_all(client, feeds["tapai"])
    clock.advance(minutes=1)
    response = login(admin).post(
        f"/admin/services/{world.service.id}",
        data={"slug": "face-fusion-api", "name": "Renamed Fusion", "team": world.team.id},
    )
    assert response.status_code == 302
    assert_moved(client, before, fetch_all(client, feeds["tapai"]), b"Renamed Fusion")


def test_renaming_an_impact_level_moves_the_feeds_of_its_changes(world, client, clock, feeds):
    # Only this change, to OCR (Lonely), is a "degradation"; the others are "maintenance".
    world.published(
        "Degrade OCR", at=T0, visibility="public", services=[world.ocr], impact="degradation"
    )
    level = db.session.get(ImpactLevel, "degradation")
    before = fetch_all(client, _all(feeds, "lonely", "ocr", "tapai", "fusion"))
    clock.advance(minutes=1)
    level.name = "Reduced service"
    db.session.commit()
    after = fetch_all(client, _all(feeds, "lonely", "ocr", "tapai", "fusion"))
    moved = _all(feeds, "lonely", "ocr")
    # Only RSS and Atom print the level's name; calendars move with them (one version).
    assert_moved(
        client, {u: before[u] for u in moved}, after, b"Reduced service", shown_in=("rss", "atom")
    )
    assert_kept(client, {u: before[u] for u in _all(feeds, "tapai", "fusion")}, after)


def test_renaming_a_tenant_moves_only_its_own_private_feed(world, client, clock, admin, feeds):
    others = _all(feeds, "other", "lonely", "fusion", "ocr")
    before = fetch_all(client, feeds["tapai"] + others)
    clock.advance(minutes=1)
    update_tenant(
        world.tapai,
        slug="tapai",
        name="Tapai Group",
        time_zone=world.tapai.time_zone or "UTC",
        first_party=world.tapai.first_party,
        actor=admin,
        now=clock.now(),
    )
    db.session.commit()
    after = fetch_all(client, feeds["tapai"] + others)
    assert_moved(
        client, {u: before[u] for u in feeds["tapai"]}, after, b"Changes affecting Tapai Group"
    )
    assert_kept(client, {u: before[u] for u in others}, after)


def test_saving_the_same_names_again_moves_nothing(world, clock, admin, feeds):
    scopes = [
        f"{kind}:{obj.id}"
        for kind, objs in (
            ("tenant", (world.tapai, world.other, world.lonely)),
            ("service", (world.service, world.ocr)),
        )
        for obj in objs
    ]
    before = [versions.current(s) for s in scopes]
    clock.advance(minutes=1)
    db.session.expire_all()  # the old values are not loaded when the new ones are set
    rename_service(world, admin, clock, slug="face-fusion-api", name="Face Fusion API")
    update_tenant(
        world.tapai,
        slug="tapai",
        name="Tapai",
        time_zone=world.tapai.time_zone or "UTC",
        first_party=world.tapai.first_party,
        actor=admin,
        now=clock.now(),
    )
    level = db.session.execute(
        select(ImpactLevel).where(ImpactLevel.code == "maintenance")
    ).scalar_one()
    db.session.expire(level)
    level.name = "Maintenance"
    db.session.commit()
    assert [versions.current(s) for s in scopes] == before
