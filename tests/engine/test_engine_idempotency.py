"""Idempotency keys: a client that retries a command it is unsure about gets one effect."""

from __future__ import annotations

import pytest
from conftest import EXAM, H1, H2, at, doctor, doctor_cmd, make_engine, to_testing

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
    cmd = {
        "op": "fire",
        "doctor": "D1",
        "event": "enroll",
        "actor": {"role": "institution", "id": "H1"},
        "idempotency_key": "line-7",
    }
    engine.apply(cmd)
    engine.apply(cmd)
    assert len(engine.history("D1")) == 1
    assert engine.storage.find_idempotent(engine.cycle, "D1", "line-7") == engine.history("D1")[0]


def test_a_key_sent_again_with_another_request_is_refused_and_writes_nothing(engine: renew_fsm.Engine) -> None:
    """Answering with the view would tell a client that reuses keys its command went through."""
    to_testing(engine, "D1", "general")
    score = {"test": "humanities", "score": 40}
    engine.fire("D1", "record_score", EXAM, score, at=at("2021-06-02"), idempotency_key="k")
    records = engine.history("D1")
    others = [
        ("record_score", EXAM, {"test": "humanities", "score": 41}),  # other data
        ("record_score", EXAM, {"test": "business", "score": 40}),
        ("apply_exemption", doctor("D1"), {"reason_id": "senior_title", "proof": "证书"}),  # other event
        ("record_score", H1, score),  # other actor (who may not record a score at all)
    ]
    for event, actor, data in others:
        with pytest.raises(Refused) as refused:
            engine.fire("D1", event, actor, data, at=at("2021-06-02"), idempotency_key="k")
        assert refused.value.code == "bad_input" and "idempotency key already used" in refused.value.message
        assert "record_score" in refused.value.message  # what the key was used for
    assert engine.history("D1") == records
    # The same request again, at another time, is the retry it always was.
    assert engine.fire("D1", "record_score", EXAM, score, at=at("2021-06-03"), idempotency_key="k").version == len(
        records
    )


def test_a_key_reused_for_another_request_in_one_batch(engine: renew_fsm.Engine) -> None:
    results = engine.fire_many(
        [Fire("D1", "enroll", H1, idempotency_key="a"), Fire("D1", "submit_info", doctor("D1"), idempotency_key="a")]
    )
    assert getattr(results[0], "state", None) == "enrolled"
    assert isinstance(results[1], Refused) and results[1].code == "bad_input"
    assert [r.event for r in engine.history("D1")] == ["enroll"]


def test_a_retried_move_to_another_institution(url: str) -> None:
    """The record keeps the institution the doctor came from, which a retry does not send."""
    e = make_engine(url)
    city = renew_fsm.Actor("admin", "NN")
    first = e.fire("D1", "change_institution", city, {"institution": "H2"}, idempotency_key="move-1")
    assert e.fire("D1", "change_institution", city, {"institution": "H2"}, idempotency_key="move-1") == first
    with pytest.raises(Refused) as refused:
        e.fire("D1", "change_institution", city, {"institution": "H1"}, idempotency_key="move-1")
    assert refused.value.code == "bad_input"
    with pytest.raises(Refused) as refused:
        e.change_institution("D1", "H2", city, idempotency_key=7)  # type: ignore[arg-type]
    assert refused.value.code == "bad_input"
    assert [r.idempotency_key for r in e.history("D1")] == ["move-1"]
    assert e.storage.get_doctor("D1").institution == H2.id  # type: ignore[union-attr]
    e.close()
