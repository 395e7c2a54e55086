"""The cycle at past moments, rebuilt from the history in one pass (``renew_fsm.timeline``)."""

from __future__ import annotations

import datetime as dt

import pytest
from conftest import A1, EXAM, at, doctor_cmd, make_engine, register, to_testing

import renew_fsm
from renew_fsm.timeline import day_end, instances_at


@pytest.fixture
def moving(url: str) -> renew_fsm.Engine:
    """D1 registered on 04-20, tested from 06-02, graded on 07-01; D2 registered on 04-20; D3 never moves."""
    e = make_engine(url, [doctor_cmd(f"D{n}", serial=n) for n in (1, 2, 3)])
    to_testing(e, "D1")
    register(e, "D2")
    e.fire("D1", "record_score", EXAM, {"test": "business", "score": 70}, at=at("2021-06-02"))
    e.fire("D1", "record_score", EXAM, {"test": "humanities", "score": 70}, at=at("2021-06-03"))
    e.fire("D1", "grade", A1, at=at("2021-07-01"))
    return e


def test_one_pass_gives_each_doctor_at_each_day(moving: renew_fsm.Engine) -> None:
    days = [dt.date(2021, 4, 19), dt.date(2021, 4, 20), dt.date(2021, 6, 2), dt.date(2021, 6, 30), dt.date(2021, 7, 1)]
    moments = [day_end(moving.policy, d) for d in days]
    series = {doc.id: [inst.state for inst in past] for doc, past in instances_at(moving, moments)}
    assert series == {
        "D1": ["not_enrolled", "general.testing", "general.testing", "general.awaiting_grade", "qualified"],
        "D2": ["not_enrolled", "registered", "registered", "registered", "registered"],
        "D3": ["not_enrolled"] * 5,
    }
    # The same as one moment at a time, and the counters rebuilt with the state.
    for n, moment in enumerate(moments):
        alone = {doc.id: past[0] for doc, past in instances_at(moving, [moment])}
        assert {d: i.state for d, i in alone.items()} == {d: s[n] for d, s in series.items()}
    d1_on_0602 = next(past[0] for doc, past in instances_at(moving, [moments[2]]) if doc.id == "D1")
    assert (d1_on_0602.business_attempts, d1_on_0602.business_best, d1_on_0602.humanities_attempts) == (1, 70, 0)


def test_the_end_of_a_day_is_its_last_instant_in_the_policy_time_zone(moving: renew_fsm.Engine) -> None:
    """The grade at 2021-07-01 10:00 Beijing time is 02:00 UTC: counted at the end of 07-01 in Beijing."""
    end = day_end(moving.policy, dt.date(2021, 7, 1))
    assert end == dt.datetime(2021, 7, 2, tzinfo=moving.policy.tz)
    just_before = end - dt.timedelta(microseconds=1)
    grade = dt.datetime(2021, 7, 1, 2, tzinfo=dt.UTC)
    states = {doc.id: [i.state for i in past] for doc, past in instances_at(moving, [grade, just_before])}
    assert states["D1"] == ["general.awaiting_grade", "qualified"]  # a record counts once its time has passed


def test_a_moment_without_a_time_zone_is_refused(moving: renew_fsm.Engine) -> None:
    with pytest.raises(ValueError, match="time zone"):
        list(instances_at(moving, [dt.datetime(2021, 6, 1)]))
