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

from .app import create_app, open_engine
from .settings import Settings, default_pool

__all__ = ["Settings", "create_app", "default_pool", "open_engine"]
