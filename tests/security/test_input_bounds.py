# ruff: noqa: F811  (the fixtures imported from tests.changes.conftest are arguments here)
"""Bad input is a 400 or 404, never a 500 or a stored value that breaks pages and notices
(issue 17 item 1): times the portal cannot show, control characters in single-line fields,
ids and page numbers beyond the database's integers, NUL, deep or broken JSON, ``next=``
with CR/LF, oversized bodies."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from sqlalchemy import func, select

from portal.changes.models import BlackoutWindow, Change
from portal.extensions import db
from portal.inputs import MAX_ID, check_single_line, one_line, parse_id
from portal.notify.subjects import notice_subject, staff_subject
from portal.tenants.models import Tenant
from portal.timezones import format_in_zone
from tests.changes.conftest import bearer, change_body, story  # noqa: F401  (fixtures)
from tests.conftest import T0

OUT_OF_RANGE_TIMES = [
    "9999-12-31T22:00:00Z",
    "9999-12-31T23:30:00-10:00",  # UTC year 10000
    "0001-01-01T00:30:00+14:00",  # UTC year 0
    "2199-12-31T22:00:00Z",  # showable, but no change is scheduled 170 years ahead
]


def _changes() -> int:
    return db.session.execute(select(func.count()).select_from(Change)).scalar_one()


@pytest.mark.parametrize("field", ["starts_at", "ends_at"])
@pytest.mark.parametrize("value", OUT_OF_RANGE_TIMES)
def test_api_refuses_times_the_portal_cannot_show(client, story, bearer, field, value):
    body = change_body(**{field: value})
    if field == "ends_at" and value.startswith("0001"):
        body["starts_at"] = "0001-01-01T00:00:00+14:00"
        field = "starts_at"
    r = client.post("/api/v1/changes", json=body, headers=bearer(story.ana))
    assert r.status_code == 400, r.get_json()
    assert r.get_json()["error"]["field"] == field
    assert _changes() == 0


def test_form_refuses_a_start_in_year_9999(story, login):
    story.ana.set_password("irrelevant-but-set")
    r = login(story.ana).post(
        "/changes/new",
        data={
            "title": "Far away",
            "body": "x",
            "services": ["face-fusion-api"],
            "impact": "degradation",
            "starts_at": "9999-12-31T22:00",
            "ends_at": "9999-12-31T23:00",
            "time_zone": "Pacific/Kiritimati",
            "visibility": "affected",
        },
    )
    assert r.status_code == 400 and "between 2000 and 2199" in r.get_data(as_text=True)
    assert _changes() == 0


@pytest.mark.parametrize(
    "url, who",
    [("/settings/blackouts", "tenant_admin"), ("/admin/notice/blackouts", "admin")],
)
def test_blackouts_ending_9999_are_refused(story, login, make_user, url, who):
    user = (
        make_user("a@tapai.example", tenant=story.tapai, is_tenant_admin=True)
        if who == "tenant_admin"
        else make_user("root@provider.example", is_admin=True)
    )
    db.session.commit()
    start = T0 + dt.timedelta(days=5)
    for starts, ends, zone in [
        (start.strftime("%Y-%m-%dT%H:%M"), "9999-12-31T23:00", "UTC"),
        ("9999-12-31T20:00", "9999-12-31T23:00", "Pacific/Kiritimati"),
        ("0001-01-01T00:30", "0001-01-01T02:00", "Pacific/Kiritimati"),
    ]:
        r = login(user).post(
            url, data={"starts_at": starts, "ends_at": ends, "time_zone": zone, "reason": "x"}
        )
        assert r.status_code == 400, (starts, ends)
    assert db.session.execute(select(func.count()).select_from(BlackoutWindow)).scalar() == 0


@pytest.mark.parametrize(
    "title", ["Upgrade\r\nBcc: all@x.example", "Tab\there", "L\u2028S", "Esc\x1b[31m"]
)
def test_api_refuses_control_characters_in_a_title(client, story, bearer, title):
    r = client.post("/api/v1/changes", json=change_body(title=title), headers=bearer(story.ana))
    assert r.status_code == 400 and r.get_json()["error"]["field"] == "title"
    assert _changes() == 0


@pytest.mark.parametrize("body", ["colours \x1b[31mred\x1b[0m", "page\x0cbreak", "a\ufffeb"])
def test_api_refuses_a_body_with_a_character_no_feed_can_carry(client, story, bearer, body):
    """XML 1.0 §2.2: one such character in a body made every feed showing the change fail."""
    r = client.post("/api/v1/changes", json=change_body(body=body), headers=bearer(story.ana))
    assert r.status_code == 400
    error = r.get_json()["error"]
    assert error["field"] == "body" and "control character (U+" in error["message"]
    assert _changes() == 0


def test_raw_form_post_refuses_cr_lf_in_a_title(story, login):
    r = login(story.ana).post(
        "/changes/new",
        data={
            "title": "Upgrade\r\nthe model",
            "body": "x",
            "services": ["face-fusion-api"],
            "impact": "degradation",
            "starts_at": (T0 + dt.timedelta(days=5)).strftime("%Y-%m-%dT%H:%M"),
            "ends_at": (T0 + dt.timedelta(days=5, hours=1)).strftime("%Y-%m-%dT%H:%M"),
            "time_zone": "UTC",
            "visibility": "affected",
        },
    )
    assert r.status_code == 400 and "single line" in r.get_data(as_text=True)
    assert _changes() == 0


def test_a_tenant_name_with_cr_lf_is_refused_on_the_admin_form(login, admin):
    r = login(admin).post(
        "/admin/tenants/new", data={"slug": "evil", "name": "Evil\r\nBcc: x", "time_zone": "UTC"}
    )
    assert r.status_code == 400 and "single line" in r.get_data(as_text=True)
    assert db.session.execute(select(func.count()).select_from(Tenant)).scalar() == 0


def test_every_single_line_attribute_refuses_control_characters_wherever_it_is_set(app):
    with pytest.raises(Exception, match="single line"):
        Tenant(slug="x", name="A\nB")
    with pytest.raises(Exception, match="single line"):
        Change(title="A\rB")
    assert check_single_line("Zürich AG — ops", "name") == "Zürich AG — ops"


def test_objection_subjects_stay_on_one_line_for_names_stored_before_the_check():
    subject = staff_subject("objection", "Evil\r\nBcc: everyone@x.example", "Upgrade\r\nthe model")
    assert "\r" not in subject and "\n" not in subject
    assert subject == "Objection from Evil Bcc: everyone@x.example: Upgrade the model"
    # A customer notice's subject names services stored before the check, too.
    subject = notice_subject("", "Scheduled degradation", ["Face\r\nFusion API"], "Thu 3 Dec")
    assert subject == "Scheduled degradation: Face Fusion API, Thu 3 Dec"
    assert one_line("a\u2028b\tc") == "a b c"


def test_times_stored_before_the_bounds_still_render():
    far = dt.datetime(9999, 12, 31, 22, tzinfo=dt.UTC)
    assert format_in_zone(far, "Pacific/Kiritimati") == "9999-12-31 22:00 UTC"


@pytest.mark.parametrize(
    "path",
    [
        "/changes/2147483648",
        "/changes/9223372036854775808",
        "/changes/99999999999999999999999",
        "/admin/tenants/2147483648/edit",
    ],
)
def test_ids_beyond_the_database_integers_are_404(login, admin, path):
    assert login(admin).get(path).status_code == 404


def test_api_ids_beyond_the_database_integers_are_404(client, story, bearer):
    headers = bearer(story.ana)
    for change_id in (2**31, 2**63, 10**30):
        r = client.get(f"/api/v1/changes/{change_id}", headers=headers)
        assert r.status_code == 404 and r.is_json


@pytest.mark.parametrize("page", [str(2**31), str(2**63), "9" * 40])
def test_page_numbers_beyond_the_database_integers_are_400(
    client, login, admin, story, bearer, page
):
    assert login(admin).get("/changes", query_string={"page": page}).status_code == 400
    r = client.get("/api/v1/changes", query_string={"page": page}, headers=bearer(story.ana))
    assert r.status_code == 400


def test_nul_in_an_anonymous_feed_path_or_query_is_refused(client):
    assert client.get("/feeds/t/abc%00def/changes.rss").status_code == 404
    assert client.get("/public/services/a%00b/changes.rss").status_code == 404
    assert client.get("/public/changes?service=a%00b").status_code == 400


def _nested(depth: int) -> bytes:
    return ("[" * depth + "]" * depth).encode()


def test_deep_json_is_never_parsed_before_authentication(client):
    r = client.post(
        "/api/v1/changes", data=_nested(330), headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 401


@pytest.mark.parametrize(
    "raw, reason",
    [
        (_nested(330), "nested deeper"),
        (b'{"a":' * 50_000 + b"1" + b"}" * 50_000, "nested deeper"),
        (b'{"title": "\\ud800"}', "surrogate"),
        (b'{"title": "x\\u0000"}', "NUL"),
    ],
)
def test_bad_json_after_authentication_is_a_400(client, story, bearer, raw, reason):
    r = client.post(
        "/api/v1/changes",
        data=raw,
        headers={**bearer(story.ana), "Content-Type": "application/json"},
    )
    assert r.status_code == 400 and reason in r.get_json()["error"]["message"]


def test_json_nested_within_the_limit_is_fine(client, story, bearer):
    body = change_body()
    body["extra"] = json.loads(_nested(20))
    r = client.post("/api/v1/changes", json=body, headers=bearer(story.ana))
    # Parsed (not refused for its depth); the declared schema then refuses the unknown field.
    assert r.status_code == 400 and r.get_json()["error"]["field"] == "extra"
    del body["extra"]
    assert client.post("/api/v1/changes", json=body, headers=bearer(story.ana)).status_code == 201


@pytest.mark.parametrize("target", ["/changes\r\nSet-Cookie: x=1", "/x\nLocation: //evil"])
def test_cr_lf_in_next_is_a_400(client, target):
    assert client.get("/login", query_string={"next": target}).status_code == 400
    assert client.post("/login", query_string={"next": target}, data={}).status_code == 400


def test_request_bodies_are_capped(app, client):
    app.config["MAX_CONTENT_LENGTH"] = 1000
    r = client.post("/login", data={"email": "x" * 5000, "password": "y"})
    assert r.status_code == 413
    assert app.config["MAX_CONTENT_LENGTH"] and create_default_cap() >= 1024 * 1024


def create_default_cap() -> int:
    from portal.config import Defaults

    return Defaults.MAX_CONTENT_LENGTH


def test_csv_import_refuses_line_breaks_in_names(app, tmp_path):
    tenants = tmp_path / "tenants.csv"
    tenants.write_text('slug,name,time_zone,first_party\nevil,"Evil\r\nBcc: x",UTC,no\n')
    contacts = tmp_path / "contacts.csv"
    contacts.write_text(
        'tenant,email,name\nevil,ops@evil.example,"Ops\nBcc: y"\n', encoding="utf-8"
    )
    result = app.test_cli_runner().invoke(
        args=["import", "--tenants", str(tenants), "--contacts", str(contacts)]
    )
    assert result.exit_code == 1
    assert "tenants.csv:2: column 'name': must be a single line" in result.output
    assert "contacts.csv:2: column 'name': must be a single line" in result.output
    assert db.session.execute(select(func.count()).select_from(Tenant)).scalar() == 0


@pytest.mark.parametrize("digits", ["¹", "²³", "٣"])
def test_unicode_digits_in_page_numbers_never_reach_a_500(client, story, bearer, digits):
    """'¹'.isdigit() is true but int('¹') fails: page checks use isdecimal (found by
    schemathesis on /api/v1/desk/tenants)."""
    for path, user in (("/api/v1/desk/tenants", story.manager), ("/api/v1/changes", story.ana)):
        r = client.get(path, query_string={"page": digits}, headers=bearer(user))
        assert r.status_code in (200, 400), (path, r.status_code)


def test_an_id_in_text_is_read_only_in_its_canonical_spelling():
    assert parse_id("1") == 1 and parse_id(str(MAX_ID)) == MAX_ID and parse_id(7) == 7
    for text in ["0", "01", "0001", "\u0661", "1e3", " 1", "+1", "-1", "9" * 25, "1" * 5000, ""]:
        assert parse_id(text) is None, text
    assert parse_id(str(MAX_ID + 1)) is None and parse_id(True) is None and parse_id(None) is None


def test_a_tenant_has_one_url_and_no_number_makes_it_fail(login, admin, make_tenant):
    """``01``, ``0001`` or an Arabic-Indic one named tenant 1 under other URLs; 25 nines or
    5,000 ones made the database driver, or ``int`` itself, fail with a 500."""
    tenant = make_tenant("tapai", "Tapai")
    db.session.commit()
    staff = login(admin)
    assert staff.get(f"/desk/tenants/{tenant.id}").status_code == 200
    assert staff.get(f"/desk/tenants/{tenant.slug}").status_code == 200
    arabic = "".join(chr(0x0660 + int(d)) for d in str(tenant.id))
    for key in (f"0{tenant.id}", f"000{tenant.id}", arabic, "9" * 25, "1" * 5000):
        assert staff.get(f"/desk/tenants/{key}").status_code == 404, key[:30]


@pytest.mark.parametrize("path", ["/changes", "/public/changes"])
def test_a_page_number_of_thousands_of_digits_is_a_400(login, admin, path):
    assert login(admin).get(path, query_string={"page": "1" * 5000}).status_code == 400


@pytest.mark.parametrize(
    "value",
    ["+99999999999999999999", " +99999999999999999999", "9_999_999_999_999_999_999", "2147483648"],
)
@pytest.mark.parametrize("path", ["/changes", "/admin/tenants", "/admin/users", "/admin/services"])
def test_a_page_number_int_would_read_as_too_big_is_a_400(login, admin, path, value):
    """``int`` (which the pagination calls) reads signs, spaces and underscores: such a page
    reached the database as a number it cannot hold (500)."""
    assert login(admin).get(path, query_string={"page": value}).status_code == 400


def test_a_page_that_is_no_number_still_falls_back_to_the_first(login, admin):
    assert login(admin).get("/admin/tenants", query_string={"page": "abc"}).status_code == 200


@pytest.mark.parametrize("path", ["/api/v1/changes", "/api/v1/changes/preview"])
def test_a_json_integer_of_5000_digits_is_a_400(client, story, bearer, path):
    """``json.loads`` raises a plain ValueError past int's 4,300 digits, not a decode error."""
    raw = b'{"title": ' + b"1" * 5000 + b"}"
    r = client.post(
        path, data=raw, headers={**bearer(story.ana), "Content-Type": "application/json"}
    )
    assert r.status_code == 400
    assert r.get_json()["error"]["message"] == "the body is not valid JSON"


@pytest.mark.parametrize("slug", ["1", "2024", "12-34"])
def test_a_slug_of_digits_alone_is_refused_as_it_would_read_as_an_id(login, admin, slug):
    r = login(admin).post(
        "/admin/tenants/new", data={"slug": slug, "name": "Numbers Ltd", "time_zone": "UTC"}
    )
    assert r.status_code == 400 and "at least one letter" in r.get_data(as_text=True)
    assert db.session.execute(select(func.count()).select_from(Tenant)).scalar() == 0
