"""A bounded pool of engines: the service's only way to the database.

An engine holds one database connection (SQLite or PostgreSQL), and a
connection carries one transaction at a time, so a request checks an engine
out for itself alone and gives it back when it is answered.  The pool never
holds more than ``size`` engines, so a service process never holds more than
``size`` connections, however many requests wait: ``workers × size`` is the
whole service's share of the server's ``max_connections``.  A request that
cannot get an engine within ``wait`` seconds is answered 503, not queued for
ever.  An engine whose connection failed is closed and its place given to a
fresh one on the next checkout.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable

from ..engine import Engine
from ..storage import StorageError


class PoolExhausted(Exception):
    """No engine came free in time: the service is busier than its pool."""


class Engines:
    def __init__(self, opener: Callable[[], Engine], size: int, *, wait: float = 10.0) -> None:
        if size < 1:
            raise ValueError("a pool holds at least one engine")
        self._open = opener
        self.size = size
        self.wait = wait
        self._slots = threading.BoundedSemaphore(size)
        self._idle: list[Engine] = []
        self._lock = threading.Lock()
        self._closed = False

    def acquire(self) -> Engine:
        if not self._slots.acquire(timeout=self.wait):
            raise PoolExhausted(f"all {self.size} database connections stayed busy for {self.wait:g} s")
        with self._lock:
            if self._idle:
                return self._idle.pop()
        try:
            return self._open()
        except BaseException:
            self._slots.release()
            raise

    def release(self, engine: Engine) -> None:
        with self._lock:
            if not self._closed:
                self._idle.append(engine)
                engine = None  # type: ignore[assignment]
        if engine is not None:
            engine.close()
        self._slots.release()

    def discard(self, engine: Engine, *, idle_too: bool = False) -> None:
        """Give back an engine whose connection failed: closed, its place free for a fresh one.

        ``idle_too`` closes the idle engines as well: a lost connection mostly means the server
        restarted or failed over, and then every idle connection is gone too — each would fail a request.
        """
        idle: list[Engine] = []
        if idle_too:
            with self._lock:
                idle, self._idle = self._idle, []
        for gone in (engine, *idle):
            with contextlib.suppress(StorageError, OSError):
                gone.close()
        self._slots.release()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for engine in idle:
            engine.close()


__all__ = ["Engines", "PoolExhausted"]
