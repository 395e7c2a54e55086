"""The history key: the secret that makes each record's hash an HMAC, kept outside the database.

Anyone who can write to the database can edit a record and recompute a plain
SHA-256 chain after it; recomputing an HMAC needs this key as well.  So the
key lives where the database's writers do not reach it: a file only the
service's account may read, or the service's environment.

- ``RENEW_FSM_KEY_FILE``: a file holding the key (``renew-fsm key init --out FILE`` makes one, mode 0600);
- ``RENEW_FSM_KEY``: the key itself, as 64 hexadecimal digits (a secret manager's variable).

The file wins when both are set.  Neither set: records are written by the old,
unkeyed rule, and ``verify`` says it could not check their authenticity.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

ENV_KEY_FILE = "RENEW_FSM_KEY_FILE"
ENV_KEY = "RENEW_FSM_KEY"
#: 256 bits: SHA-256's own block of security; shorter keys are refused rather than padded.
KEY_BYTES = 32


class KeyError_(ValueError):
    """A key that is set but unusable (a missing file, a short or malformed key): the message says which."""


class HistoryKey:
    """A key ready to sign: HMAC-SHA256's inner and outer states computed once.

    ``mac`` is the standard HMAC-SHA256 of RFC 2104, bit for bit; starting from
    copies of the two keyed states instead of ``hmac.new`` spares the key
    schedule and the module's Python layer on every record.
    """

    __slots__ = ("id", "inner", "outer", "raw")

    def __init__(self, raw: bytes) -> None:
        self.raw = raw
        block = raw.ljust(64, b"\0") if len(raw) <= 64 else hashlib.sha256(raw).digest().ljust(64, b"\0")
        self.inner = hashlib.sha256(bytes(b ^ 0x36 for b in block))
        self.outer = hashlib.sha256(bytes(b ^ 0x5C for b in block))
        self.id = key_id(raw)

    def mac(self, data: bytes) -> str:
        inner = self.inner.copy()
        inner.update(data)
        outer = self.outer.copy()
        outer.update(inner.digest())
        return outer.hexdigest()

    def __repr__(self) -> str:  # never the key itself
        return f"HistoryKey(id={self.id})"


def parse(text: str, where: str) -> bytes:
    """A key from its text form (hex digits, surrounding whitespace ignored)."""
    raw = text.strip()
    try:
        key = bytes.fromhex(raw)
    except ValueError:
        raise KeyError_(f"{where}: a key is {KEY_BYTES * 2} hexadecimal digits") from None
    if len(key) < KEY_BYTES:
        raise KeyError_(f"{where}: the key is {len(key)} bytes; it must be at least {KEY_BYTES}")
    return key


def from_file(path: str | Path) -> bytes:
    try:
        text = Path(path).read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as exc:
        raise KeyError_(f"cannot read the key file {path}: {exc}") from None
    return parse(text, str(path))


def from_env(env: Mapping[str, str] | None = None) -> HistoryKey | None:
    """The key the environment names, or ``None`` when it names none."""
    env = os.environ if env is None else env
    path = env.get(ENV_KEY_FILE)
    if path:
        return HistoryKey(from_file(path))
    text = env.get(ENV_KEY)
    if text:
        return HistoryKey(parse(text, ENV_KEY))
    return None


def init(path: str | Path) -> str:
    """A new random key written to ``path`` (refusing to overwrite one), readable by its owner only;
    returns the key's id."""
    key = secrets.token_bytes(KEY_BYTES)
    target = Path(path)
    # O_EXCL: an existing key is never replaced (the records signed with it would stop verifying).
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(key.hex() + "\n")
    return key_id(key)


#: The store's meta key naming the id of the key its records are signed with.
META_KEY_ID = "key_id"


def adopt(storage: Any, key: HistoryKey, *, mark: bool = True) -> None:
    """Mark ``storage`` as signed with ``key``, or refuse another key.

    The mark names the key's id (never the key) and how many records and registry-log entries
    the store already held by the old unkeyed rule, with an HMAC over both: those are the only
    old-rule records ``verify`` accepts from then on, so a chain rehashed by the old rule by
    someone without the key is found, not counted as written before the key.  A store opened
    with the wrong key would go on writing records the right one reports as forged, so that is
    refused before anything is written.  Without a key, the mark tells ``verify`` that keyed
    records are expected (it cannot check them); a store never marked is judged by the old rule.
    """
    stored = read_mark(storage)
    if stored is None and mark:
        from .machines import CASE_MACHINES
        from .model import CASE_PREFIX

        chains = [*storage.cycles(), *(CASE_PREFIX + m for m in CASE_MACHINES)]
        fields = {
            "id": key.id,
            "legacy_records": sum(storage.count_history(c) for c in chains),
            "legacy_entries": len(storage.registry_log()),
        }
        signed = {**fields, "mac": key.mac(_mark_text(fields))}
        with contextlib.suppress(Exception):  # a read-only copy: nothing to mark, nothing written
            storage.set_meta(META_KEY_ID, json.dumps(signed, sort_keys=True))
    elif stored is not None and stored.get("id") != key.id:
        storage.close()
        raise KeyError_(
            f"the records of {storage.url} are signed with the key whose id is {stored.get('id')}; the key given "
            f"has id {key.id}: give the store's own key"
        )


def _mark_text(fields: Mapping[str, Any]) -> bytes:
    return json.dumps({k: fields[k] for k in ("id", "legacy_records", "legacy_entries")}, sort_keys=True).encode()


def read_mark(storage: Any) -> dict[str, Any] | None:
    """The store's key mark (see ``adopt``), or ``None`` if it was never opened with a key."""
    raw = storage.get_meta(META_KEY_ID)
    if raw is None:
        return None
    try:
        mark = json.loads(raw)
    except ValueError:
        return {"id": raw}
    return mark if isinstance(mark, dict) else {"id": raw}


def mark_holds(mark: Mapping[str, Any], key: HistoryKey) -> bool:
    """Whether the mark's counts are the ones signed with ``key`` when it was adopted."""
    try:
        return hmac.compare_digest(str(mark["mac"]), key.mac(_mark_text(mark)))
    except KeyError:
        return False


def key_id(key: bytes) -> str:
    """A short public name of a key (an HMAC of a fixed text): tells two keys apart without showing either."""
    return hmac.new(key, b"renew-fsm key id", hashlib.sha256).hexdigest()[:16]


__all__ = [
    "ENV_KEY",
    "ENV_KEY_FILE",
    "KEY_BYTES",
    "HistoryKey",
    "KeyError_",
    "adopt",
    "from_env",
    "from_file",
    "init",
    "key_id",
    "mark_holds",
    "parse",
    "read_mark",
]
