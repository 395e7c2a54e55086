"""What ``renew-fsm serve`` is told, passed to every worker process through one environment variable."""

from __future__ import annotations

import json
import os

import attrs

ENV = "RENEW_FSM_SERVICE"
#: PostgreSQL's default ``max_connections`` is 100; the service keeps to well under half of it, so
#: backups, psql sessions, the sweeps and other services still get in.
CONNECTION_BUDGET = 40
MAX_POOL = 10


def default_pool(workers: int) -> int:
    """Engines (= connections) per worker: ``workers × pool`` ≤ ``CONNECTION_BUDGET``."""
    return max(1, min(MAX_POOL, CONNECTION_BUDGET // max(1, workers)))


@attrs.frozen
class Settings:
    db: str
    pool_size: int = MAX_POOL
    #: How long a SQLite write waits for another program's lock before the answer is 503.
    busy_timeout: float = 2.0
    #: How long a request waits for a free engine of the pool before the answer is 503.
    pool_wait: float = 10.0
    token_ttl: float = 8 * 3600.0
    failures: int = 5
    lockout_minutes: float = 15.0
    max_body: int = 1024 * 1024
    rehearsal: bool = False
    #: A trusted issuer of signed tokens (the province's single sign-on); off unless all three are given.
    jwt_issuer: str | None = None
    jwt_audience: str | None = None
    jwt_public_key: str | None = None

    def to_env(self) -> str:
        return json.dumps(attrs.asdict(self))

    @classmethod
    def from_env(cls) -> Settings:
        raw = os.environ.get(ENV)
        if not raw:
            db = os.environ.get("RENEW_FSM_DB")
            if not db:
                raise SystemExit(f"give the database: renew-fsm serve --db URL (or set {ENV} / RENEW_FSM_DB)")
            return cls(db=db)
        return cls(**json.loads(raw))


__all__ = ["CONNECTION_BUDGET", "ENV", "Settings", "default_pool"]
