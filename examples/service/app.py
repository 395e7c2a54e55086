"""Embedding the assessment service in a host application — a short example.

A province runs the service as it is: ``renew-fsm serve --db cycle.db`` (docs/guide.md).
A host that already has an ASGI application (a provincial portal, say) can mount
the same routes under a prefix instead; sign-in, the engine pool, the error
bodies and the body limit come with them:

    RENEW_FSM_DB=cycle.db uvicorn --app-dir examples/service app:host --port 8000

The routes then answer at /assessment/... (/assessment/docs for the API page).
The nightly sweeps stay a command on the server: ``renew-fsm sweep --db cycle.db``.
"""

from __future__ import annotations

import os

from fastapi import FastAPI

from renew_fsm.service import Settings, create_app

host = FastAPI(title="A provincial portal")


@host.get("/")
def home() -> dict[str, str]:
    return {"assessment": "/assessment/docs"}


# Four engines (four database connections) for this process: the host's own work needs some too.
host.mount("/assessment", create_app(Settings(db=os.environ.get("RENEW_FSM_DB", "cycle.db"), pool_size=4)))
