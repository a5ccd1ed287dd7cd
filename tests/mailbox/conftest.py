"""Fixtures for the mailbox tests: demo mode, a free port and the sink on it."""

from __future__ import annotations

import socket

import pytest

from portal.mailbox.sink import start_sink


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def app_config(app_config):
    """The mailbox exists only in demo mode."""
    return {**app_config, "DEMO": True}


@pytest.fixture
def sink(app):
    """The demo's SMTP sink on a free port, storing into this test's database."""
    port = free_port()
    controller = start_sink(app, "127.0.0.1", port)
    yield controller
    controller.stop()
