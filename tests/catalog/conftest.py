"""Helpers shared by the tenants tests."""

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.ledger.models import LedgerEntry


@pytest.fixture
def ledger_actions(app):
    """``ledger_actions()``: the actions written to the ledger so far, in order."""

    def _actions():
        query = select(LedgerEntry.action).order_by(LedgerEntry.seq)
        return db.session.execute(query).scalars().all()

    return _actions
