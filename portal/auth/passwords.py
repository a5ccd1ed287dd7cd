"""Password rules and constant-time refusal (issue 17 item 4).

A new password must have at least ``MIN_PASSWORD`` characters, must not contain the user's
e-mail address or its local part, and must not be guessable: zxcvbn (Dropbox's estimator, with
its bundled lists of common passwords, names and words) must score it at least ``MIN_SCORE``
of 4, with the user's e-mail and name counted as known words (NIST SP 800-63B §5.1.1.2).

Checking a password against a user who does not exist hashes it against ``dummy_hash()``, so
that a known and an unknown address take the same time to refuse (no account enumeration).
"""

from __future__ import annotations

from functools import lru_cache

from werkzeug.security import check_password_hash, generate_password_hash
from zxcvbn import zxcvbn

from portal.errors import InvalidInput

MIN_PASSWORD = 12
MAX_PASSWORD = 200
MIN_SCORE = 3  # zxcvbn 0 … 4; 3 = "safely unguessable" for online attacks


def check_new_password(
    password: str | None, *, email: str = "", name: str = "", field: str = "password"
) -> str:
    """``password`` if it may be set for the user with ``email`` and ``name``; else
    ``InvalidInput`` (400) naming ``field`` and saying why."""
    password = password or ""
    if len(password) < MIN_PASSWORD:
        raise InvalidInput(f"a password needs at least {MIN_PASSWORD} characters", field=field)
    if len(password) > MAX_PASSWORD:
        raise InvalidInput(f"a password has at most {MAX_PASSWORD} characters", field=field)
    lowered = password.lower()
    email = (email or "").strip().lower()
    local = email.split("@", 1)[0]
    if email and (email in lowered or (len(local) >= 3 and local in lowered)):
        raise InvalidInput("the password must not contain your e-mail address", field=field)
    hints = [w for w in (email, local, *email.replace("@", " ").replace(".", " ").split()) if w]
    hints += (name or "").lower().split()
    verdict = zxcvbn(password[:100], user_inputs=hints)
    if verdict["score"] < MIN_SCORE:
        advice = verdict["feedback"].get("warning") or "it is too easy to guess"
        raise InvalidInput(
            f"choose a harder password: {advice.rstrip('.').lower()}. "
            "A few unrelated words make a good one.",
            field=field,
        )
    return password


@lru_cache(maxsize=1)
def dummy_hash() -> str:
    """A hash made with the current default method, to check against when there is no user."""
    return generate_password_hash("no user has this password")


def check_against_nobody(password: str) -> None:
    """Spend the time a real check takes, for an unknown or inactive user."""
    check_password_hash(dummy_hash(), password or "")
