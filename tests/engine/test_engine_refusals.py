"""Every refusal code of SPEC §4, through ``engine.fire`` and ``engine.apply``, writes nothing.

Each case takes doctor D1 somewhere, pictures the whole store, sends one bad
command and checks the code, the rule, and that the store is exactly as it
was: byte for byte on SQLite, row for row on PostgreSQL, value for value in
memory.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import attrs
import pytest
from conftest import (
    A1,
    A2,
    CITY,
    COUNTY,
    EXAM,
    H1,
    H2,
    PROVINCE,
    SYSTEM,
    at,
    doctor,
    doctor_cmd,
    register,
    to_testing,
)
from dbimage import image, settle

import renew_fsm
from renew_fsm import Actor, Refused, ops
from renew_fsm.idcard import make

Engine = renew_fsm.Engine


def nothing(e: Engine) -> None:
    pass


@attrs.frozen
class Case:
    id: str
    code: str
    rule: str | None
    attempt: Callable[[Engine], Any]
    setup: Callable[[Engine], None] = nothing
    #: Run after the 'before' picture, just ahead of the attempt (it must not write).
    arm: Callable[[Engine], None] = nothing


# -- where the cases start ----------------------------------------------------------------------


def enrolled(e: Engine) -> None:
    e.fire("D1", "enroll", H1)


def submitted(e: Engine) -> None:
    enrolled(e)
    e.fire("D1", "submit_info", doctor("D1"))


def info_approved(e: Engine) -> None:
    submitted(e)
    e.fire("D1", "approve_info", H1)


def general_testing(e: Engine) -> None:
    to_testing(e, "D1", "general")


def unqualified(e: Engine) -> None:
    """Failed the business test (40 < 60): unqualified, reason business_level."""
    to_testing(e, "D1", "general")
    e.fire("D1", "record_score", EXAM, {"test": "business", "score": 40}, at=at("2021-06-02"))
    e.fire("D1", "record_score", EXAM, {"test": "humanities", "score": 80}, at=at("2021-06-02"))
    view = e.fire("D1", "grade", A1, at=at("2021-07-01"))
    assert (view.state, view.reason) == ("unqualified", "business_level")


def suspended(e: Engine, months: int = 6) -> None:
    unqualified(e)
    assert e.fire("D1", "suspend", COUNTY, {"months": months}, at=at("2021-07-02")).state == "reexam.suspended"


def listed(e: Engine, months: int = 6) -> None:
    """On the re-exam list; a 6-month suspension runs until 2022-01-02, past the re-exam window."""
    suspended(e, months)
    assert e.fire("D1", "confirm_reexam", PROVINCE, at=at("2021-07-03")).state == "reexam.listed"


def reexam_awaiting_grade(e: Engine) -> None:
    listed(e, months=3)
    view = e.fire("D1", "record_score", EXAM, {"test": "business", "score": 80}, at=at("2021-11-10"))
    assert view.state == "reexam.awaiting_grade"


def humanities_failed_ten_times(e: Engine) -> None:
    general_testing(e)
    for _ in range(10):
        view = e.fire("D1", "record_score", EXAM, {"test": "humanities", "score": 40}, at=at("2021-06-02"))
    assert view.state == "general.testing"  # the business test is still to come


def marked(e: Engine) -> None:
    general_testing(e)
    e.fire("D1", "mark_suspected", H1, at=at("2021-06-02"))


def exemption_forbidden(e: Engine) -> None:
    general_testing(e)
    e.fire("D1", "apply_exemption", doctor("D1"), {"reason_id": "residency_training"}, at=at("2021-06-02"))
    view = e.fire("D1", "reject_exemption", H1, {"mode": "forbid", "reason": "证明不实"}, at=at("2021-06-03"))
    assert view.state == "general.testing" and "exemption_forbidden" in view.flags


def exemption_closed(e: Engine) -> None:
    general_testing(e)
    e.apply({"op": "exemption_reason", "id": "residency_training", "text": "住院医师规范化培训结业", "open": False})


def qualified(e: Engine) -> None:
    general_testing(e)
    e.fire("D1", "record_score", EXAM, {"test": "business", "score": 60}, at=at("2021-06-02"))
    e.fire("D1", "record_score", EXAM, {"test": "humanities", "score": 60}, at=at("2021-06-02"))
    assert e.fire("D1", "grade", A1, at=at("2021-07-01")).state == "qualified"


def young_doctor(e: Engine) -> None:
    e.apply(doctor_cmd("D2", "H1", born="1990-01-01", since="2018-09-01", serial=2))
    register(e, "D2")


def bad_card(card: Callable[[str], str], born: str = "1970-03-15") -> Callable[[Engine], Any]:
    def attempt(e: Engine) -> Any:
        cmd = doctor_cmd("D9", "H1", born=born, serial=9)
        return e.apply({**cmd, "id_card": card(cmd["id_card"])})

    return attempt


def bad_card_cmd() -> dict[str, Any]:
    cmd = doctor_cmd("D6", serial=6)
    return {**cmd, "id_card": wrong_check_digit(cmd["id_card"])}


def wrong_check_digit(card: str) -> str:
    return card[:17] + ("0" if card[17] != "0" else "1")


def moved_behind_its_back(e: Engine) -> None:
    """This engine read D1 (enrolled); then another writer moved D1 on (info_submitted)."""
    enrolled(e)
    e.stale = e.storage.load(e.cycle, ["D1"])  # type: ignore[attr-defined]
    e.fire("D1", "submit_info", doctor("D1"))


def read_stale(e: Engine) -> None:
    """From now on this engine reads what it read before the other writer came."""
    stale = e.stale  # type: ignore[attr-defined]
    e.storage.load = lambda cycle, ids: {d: stale[d] for d in ids if d in stale}  # type: ignore[method-assign]


CASES = [
    # bad_input
    Case("unknown event", "bad_input", None, lambda e: e.fire("D1", "fly_away", H1)),
    Case("unknown role", "bad_input", None, lambda e: e.fire("D1", "enroll", Actor("nurse", "N1"))),
    Case(
        "score 101",
        "bad_input",
        None,
        lambda e: e.fire("D1", "record_score", EXAM, {"test": "business", "score": 101}, at=at("2021-06-02")),
        general_testing,
    ),
    Case(
        "score -1",
        "bad_input",
        None,
        lambda e: e.fire("D1", "record_score", EXAM, {"test": "business", "score": -1}, at=at("2021-06-02")),
        general_testing,
    ),
    Case(
        "score 'x'",
        "bad_input",
        None,
        lambda e: e.fire("D1", "record_score", EXAM, {"test": "business", "score": "x"}, at=at("2021-06-02")),
        general_testing,
    ),
    Case(
        "unknown test",
        "bad_input",
        None,
        lambda e: e.fire("D1", "record_score", EXAM, {"test": "surgery", "score": 70}, at=at("2021-06-02")),
        general_testing,
    ),
    Case("unknown field", "bad_input", None, lambda e: e.fire("D1", "enroll", H1, {"colour": "blue"})),
    Case("missing required field", "bad_input", None, lambda e: e.fire("D1", "reject_info", H1, {}), submitted),
    Case("empty reason", "bad_input", None, lambda e: e.fire("D1", "reject_info", H1, {"reason": "  "}), submitted),
    Case(
        "changing the name on submit_info",
        "bad_input",
        None,
        lambda e: e.fire("D1", "submit_info", doctor("D1"), {"name": "改名", "phone": "139"}),
        enrolled,
    ),
    Case("id card of 17 characters", "bad_input", None, bad_card(lambda c: c[:17])),
    Case("id card with a wrong check digit", "bad_input", None, bad_card(wrong_check_digit)),
    Case(
        "id card born another day",
        "bad_input",
        None,
        bad_card(lambda c: make("450103", dt.date(1970, 3, 16), 9)),
    ),
    Case(
        "a batch of doctors with one bad id card",
        "bad_input",
        None,
        lambda e: e.add_doctors([ops.parse(doctor_cmd("D5", serial=5)), ops.parse(bad_card_cmd())]),
    ),
    Case(
        "finding several_people",
        "bad_input",
        None,
        lambda e: e.fire(
            "D1", "discipline", PROVINCE, {"finding": "several_people", "reason": "照片多人"}, at=at("2021-06-02")
        ),
        general_testing,
    ),
    Case(
        "months as text",
        "bad_input",
        None,
        lambda e: e.fire("D1", "suspend", COUNTY, {"months": "six"}, at=at("2021-07-02")),
        unqualified,
    ),
    Case("data not an object", "bad_input", None, lambda e: e.fire("D1", "enroll", H1, ["x"])),  # type: ignore[arg-type]
    Case(
        "fire op with an unknown field",
        "bad_input",
        None,
        lambda e: e.apply(
            {"op": "fire", "doctor": "D1", "event": "enroll", "actor": {"role": "institution", "id": "H1"}, "colour": 1}
        ),
    ),
    # not_found
    Case("unknown doctor", "not_found", None, lambda e: e.fire("D404", "enroll", H1)),
    Case("unknown doctor read", "not_found", None, lambda e: e.state("D404")),
    Case("unknown doctor history", "not_found", None, lambda e: e.history("D404")),
    Case("unknown institution on a doctor", "not_found", None, lambda e: e.apply(doctor_cmd("D9", "H404"))),
    # forbidden
    Case("a doctor may not enroll", "forbidden", None, lambda e: e.fire("D1", "enroll", doctor("D1"))),
    Case("the testing app may not enroll", "forbidden", None, lambda e: e.fire("D1", "enroll", EXAM)),
    Case("the system may not enroll", "forbidden", None, lambda e: e.fire("D1", "enroll", SYSTEM)),
    Case("H2 on H1's doctor", "forbidden", None, lambda e: e.fire("D1", "enroll", H2)),
    Case(
        "another doctor",
        "forbidden",
        None,
        lambda e: e.fire("D1", "submit_info", doctor("D2")),
        enrolled,
    ),
    Case("A2 on A1's doctor", "forbidden", None, lambda e: e.fire("D1", "confirm_registration", A2), info_approved),
    Case(
        "an agency that does not exist",
        "forbidden",
        None,
        lambda e: e.fire("D1", "confirm_registration", Actor("agency", "A404")),
        info_approved,
    ),
    Case(
        "the admin of another county",
        "forbidden",
        None,
        lambda e: e.fire("D1", "admin_exit", Actor("admin", "NN-XN"), {"reason": "越权"}),
        enrolled,
    ),
    Case(
        "the admin of another city",
        "forbidden",
        None,
        lambda e: e.fire("D1", "admin_exit", Actor("admin", "GL"), {"reason": "越权"}),
        enrolled,
    ),
    Case(
        "a city admin may not confirm_reexam",
        "forbidden",
        None,
        lambda e: e.fire("D1", "confirm_reexam", CITY, at=at("2021-07-03")),
        suspended,
    ),
    Case(
        "the agency may not grade the re-exam",
        "forbidden",
        None,
        lambda e: e.fire("D1", "grade", A1, at=at("2021-11-20")),
        reexam_awaiting_grade,
    ),
    Case(
        "an institution may not lift a suspicion",
        "forbidden",
        None,
        lambda e: e.fire("D1", "unmark_suspected", H1, at=at("2021-06-03")),
        marked,
    ),
    # invalid_transition
    Case("approve_info before enrolment", "invalid_transition", None, lambda e: e.fire("D1", "approve_info", H1)),
    Case("enroll twice", "invalid_transition", None, lambda e: e.fire("D1", "enroll", H1), enrolled),
    Case(
        "grading a qualified doctor",
        "invalid_transition",
        None,
        lambda e: e.fire("D1", "grade", A1, at=at("2021-07-02")),
        qualified,
    ),
    Case(
        "a doctor who is out of the cycle is not suspended",
        "invalid_transition",
        None,
        lambda e: e.fire("D1", "suspend", COUNTY, {"months": 3}, at=at("2021-07-02")),
    ),
    # guard_failed
    Case(
        "enrolling after registration",
        "guard_failed",
        "window_closed",
        lambda e: e.fire("D1", "enroll", H1, at=at("2021-06-01")),
    ),
    Case(
        "a score before the first round",
        "guard_failed",
        "window_closed",
        lambda e: e.fire("D1", "record_score", EXAM, {"test": "business", "score": 70}, at=at("2021-05-31")),
        general_testing,
    ),
    Case(
        "three years of practice for the simple program",
        "guard_failed",
        "not_eligible",
        lambda e: e.fire("D2", "choose_simple", doctor("D2"), {"condition": "good_record_5y", "self_evaluation": "有"}),
        young_doctor,
    ),
    Case(
        "assisted testing under 50",
        "guard_failed",
        "not_eligible",
        lambda e: e.fire("D2", "request_assistance", doctor("D2")),
        young_doctor,
    ),
    Case(
        "the 11th humanities attempt",
        "guard_failed",
        "attempts_exhausted",
        lambda e: e.fire("D1", "record_score", EXAM, {"test": "humanities", "score": 90}, at=at("2021-06-03")),
        humanities_failed_ten_times,
    ),
    Case(
        "applying again after forbid",
        "guard_failed",
        "exemption_forbidden",
        lambda e: e.fire("D1", "apply_exemption", doctor("D1"), {"reason_id": "promotion_exam"}, at=at("2021-06-04")),
        exemption_forbidden,
    ),
    Case(
        "a closed exemption reason",
        "guard_failed",
        "exemption_closed",
        lambda e: e.fire(
            "D1", "apply_exemption", doctor("D1"), {"reason_id": "residency_training"}, at=at("2021-06-02")
        ),
        exemption_closed,
    ),
    Case(
        "a suspension of 7 months",
        "guard_failed",
        "suspension_out_of_range",
        lambda e: e.fire("D1", "suspend", COUNTY, {"months": 7}, at=at("2021-07-02")),
        unqualified,
    ),
    Case(
        "a suspension of 2 months",
        "guard_failed",
        "suspension_out_of_range",
        lambda e: e.fire("D1", "suspend", COUNTY, {"months": 2}, at=at("2021-07-02")),
        unqualified,
    ),
    Case(
        "a re-exam score during the suspension",
        "guard_failed",
        "suspension_not_over",
        lambda e: e.fire("D1", "record_score", EXAM, {"test": "business", "score": 80}, at=at("2021-11-10")),
        listed,
    ),
    Case(
        "a deferral after the deadline",
        "guard_failed",
        "deferral_deadline_passed",
        lambda e: e.fire("D1", "request_deferral", doctor("D1"), {"reason": "生病"}, at=at("2021-05-31")),
        lambda e: register(e),
    ),
    Case(
        "a sweep before its window closed",
        "guard_failed",
        "window_still_open",
        lambda e: e.sweep("close_first_round", at=at("2021-06-27", 23)),
        enrolled,
    ),
    # conflict
    Case(
        "a doctor id again with another name",
        "conflict",
        None,
        lambda e: e.apply(doctor_cmd("D1", name="另一个人")),
    ),
    Case(
        "a stale read",
        "conflict",
        None,
        lambda e: e.fire("D1", "submit_info", doctor("D1")),
        moved_behind_its_back,
        read_stale,
    ),
]


def run(case: Case, e: Engine) -> Refused:
    with pytest.raises(Refused) as caught:
        result = case.attempt(e)
        if isinstance(result, list) and len(result) == 1 and isinstance(result[0], Refused):
            raise result[0]
    return caught.value


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_a_refused_command_writes_nothing(engine: Engine, case: Case) -> None:
    case.setup(engine)
    doctors = engine.instances()
    views = {d: engine.state(d) for d in doctors}
    histories = {d: engine.history(d) for d in doctors}
    before = settle(engine)
    case.arm(engine)
    refused = run(case, engine)
    vars(engine.storage).pop("load", None)  # back to the real reads, if the case armed stale ones
    assert (refused.code, refused.rule) == (case.code, case.rule), refused
    assert refused.message and refused.message_zh
    assert image(engine) == before, "a refused command changed the store"
    assert {d: engine.state(d) for d in doctors} == views
    assert {d: engine.history(d) for d in doctors} == histories


def test_every_code_of_the_spec_is_covered() -> None:
    assert {c.code for c in CASES} == set(renew_fsm.CODES)
    rules = {c.rule for c in CASES if c.code == "guard_failed"}
    assert rules >= {
        "window_closed",
        "not_eligible",
        "attempts_exhausted",
        "exemption_forbidden",
        "exemption_closed",
        "suspension_out_of_range",
        "suspension_not_over",
        "deferral_deadline_passed",
    }


def test_a_lost_race_in_a_batch_refuses_only_the_loser(engine: Engine) -> None:
    """The batch is retried one command at a time: D2 goes through, D1 is told conflict."""
    engine.apply(doctor_cmd("D2", serial=2))
    moved_behind_its_back(engine)
    stale = {**engine.stale, **engine.storage.load(engine.cycle, ["D2"])}  # type: ignore[attr-defined]
    engine.stale = stale  # type: ignore[attr-defined]
    history = engine.history("D1")
    read_stale(engine)
    results = engine.fire_many([renew_fsm.Fire("D1", "submit_info", doctor("D1")), renew_fsm.Fire("D2", "enroll", H1)])
    vars(engine.storage).pop("load")
    assert isinstance(results[0], Refused) and results[0].code == "conflict"
    assert not isinstance(results[1], Refused) and results[1].state == "enrolled"
    assert engine.history("D1") == history
    assert engine.state("D1").state == "info_submitted"
    assert [r.event for r in engine.history("D2")] == ["enroll"]


def test_the_picture_sees_an_accepted_command(engine: Engine) -> None:
    """The check above can fail: one accepted event changes the picture on every backend."""
    before = settle(engine)
    engine.fire("D1", "enroll", H1)
    after = image(engine)
    assert after != before
    if isinstance(before, tuple):  # SQLite: the write sits in the WAL, the main file is untouched
        assert after[0] == before[0] and after[1] != before[1] == b""


def test_a_batch_item_that_is_not_a_fire_is_refused_in_its_place(engine: Engine) -> None:
    """A service that hands fire_many a dict straight from JSON, or a plain tuple, gets bad_input
    for that item; the Fires around it still go through, in order."""
    junk: list[Any] = [
        {"doctor": "D1", "event": "submit_info", "actor": {"role": "doctor", "id": "D1"}},
        ("D1", "submit_info", doctor("D1")),
        None,
    ]
    results = engine.fire_many(
        [renew_fsm.Fire("D1", "enroll", H1), *junk, renew_fsm.Fire("D1", "submit_info", doctor("D1"))]
    )
    assert [getattr(r, "code", None) for r in results] == [None, "bad_input", "bad_input", "bad_input", None]
    assert "must be a renew_fsm.Fire, not dict" in results[1].message  # type: ignore[union-attr]
    assert [r.event for r in engine.history("D1")] == ["enroll", "submit_info"]


def test_an_actor_changed_after_it_was_accepted_is_checked_again(engine: Engine) -> None:
    """The engine remembers the actors it has checked, by identity; that holds only for a frozen
    ``Actor``.  A subclass whose fields can change is checked on every command: turned into a
    made-up role after one accepted command, it is refused as input, not judged as that role."""

    class Loose(Actor):
        __setattr__ = object.__setattr__  # type: ignore[assignment]

    hospital = Loose("institution", "H1")
    [enrolled] = engine.fire_many([renew_fsm.Fire("D1", "enroll", hospital)])
    assert not isinstance(enrolled, Refused) and enrolled.state == "enrolled"
    hospital.role = "nurse"
    [refused] = engine.fire_many([renew_fsm.Fire("D1", "approve_info", hospital)])
    assert isinstance(refused, Refused) and refused.code == "bad_input"
    assert "unknown role 'nurse'" in refused.message
    assert engine.state("D1").state == "enrolled"
