"""The published hooks (portal/hooks.py): a lower floor's call reaches the handlers above it, in
order, and a hook nobody connected fails loudly instead of silently skipping the outbox."""

from __future__ import annotations

import pytest

from portal import hooks
from portal.changes.reach import on_contacts_changed, on_usage_added
from portal.feeds.versions import bump_for_change
from portal.notify.announce import announce
from portal.notify.reminders import re_arm
from portal.notify.status import gate_reasons
from portal.subscriptions import feeds_after_announcement


def test_a_hook_without_handler_refuses_to_run():
    hook = hooks.Hook("nobody_listens")
    with pytest.raises(hooks.HookNotConnected, match="nobody_listens"):
        hook.call(1, now=2)


def test_handlers_run_once_each_in_connection_order_and_their_answers_come_back():
    hook = hooks.Hook("ordered")
    seen = []

    def first(x):
        seen.append(("first", x))
        return 1

    def second(x):
        seen.append(("second", x))
        return 2

    hook.connect(first)
    hook.connect(second)
    hook.connect(first)  # idempotent: still one call

    assert hook.call("a") == [1, 2]
    assert seen == [("first", "a"), ("second", "a")]


def test_the_app_connects_each_hook_to_the_handlers_the_services_used_to_call(app):
    # Notices are queued before the feeds move, as when services called both in turn.
    assert hooks.change_announced.handlers == (announce, feeds_after_announcement)
    assert hooks.change_rescheduled.handlers == (re_arm,)
    assert hooks.tenant_joined_change.handlers == (bump_for_change,)
    assert hooks.delivery_problems.handlers == (gate_reasons,)
    assert hooks.contacts_changed.handlers == (on_contacts_changed,)
    assert hooks.usage_added.handlers == (on_usage_added,)


def test_a_stand_in_answers_in_the_handlers_place_only_within_the_block():
    hook = hooks.Hook("test")
    calls = []
    first = hook.connect(lambda x: calls.append(("first", x)) or 1)
    second = hook.connect(lambda x: calls.append(("second", x)) or 2)
    with hook.replaced(first, lambda x: calls.append(("stand-in", x)) or 3):
        assert hook.call("a") == [3, 2]
    assert hook.call("b") == [1, 2]
    assert calls == [("stand-in", "a"), ("second", "a"), ("first", "b"), ("second", "b")]
    assert hook.handlers == (first, second)
    with pytest.raises(ValueError), hook.replaced(lambda x: x, first):
        pass
