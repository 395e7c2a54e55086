"""The collector settings a long pass borrows come back, however passes overlap or end."""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator

import pytest

from renew_fsm.tuning import GC_THRESHOLDS, streaming_gc


@pytest.fixture(autouse=True)
def known_thresholds() -> Iterator[None]:
    before = gc.get_threshold()
    gc.set_threshold(700, 10, 10)
    yield
    gc.set_threshold(*before)


def test_a_pass_raises_the_thresholds_and_puts_them_back_even_when_it_fails() -> None:
    with pytest.raises(RuntimeError), streaming_gc():
        assert gc.get_threshold() == GC_THRESHOLDS
        raise RuntimeError("the pass failed")
    assert gc.get_threshold() == (700, 10, 10)


def test_overlapping_passes_in_threads_restore_what_the_first_found() -> None:
    first_in, second_in, first_may_leave = threading.Event(), threading.Event(), threading.Event()
    seen: list[tuple[int, ...]] = []

    def first() -> None:
        with streaming_gc():
            first_in.set()
            second_in.wait(5)
            first_may_leave.wait(5)
        seen.append(gc.get_threshold())  # the second pass still runs: still raised

    def second() -> None:
        first_in.wait(5)
        with streaming_gc():
            second_in.set()
            first_may_leave.set()
            t.join(5)

    t = threading.Thread(target=first)
    u = threading.Thread(target=second)
    t.start()
    u.start()
    u.join(10)
    assert seen == [GC_THRESHOLDS]
    assert gc.get_threshold() == (700, 10, 10)
