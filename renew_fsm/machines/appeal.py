"""The appeal (复核申请, art. 24 of the 2007 measures): a doctor who disagrees with an
unqualified result asks the agency for a review within 30 days of it; the agency
answers within 30 days of the request (past that, the health authority over the
doctor answers instead, so no doctor waits for ever).  The suspension waits for
the answer: ``suspend`` leaves only from ``unqualified``.

Art. 24 gives the review to every result.  An upheld appeal against a result a
person judged (the institution's work or ethics evaluation, a discipline or a
violation finding) or against an absence (the doctor says the app failed)
sets it aside:

- an absence once the make-up has closed → ``reexam.listed``, without suspension (the one
  assessment left); it re-assesses the tests not passed;
- the tests are passed                → ``qualified``;
- the tests are done but fail         → ``unqualified`` for the test (the finding is gone, the scores stay);
- the assessment was not finished     → back to the step the result was given in (``H``), the
  contested evaluation passed; after the first round's close the doctor finishes in the make-up.

Against a score, the agency records the corrected score with a reason
(``correct_score``, one event in the history) and the grade follows from the
scores.  A dismissed appeal leaves the result as it was; either way, one appeal
per result.
"""

from __future__ import annotations

from .dsl import RETURN, Fragment, State, Transition, within
from .vocabulary import ADMIN, AGENCY, DOCTOR

ANSWER = ("appeal_answerable",)
UPHOLD = ("appeal_answerable", "result_may_be_set_aside")
CORRECT = ("appeal_answerable", "result_is_score", "test_in_program", "test_sat")
#: Where a result an appeal can set aside is given before the tests are done: an absence from
#: enrolment on, a violation from registration on, a failed evaluation, a discipline finding in the
#: tests.  (From an awaiting-grade state the tests are done, so the first branches answer.)
UNFINISHED = (
    "enrolled",
    "info_submitted",
    "info_approved",
    "registered",
    *(s for p in ("simple", "general") for s in within(
        p, ("submitted", "institution_approved", "testing", "exemption.applied", "exemption.institution_approved")
    )),
)

FRAGMENT = Fragment(
    states=[
        State(
            "appeal", "复核申请", "appeal", initial="requested",
            children=[State("requested", "已申请复核，待考核机构答复", "appealed, awaiting the review")],
        ),
    ],
    transitions=[
        Transition(
            "request_appeal", "unqualified", "appeal.requested", DOCTOR,
            guards=("not_appealed", "appeal_in_time"), then=("set_flag:appealed", "store_appeal_day"),
        ),
        # An absence upheld once the make-up has closed: the re-exam list, with no suspension.  The
        # result stays ``absent`` until the re-exam judges the doctor on what they sit.
        Transition(
            "uphold_appeal", "appeal.requested", "reexam.listed", (AGENCY, ADMIN),
            guards=UPHOLD, when="listed_after_makeup",
            then=("list_without_suspension", "plan_reexam", "pending_if_suspended_past_window"),
        ),
        Transition(
            "uphold_appeal", "appeal.requested", "qualified", (AGENCY, ADMIN),
            guards=UPHOLD, when="tests_pass", then="set_aside_result",
        ),
        Transition(
            "uphold_appeal", "appeal.requested", "unqualified", (AGENCY, ADMIN),
            guards=UPHOLD, when="tests_complete", then=("set_aside_result", "fail_grade", "result_given"),
        ),
        Transition(
            "uphold_appeal", "appeal.requested", RETURN, (AGENCY, ADMIN), returns=UNFINISHED,
            guards=UPHOLD, then=("pass_evaluation", "set_aside_result", "to_makeup_if_late"),
        ),
        Transition("dismiss_appeal", "appeal.requested", "unqualified", (AGENCY, ADMIN), guards=ANSWER),
        # Against a score: the corrected score, and the grade follows from the scores.
        Transition(
            "correct_score", "appeal.requested", "qualified", (AGENCY, ADMIN),
            guards=CORRECT, when="tests_pass", then=("correct_score", "set_aside_result"),
        ),
        Transition(
            "correct_score", "appeal.requested", "unqualified", (AGENCY, ADMIN),
            guards=CORRECT, then=("correct_score", "fail_grade"),
        ),
    ],
)
