"""``renew_fsm.service``: the HTTP service a province puts on its network (``renew-fsm serve``).

    pip install 'renew_fsm[service]'          # plus [postgres] for a postgresql:// store
    renew-fsm serve --db cycle.db --port 8000 --workers 4

FastAPI routes over the public engine API (``app``), signed-in accounts with
bearer tokens (``sessions``), a bounded pool of engines — one database
connection each — per process (``pool``), and the settings every worker reads
(``settings``).  To embed the routes in another ASGI host, call
``create_app(Settings(db=...))``.
"""

from __future__ import annotations

from typing import Any

from .settings import Settings, default_pool


def __getattr__(name: str) -> Any:
    # The app needs the service extra (FastAPI); the settings and the sessions do not, so
    # ``renew-fsm sweep`` can purge ended sessions on a server without it.
    if name in ("create_app", "open_engine"):
        from . import app

        return getattr(app, name)
    raise AttributeError(name)


__all__ = ["Settings", "create_app", "default_pool", "open_engine"]
