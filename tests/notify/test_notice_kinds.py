"""Every notice kind as a customer's mail client shows it (issue 15 items 2, 3 and 5).

A believable provider (Nimbus Cloud: its name, logo and accent colour configured) announces a
degradation of Face Fusion API starting Wed 2 Dec 21:00 UTC, which is Thu 3 Dec 05:00 in
Taipei and 02:30 in Kolkata. Tapai uses one region of the service; Ganges Telecom uses all of
it. Each kind of message goes through a real SMTP server, is parsed with the standard
library's ``email`` package and read for its subject, the order of its sections in both parts
(what changes / when / impact / what you need to do / the Acknowledge button / details), the
times with their UTC offsets (never "CST" or "IST"), the act-by and the button.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import re
import shutil
from pathlib import Path

import pytest
from sqlalchemy import select

from portal.catalog.models import Component
from portal.changes import emergency, lifecycle
from portal.changes.services import input_of, publish, revise
from portal.extensions import db
from portal.notify.models import APPROVAL, ESCALATION, REMINDER
from portal.notify.reminders import queue_due_reminders
from tests.conftest import T0
from tests.notify.mails import (
    ABBREVIATION,
    html_buttons,
    html_outline,
    link_notes,
    linked,
    parts,
    text_outline,
)

TITLE = "Upgrade the fusion model"  # the factory's default title
START = dt.datetime(2026, 12, 2, 21, 0, tzinfo=dt.UTC)  # Thu 3 Dec 05:00 in Taipei
ACTION = (
    "Re-test your image pipeline with **1024×1024** output images; the "
    "[migration guide](https://docs.nimbus.example/face-fusion/1024) shows how.\n\n"
    "- scale or crop results in your client\n- update `max_size` in your SDK config"
)
BODY = "We replace the face-fusion model with the 2027 generation. Latency rises by ~15 %."
LOGO = "https://cdn.nimbus.example/brand/logo.png"
ACCENT = "#0b5cad"
SECTIONS = ["What changes", "When", "Impact", "What you need to do"]
WITH_BUTTON = [*SECTIONS, "button: Acknowledge", "Details"]
WITHOUT_BUTTON = [*SECTIONS, "Details"]


@pytest.fixture
def app_config(app_config):
    return {
        **app_config,
        "PROVIDER_NAME": "Nimbus Cloud",
        "PROVIDER_LOGO_URL": LOGO,
        "PROVIDER_ACCENT_COLOUR": ACCENT,
        "MAIL_DEFAULT_SENDER": "Nimbus Cloud <change-notices@nimbus.example>",
    }


@pytest.fixture
def nimbus(app, make_tenant, make_user, make_team, make_service, make_usage, make_change):
    """Tapai (Asia/Taipei, one region, 72 h by contract) and Ganges Telecom (Asia/Kolkata,
    the whole service); a draft degradation starting ``START`` asking customers to act by an
    hour before it, with an acknowledgement required."""
    from portal.tenants.models import ContractTerm

    team = make_team("vision", "Vision")
    service = make_service(team, "face-fusion-api", "Face Fusion API", components=("ap", "eu"))
    regions = {c.slug: c for c in db.session.scalars(select(Component))}
    regions["ap"].name, regions["eu"].name = "Asia Pacific (Taipei)", "Europe (Dublin)"
    tapai = make_tenant("tapai", "Tapai", time_zone="Asia/Taipei")
    ganges = make_tenant("ganges", "Ganges Telecom", time_zone="Asia/Kolkata")
    make_usage(tapai, service, regions["ap"])
    make_usage(ganges, service)
    db.session.add(
        ContractTerm(
            tenant_id=tapai.id, service_id=service.id, notice_seconds=72 * 3600, reference="MSA-7"
        )
    )
    engineer = make_user("eng@nimbus.example", name="Eve Engineer", teams=[team])
    approver = make_user("lead@nimbus.example", name="Lee Lead", teams=[team], approver=True)
    manager = make_user(
        "am@nimbus.example", name="Alma Manager", is_account_manager=True, manages=[tapai, ganges]
    )
    change = make_change(
        services=[service],
        author=engineer,
        starts_at=START,
        ends_at=START + dt.timedelta(hours=2),
        ack_required=True,
        body=BODY,
        customer_action=ACTION,
        act_by=START - dt.timedelta(hours=1),
    )
    db.session.commit()
    return dataclasses.make_dataclass(
        "Nimbus", ["service", "tapai", "ganges", "engineer", "approver", "manager", "change"]
    )(service, tapai, ganges, engineer, approver, manager, change)


@pytest.fixture
def announced(nimbus, dispatch, sink):
    publish(nimbus.change, actor=nimbus.engineer, now=T0)
    db.session.commit()
    dispatch()
    return nimbus


def last(sink, address, kind="notice"):
    return [m for m in sink.to(address) if m["X-Forewarn-Kind"] == kind][-1]


def assert_readable(mail, *, markdown_stripped=True):
    """What every notice shares: the provider's brand (not the tool's), offsets instead of
    abbreviations, a viewport and inline styles only, Markdown stripped from the text."""
    text, html = parts(mail)
    assert text.startswith("Nimbus Cloud · ")
    assert "Forewarn" not in text and "Forewarn" not in html
    assert f'<img src="{LOGO}"' in html and ">Nimbus Cloud</td>" in html
    assert f"border-top:4px solid {ACCENT}" in html
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in html
    assert "<style" not in html and "<script" not in html and "<link" not in html
    assert " class=" not in html
    for part in (mail["Subject"], text, html):
        assert not ABBREVIATION.search(part), ABBREVIATION.search(part)
    if markdown_stripped:
        assert "**" not in text and "](" not in text and "`" not in text
    assert "\n" not in mail["Subject"]
    return text, html


def test_the_announcement_leads_with_action_time_and_impact_in_the_tenants_zone(announced, sink):
    tapai = last(sink, "ops1@tapai.example")
    assert tapai["From"] == "Nimbus Cloud <change-notices@nimbus.example>"
    assert tapai["Subject"] == (
        "[Action required by 3 Dec] Degradation: Face Fusion API, Thu 3 Dec 05:00 (UTC+8) - "
        + TITLE
    )
    text, html = assert_readable(tapai)
    assert text_outline(text) == WITH_BUTTON and html_outline(html) == WITH_BUTTON
    when = "Thu 3 Dec 2026 05:00 UTC+8 (Wed 2 Dec 21:00 UTC)"
    act_by = "Thu 3 Dec 2026 04:00 UTC+8 (Wed 2 Dec 20:00 UTC)"
    for part in (text, html):
        assert f"{when}, in 30 days 12 h" in part
        assert "Face Fusion API: Asia Pacific (Taipei)" in part  # Tapai's own region only
        assert "Europe (Dublin)" not in part
        assert f"Do this by: {act_by}" in part.replace("</strong>", "")
        assert "Acknowledge this notice by " + when in part.replace("<strong>", "")
        assert "Times in Asia/Taipei (UTC+8)" in part
    # What you need to do: Markdown as sanitised HTML, and as plain text with its link listed.
    assert "<strong>1024×1024</strong>" in html and "<li" in html
    assert "with 1024×1024 output images; the migration guide [1] shows how." in text
    assert "- update max_size in your SDK config" in text
    assert link_notes(text)[1] == "https://docs.nimbus.example/face-fusion/1024"
    # A real button: a table cell in the accent colour holding the signed acknowledge link.
    (button,) = html_buttons(html)
    assert button["label"] == "Acknowledge" and button["cell"]["bgcolor"] == ACCENT
    assert button["href"].startswith("http://portal.test/ack/")
    assert "display:inline-block" in button["style"] and "padding:12px 24px" in button["style"]
    assert linked(text, "Acknowledge (required)") == button["href"]
    assert text.index(button["href"]) > text.index("Links:")  # listed at the end

    ganges = last(sink, "ops1@ganges.example")
    assert ganges["Subject"] == (
        "[Action required by 3 Dec] Degradation: Face Fusion API, Thu 3 Dec 02:30 (UTC+5:30) - "
        + TITLE
    )
    text, html = assert_readable(ganges)
    assert "Thu 3 Dec 2026 02:30 UTC+5:30 (Wed 2 Dec 21:00 UTC)" in text
    assert "Thu 3 Dec 2026 01:30 UTC+5:30 (Wed 2 Dec 20:00 UTC)" in text  # act by
    assert "- Face Fusion API\n" in text  # the whole service, as Ganges uses it
    assert "Change notice for Ganges Telecom" in text and "for Tapai" not in text


def test_a_revision_says_what_changed_old_to_new(announced, dispatch, sink, clock):
    w = announced
    later = START + dt.timedelta(days=1)
    revise(
        w.change,
        dataclasses.replace(
            input_of(w.change),
            starts_at=later,
            ends_at=later + dt.timedelta(hours=2),
            customer_action=ACTION + "\n- restart your workers",
        ),
        actor=w.engineer,
        now=clock.now(),
    )
    db.session.commit()
    dispatch()
    mail = last(sink, "ops1@tapai.example")
    assert mail["Subject"] == (
        "[Action required by 3 Dec] Rescheduled degradation: Face Fusion API, Fri 4 Dec 05:00 "
        "(UTC+8) - " + TITLE
    )
    text, html = assert_readable(mail)
    assert text_outline(text) == WITH_BUTTON and html_outline(html) == WITH_BUTTON
    assert "This change was rescheduled." in text
    moved = (
        "Start moved later: Thu 3 Dec 2026 05:00 UTC+8 (Wed 2 Dec 21:00 UTC) → "
        "Fri 4 Dec 2026 05:00 UTC+8 (Thu 3 Dec 21:00 UTC)"
    )
    assert moved in text and moved in html
    assert "What you need to do: changed (see below)" in text
    assert text.index(moved) < text.index("When\n----")  # under "What changes"
    assert "restart your workers" in text
    assert mail["In-Reply-To"]  # threads under the announcement


def test_a_material_revision_says_the_notice_period_restarts(announced, dispatch, sink, clock):
    w = announced
    earlier = START - dt.timedelta(days=10)
    revise(
        w.change,
        dataclasses.replace(
            input_of(w.change),
            starts_at=earlier,
            ends_at=earlier + dt.timedelta(hours=2),
            act_by=earlier - dt.timedelta(days=1),
        ),
        actor=w.engineer,
        now=clock.now(),
    )
    db.session.commit()
    dispatch()
    mail = last(sink, "ops1@ganges.example")
    assert mail["Subject"] == (
        "[Action required by 22 Nov] Rescheduled degradation (notice period restarts): "
        "Face Fusion API, Mon 23 Nov 02:30 (UTC+5:30) - " + TITLE
    )
    text, _html = assert_readable(mail)
    assert "your notice period restarts from this message" in text
    assert "Act by moved earlier: Thu 3 Dec 2026 01:30 UTC+5:30" in text


def test_a_cancellation_gives_the_reason_and_asks_nothing(announced, dispatch, sink, clock):
    w = announced
    lifecycle.cancel(
        w.change, actor=w.engineer, now=clock.now(), reason="The supplier withdrew the model."
    )
    db.session.commit()
    dispatch()
    mail = last(sink, "ops1@tapai.example")
    assert (
        mail["Subject"]
        == "Cancelled degradation: Face Fusion API, Thu 3 Dec 05:00 (UTC+8) - " + TITLE
    )
    text, html = assert_readable(mail)
    assert text_outline(text) == WITHOUT_BUTTON and html_outline(html) == WITHOUT_BUTTON
    assert "Reason for the cancellation: The supplier withdrew the model." in text
    assert "Was to start:  Thu 3 Dec 2026 05:00 UTC+8 (Wed 2 Dec 21:00 UTC)" in text
    assert "What you need to do\n-------------------\nNothing.\n" in text
    assert "/ack/" not in text and html_buttons(html) == []
    assert "re-test your image pipeline" not in text.lower()


def test_started_gives_the_actual_start_and_completed_the_end(announced, dispatch, sink, clock):
    w = announced
    clock.set(START + dt.timedelta(minutes=7))
    lifecycle.start(w.change, actor=w.engineer, now=clock.now())
    db.session.commit()
    dispatch()
    started = last(sink, "ops1@tapai.example")
    assert (
        started["Subject"]
        == "Started degradation: Face Fusion API, Thu 3 Dec 05:07 (UTC+8) - " + TITLE
    )
    text, html = assert_readable(started)
    assert text_outline(text) == WITHOUT_BUTTON and html_outline(html) == WITHOUT_BUTTON
    assert "This change has started for Tapai." in text
    assert "Started:       Thu 3 Dec 2026 05:07 UTC+8 (Wed 2 Dec 21:07 UTC)" in text
    assert "Planned start: Thu 3 Dec 2026 05:00 UTC+8 (Wed 2 Dec 21:00 UTC)" in text

    clock.set(START + dt.timedelta(hours=2, minutes=3))
    lifecycle.complete(w.change, actor=w.engineer, now=clock.now())
    db.session.commit()
    dispatch()
    done = last(sink, "ops1@ganges.example")
    assert (
        done["Subject"]
        == "Completed degradation: Face Fusion API, Thu 3 Dec 04:33 (UTC+5:30) - " + TITLE
    )
    text, html = assert_readable(done)
    assert text_outline(text) == WITHOUT_BUTTON and html_outline(html) == WITHOUT_BUTTON
    assert "Completed:     Thu 3 Dec 2026 04:33 UTC+5:30 (Wed 2 Dec 23:03 UTC)" in text


def test_a_reminder_restates_the_change_and_the_real_time_left(announced, dispatch, sink, clock):
    clock.set(START - dt.timedelta(hours=23, minutes=50))
    queue_due_reminders(clock.now())
    db.session.commit()
    dispatch()
    mail = last(sink, "ops1@tapai.example", REMINDER)
    assert mail["Subject"] == (
        "[Action required by 3 Dec] Reminder: Face Fusion API degradation in 23 h 50 min, "
        "Thu 3 Dec 05:00 (UTC+8) - " + TITLE
    )
    text, html = assert_readable(mail)
    assert text_outline(text) == WITH_BUTTON and html_outline(html) == WITH_BUTTON
    assert "this change starts in 23 h 50 min, and Tapai has not acknowledged it yet" in text
    assert "Upgrade the fusion model" in text and BODY.split(".")[0] in text
    assert "Thu 3 Dec 2026 05:00 UTC+8 (Wed 2 Dec 21:00 UTC), in 23 h 50 min" in text
    assert "Do this by: Thu 3 Dec 2026 04:00 UTC+8 (Wed 2 Dec 20:00 UTC), in 22 h 50 min" in text
    assert mail["List-Unsubscribe"] and "Stop reminders: [" in text


def test_account_managers_are_escalated_to_with_the_tenants_zone(announced, dispatch, sink, clock):
    clock.set(START - dt.timedelta(hours=23, minutes=50))
    queue_due_reminders(clock.now())
    db.session.commit()
    dispatch()
    escalations = {
        m["Subject"]: m for m in sink.to("am@nimbus.example") if m["X-Forewarn-Kind"] == ESCALATION
    }
    assert set(escalations) == {
        "Not acknowledged by Tapai: Upgrade the fusion model, starts Thu 3 Dec 05:00 (UTC+8)",
        "Not acknowledged by Ganges Telecom: Upgrade the fusion model, starts Thu 3 Dec 02:30 "
        "(UTC+5:30)",
    }
    mail = escalations[
        "Not acknowledged by Tapai: Upgrade the fusion model, starts Thu 3 Dec 05:00 (UTC+8)"
    ]
    text, html = assert_readable(mail)
    chase = [*SECTIONS, "button: Chase them from the desk", "Details"]
    assert text_outline(text) == chase and html_outline(html) == chase
    assert (
        "ops1@tapai.example (Ops 1): notice delivered Mon 2 Nov 2026 17:00 UTC+8 (09:00 UTC)"
        in (text)
    )
    (button,) = html_buttons(html)
    assert button["href"].endswith("?filter=not_acknowledged&q=tapai")
    assert linked(text, "Chase them from the desk") == button["href"]


def test_a_short_notice_change_says_so_with_the_justification_and_the_notice_owed(
    nimbus, dispatch, sink, clock, make_change
):
    w = nimbus
    hotfix = make_change(
        services=[w.service],
        author=w.engineer,
        title="Hotfix: roll back the fusion model",
        starts_at=T0 + dt.timedelta(hours=30),
        ack_required=False,
    )
    db.session.commit()
    why = "The new model misplaces faces in 4 % of portraits; it must be rolled back today."
    emergency.request_emergency(hotfix, why, actor=w.engineer, now=clock.now())
    db.session.commit()
    dispatch()
    (request,) = [m for m in sink.to("lead@nimbus.example") if m["X-Forewarn-Kind"] == APPROVAL]
    assert request["Subject"] == "Emergency approval requested: Hotfix: roll back the fusion model"
    text, html = assert_readable(request)
    review = [*SECTIONS, "button: Review the request"]
    assert html_outline(html) == review
    assert text_outline(text) == SECTIONS and why in text
    assert "Starts: Tue 3 Nov 2026 15:00 UTC (in 30 h)" in text  # the blast radius, in UTC
    assert html_buttons(html)[0]["href"].endswith(f"/changes/{hotfix.id}#emergency")

    emergency.approve(hotfix, approver=w.approver, now=clock.now())
    db.session.commit()
    dispatch()
    mail = last(sink, "ops1@tapai.example")
    assert (
        mail["Subject"]
        == "Short-notice degradation: Face Fusion API, Tue 3 Nov 23:00 (UTC+8) - Hotfix: "
        "roll back the fusion model"
    )
    text, html = assert_readable(mail)
    assert (
        "Nimbus Cloud has scheduled a short-notice (emergency) change to services Tapai uses."
        in (text)
    )
    owed = (
        "Short notice. Tapai is owed 72 h of notice by your contract (MSA-7); this change gives "
        f"30 h. It was approved as an emergency: {why}"
    )
    assert owed in text and owed.replace(": ", ":<br>", 1)[-40:] in html
    assert text.index(owed) < text.index("When\n----")


def test_what_you_need_to_do_with_raw_html_is_sanitised_in_the_mail(nimbus, dispatch, sink):
    w = nimbus
    w.change.customer_action = (
        'Rotate your keys <script>alert("x")</script> <img src=x onerror=alert(1)> '
        '[click](javascript:alert(2)) <a href="https://evil.example">here</a>'
    )
    db.session.commit()
    publish(w.change, actor=w.engineer, now=T0)
    db.session.commit()
    dispatch()
    # What is not Markdown stays as written: literal text in both parts, never markup.
    text, html = assert_readable(last(sink, "ops1@tapai.example"), markdown_stripped=False)
    assert "Rotate your keys" in html and "&lt;script&gt;" in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html  # shown as the text it is
    assert "<script" not in html and html.count("<img") == 1  # the provider's logo only
    assert not re.search(r"<[^>]*\bon\w+=", html)  # no event handler in any tag
    assert 'href="javascript:' not in html and '<a href="https://evil.example"' not in html
    assert "javascript:" not in "".join(link_notes(text).values())
    assert "https://evil.example" not in link_notes(text).values()


def test_tenants_of_one_shape_share_a_rendering_but_each_is_named_alone(
    nimbus, make_tenant, make_usage, dispatch, sink
):
    from portal.notify.models import OutboxMessage
    from portal.notify.render import build_message, load_context

    w = nimbus
    region = db.session.scalars(select(Component).filter_by(slug="ap")).one()
    twin = make_tenant("formosa", "Formosa <Foods> & Co", time_zone="Asia/Taipei", contacts=2)
    make_usage(twin, w.service, region)
    db.session.commit()
    publish(w.change, actor=w.engineer, now=T0)
    db.session.commit()
    rows = list(db.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))
    ctx = load_context(rows)
    messages = {row.recipient: build_message(row, ctx) for row in rows}
    assert len(ctx.rendered) == 3 and len(ctx.shapes) == 2  # Tapai and Formosa share one
    assert messages["ops1@tapai.example"].subject == messages["ops1@formosa.example"].subject
    db.session.rollback()
    dispatch()
    formosa_text, formosa_html = parts(last(sink, "ops2@formosa.example"))
    tapai_text, tapai_html = parts(last(sink, "ops1@tapai.example"))
    assert "Change notice for Formosa <Foods> & Co" in formosa_text
    assert "Change notice for Formosa &lt;Foods&gt; &amp; Co" in formosa_html
    assert "Tapai" not in formosa_text + formosa_html and "Formosa" not in tapai_text + tapai_html
    assert "x-forewarn" not in formosa_text + formosa_html + tapai_text + tapai_html


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
SCREENSHOT_KINDS = ("notice", "reminder")


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    return {
        **browser_type_launch_args,
        "executable_path": CHROMIUM,
        "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
    }


@pytest.mark.browser
@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (see tests/browser)")
@pytest.mark.skipif(
    bool(os.environ.get("PORTAL_TEST_DATABASE_URL")),
    reason="a mail's layout does not depend on the database: checked in the SQLite run",
)
def test_the_html_part_fits_a_390_px_phone_in_chromium(nimbus, dispatch, sink, clock, browser):
    """The HTML part as a phone's mail app shows it: nothing wider than the screen, however
    long the words in what customers wrote; the button big enough to tap. Set
    FOREWARN_SCREENSHOTS=<folder> to save the notice and the reminder at 390 and 1366 px."""
    w = nimbus
    checksum = "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
    w.change.customer_action = ACTION + f"\n\nThe new SDK build's checksum: {checksum}"
    w.change.body_md = (
        BODY
        + "\n\n| region | output before | output after |\n|---|---|---|\n"
        + "| Asia Pacific (Taipei) | 768×768 | 1024×1024 |\n\n"
        + "```\nresult = client.fuse(image, size=1024)  # was 768; "
        + "client.resize(result, (768, 768)) keeps the old size\n```"
    )
    db.session.commit()
    publish(w.change, actor=w.engineer, now=T0)
    db.session.commit()
    dispatch()
    clock.set(START - dt.timedelta(hours=23, minutes=50))
    queue_due_reminders(clock.now())
    db.session.commit()
    dispatch()
    shots = os.environ.get("FOREWARN_SCREENSHOTS")
    logo = Path(__file__).resolve().parents[2] / "static" / "brand" / "nimbus-cloud.png"
    for kind in SCREENSHOT_KINDS:
        _text, html = parts(last(sink, "ops1@tapai.example", kind))
        for width, mobile in ((390, True), (1366, False)):
            context = browser.new_context(
                viewport={"width": width, "height": 844}, is_mobile=mobile, has_touch=mobile
            )
            page = context.new_page()
            page.route(LOGO, lambda route: route.fulfill(path=str(logo)))
            page.set_content(html, wait_until="load")
            wide = page.evaluate(
                """w => [...document.querySelectorAll('body *')]
                     .filter(e => e.getBoundingClientRect().right > w)
                     .slice(-3).map(e => e.tagName + ' ' + (e.textContent || '').slice(0, 40))""",
                width,
            )
            scroll = page.evaluate("document.scrollingElement.scrollWidth")
            assert scroll <= width, (kind, width, scroll, wide)
            box = page.get_by_role("link", name="Acknowledge").bounding_box()
            assert box is not None and box["height"] >= 40 and box["x"] + box["width"] <= width
            assert page.evaluate("document.images[0].naturalWidth") == 64  # the logo loaded
            if shots:
                page.screenshot(
                    path=os.path.join(shots, f"mail-{kind}-{width}.png"), full_page=True
                )
            context.close()
