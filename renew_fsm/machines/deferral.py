"""The deferral sub-flow (延期考核): a doctor who cannot sit the first round asks
before the deadline; the institution then the health authority agree; the
doctor comes back in the make-up window to the very step they had reached.

``RETURN`` is the history pseudo-state: the machine remembers the state held
when the request was made (``remember_state``) and goes back to it on a
rejection or on resuming.
"""

from __future__ import annotations

from .dsl import RETURN, Fragment, State, Transition
from .vocabulary import ADMIN, DOCTOR, INSTITUTION, SYSTEM


def deferral(deferrable: tuple[str, ...]) -> Fragment:
    """The sub-flow entered from any of ``deferrable`` (which the machine remembers)."""
    return Fragment(
        states=[
            State(
                "deferral", "延期考核申请", "deferral request", initial="requested",
                children=[
                    State("requested", "已申请延期，待卫生机构审核", "requested, awaiting the institution"),
                    State(
                        "institution_approved", "卫生机构已同意，待卫生行政部门审核",
                        "institution agreed, awaiting the authority",
                    ),
                ],
            ),
            State("deferred", "已延期，待补考", "deferred to the make-up exam"),
        ],
        transitions=[
            Transition(
                "request_deferral", deferrable, "deferral.requested", DOCTOR,
                guards=("before_deferral_deadline", "no_score_yet"), then="remember_state",
            ),
            Transition("approve_deferral", "deferral.requested", "deferral.institution_approved", INSTITUTION),
            Transition("approve_deferral", "deferral.institution_approved", "deferred", ADMIN),
            Transition("reject_deferral", "deferral.requested", RETURN, INSTITUTION),
            Transition("reject_deferral", "deferral.institution_approved", RETURN, ADMIN),
            Transition(
                "resume", "deferred", RETURN, (DOCTOR, SYSTEM),
                guards="window_open:makeup", then="set_flag:resumed",
            ),
        ],
    )
