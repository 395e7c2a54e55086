"""The appeal (复核申请, art. 24 of the 2007 measures): a doctor who disagrees with an
unqualified result asks the agency for a review within 30 days of it; the agency
answers within 30 days of the request (past that, the health authority over the
doctor answers instead, so no doctor waits for ever).  The suspension waits for
the answer: ``suspend`` leaves only from ``unqualified``.

An upheld appeal replaces the result — only a result a person judged can be set
aside (the institution's work or ethics evaluation, a discipline or a violation
finding); one that follows from the scores or from an absence is only dismissed:

- the tests are passed                → ``qualified``;
- the tests are done but fail         → ``unqualified`` for the test (the finding is gone, the scores stay);
- the assessment was not finished     → back to the step the result was given in (``H``), the
  contested evaluation passed; after the first round's close the doctor finishes in the make-up.

A dismissed appeal leaves the result as it was; either way, one appeal per result.
"""

from __future__ import annotations

from .dsl import RETURN, Fragment, State, Transition, within
from .vocabulary import ADMIN, AGENCY, DOCTOR

ANSWER = ("appeal_answerable",)
UPHOLD = ("appeal_answerable", "result_is_judgement")
#: Where a result an appeal can set aside is given before the tests are done: a violation from
#: registration on, a failed evaluation, a discipline finding in the tests.  (From an awaiting-grade
#: state the tests are done, so the first two branches answer.)
UNFINISHED = (
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
    ],
)
