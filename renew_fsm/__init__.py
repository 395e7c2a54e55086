"""renew_fsm — China's physician periodic assessment (医师定期考核) as explicit state machines.

import renew_fsm
from renew_fsm import Actor, Refused

engine = renew_fsm.open("cycle.db")   # SQLite file; ":memory:"; "memory:"; or "postgresql://…"
engine.apply({"op": "policy", "name": "guangxi-2019-2020"})
view = engine.fire("D1", "enroll", Actor("institution", "H1"))
"""

from __future__ import annotations

from typing import Any

from .engine import Engine, Fire
from .errors import CODES, Refused
from .model import Actor, CaseView, Record, View

try:
    from importlib.metadata import version as _version

    __version__ = _version("renew_fsm")
except Exception:  # a source tree run without installing: the version pyproject declares
    __version__ = "0.1.0"
#: ``open``'s default key: the one the environment names.
FROM_ENV: Any = object()


def open(url: str = "renew-fsm.db", *, create: bool = True, key: Any = FROM_ENV, adopt_key: bool = True) -> Engine:
    """An engine over the store at ``url`` (see ``renew_fsm.storage.open_storage``); ``create=False``
    for a tool that only reads: a file or database that is not a renew_fsm store is refused, untouched.

    ``key``: the history key (``renew_fsm.keys``) — raw bytes, a ``HistoryKey``, ``None`` for the old
    unkeyed rule; by default the one ``RENEW_FSM_KEY_FILE`` or ``RENEW_FSM_KEY`` names, if any
    (an unusable one raises ``renew_fsm.keys.KeyError_`` before the store is opened).  A store first
    opened with a key is marked with it (``keys.adopt``); ``adopt_key=False`` leaves an unmarked store
    as it is — what ``verify`` does, so checking a store never vouches for it.
    """
    from . import keys
    from .storage import open_storage

    chosen = keys.from_env() if key is FROM_ENV else keys.HistoryKey(key) if isinstance(key, bytes) else key
    storage = open_storage(url, create=create)
    storage.key = chosen
    if chosen is not None:
        keys.adopt(storage, chosen, mark=adopt_key)
    return Engine(storage)


__all__ = ["CODES", "Actor", "CaseView", "Engine", "Fire", "Record", "Refused", "View", "open"]
