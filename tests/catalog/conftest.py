"""Fixtures shared with the tenants tests."""

from tests.tenants.conftest import ledger_actions  # noqa: F401
