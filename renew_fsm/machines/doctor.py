"""The doctor's cycle machine (医师定期考核) — one instance per doctor and cycle.

Read it next to the manual: the institution enrols the doctor, the doctor
confirms the details, the institution then the agency check them (报名成功);
the doctor chooses the simple or the general program with a self-evaluation,
the institution evaluates work and ethics and the agency confirms; the doctor
sits the tests (or is exempted), the agency grades; a failure is suspended and
re-examined.  Guards, branch conditions and effects are rule ids implemented in
``renew_fsm.rules``; roles and events are in ``vocabulary``.
"""

from __future__ import annotations

from .appeal import FRAGMENT as APPEAL
from .deferral import deferral
from .dsl import STAY, Fragment, Machine, State, Transition, within
from .exemption import exemption
from .reexam import FRAGMENT as REEXAM
from .reexam import REEXAM_PASSED, REGISTRATION_CANCELLED, UNQUALIFIED
from .vocabulary import ADMIN, AGENCY, DOCTOR, EVENTS, EXAM, INSTITUTION, SYSTEM

PROGRAMS = ("simple", "general")
#: The test each program sits and the test its exemption waives.
PROGRAM_TEST = {"simple": "humanities", "general": "business"}

BEFORE_TESTS = ("submitted", "institution_approved")
EXEMPTION = ("exemption.applied", "exemption.institution_approved")
#: Everything from enrolment up to and including the tests (exemption states too).
REGISTRATION = ("enrolled", "info_submitted", "info_approved", "registered")
UP_TO_TESTING = (
    *REGISTRATION,
    *(s for p in PROGRAMS for s in within(p, (*BEFORE_TESTS, "testing", *EXEMPTION))),
)
TESTING = within("simple", ["testing"]) + within("general", ["testing"])
AWAITING_GRADE = within("simple", ["awaiting_grade"]) + within("general", ["awaiting_grade"])
#: Where a suspected-cheating mark may be set or lifted.
MARKABLE = (*TESTING, *AWAITING_GRADE, "reexam", "qualified", "unqualified", "appeal")
#: Where an agency or the authority may record a violation (art. 27): from 报名成功 until the grade.
#: Not before registration (the agency has not taken the doctor on) nor during a deferral (the doctor
#: is not being assessed; it is recorded once they resume).
JUDGED = ("registered", "simple", "general")
#: Where the authority may rule a breach of exam discipline: in the tests, awaiting the grade, and
#: after a pass (the photo review comes after the tests).
FINDABLE = (*TESTING, *AWAITING_GRADE, "qualified")
#: Where a doctor aged 50+ may ask to be helped through the phone test.
ASSISTABLE = ("registered", *(s for p in PROGRAMS for s in within(p, (*BEFORE_TESTS, "testing"))))
SCORE_GUARDS = ("window_open:exam", "test_in_program", "attempts_remain")


SIMPLE_EXEMPTION = exemption(
    "simple", test="humanities", apply_guards=("humanities_exemption_applies",), tests_remain=False
)
GENERAL_EXEMPTION = exemption(
    "general", test="business", apply_guards=("business_exemption_open", "no_business_score"), tests_remain=True
)

def program(name: str, zh: str, en: str, exemption_flow: Fragment) -> State:
    return State(
        name, zh, en, initial="submitted",
        children=[
            State("submitted", "已申请并自评，待卫生机构评定", "self-evaluated, awaiting the institution"),
            State("institution_approved", "卫生机构已评定，待考核机构复核", "evaluated, awaiting the agency"),
            State("testing", "测评中", "sitting the tests"),
            *exemption_flow.states,
            State("awaiting_grade", "待考核机构评定", "awaiting the agency's grade"),
        ],
    )


def program_transitions(p: str) -> list[Transition]:
    """The steps both programs share once chosen."""
    return [
        Transition(
            "approve_program", f"{p}.submitted", f"{p}.institution_approved", INSTITUTION,
            then="store_evaluation",
        ),
        Transition("reject_program", f"{p}.submitted", "registered", INSTITUTION, then="clear_program"),
        Transition(
            "confirm_program", f"{p}.institution_approved", f"{p}.testing", AGENCY, when="evaluation_passed"
        ),
        Transition(
            "confirm_program", f"{p}.institution_approved", "unqualified", AGENCY,
            then=("fail_evaluation", "result_given"),
        ),
        Transition(
            "return_program", f"{p}.institution_approved", f"{p}.submitted", AGENCY,
            then="clear_evaluation",
        ),
        # The testing app reports each attempt; the doctor moves on once the tests are done.
        Transition(
            "record_score", f"{p}.testing", f"{p}.awaiting_grade", EXAM,
            guards=SCORE_GUARDS, when="tests_complete", then="record_score",
        ),
        Transition("record_score", f"{p}.testing", STAY, EXAM, guards=SCORE_GUARDS, then="record_score"),
        Transition(
            "grade", f"{p}.awaiting_grade", "qualified", AGENCY,
            guards="window_open:grading", when="tests_pass",
        ),
        Transition(
            "grade", f"{p}.awaiting_grade", "unqualified", AGENCY,
            guards="window_open:grading", then=("fail_grade", "result_given"),
        ),
    ]


DEFERRAL = deferral(UP_TO_TESTING)

DOCTOR_MACHINE = Machine(
    "doctor", "医师定期考核周期", "the doctor's assessment cycle",
    initial="not_enrolled",
    states=[
        State("not_enrolled", "未纳入本周期", "not enrolled in the cycle"),
        State("enrolled", "已纳入，待医师确认个人信息", "enrolled, awaiting the doctor's details"),
        State("info_submitted", "待卫生机构审核", "details awaiting the institution"),
        State("info_approved", "待考核机构复核", "details awaiting the agency"),
        State("registered", "报名成功，待选择考核程序", "registered, choosing a program"),
        program("simple", "简易程序", "simple program", SIMPLE_EXEMPTION),
        program("general", "一般程序", "general program", GENERAL_EXEMPTION),
        *DEFERRAL.states,
        # Not final in the machine: a finding after the pass (the photo review, art. 27) may still make
        # it unqualified until the cycle's re-exam closes.
        State("qualified", "合格", "qualified"),
        UNQUALIFIED,
        *APPEAL.states,
        *REEXAM.states,
        REEXAM_PASSED,
        REGISTRATION_CANCELLED,
    ],
    events=EVENTS,
    history=UP_TO_TESTING,
    transitions=[
        # 报名 — registration
        Transition(
            "enroll", "not_enrolled", "enrolled", INSTITUTION, guards=("window_open:registration", "cycle_confirmed")
        ),
        Transition("cancel_enrollment", ("enrolled", "info_submitted"), "not_enrolled", INSTITUTION),
        Transition("submit_info", "enrolled", "info_submitted", DOCTOR),
        Transition("approve_info", "info_submitted", "info_approved", INSTITUTION),
        Transition("reject_info", "info_submitted", "enrolled", INSTITUTION),
        Transition("confirm_registration", "info_approved", "registered", AGENCY),
        Transition("reject_registration", "info_approved", "info_submitted", AGENCY),
        # 选择考核程序 — choosing the program
        Transition(
            "choose_simple", "registered", "simple.submitted", DOCTOR,
            guards=("simple_not_refused", "simple_condition_met"), then="set_program:simple",
        ),
        Transition("choose_general", "registered", "general.submitted", DOCTOR, then="set_program:general"),
        *program_transitions("simple"),
        *program_transitions("general"),
        Transition(
            "refuse_simple", "simple.institution_approved", "registered", AGENCY,
            then=("clear_program", "set_flag:simple_refused"),
        ),
        # 免考 — exemptions
        *SIMPLE_EXEMPTION.transitions,
        *GENERAL_EXEMPTION.transitions,
        # 延期考核 — deferral and the make-up
        *DEFERRAL.transitions,
        # Sweeps when a window closes: whoever has not finished is unqualified — absent with no
        # attempt at all (附件2: 未参加首轮考核), else on the tests they sat.
        Transition(
            "close_first_round", UP_TO_TESTING, "unqualified", SYSTEM,
            guards=("window_over:first_round", "not_resumed"), then=("judge_unfinished", "result_given"),
        ),
        Transition(
            "close_makeup", UP_TO_TESTING, "unqualified", SYSTEM,
            guards=("window_over:makeup", "resumed"), then=("judge_unfinished", "result_given"),
        ),
        Transition(
            "close_makeup", "deferred", "unqualified", SYSTEM,
            guards="window_over:makeup", then=("set_reason:absent", "result_given"),
        ),
        # 监考 — proctoring
        Transition(
            "mark_suspected", MARKABLE, STAY, (AGENCY, INSTITUTION, ADMIN),
            guards="flag_clear:suspected", then="set_flag:suspected",
        ),
        Transition(
            "unmark_suspected", MARKABLE, STAY, ADMIN,
            guards="flag_set:suspected", then="clear_flag:suspected",
        ),
        # The agency reviews the photos after the tests (附件2 ④, 【处理】): a finding may still come
        # after a pass, until the cycle's re-exam closes (the guard; in the tests it always holds).
        Transition(
            "discipline", FINDABLE, "unqualified", ADMIN,
            guards="before_reexam_closes", then=("discipline", "result_given"),
        ),
        # 违规 — art. 27: a violation found during the cycle makes the result unqualified, after a pass too
        Transition(
            "record_violation", (*JUDGED, "qualified"), "unqualified", (AGENCY, ADMIN),
            guards="before_reexam_closes", then=("violation", "result_given"),
        ),
        # 年满50周岁从旁指导 — assisted testing
        Transition(
            "request_assistance", ASSISTABLE, STAY, DOCTOR,
            guards=("flag_clear:assistance_requested", "assistance_age"),
            then="set_flag:assistance_requested",
        ),
        Transition(
            "approve_assistance", ASSISTABLE, STAY, INSTITUTION,
            guards=("flag_set:assistance_requested", "flag_clear:assisted"), then="set_flag:assisted",
        ),
        # 驳回 — the authority's corrections, only before a result: a result, once given, is not
        # withdrawn by sending the doctor out of the cycle (it is corrected through the appeal).
        Transition(
            "admin_exit", (*REGISTRATION, "simple", "general", "deferral", "deferred"),
            "not_enrolled", ADMIN, then="reset_cycle",
        ),
        Transition("admin_rechoose", ("simple", "general"), "registered", ADMIN, then="clear_program"),
        # 复核申请 — the appeal; the suspension waits for its answer
        *APPEAL.transitions,
        # 再次考核 — suspension and the re-exam
        *REEXAM.transitions,
        # 变更卫生机构 — only out of the cycle; ``Engine.change_institution`` also moves the doctor in the
        # registry (the admin must govern both institutions: SPEC §1's county / city / province rule)
        Transition("change_institution", "not_enrolled", STAY, ADMIN, guards="institution_differs"),
    ],
)
