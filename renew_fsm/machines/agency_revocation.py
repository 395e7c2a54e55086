"""Revoking an assessment agency (撤销考核机构) — one case per agency, its id the agency's.

Read it next to the manual (卫生行政机构 2.2.5 考核机构管理: the authority makes and assigns
agencies; 行业组织 …由行政机构根据需要进行配置): the authority over an agency's region revokes it.
The agency stops acting at once; the institutions assigned to it are released — listed in the
revocation's record (``released``) — and are then assigned to another agency (指定卫生机构 on
that agency's case, each a record of its own) or left unassigned, where the list of
institutions without an agency shows them (``renew_fsm.lists.institution_list``).
"""

from __future__ import annotations

from .dsl import Event, Machine, Param, State, Transition
from .vocabulary import ADMIN, REASON

EVENTS: dict[str, Event] = {
    #: ``released``: the institutions it was assigned, filled in by the system.
    "revoke_agency": Event(
        "撤销考核机构", "revoke the agency", (REASON, Param("released", "ids", required=False))
    ),
}

AGENCY_REVOCATION = Machine(
    "agency_revocation", "撤销考核机构", "revoking an assessment agency",
    initial="active",
    states=[
        State("active", "考核机构", "an assessment agency"),
        State("revoked", "已撤销", "revoked", final=True),
    ],
    events=EVENTS,
    transitions=[
        Transition("revoke_agency", "active", "revoked", ADMIN, then=("remember:reason", "remember:released")),
    ],
)
