"""A refusal survives pickling: services hand ``fire_many`` results and raised refusals across a
process pool or a task queue (Celery, RQ), and copy them."""

from __future__ import annotations

import copy
import pickle
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest
from conftest import H2, make_engine

import renew_fsm
from renew_fsm import Fire, Refused


def _fire_in_a_worker(url: str) -> list[renew_fsm.View | Refused]:
    engine = renew_fsm.open(url)
    try:
        return engine.fire_many([Fire("D1", "enroll", H2), Fire("D1", "no_such_event", H2)])
    finally:
        engine.close()


def _raise_in_a_worker(url: str) -> None:
    engine = renew_fsm.open(url)
    try:
        engine.fire("D1", "enroll", H2)
    finally:
        engine.close()


def test_a_refusal_pickles_and_copies_whole() -> None:
    refused = Refused("guard_failed", "the window is closed", rule="window_closed", message_zh="不在考核时间内")
    for again in (pickle.loads(pickle.dumps(refused)), copy.copy(refused), copy.deepcopy(refused)):
        assert type(again) is Refused and again.as_dict() == refused.as_dict() and str(again) == str(refused)


def test_refusals_come_back_from_a_process_pool(tmp_path: Path) -> None:
    url = str(tmp_path / "pool.db")
    make_engine(url).close()
    with ProcessPoolExecutor(1) as pool:
        results = pool.submit(_fire_in_a_worker, url).result()
        assert [(r.code, r.rule) for r in results] == [("forbidden", None), ("bad_input", None)]  # type: ignore[union-attr]
        with pytest.raises(Refused) as raised:
            pool.submit(_raise_in_a_worker, url).result()
    assert raised.value.code == "forbidden" and "outside the jurisdiction" in raised.value.message
