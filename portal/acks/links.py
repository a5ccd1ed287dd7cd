"""Signed, expiring acknowledgement links for emails (itsdangerous).

A link is bound to one change, revision, tenant and recipient. Opening it (GET) only shows the
change and a confirm button; the POST records the acknowledgement, so mail scanners that
prefetch links never acknowledge anything.

Ages are measured on the portal's clock (``portal.clock.now``), so the demo's time travel and
the tests' frozen clock expire links exactly like real time does.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
from dataclasses import dataclass

from flask import current_app
from itsdangerous import BadSignature, SignatureExpired, TimestampSigner, URLSafeTimedSerializer
from itsdangerous.encoding import base64_encode
from itsdangerous.serializer import Serializer
from itsdangerous.signer import HMACAlgorithm

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


class PreparedHMAC(HMACAlgorithm):
    """HMAC-SHA1 exactly as itsdangerous computes it (RFC 2104), with the key's inner and outer
    pads hashed once per key and copied for each signature: a fan-out signs one link per
    recipient (``bench/fanout.py``)."""

    def __init__(self) -> None:
        super().__init__(hashlib.sha1)
        self._prepared: tuple[bytes, hmac.HMAC] | None = None

    def get_signature(self, key: bytes, value: bytes) -> bytes:
        prepared = self._prepared
        if prepared is None or prepared[0] != key:
            prepared = self._prepared = (key, hmac.new(key, digestmod=hashlib.sha1))
        mac = prepared[1].copy()
        mac.update(value)
        return mac.digest()


class ClockSigner(TimestampSigner):
    """Timestamps from the portal's clock instead of ``time.time()``; the derived key and the
    HMAC are prepared once per secret key (the signatures are itsdangerous' own)."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("algorithm", PreparedHMAC())
        super().__init__(*args, **kwargs)
        self._derived: dict[bytes | None, bytes] = {}

    def get_timestamp(self) -> int:
        return int(now().timestamp())

    def derive_key(self, secret_key: str | bytes | None = None) -> bytes:
        cache_key = secret_key.encode() if isinstance(secret_key, str) else secret_key
        derived = self._derived.get(cache_key)
        if derived is None:
            derived = self._derived[cache_key] = super().derive_key(secret_key)
        return derived


class AckSerializer(URLSafeTimedSerializer):
    """itsdangerous' URL-safe timed serializer that never compresses: an ack link's payload
    (four short values) is never shorter compressed, so zlib only cost time. Its tokens are
    read by any ``URLSafeTimedSerializer`` with the same key and salt (an uncompressed
    payload is one without the leading ".")."""

    def dump_payload(self, obj) -> bytes:
        return base64_encode(Serializer.dump_payload(self, obj))

    def make_signer(self, salt=None):
        """One signer per salt, kept (itsdangerous makes one per call; ours hold the prepared
        key and HMAC, which is the point)."""
        signers = self.__dict__.setdefault("_signers", {})
        signer = signers.get(salt)
        if signer is None:
            signer = signers[salt] = super().make_signer(salt)
        return signer


@functools.lru_cache(maxsize=4)
def _serializer_for(secret_key: str | bytes | tuple) -> AckSerializer:
    keys = list(secret_key) if isinstance(secret_key, tuple) else secret_key
    return AckSerializer(keys, salt=SALT, signer=ClockSigner)


def _serializer() -> AckSerializer:
    """The ack links' serializer for the app's SECRET_KEY (a list of keys, newest last, is
    itsdangerous' key rotation: links signed with an older key still verify)."""
    key = current_app.config["SECRET_KEY"]
    return _serializer_for(tuple(key) if isinstance(key, list) else key)


def make_ack_token(change_id: int, revision: int, tenant_id: int, recipient: str) -> str:
    """The signed, timestamped token of an acknowledgement link (URL-safe text)."""
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
