"""How the library runs the collector during its long, allocation-heavy passes.

A streamed phase of a simulation or a statistics pass makes millions of short-lived tuples and
lists and no reference cycles worth chasing; at the default thresholds (700, 10, 10) the collector
kept walking them, a visible share of a long simulation and of the statistics' roll-up.
Garbage between collections stays bounded (one collection per 50,000 new containers), and the
caller's settings come back afterwards.
"""

from __future__ import annotations

import contextlib
import gc
import threading
from collections.abc import Iterator

#: Collector thresholds for the duration of a long pass.
GC_THRESHOLDS = (50_000, 20, 20)

_lock = threading.Lock()
#: Passes running now (threads of one embedding service may overlap) and the thresholds found
#: before the first of them, which the last one puts back.
_running = 0
_found: tuple[int, ...] = ()


@contextlib.contextmanager
def streaming_gc() -> Iterator[None]:
    """``GC_THRESHOLDS`` while the block runs; the caller's thresholds after it, however it ends.

    Overlapping passes (two threads computing statistics) share one setting: the first sets it,
    the last restores what the first found, so no interleaving leaves the thresholds raised.
    """
    global _running, _found
    with _lock:
        if _running == 0:
            _found = gc.get_threshold()
            gc.set_threshold(*GC_THRESHOLDS)
        _running += 1
    try:
        yield
    finally:
        with _lock:
            _running -= 1
            if _running == 0:
                gc.set_threshold(*_found)
