"""The single-line rule of ``portal.inputs`` on every model attribute that holds one line.

An ORM ``set`` listener on each attribute listed here checks every assignment (forms, API, CSV
import, upstream import, CLI) with ``portal.inputs.check_single_line``, raising ``InvalidInput``
naming the attribute. ``portal.security.init_app`` installs them once per process.
"""

from __future__ import annotations

from sqlalchemy import event

from portal.acks.models import Waiver
from portal.auth.models import ApiToken, User
from portal.catalog.models import Component, PlatformTeam, Service
from portal.changes.models import BlackoutWindow, Change, ImpactLevel
from portal.feeds.models import FeedToken, UpstreamFeed
from portal.inputs import check_single_line
from portal.tenants.models import ContractTerm, NoticeContact, Tenant


def _single_line_attributes():
    return [
        (Change, "title"),
        (Tenant, "name"),
        (Tenant, "slug"),
        (Tenant, "time_zone"),
        (User, "name"),
        (User, "email"),
        (User, "time_zone"),
        (NoticeContact, "name"),
        (NoticeContact, "email"),
        (ApiToken, "name"),
        (FeedToken, "name"),
        (PlatformTeam, "name"),
        (PlatformTeam, "slug"),
        (Service, "name"),
        (Service, "slug"),
        (Component, "name"),
        (Component, "slug"),
        (ImpactLevel, "name"),
        (BlackoutWindow, "reason"),
        (ContractTerm, "reference"),
        (UpstreamFeed, "name"),
        (UpstreamFeed, "url"),
        (Waiver, "agreed_by"),
    ]


_installed = False


def install_single_line_checks() -> None:
    """Attach the ``set`` listeners once per process (models are module-level singletons)."""
    global _installed
    if _installed:
        return
    for model, attribute in _single_line_attributes():

        def check(target, value, oldvalue, initiator, _field=attribute):
            return check_single_line(value, _field)

        event.listen(getattr(model, attribute), "set", check, retval=True)
    _installed = True
