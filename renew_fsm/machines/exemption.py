"""The exemption sub-flow (免考申请) — one definition, used by both programs.

In the simple program it exempts the humanities test (age 60, the 1998 TCM
rule); in the general program it exempts the business-level test (a reason
from the province's list).  The institution reviews first, then the agency;
either may reject for more proof (``supplement``) or for good (``forbid``).
"""

from __future__ import annotations

from .dsl import Fragment, State, Transition
from .vocabulary import AGENCY, DOCTOR, INSTITUTION


def exemption(program: str, *, test: str, apply_guards: tuple[str, ...], tests_remain: bool) -> Fragment:
    """The sub-flow inside ``program`` (``simple`` or ``general``) exempting ``test``.

    ``tests_remain``: whether the program has a test besides ``test``.  If it has,
    the agency's approval grades at once only when that test is done too, else
    it goes back to it; if not, the approval always goes on to the grade.
    """
    p = program
    exempt = f"exempt:{test}"
    approved = (
        [
            Transition(
                "approve_exemption", f"{p}.exemption.institution_approved", f"{p}.awaiting_grade",
                AGENCY, when="tests_complete", then=exempt,
            ),
            Transition("approve_exemption", f"{p}.exemption.institution_approved", f"{p}.testing", AGENCY, then=exempt),
        ]
        if tests_remain
        else [
            Transition(
                "approve_exemption", f"{p}.exemption.institution_approved", f"{p}.awaiting_grade", AGENCY, then=exempt
            ),
        ]
    )
    return Fragment(
        states=[
            State(
                "exemption", "免考申请", "exemption application", initial="applied",
                children=[
                    State("applied", "已申请免考，待卫生机构审核", "applied, awaiting the institution"),
                    State(
                        "institution_approved", "卫生机构已审核，待考核机构复核",
                        "institution approved, awaiting the agency",
                    ),
                ],
            )
        ],
        transitions=[
            Transition(
                "apply_exemption", f"{p}.testing", f"{p}.exemption.applied", DOCTOR,
                guards=("exemption_not_forbidden", *apply_guards), then="store_exemption_reason",
            ),
            Transition(
                "approve_exemption", f"{p}.exemption.applied", f"{p}.exemption.institution_approved",
                INSTITUTION,
            ),
            *approved,
            Transition(
                "reject_exemption", f"{p}.exemption.applied", f"{p}.testing", INSTITUTION,
                then="reject_exemption",
            ),
            Transition(
                "reject_exemption", f"{p}.exemption.institution_approved", f"{p}.testing", AGENCY,
                then="reject_exemption",
            ),
        ],
    )
