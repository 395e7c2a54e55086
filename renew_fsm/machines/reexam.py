"""The re-exam machine (再次考核): after an unqualified first result the
doctor's registering authority suspends practice for 3–6 months, the province
lists the doctor, the doctor sits the program's test once more, and the
authority grades: back to work (no honours or promotion this cycle) or the
registration is cancelled.

The doctor's cycle machine embeds the same fragment; ``REEXAM`` draws it alone.
"""

from __future__ import annotations

from .dsl import STAY, Fragment, Machine, State, Transition
from .vocabulary import ADMIN, EVENTS, EXAM, PROVINCE, SYSTEM

REEXAM_PASSED = State("reexam_passed", "再次考核合格（本周期不得评优、晋升）", "passed the re-exam", final=True)
REGISTRATION_CANCELLED = State(
    "registration_cancelled", "注销注册，收回执业证书", "registration cancelled", final=True
)
UNQUALIFIED = State("unqualified", "不合格", "unqualified")

FRAGMENT = Fragment(
    states=[
        State(
            "reexam", "再次考核", "re-exam", initial="suspended",
            children=[
                State("suspended", "暂停执业 3–6 个月", "practice suspended"),
                State("listed", "已列入再次考核名单", "listed for the re-exam"),
                State("awaiting_grade", "再次考核待评定", "re-exam awaiting the grade"),
            ],
        ),
    ],
    transitions=[
        Transition(
            "suspend", "unqualified", "reexam.suspended", ADMIN,
            guards="suspension_in_range", then="start_suspension",
        ),
        Transition("confirm_reexam", "reexam.suspended", "reexam.listed", PROVINCE),
        Transition(
            "record_score", "reexam.listed", "reexam.awaiting_grade", EXAM,
            guards=("window_open:exam", "suspension_over", "test_in_program", "attempts_remain"),
            when="tests_complete", then="record_score",
        ),
        Transition(
            "record_score", "reexam.listed", STAY, EXAM,
            guards=("window_open:exam", "suspension_over", "test_in_program", "attempts_remain"),
            then="record_score",
        ),
        Transition(
            "grade", "reexam.awaiting_grade", "reexam_passed", ADMIN,
            guards="window_open:grading", when="tests_pass", then="set_flag:no_promotion",
        ),
        Transition(
            "grade", "reexam.awaiting_grade", "registration_cancelled", ADMIN,
            guards="window_open:grading", then="fail_grade",
        ),
        Transition(
            "discipline", ("reexam.listed", "reexam.awaiting_grade"), "registration_cancelled", ADMIN,
            then="discipline",
        ),
        Transition(
            "close_reexam", "reexam.listed", "registration_cancelled", SYSTEM,
            guards="window_over:reexam", then="set_reason:absent",
        ),
    ],
)

_EVENTS = {t.event for t in FRAGMENT.transitions}

REEXAM = Machine(
    "reexam", "再次考核", "re-exam",
    initial="unqualified",
    states=[UNQUALIFIED, *FRAGMENT.states, REEXAM_PASSED, REGISTRATION_CANCELLED],
    events={name: event for name, event in EVENTS.items() if name in _EVENTS},
    transitions=FRAGMENT.transitions,
)
