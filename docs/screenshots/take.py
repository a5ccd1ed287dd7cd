"""Screenshots of the main pages for each role, taken from a running demo.

Usage: start `forewarn demo`, then
``python docs/screenshots/take.py [--base-url http://127.0.0.1:5000] [--out docs/screenshots]``.
Needs Chromium (Debian's ``chromium`` package) and Playwright (the test extra).
"""

from __future__ import annotations

import argparse
import re
import shutil
from pathlib import Path

from playwright.sync_api import Page, sync_playwright

PASSWORD = "forewarn-demo"  # noqa: S105  (the demo's published password)

# (file stem, login or None, path, or a callable that navigates)
RATE_LIMIT = "Face Fusion API: lower rate limit on /v2/blend"
DRAFT = "Upgrade the fusion model; output resolution changes"
HOTFIX = "Hotfix: Image Moderation misflags medical images"


def open_change(title: str):
    def go(page: Page, base: str) -> None:
        page.goto(f"{base}/changes")
        page.get_by_role("link", name=title).first.click()

    return go


def publish_refused(page: Page, base: str) -> None:
    open_change(DRAFT)(page, base)
    page.get_by_role("button", name="Publish").click()


def open_first_mail(page: Page, base: str) -> None:
    page.goto(f"{base}/mailbox/")
    page.locator("table a[href^='/mailbox/']").first.click()


SHOTS = [
    ("login", None, "/login"),
    ("admin-home", "admin@forewarn.example", "/"),
    ("admin-changes", "admin@forewarn.example", "/changes"),
    ("admin-tenants", "admin@forewarn.example", "/admin/tenants"),
    ("admin-notice-policy", "admin@forewarn.example", "/admin/notice"),
    ("admin-mailbox", "admin@forewarn.example", "/mailbox/"),
    ("admin-mail-message", "admin@forewarn.example", open_first_mail),
    ("engineer-home", "engineer@forewarn.example", "/"),
    ("engineer-changes", "engineer@forewarn.example", "/changes"),
    ("engineer-draft", "engineer@forewarn.example", open_change(DRAFT)),
    ("engineer-new-change", "engineer@forewarn.example", "/changes/new"),
    ("engineer-publish-refused", "engineer@forewarn.example", publish_refused),
    ("engineer-scheduled-change", "engineer@forewarn.example", open_change(RATE_LIMIT)),
    ("approver-pending-emergency", "approver@forewarn.example", open_change(HOTFIX)),
    ("manager-desk", "manager@forewarn.example", "/desk/"),
    ("manager-desk-tenants", "manager@forewarn.example", "/desk/tenants"),
    ("manager-equal-notice", "manager@forewarn.example", "/certificates/2/equal-notice"),
    ("manager-certificate", "manager@forewarn.example", "/certificates/2/tapai"),
    ("customer-home", "admin@tapai.example", "/"),
    ("customer-changes", "admin@tapai.example", "/changes"),
    ("customer-change", "admin@tapai.example", open_change(RATE_LIMIT)),
    ("customer-feeds", "admin@tapai.example", "/feeds"),
    ("customer-contacts", "admin@tapai.example", "/settings/contacts"),
    ("customer-mailbox", "admin@tapai.example", "/mailbox/"),
    ("firstparty-changes", "user@ptu.example", "/changes"),
]


LONG = {"admin-mailbox", "admin-tenants", "engineer-scheduled-change", "customer-mailbox"}


def sign_in(page: Page, base: str, email: str) -> None:
    page.context.clear_cookies()
    page.goto(f"{base}/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-url", default="http://127.0.0.1:5000")
    parser.add_argument("--out", default=str(Path(__file__).parent))
    parser.add_argument("--only", default="", help="regular expression on the file stems")
    args = parser.parse_args()
    out = Path(args.out)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=shutil.which("chromium"),
            args=["--headless", "--no-sandbox", "--disable-gpu"],
        )
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        who = "nobody"
        for stem, email, target in SHOTS:
            if args.only and not re.search(args.only, stem):
                continue
            if email != who:
                page.context.clear_cookies()
                if email:
                    sign_in(page, args.base_url, email)
                who = email
            try:
                if callable(target):
                    target(page, args.base_url)
                else:
                    page.goto(args.base_url + target)
                page.wait_for_load_state("networkidle")
                # Long lists: the first screenful says enough and keeps the files small.
                page.screenshot(path=str(out / f"{stem}.png"), full_page=stem not in LONG)
                print(f"{stem}: {page.url}")
            except Exception as err:  # noqa: BLE001  (report and go on with the others)
                print(f"{stem}: FAILED {err}")
        browser.close()


if __name__ == "__main__":
    main()
