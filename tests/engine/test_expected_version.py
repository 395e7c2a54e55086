"""``Engine.fire(expected_version=)``: the write is made only where the instance still has the version
the caller decided on — judged by the write itself, so a writer slipping in between the read and
the write is caught too, and of many requests expecting one version exactly one is accepted."""

from __future__ import annotations

import datetime as dt
import threading
from collections import Counter

import pytest
from conftest import H1, doctor_cmd, make_engine, to_testing

import renew_fsm
from renew_fsm import Actor, Refused


def code(call) -> str:
    with pytest.raises(Refused) as refused:
        call()
    return refused.value.code


def test_a_moved_version_is_a_conflict_and_writes_nothing(url: str) -> None:
    engine = make_engine(url)
    engine.fire("D1", "enroll", H1)
    assert code(lambda: engine.fire("D1", "submit_info", Actor("doctor", "D1"), expected_version=0)) == "conflict"
    assert engine.state("D1").version == 1 and len(engine.history("D1")) == 1
    assert code(lambda: engine.fire("D1", "submit_info", Actor("doctor", "D1"), expected_version=-1)) == "bad_input"
    assert engine.fire("D1", "submit_info", Actor("doctor", "D1"), expected_version=1).version == 2
    engine.close()


def test_a_retry_of_the_write_that_moved_the_version_gets_its_answer(url: str) -> None:
    engine = make_engine(url)
    first = engine.fire("D1", "enroll", H1, idempotency_key="k1", expected_version=0)
    again = engine.fire("D1", "enroll", H1, idempotency_key="k1", expected_version=0)
    assert first == again and len(engine.history("D1")) == 1
    engine.close()


def test_a_writer_between_the_read_and_the_write_is_caught(sql_url: str) -> None:
    """Engine A reads version 1 and decides; engine B writes before A commits: A is refused."""
    a = make_engine(sql_url)
    a.fire("D1", "enroll", H1)
    b = renew_fsm.open(sql_url)
    commit = a.storage.commit

    def b_first(*args: object, **kwargs: object) -> None:
        b.fire("D1", "cancel_enrollment", H1)
        commit(*args, **kwargs)  # type: ignore[arg-type]

    a.storage.commit = b_first  # type: ignore[method-assign]
    assert code(lambda: a.fire("D1", "submit_info", Actor("doctor", "D1"), expected_version=1)) == "conflict"
    a.storage.commit = commit  # type: ignore[method-assign]
    assert [r.event for r in a.history("D1")] == ["enroll", "cancel_enrollment"]
    a.close()
    b.close()


def test_of_many_expecting_one_version_exactly_one_is_accepted(sql_url: str) -> None:
    make_engine(sql_url, [doctor_cmd("D1")]).close()
    engines = [renew_fsm.open(sql_url) for _ in range(6)]
    start = threading.Barrier(len(engines))
    outcomes: Counter[str] = Counter()

    def one(engine: renew_fsm.Engine) -> None:
        start.wait()
        try:
            engine.fire("D1", "enroll", H1, expected_version=0)
            outcomes["ok"] += 1
        except Refused as refused:
            outcomes[refused.code] += 1

    threads = [threading.Thread(target=one, args=(e,)) for e in engines]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outcomes == Counter({"ok": 1, "conflict": len(engines) - 1})
    assert len(engines[0].history("D1")) == 1
    for e in engines:
        e.close()


def test_a_province_testing_app_scores_only_that_province_s_doctors(url: str) -> None:
    """Its account's id is its province: a testing app of another region is outside the jurisdiction."""
    engine = make_engine(url)
    to_testing(engine, "D1")
    when = dt.datetime.fromisoformat("2021-06-02T10:00:00+08:00")
    score = {"test": "business", "score": 80}
    assert code(lambda: engine.fire("D1", "record_score", Actor("exam_system", "GL"), score, when)) == "forbidden"
    assert engine.fire("D1", "record_score", Actor("exam_system", "GX"), score, when).version > 0
    engine.close()
