"""renew_fsm — China's physician periodic assessment (医师定期考核) as explicit state machines.

import renew_fsm
from renew_fsm import Actor, Refused

engine = renew_fsm.open("cycle.db")   # SQLite file; ":memory:"; "memory:"; or "postgresql://…"
engine.apply({"op": "policy", "name": "guangxi-2019-2020"})
view = engine.fire("D1", "enroll", Actor("institution", "H1"))
"""

from __future__ import annotations

from .engine import Engine, Fire
from .errors import CODES, Refused
from .model import Actor, CaseView, Record, View

try:
    from importlib.metadata import version as _version

    __version__ = _version("renew_fsm")
except Exception:  # a source tree run without installing: the version pyproject declares
    __version__ = "0.1.0"


def open(url: str = "renew-fsm.db", *, create: bool = True) -> Engine:
    """An engine over the store at ``url`` (see ``renew_fsm.storage.open_storage``); ``create=False``
    for a tool that only reads: a file or database that is not a renew_fsm store is refused, untouched."""
    from .storage import open_storage

    return Engine(open_storage(url, create=create))


__all__ = ["CODES", "Actor", "CaseView", "Engine", "Fire", "Record", "Refused", "View", "open"]
