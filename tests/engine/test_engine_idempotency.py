"""Idempotency keys: a client that retries a command it is unsure about gets one effect."""

from __future__ import annotations

import pytest
from conftest import EXAM, H1, at, doctor, doctor_cmd, make_engine, to_testing

import renew_fsm
from renew_fsm import Fire, Refused


def test_firing_twice_with_one_key_writes_one_record(engine: renew_fsm.Engine) -> None:
    first = engine.fire("D1", "enroll", H1, idempotency_key="req-1")
    again = engine.fire("D1", "enroll", H1, idempotency_key="req-1")  # a retry; without the key: invalid_transition
    assert again == first
    assert again.version == 1
    assert [(r.event, r.idempotency_key) for r in engine.history("D1")] == [("enroll", "req-1")]


def test_a_retried_score_counts_once(engine: renew_fsm.Engine) -> None:
    to_testing(engine, "D1", "general")
    score = {"test": "humanities", "score": 40}
    for _ in range(3):
        view = engine.fire("D1", "record_score", EXAM, score, at=at("2021-06-02"), idempotency_key="attempt-1")
    assert view.instance.humanities_attempts == 1
    view = engine.fire("D1", "record_score", EXAM, score, at=at("2021-06-02"), idempotency_key="attempt-2")
    assert view.instance.humanities_attempts == 2
    assert [r.idempotency_key for r in engine.history("D1")][-2:] == ["attempt-1", "attempt-2"]


def test_a_key_belongs_to_one_doctor(url: str) -> None:
    e = make_engine(url, [doctor_cmd("D1"), doctor_cmd("D2", serial=2)])
    e.fire("D1", "enroll", H1, idempotency_key="k")
    assert e.fire("D2", "enroll", H1, idempotency_key="k").state == "enrolled"
    assert len(e.history("D2")) == 1
    e.close()


def test_a_refused_command_does_not_use_up_its_key(engine: renew_fsm.Engine) -> None:
    with pytest.raises(Refused) as caught:
        engine.fire("D1", "enroll", H1, at=at("2021-06-01"), idempotency_key="k")
    assert caught.value.rule == "window_closed"
    assert engine.fire("D1", "enroll", H1, at=at("2021-05-01"), idempotency_key="k").state == "enrolled"
    assert len(engine.history("D1")) == 1


def test_one_key_twice_in_a_batch(engine: renew_fsm.Engine) -> None:
    results = engine.fire_many(
        [
            Fire("D1", "enroll", H1, idempotency_key="a"),
            Fire("D1", "enroll", H1, idempotency_key="a"),
            Fire("D1", "submit_info", doctor("D1"), idempotency_key="b"),
        ]
    )
    assert [getattr(r, "state", r) for r in results] == ["enrolled", "enrolled", "info_submitted"]
    assert [r.idempotency_key for r in engine.history("D1")] == ["a", "b"]


def test_the_replay_fire_op_carries_a_key(engine: renew_fsm.Engine) -> None:
    cmd = {"op": "fire", "doctor": "D1", "event": "enroll", "actor": {"role": "institution", "id": "H1"},
           "idempotency_key": "line-7"}
    engine.apply(cmd)
    engine.apply(cmd)
    assert len(engine.history("D1")) == 1
    assert engine.storage.find_idempotent(engine.cycle, "D1", "line-7") == engine.history("D1")[0]
