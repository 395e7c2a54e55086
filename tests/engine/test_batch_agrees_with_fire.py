"""The batch path and ``fire`` cannot disagree: the same command stream gives the same database.

Hypothesis draws streams of commands — right and wrong actors, valid and
invalid data, times inside and outside the windows — for a few doctors.  One
store takes them one ``fire`` at a time, another in ``fire_many`` batches of
random sizes, a third through ``drive`` plans, a fourth through plans that
``drive_new`` runs as it adds the doctors; every result (view or refusal code)
and every stored row (instances and history, hashes included) must match.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from conftest import WORLD, doctor_cmd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import renew_fsm
from renew_fsm import Actor, Refused
from renew_fsm.engine import Fire
from renew_fsm.machines import compiled
from renew_fsm.ops import parse as parse_op

DOCTORS = ("D1", "D2", "D3")
ACTORS = [
    Actor("doctor", "D1"),
    Actor("doctor", "D2"),
    Actor("institution", "H1"),
    Actor("institution", "H2"),
    Actor("agency", "A1"),
    Actor("agency", "A2"),
    Actor("admin", "NN-QX"),
    Actor("admin", "NN"),
    Actor("admin", "GX"),
    Actor("exam_system"),
    Actor("system"),
]
TZ = dt.timezone(dt.timedelta(hours=8))
DAYS = [
    dt.datetime(2021, m, d, 10, tzinfo=TZ) for m, d in ((4, 20), (5, 29), (6, 2), (7, 1), (7, 12), (11, 2), (11, 10))
]
EVENTS = sorted(compiled("doctor").machine.events)

data_values = st.one_of(
    st.none(),
    st.fixed_dictionaries({}),
    st.fixed_dictionaries({"reason": st.sampled_from(["理由", ""])}),
    st.fixed_dictionaries(
        {"test": st.sampled_from(["humanities", "business"]), "score": st.sampled_from([0, 54.9, 60, 99])}
    ),
    st.fixed_dictionaries({"work_performance": st.sampled_from(["pass", "fail"]), "ethics": st.just("pass")}),
    st.fixed_dictionaries({"condition": st.sampled_from(["good_record_5y", "nope"])}),
    st.fixed_dictionaries({"months": st.integers(2, 7)}),
    st.fixed_dictionaries({"reason_id": st.sampled_from(["age_60", "residency_training"])}),
    st.fixed_dictionaries({"mode": st.sampled_from(["forbid", "supplement"]), "reason": st.just("补充")}),
    st.fixed_dictionaries({"finding": st.sampled_from(["cheating", "communicating"]), "reason": st.just("照片")}),
)
commands = st.builds(
    Fire,
    doctor=st.sampled_from(DOCTORS),
    event=st.sampled_from([*EVENTS, "no_such_event"]),
    actor=st.sampled_from(ACTORS),
    data=data_values,
    at=st.sampled_from(DAYS),
)


DOCTOR_CMDS = [doctor_cmd(d, "H1", born="1960-06-01", serial=n) for n, d in enumerate(DOCTORS)]


def store(doctors: bool = True) -> renew_fsm.Engine:
    engine = renew_fsm.open("memory:")
    for cmd in [*WORLD, *(DOCTOR_CMDS if doctors else [])]:
        engine.apply(cmd)
    return engine


def happy_path(doctor: str) -> list[Fire]:
    """A stream that gets somewhere, mixed into the random ones so deep states are reached."""
    h, a, x, me = Actor("institution", "H1"), Actor("agency", "A1"), Actor("exam_system"), Actor("doctor", doctor)
    reg, test = DAYS[0], DAYS[2]
    return [
        Fire(doctor, "enroll", h, None, reg),
        Fire(doctor, "submit_info", me, None, reg),
        Fire(doctor, "approve_info", h, None, reg),
        Fire(doctor, "confirm_registration", a, None, reg),
        Fire(doctor, "choose_general", me, {"self_evaluation": "完成本职工作"}, reg),
        Fire(doctor, "approve_program", h, {"work_performance": "pass", "ethics": "pass"}, reg),
        Fire(doctor, "confirm_program", a, None, reg),
        Fire(doctor, "record_score", x, {"test": "business", "score": 50}, test),
    ]


def outcome(result: Any) -> Any:
    return result.code if isinstance(result, Refused) else (result.state, result.reason, result.flags, result.version)


def snapshot(engine: renew_fsm.Engine) -> tuple[Any, ...]:
    instances = {d: engine.state(d).instance for d in DOCTORS}
    return instances, {d: engine.history(d) for d in DOCTORS}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    prefix=st.lists(st.sampled_from(DOCTORS), max_size=3),
    stream=st.lists(commands, max_size=40),
    cuts=st.lists(st.integers(1, 10), min_size=1, max_size=8),
)
def test_fire_fire_many_and_drive_write_the_same_database(prefix: list[str], stream: list[Fire], cuts: list[int]):
    stream = [c for d in dict.fromkeys(prefix) for c in happy_path(d)] + stream
    one, many, plans, new = store(), store(), store(), store(doctors=False)

    singles: list[Any] = []
    for cmd in stream:
        try:
            singles.append(one.fire(*cmd))
        except Refused as refused:
            singles.append(refused)

    batched: list[Any] = []
    start, i = 0, 0
    while start < len(stream):
        size = cuts[i % len(cuts)]
        batched += many.fire_many(stream[start : start + size])
        start, i = start + size, i + 1

    # A plan is one doctor's steps; doctors are independent, so each doctor's
    # commands keep their order and their results land back in stream order.
    driven: list[Any] = [None] * len(stream)

    def plan(doctor: str):
        for index, cmd in enumerate(stream):
            if cmd.doctor == doctor:
                driven[index] = yield cmd

    plans.drive([(d, plan(d)) for d in DOCTORS], batch=2)
    by_drive = driven
    driven = [None] * len(stream)
    accepted = new.drive_new([parse_op(cmd) for cmd in DOCTOR_CMDS], lambda inst, doc: plan(doc.id))

    assert [outcome(r) for r in batched] == [outcome(r) for r in singles]
    assert [outcome(r) for r in by_drive] == [outcome(r) for r in singles]
    assert [outcome(r) for r in driven] == [outcome(r) for r in singles]
    assert accepted == sum(not isinstance(r, Refused) for r in singles)
    assert snapshot(many) == snapshot(one)
    assert snapshot(plans) == snapshot(one)
    assert snapshot(new) == snapshot(one)
    assert {d: new.storage.get_doctor(d) for d in DOCTORS} == {d: one.storage.get_doctor(d) for d in DOCTORS}
