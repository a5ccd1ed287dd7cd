"""Signed, expiring acknowledgement links for emails (itsdangerous).

A link is bound to one change, revision, tenant and recipient. Opening it (GET) only shows the
change and a confirm button; the POST records the acknowledgement, so mail scanners that
prefetch links never acknowledge anything.

Ages are measured on the portal's clock (``portal.clock.now``), so the demo's time travel and
the tests' frozen clock expire links exactly like real time does.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app
from itsdangerous import BadSignature, SignatureExpired, TimestampSigner, URLSafeTimedSerializer

from portal.clock import now

SALT = "forewarn.ack.v1"
DEFAULT_MAX_AGE = 60 * 60 * 24 * 120  # links outlive the longest (90-day) notice window


@dataclass(frozen=True)
class AckClaim:
    change_id: int
    revision: int
    tenant_id: int
    recipient: str


class AckLinkError(Exception):
    """The link is expired or not one we signed; ``reason`` is shown to the reader."""

    def __init__(self, reason: str, expired: bool = False):
        super().__init__(reason)
        self.reason = reason
        self.expired = expired


class ClockSigner(TimestampSigner):
    """Timestamps from the portal's clock instead of ``time.time()``."""

    def get_timestamp(self) -> int:
        return int(now().timestamp())


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=SALT, signer=ClockSigner)


def make_ack_token(change_id: int, revision: int, tenant_id: int, recipient: str) -> str:
    return _serializer().dumps([change_id, revision, tenant_id, recipient.lower()])


def read_ack_token(token: str, max_age: int | None = None) -> AckClaim:
    """Decode a link token, or raise AckLinkError saying why it cannot be used."""
    max_age = max_age or current_app.config.get("ACK_LINK_MAX_AGE_SECONDS", DEFAULT_MAX_AGE)
    if not token or len(token) > 1000:
        raise AckLinkError("This acknowledgement link is not valid.")
    try:
        data = _serializer().loads(token, max_age=max_age)
    except SignatureExpired:
        raise AckLinkError("This acknowledgement link has expired.", expired=True) from None
    except BadSignature:
        raise AckLinkError("This acknowledgement link is not valid.") from None
    if (
        not isinstance(data, list)
        or len(data) != 4
        or not all(isinstance(v, int) for v in data[:3])
        or not isinstance(data[3], str)
    ):
        raise AckLinkError("This acknowledgement link is not valid.")
    return AckClaim(*data)


def acknowledge_url(change_id: int, revision: int, tenant_id: int, recipient: str) -> str:
    """Absolute URL of the acknowledgement page for an email (route owned by the acks feature)."""
    token = make_ack_token(change_id, revision, tenant_id, recipient)
    return f"{current_app.config['BASE_URL'].rstrip('/')}/ack/{token}"
