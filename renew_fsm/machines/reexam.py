"""The re-exam machine (再次考核): after an unqualified first result the
doctor's registering authority suspends practice for 3–6 months, the province
lists the doctor, the re-exam re-assesses what failed — one attempt of each
failed test, or a fresh work and ethics evaluation by the institution that the
agency confirms — and the authority grades: back to work (no honours or
promotion this cycle) or the registration is cancelled.  Nobody loses the
registration for a re-exam they could not sit (art. 26): a doctor whose
suspension outlasts the window stays listed (``reexam_pending``) for a later one.

The doctor's cycle machine embeds the same fragment; ``REEXAM`` draws it alone.
"""

from __future__ import annotations

from .dsl import STAY, Fragment, Machine, State, Transition
from .vocabulary import ADMIN, AGENCY, EVENTS, EXAM, INSTITUTION, PROVINCE, SYSTEM

REEXAM_PASSED = State("reexam_passed", "再次考核合格（本周期不得评优、晋升）", "passed the re-exam", final=True)
REGISTRATION_CANCELLED = State(
    "registration_cancelled", "注销注册，收回执业证书", "registration cancelled", final=True
)
UNQUALIFIED = State("unqualified", "不合格", "unqualified")

#: Sitting a re-exam test: inside the window, after the suspension, a test the re-exam covers, once.
SIT = ("window_open:exam", "suspension_over", "test_in_program", "attempts_remain")

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
        # The list says what each doctor's re-exam covers (a ``reexam_<item>`` flag per item due); a
        # doctor whose suspension outlasts the window is listed all the same, flagged ``reexam_pending``.
        Transition(
            "confirm_reexam", "reexam.suspended", "reexam.listed", PROVINCE,
            then=("plan_reexam", "pending_if_suspended_past_window"),
        ),
        Transition(
            "record_score", "reexam.listed", "reexam.awaiting_grade", EXAM,
            guards=SIT, when="tests_complete", then="record_score",
        ),
        Transition("record_score", "reexam.listed", STAY, EXAM, guards=SIT, then="record_score"),
        # A failed work or ethics evaluation (or a conduct finding) is evaluated afresh.
        Transition(
            "approve_program", "reexam.listed", STAY, INSTITUTION,
            guards=("window_open:exam", "suspension_over", "reevaluation_due", "flag_clear:reexam_evaluated"),
            then="store_reevaluation",
        ),
        # (A re-evaluation is the whole of its re-exam: ``reexam_items`` never pairs it with a test.)
        Transition(
            "confirm_program", "reexam.listed", "reexam.awaiting_grade", AGENCY,
            guards=("window_open:exam", "flag_set:reexam_evaluated"), then="confirm_reevaluation",
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
        # Art. 26: cancelled only if the suspension ended in time to sit; the others (listed with
        # ``reexam_pending``) are left alone, listed, for a later window (a new policy version).
        Transition(
            "close_reexam", "reexam.listed", "registration_cancelled", SYSTEM,
            guards=("window_over:reexam", "suspension_ended_in_time"), then="close_reexam",
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
