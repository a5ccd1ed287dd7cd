"""`forewarn demo` as a visitor meets it: a real subprocess on free ports that migrates, seeds,
serves, delivers the story's notices into its mailbox, and stops cleanly on SIGTERM."""

from __future__ import annotations

import html
import http.cookiejar
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

FORWEWARN = Path(sys.executable).with_name("forewarn")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Visitor:
    """A browser-less visitor with a cookie jar."""

    def __init__(self, base: str):
        self.base = base
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
        )

    def get(self, path: str) -> tuple[int, str]:
        try:
            with self.opener.open(self.base + path, timeout=10) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as err:
            return err.code, err.read().decode()

    def log_in(self, email: str, password: str) -> str:
        _, page = self.get("/login")
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page) or re.search(
            r'name="csrf_token" value="([^"]+)"', page
        )
        assert token, "the login form has no CSRF token"
        body = urllib.parse.urlencode(
            {"csrf_token": token.group(1), "email": email, "password": password}
        ).encode()
        with self.opener.open(self.base + "/login", data=body, timeout=10) as response:
            return response.read().decode()


def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(0.3)
    pytest.fail(f"timed out after {timeout} s waiting for {what}")


def healthy(visitor: Visitor) -> bool:
    try:
        return visitor.get("/healthz")[0] == 200
    except OSError:
        return False


@pytest.fixture
def demo(tmp_path):
    """`forewarn demo` on free ports with its own instance folder; always stopped."""
    port, smtp_port = free_port(), free_port()
    env = {
        **os.environ,
        "PORTAL_INSTANCE_PATH": str(tmp_path / "instance"),
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("PORTAL_DATABASE_URL", None)
    log = (tmp_path / "demo.log").open("w+")
    proc = subprocess.Popen(
        [str(FORWEWARN), "demo", "--port", str(port), "--smtp-port", str(smtp_port)],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
    )
    visitor = Visitor(f"http://127.0.0.1:{port}")
    try:
        yield proc, visitor, log
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        log.close()


def output(log) -> str:
    log.flush()
    log.seek(0)
    return log.read()


def test_demo_serves_delivers_mail_and_stops_cleanly(demo):
    proc, visitor, log = demo
    wait_for(lambda: healthy(visitor) or proc.poll() is not None, 40, "the demo to serve")
    assert proc.poll() is None, output(log)
    printed = output(log)
    assert "admin@forewarn.example" in printed and "forewarn-demo" in printed
    assert "engineer@forewarn.example" in printed and "admin@tapai.example" in printed

    home = visitor.log_in("admin@forewarn.example", "forewarn-demo")
    assert "Sign out" in home or "Log out" in home or "logout" in home.lower(), home[:500]

    # The story's scheduled change was published at seeding; the worker delivers its notices
    # into the sink, and they show in the mailbox within seconds.
    def mailbox_has_notice():
        status, page = visitor.get("/mailbox/?q=lower+rate+limit")
        assert status == 200
        return re.search(r'href="/mailbox/\d+">[^<]*lower rate limit', html.unescape(page))

    wait_for(mailbox_has_notice, 20, "the rate-limit notice in the mailbox")

    proc.send_signal(signal.SIGTERM)
    assert proc.wait(15) == 0, output(log)
    assert "Demo stopped." in output(log)
