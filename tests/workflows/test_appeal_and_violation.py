"""Violations (art. 27) and the appeal (复核申请, art. 24) in the doctor's cycle.

The appeal's answer depends on what the result was: a judgement a person made (the
evaluation, a discipline or violation finding) can be set aside, a score or an absence
only dismissed; an upheld appeal replaces the result by what the record then supports.
"""

from __future__ import annotations

import pytest
from conftest import A1, A2, CITY, COUNTY, EXAM, H1, PROVINCE, SYSTEM, at, doctor, register, to_testing

import renew_fsm
from renew_fsm import Refused
from renew_fsm.stats import compute
from renew_fsm.verify import verify

FIRST_ROUND = "2021-06-02"
GRADING = "2021-07-01"


def code(call) -> tuple[str, str | None]:
    with pytest.raises(Refused) as refused:
        call()
    return refused.value.code, refused.value.rule


def failed_evaluation(e: renew_fsm.Engine, day: str = "2021-04-25") -> None:
    """D1 unqualified on ``day``: the institution evaluated work performance as failed, the agency confirmed."""
    register(e)
    e.fire("D1", "choose_general", doctor(), {"self_evaluation": "完成本职工作"})
    e.fire("D1", "approve_program", H1, {"work_performance": "fail", "ethics": "pass"})
    e.fire("D1", "confirm_program", A1, at=at(day))


def scored(e: renew_fsm.Engine, business: float, humanities: float) -> None:
    to_testing(e)
    e.fire("D1", "record_score", EXAM, {"test": "business", "score": business}, at=at(FIRST_ROUND))
    e.fire("D1", "record_score", EXAM, {"test": "humanities", "score": humanities}, at=at(FIRST_ROUND))


# -- violations ---------------------------------------------------------------------------------


def test_a_violation_makes_the_result_unqualified_and_keeps_the_finding(engine: renew_fsm.Engine) -> None:
    to_testing(engine)
    view = engine.fire("D1", "record_violation", A1, {"finding": "kickbacks", "reason": "收受回扣"}, at=at(FIRST_ROUND))
    assert (view.state, view.reason) == ("unqualified", "violation")
    inst = engine.storage.load(engine.cycle, ["D1"])["D1"][0]
    assert inst.finding == "kickbacks"
    assert inst.result_on == "2021-06-02"
    assert inst.deferred_from == "general.testing"  # where an upheld appeal would return
    assert compute(engine, "province").by_reason.get("violation") == 1
    assert verify(engine).ok


@pytest.mark.parametrize("where", ["registered", "general.testing", "general.awaiting_grade"])
def test_an_agency_or_an_authority_records_a_violation_from_registration_to_the_grade(
    engine: renew_fsm.Engine, where: str
) -> None:
    if where == "registered":
        register(engine)
    elif where == "general.testing":
        to_testing(engine)
    else:
        scored(engine, 70, 70)
    assert engine.state("D1").state == where
    data = {"finding": "exam_substitution", "reason": "代考"}
    assert code(lambda: engine.fire("D1", "record_violation", H1, data)) == ("forbidden", None)
    assert code(lambda: engine.fire("D1", "record_violation", doctor(), data)) == ("forbidden", None)
    assert code(lambda: engine.fire("D1", "record_violation", A2, data)) == ("forbidden", None)  # not its doctor
    assert engine.fire("D1", "record_violation", COUNTY, data).reason == "violation"


def test_no_violation_before_registration_nor_after_the_result(engine: renew_fsm.Engine) -> None:
    data = {"finding": "soliciting_property", "reason": "索要财物"}
    engine.fire("D1", "enroll", H1)
    assert code(lambda: engine.fire("D1", "record_violation", A1, data)) == ("invalid_transition", None)
    engine.fire("D1", "admin_exit", COUNTY, {"reason": "重来"})
    failed_evaluation(engine)
    assert code(lambda: engine.fire("D1", "record_violation", A1, data)) == ("invalid_transition", None)


def test_a_violation_must_be_one_of_article_27(engine: renew_fsm.Engine) -> None:
    register(engine)
    for data in ({"finding": "communicating", "reason": "x"}, {"finding": "kickbacks"}, {"reason": "x"}):
        assert code(lambda d=data: engine.fire("D1", "record_violation", A1, d)) == ("bad_input", None)


# -- asking for a review -------------------------------------------------------------------------


def test_the_doctor_appeals_within_30_days_of_the_result(engine: renew_fsm.Engine) -> None:
    failed_evaluation(engine, "2021-04-25")
    assert code(lambda: engine.fire("D1", "request_appeal", H1, {"reason": "评定有误"})) == ("forbidden", None)
    late = at("2021-05-26")  # 04-25 + 30 days is 05-25, the last day
    assert code(lambda: engine.fire("D1", "request_appeal", doctor(), {"reason": "评定有误"}, at=late)) == (
        "guard_failed",
        "appeal_deadline_passed",
    )
    view = engine.fire("D1", "request_appeal", doctor(), {"reason": "评定有误"}, at=at("2021-05-25"))
    assert (view.state, view.reason, view.flags) == ("appeal.requested", "work_performance", ("appealed",))


def test_the_suspension_waits_for_the_answer_and_one_appeal_per_result(engine: renew_fsm.Engine) -> None:
    failed_evaluation(engine)
    engine.fire("D1", "request_appeal", doctor(), {"reason": "评定有误"})
    assert code(lambda: engine.fire("D1", "suspend", COUNTY, {"months": 3})) == ("invalid_transition", None)
    engine.fire("D1", "dismiss_appeal", A1, {"opinion": "维持"})
    assert engine.state("D1").state == "unqualified"
    assert code(lambda: engine.fire("D1", "request_appeal", doctor(), {"reason": "再次申请"})) == (
        "guard_failed",
        "not_eligible",
    )
    assert engine.fire("D1", "suspend", COUNTY, {"months": 3}).state == "reexam.suspended"
    assert verify(engine).ok


# -- the answer ------------------------------------------------------------------------------------


def test_the_agency_answers_within_30_days_and_the_authority_after(engine: renew_fsm.Engine) -> None:
    failed_evaluation(engine, "2021-04-25")
    engine.fire("D1", "request_appeal", doctor(), {"reason": "评定有误"}, at=at("2021-05-01"))
    assert code(lambda: engine.fire("D1", "uphold_appeal", A2)) == ("forbidden", None)
    assert code(lambda: engine.fire("D1", "uphold_appeal", CITY, at=at("2021-05-31"))) == (
        "guard_failed",
        "appeal_not_overdue",
    )
    assert code(lambda: engine.fire("D1", "dismiss_appeal", A1, at=at("2021-06-01"))) == (
        "guard_failed",
        "appeal_deadline_passed",
    )
    assert engine.fire("D1", "dismiss_appeal", PROVINCE, at=at("2021-06-01")).state == "unqualified"


def test_an_upheld_appeal_against_the_evaluation_goes_back_to_the_agency_s_confirmation(
    engine: renew_fsm.Engine,
) -> None:
    failed_evaluation(engine)
    engine.fire("D1", "request_appeal", doctor(), {"reason": "评定有误"})
    view = engine.fire("D1", "uphold_appeal", A1, {"opinion": "工作成绩评定有误"})
    assert (view.state, view.reason) == ("general.institution_approved", None)
    inst = engine.storage.load(engine.cycle, ["D1"])["D1"][0]
    assert (inst.work_performance, inst.ethics) == ("pass", "pass")
    assert engine.fire("D1", "confirm_program", A1).state == "general.testing"
    assert "resumed" not in engine.state("D1").flags  # the first round is still ahead
    assert verify(engine).ok


def test_an_upheld_appeal_after_the_first_round_sends_the_doctor_to_the_makeup(engine: renew_fsm.Engine) -> None:
    to_testing(engine)
    engine.fire("D1", "record_score", EXAM, {"test": "humanities", "score": 80}, at=at(FIRST_ROUND))
    engine.fire("D1", "discipline", COUNTY, {"finding": "camera_blocked", "reason": "遮挡"}, at=at("2021-06-20"))
    engine.fire("D1", "request_appeal", doctor(), {"reason": "摄像头故障"}, at=at("2021-06-25"))
    view = engine.fire("D1", "uphold_appeal", A1, at=at("2021-07-10"))
    assert (view.state, view.reason, view.flags) == ("general.testing", None, ("appealed", "resumed"))
    # the business test is sat in the make-up window, then graded in the make-up grading window
    assert code(
        lambda: engine.fire("D1", "record_score", EXAM, {"test": "business", "score": 75}, at=at(FIRST_ROUND))
    ) == ("guard_failed", "window_closed")
    engine.fire("D1", "record_score", EXAM, {"test": "business", "score": 75}, at=at("2021-11-02"))
    assert engine.fire("D1", "grade", A1, at=at("2021-11-03")).state == "qualified"
    assert verify(engine).ok


def test_an_upheld_appeal_with_the_tests_passed_is_qualified_and_unpublished(engine: renew_fsm.Engine) -> None:
    scored(engine, 80, 80)
    engine.fire("D1", "discipline", CITY, {"finding": "cheating", "reason": "作弊"}, at=at(FIRST_ROUND))
    assert engine.state("D1").flags == ("published",)
    engine.fire("D1", "request_appeal", doctor(), {"reason": "照片中是本人"}, at=at(GRADING))
    view = engine.fire("D1", "uphold_appeal", A1, at=at(GRADING))
    assert (view.state, view.reason, view.flags) == ("qualified", None, ("appealed",))


def test_an_upheld_appeal_with_failing_scores_is_unqualified_for_the_test(engine: renew_fsm.Engine) -> None:
    scored(engine, 40, 80)
    engine.fire("D1", "record_violation", A1, {"finding": "kickbacks", "reason": "回扣"}, at=at(FIRST_ROUND))
    engine.fire("D1", "request_appeal", doctor(), {"reason": "举报不实"}, at=at(GRADING))
    view = engine.fire("D1", "uphold_appeal", A1, at=at(GRADING))
    assert (view.state, view.reason) == ("unqualified", "business_level")
    inst = engine.storage.load(engine.cycle, ["D1"])["D1"][0]
    assert inst.finding is None and inst.result_on == "2021-07-01"
    assert code(lambda: engine.fire("D1", "request_appeal", doctor(), {"reason": "再申请"})) == (
        "guard_failed",
        "not_eligible",
    )


def test_a_violation_set_aside_before_the_program_returns_to_registered(engine: renew_fsm.Engine) -> None:
    register(engine)
    engine.fire("D1", "record_violation", A1, {"finding": "practising_outside_registration", "reason": "跨类别"})
    engine.fire("D1", "request_appeal", doctor(), {"reason": "已获批准"})
    assert engine.fire("D1", "uphold_appeal", A1).state == "registered"
    assert (
        engine.fire("D1", "choose_general", doctor(), {"self_evaluation": "完成本职工作"}).state == "general.submitted"
    )


def test_a_score_result_is_corrected_not_set_aside(engine: renew_fsm.Engine) -> None:
    scored(engine, 40, 80)
    engine.fire("D1", "grade", A1, at=at(GRADING))
    engine.fire("D1", "request_appeal", doctor(), {"reason": "有异议"}, at=at(GRADING))
    assert code(lambda: engine.fire("D1", "uphold_appeal", A1, at=at(GRADING))) == ("guard_failed", "not_eligible")
    fixed = engine.fire("D1", "correct_score", A1, {"test": "business", "score": 60, "reason": "复核"}, at=at(GRADING))
    assert (fixed.state, fixed.reason) == ("qualified", None)
    assert [r.event for r in engine.history("D1")][-1] == "correct_score"


def test_an_absence_upheld_goes_back_to_the_tests_for_the_make_up(engine: renew_fsm.Engine) -> None:
    to_testing(engine)
    engine.sweep("close_first_round", at=at("2021-06-28"))
    assert engine.state("D1").reason == "absent"
    engine.fire("D1", "request_appeal", doctor(), {"reason": "系统故障"}, at=at(GRADING))
    view = engine.fire("D1", "uphold_appeal", A1, at=at(GRADING))
    assert (view.state, view.reason) == ("general.testing", None)
    assert "resumed" in view.flags


def test_an_absence_dismissed_stays(engine: renew_fsm.Engine) -> None:
    to_testing(engine)
    engine.sweep("close_first_round", at=at("2021-06-28"))
    engine.fire("D1", "request_appeal", doctor(), {"reason": "有异议"}, at=at(GRADING))
    assert engine.fire("D1", "dismiss_appeal", A1, at=at(GRADING)).state == "unqualified"
    assert engine.state("D1").reason == "absent"


def test_the_authority_may_not_send_an_appealing_doctor_out_of_the_cycle(engine: renew_fsm.Engine) -> None:
    """A result, once given, is corrected through the appeal, not erased by an exit (issue 30)."""
    failed_evaluation(engine)
    engine.fire("D1", "request_appeal", doctor(), {"reason": "评定有误"})
    assert code(lambda: engine.fire("D1", "admin_exit", COUNTY, {"reason": "调离"})) == ("invalid_transition", None)
    view = engine.state("D1")
    assert (view.state, view.reason) == ("appeal.requested", "work_performance")
    assert code(lambda: engine.fire("D1", "request_appeal", SYSTEM, {"reason": "x"})) == ("forbidden", None)
