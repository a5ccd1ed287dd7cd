"""The checkpoint signing key: a file outside the database (DESIGN.md "Proof").

``LEDGER_SIGNING_KEY_FILE`` (default ``<instance>/ledger-signing.key``) holds one signer key
in Go ``sumdb/note`` form, created by ``forewarn ledger keygen``. Rotating (``keygen
--rotate``) moves the old key aside and appends its public key to ``<key file>.retired``, so
checkpoints it signed still verify: ``trusted_verifiers`` is the current key plus the retired
ones, read from files, never from the database an attacker could write.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit

from flask import current_app

from forewarn_verify.notes import NoteError, Signer, Verifier, parse_signer_key, parse_verifier_key


class KeyMissing(RuntimeError):
    """No signing key is configured or readable (``forewarn ledger keygen`` creates one)."""


def origin() -> str:
    """The log's origin line and key name: ``LEDGER_ORIGIN``, else ``<BASE_URL host/path>/ledger``
    (C2SP tlog-checkpoint: a schema-less URL naming this log)."""
    configured = current_app.config.get("LEDGER_ORIGIN")
    if configured:
        return str(configured)
    url = urlsplit(current_app.config["BASE_URL"])
    return f"{url.netloc}{url.path.rstrip('/')}/ledger"


def key_path() -> Path:
    configured = current_app.config.get("LEDGER_SIGNING_KEY_FILE")
    return Path(configured) if configured else Path(current_app.instance_path, "ledger-signing.key")


def retired_path() -> Path:
    return key_path().with_name(key_path().name + ".retired")


_cache: dict[tuple, Signer] = {}


def signer() -> Signer:
    """The current signer; raises ``KeyMissing`` if the file is absent or unreadable."""
    path = key_path()
    try:
        stat = path.stat()
        cache_key = (str(path), stat.st_mtime_ns, stat.st_size)
        if cache_key not in _cache:
            _cache.clear()
            _cache[cache_key] = parse_signer_key(path.read_text())
        return _cache[cache_key]
    except (OSError, NoteError) as err:
        raise KeyMissing(f"no usable ledger signing key at {path}: {err}") from None


def has_signer() -> bool:
    try:
        signer()
    except KeyMissing:
        return False
    return True


def retired_verifiers() -> list[Verifier]:
    try:
        lines = retired_path().read_text().split()
    except OSError:
        return []
    return [parse_verifier_key(line) for line in lines if line.strip()]


def trusted_verifiers() -> list[Verifier]:
    """The current public key (if the key file is readable) and every retired one."""
    keys = retired_verifiers()
    if has_signer():
        keys.insert(0, signer().verifier)
    return keys


def keygen(*, rotate: bool = False) -> Signer:
    """Create the signing key file (mode 0600). With a key present, refuses unless ``rotate``:
    then the old public key is appended to the retired list and the old file kept beside as
    ``<key file>.<key id>.old``. Returns the new signer."""
    path = key_path()
    if path.exists():
        if not rotate:
            raise FileExistsError(f"{path} exists; use --rotate to replace it")
        old = signer()
        with retired_path().open("a") as out:
            out.write(old.verifier.encoded() + "\n")
        path.rename(path.with_name(f"{path.name}.{old.verifier.key_id.hex()}.old"))
    path.parent.mkdir(parents=True, exist_ok=True)
    new = Signer.generate(origin())
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(new.encoded() + "\n")
    return new
