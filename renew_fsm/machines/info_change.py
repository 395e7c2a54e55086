"""Doctor information change (医师信息修改) — one case per request, its subject the doctor.

Read it next to the manual (卫生机构 2.2.5 (3)): a registered doctor who finds their
practice details wrong asks the institution; the institution allows it (or not); the
doctor edits and submits; the institution approves — the doctor's registry profile
changes — or rejects.  Name and id-card number never change this way (nor the registry
facts the rules read): the boundary refuses them with a reason.

Only doctors registered in the current cycle may ask (``registered_in_cycle``: the
doctor's state is ``registered`` or any later state of the cycle, see the rule), and the
approval checks it again.
"""

from __future__ import annotations

from .dsl import Event, Machine, Param, State, Transition
from .vocabulary import DOCTOR, INSTITUTION, OPINION, REASON

EVENTS: dict[str, Event] = {
    "request_change": Event("申请修改信息", "ask to change one's details", (Param("reason", "text", required=False),)),
    "allow_change": Event("允许修改", "allow the change", (OPINION,)),
    "deny_change": Event("不允许修改", "refuse the change", (REASON,)),
    "submit_change": Event("提交修改后的信息", "submit the edited details", open=True),
    "approve_change": Event("确认修改", "approve the edited details", (OPINION,)),
    "reject_change": Event("驳回修改", "reject the edited details", (REASON,)),
}

INFO_CHANGE = Machine(
    "info_change", "医师信息修改", "a doctor's information change",
    initial="new",
    states=[
        State("new", "未申请", "not asked yet"),
        State("requested", "医师已申请修改，待卫生机构允许", "asked, awaiting the institution"),
        State("editing", "卫生机构已允许，待医师修改提交", "allowed, the doctor edits"),
        State("submitted", "医师已提交修改，待卫生机构审核", "submitted, awaiting the institution"),
        State("approved", "修改已确认", "approved: the profile changed", final=True),
        State("rejected", "修改被驳回", "rejected", final=True),
        State("denied", "卫生机构不允许修改", "not allowed", final=True),
    ],
    events=EVENTS,
    transitions=[
        Transition(
            "request_change", "new", "requested", DOCTOR, guards="registered_in_cycle", then="remember:reason"
        ),
        Transition("allow_change", "requested", "editing", INSTITUTION),
        Transition("deny_change", "requested", "denied", INSTITUTION, then="remember:reason"),
        Transition("submit_change", "editing", "submitted", DOCTOR, then="store_changes"),
        Transition("approve_change", "submitted", "approved", INSTITUTION, guards="registered_in_cycle"),
        Transition("reject_change", "submitted", "rejected", INSTITUTION, then="remember:reason"),
    ],
)
