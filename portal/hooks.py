"""Published hooks: how a lower floor hands work to the floors above it without importing them.

``docs/architecture.md`` stacks the packages in floors; a module may import only its own floor
and those below. Where a lower floor must set off work above it, it calls a hook declared here,
and ``portal.subscriptions`` (wired by ``create_app``) connects the handlers of the higher
floors:

- the changes services publish a revision (``change_announced``): delivery queues its notices
  and the feeds move their versions, in the same transaction;
- a revision moves the start (``change_rescheduled``): delivery re-arms reminders;
- a late joiner is announced to (``tenant_joined_change``): the feeds move;
- the go-live gate asks why notice is not given yet (``delivery_problems``): delivery answers;
- a tenant gains a notice contact or starts using a service (``contacts_changed``,
  ``usage_added``, from the tenants services): the changes' affected set moves.

A hook with no handler raises ``HookNotConnected`` instead of silently doing nothing: a publish
that wrote no outbox rows would break the notice window's guarantee (DESIGN.md "Delivery").
Handlers run in the order they were connected, in the caller's transaction; what they return is
handed back as a list.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

Handler = Callable[..., Any]


class HookNotConnected(RuntimeError):
    """A hook was called before ``portal.subscriptions.subscribe_all`` connected its handler
    (code running outside an app made by ``create_app``)."""


class Hook:
    """One published event: ``connect`` a handler (idempotent), ``call`` them all in order.

    ``call`` returns each handler's answer, in connection order; raises ``HookNotConnected``
    when no handler is connected."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._handlers: list[Handler] = []

    def connect(self, handler: Handler) -> Handler:
        """Add ``handler`` (once, however often it is connected); returns it."""
        if handler not in self._handlers:
            self._handlers.append(handler)
        return handler

    @property
    def handlers(self) -> tuple[Handler, ...]:
        """The connected handlers, in calling order."""
        return tuple(self._handlers)

    @contextlib.contextmanager
    def replaced(self, handler: Handler, stand_in: Handler) -> Iterator[None]:
        """Within the block, ``stand_in`` answers in ``handler``'s place (same position), e.g.
        to time or observe it (``bench/fanout.py``); ValueError if ``handler`` is not
        connected."""
        index = self._handlers.index(handler)
        self._handlers[index] = stand_in
        try:
            yield
        finally:
            self._handlers[index] = handler

    def call(self, *args: Any, **kwargs: Any) -> list[Any]:
        """Run every handler with these arguments; their answers, in order."""
        if not self._handlers:
            raise HookNotConnected(
                f"no handler for the {self.name!r} hook: build the app with create_app "
                "(portal.subscriptions connects them)"
            )
        return [handler(*args, **kwargs) for handler in self._handlers]


# changes → delivery, feeds. Arguments: (change, revision, *, now, dropped: Sequence[int]).
change_announced = Hook("change_announced")
# changes → delivery. Arguments: (change, now); the start has moved.
change_rescheduled = Hook("change_rescheduled")
# changes → feeds. Arguments: (change, now); a tenant joined the change's affected set.
tenant_joined_change = Hook("tenant_joined_change")
# changes (the go-live gate) → delivery. Arguments: (change_id, tenant_ids: list[int]);
# each handler answers {tenant_id: reason} for the tenants whose notice is not given.
delivery_problems = Hook("delivery_problems")
# tenants → changes. Arguments: (tenant_id, *, actor, now); each answers a count.
contacts_changed = Hook("contacts_changed")
usage_added = Hook("usage_added")
