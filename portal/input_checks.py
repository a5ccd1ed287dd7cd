"""The text rules of ``portal.inputs`` on every model attribute that holds what people type.

An ORM ``set`` listener on each attribute listed here checks every assignment (forms, API, CSV
import, upstream import, CLI): ``portal.inputs.check_single_line`` for those that hold one line,
``portal.inputs.check_text`` for multi-line text, raising ``InvalidInput`` naming the
attribute. ``portal.security.init_app`` installs them once per process.
"""

from __future__ import annotations

from sqlalchemy import event

from portal.acks.models import Objection, Waiver
from portal.auth.models import ApiToken, User
from portal.catalog.models import Component, PlatformTeam, Service
from portal.changes.models import (
    BlackoutWindow,
    Change,
    EmergencyRequest,
    ImpactLevel,
    NoticeBreach,
    Revision,
)
from portal.feeds.models import FeedToken, UpstreamFeed
from portal.inputs import check_single_line, check_text
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


def _text_attributes():
    """Multi-line text people type that feeds, calendars or mails carry."""
    return [
        (Change, "body_md"),
        (Change, "customer_action"),
        (Revision, "summary"),  # a cancellation's reason
        (EmergencyRequest, "justification"),
        (EmergencyRequest, "decision_reason"),
        (NoticeBreach, "justification"),
        (Objection, "reason"),
        (Objection, "answer"),
        (Waiver, "note"),
        (Service, "description"),
    ]


_installed = False


def install_single_line_checks() -> None:
    """Attach the ``set`` listeners once per process (models are module-level singletons)."""
    global _installed
    if _installed:
        return
    for rule, attributes in (
        (check_single_line, _single_line_attributes()),
        (check_text, _text_attributes()),
    ):
        for model, attribute in attributes:

            def check(target, value, oldvalue, initiator, _field=attribute, _rule=rule):
                return _rule(value, _field)

            event.listen(getattr(model, attribute), "set", check, retval=True)
    _installed = True
