"""Browser tests: Debian's Chromium driven by Playwright against the app served on a free port.

The app runs in demo mode with CSRF on (as a visitor meets it), seeded with the demo provider
at the test clock's T0, and served by a threaded werkzeug server in this process, so the test
and the server share the test's database. Skipped, with the reason, when Chromium is missing;
`.ci/run` installs it, so CI always runs them.
"""

from __future__ import annotations

import shutil
import threading

import pytest
from werkzeug.serving import make_server

from portal.demo.seed import seed_demo
from portal.extensions import db
from tests.conftest import T0

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
PASSWORD = "forewarn-demo"

pytestmark = pytest.mark.browser


def pytest_collection_modifyitems(items):
    if CHROMIUM is None:
        skip = pytest.mark.skip(
            reason="chromium is not installed (apt-get install -y --no-install-recommends chromium)"
        )
        for item in items:
            if "tests/browser" in str(item.fspath):
                item.add_marker(skip)


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    return {
        **browser_type_launch_args,
        "executable_path": CHROMIUM,
        "args": [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
        ],
    }


@pytest.fixture
def app_config(app_config):
    return {**app_config, "DEMO": True, "WTF_CSRF_ENABLED": True}


@pytest.fixture
def site(app):
    """The seeded demo provider served on a free port; yields the base URL."""
    with app.app_context():
        seed_demo(password=PASSWORD, now=T0)
        db.session.commit()
        db.session.remove()
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()
    thread.join(5)


@pytest.fixture
def sign_in(page, site):
    """``sign_in(email)``: sign ``page`` in through the login form; returns the page."""

    def _sign_in(email: str, password: str = PASSWORD):
        page.goto(f"{site}/login")
        page.get_by_label("Email").fill(email)
        page.get_by_label("Password", exact=True).fill(password)
        page.get_by_role("button", name="Sign in").click()
        return page

    return _sign_in
