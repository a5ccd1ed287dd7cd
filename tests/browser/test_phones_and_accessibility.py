"""Every main page of every role, on a phone, a laptop and a screen reader (issue #16 items
5, 6, 8).

Each role signs in and walks its pages breadth first from its home page (one page per path
shape, so one change page stands for all). At 390 px wide nothing may make the page
scroll sideways (wide tables scroll inside their own box), and axe-core (the copy shipped by
``axe-playwright-python``) may report no serious or critical violation at 390 or 1366 px. Set
FOREWARN_SCREENSHOTS=<folder> to save the pictures of docs/screenshots (the pages in SHOWN),
e.g. ``FOREWARN_SCREENSHOTS=docs/screenshots python -m pytest tests/browser/test_phones…``.
"""

from __future__ import annotations

import os
import re
from urllib.parse import urljoin, urlsplit

import pytest
from axe_playwright_python.sync_playwright import Axe

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        bool(os.environ.get("PORTAL_TEST_DATABASE_URL")),
        reason="layout and accessibility do not depend on the database: checked in the SQLite run",
    ),
]


PHONE = {"width": 390, "height": 844}
SCREEN = {"width": 1366, "height": 900}

# The pages worth a picture in docs/screenshots (one per path shape and width).
SHOWN = {
    "/",
    "/changes",
    "/changes/N",
    "/changes/N/edit",
    "/desk/",
    "/desk/changes/N",
    "/certificates/N/S",
    "/feeds",
    "/settings/contacts",
    "/admin/tenants",
}

ROLES = {
    "admin": "admin@forewarn.example",
    "engineer": "engineer@forewarn.example",
    "account manager": "manager@forewarn.example",
    "customer admin": "admin@tapai.example",
}

# Each role's walk: breadth first from its home page, one page per path shape (ids and tenant
# slugs replaced), at most MAX_PAGES; feeds, files, the API and signing out are not pages.
MAX_PAGES = 32
SKIP = ("/logout", ".ics", ".rss", ".atom", ".json", ".csv", "/feeds/t/", "/static/", "/api/")


def _shape(path: str) -> str:
    shape = re.sub(r"/\d+", "/N", path.split("?")[0])
    return re.sub(r"/(tenants|certificates/N)/(?!new$|equal-notice$)[a-z0-9-]+", r"/\1/S", shape)


def _links(page, site: str) -> list[str]:
    hrefs = page.eval_on_selector_all("a[href]", "els => els.map(e => e.getAttribute('href'))")
    found = []
    for href in hrefs:
        parts = urlsplit(urljoin(page.url, href))
        if not parts.geturl().startswith(site) or any(s in parts.path for s in SKIP):
            continue
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        if path not in found:
            found.append(path)
    return found


def _walk(page, site: str):
    """Yield each page of the walk after loading it in ``page``."""
    queue, shapes = ["/"], set()
    while queue and len(shapes) < MAX_PAGES:
        path = queue.pop(0)
        if _shape(path) in shapes:
            continue
        shapes.add(_shape(path))
        page.goto(f"{site}{path}")
        yield path
        queue.extend(p for p in _links(page, site) if _shape(p) not in shapes)


def _problems(page, max_width: int | None) -> list[str]:
    """Sideways scrolling beyond ``max_width`` (when given) and serious axe violations."""
    problems = []
    width = page.evaluate("document.documentElement.scrollWidth")
    if max_width and width > max_width:
        # Measured once more after the page settles: on a loaded CI machine one run found the
        # home page 410 px wide, a width no later render of the same page reproduced (CI of
        # session 6). A page that is really too wide stays too wide.
        page.wait_for_load_state("networkidle")
        page.wait_for_timeout(500)
        width = page.evaluate("document.documentElement.scrollWidth")
    if max_width and width > max_width:
        wide = page.evaluate(
            """() => [...document.querySelectorAll('body *')]
                 .filter(e => e.getBoundingClientRect().right > 391)
                 .slice(0, 3).map(e => e.tagName.toLowerCase() + '.' + e.className)"""
        )
        problems.append(f"{width} px wide ({', '.join(wide)})")
    results = Axe().run(page)
    for violation in results.response["violations"]:
        if violation["impact"] in ("serious", "critical"):
            targets = [n["target"][0] for n in violation["nodes"][:2]]
            problems.append(f"axe {violation['id']} ({violation['impact']}): {targets}")
    return problems


@pytest.mark.parametrize("viewport", [PHONE, SCREEN], ids=["390px", "1366px"])
@pytest.mark.parametrize("role", list(ROLES))
def test_every_main_page_fits_and_passes_axe(browser, site, role, viewport):
    phone = viewport is PHONE
    context = browser.new_context(viewport=viewport, is_mobile=phone, has_touch=phone)
    page = context.new_page()
    page.goto(f"{site}/login")
    page.get_by_label("Email").fill(ROLES[role])
    page.get_by_label("Password", exact=True).fill("forewarn-demo")
    page.get_by_role("button", name="Sign in").click()
    failures, visited = {}, []
    shots = os.environ.get("FOREWARN_SCREENSHOTS")
    for path in _walk(page, site):
        visited.append(path)
        if shots and _shape(path) in SHOWN:
            shape = _shape(path).strip("/").replace("/", "-") or "home"
            name = f"{role.replace(' ', '-')}-{viewport['width']}-{shape}.png"
            page.screenshot(path=os.path.join(shots, name))
        problems = _problems(page, viewport["width"] if phone else None)
        if problems:
            failures[path] = problems
    assert len(visited) >= 8, visited
    context.close()
    assert not failures, "\n".join(f"{p}: {'; '.join(v)}" for p, v in failures.items())
