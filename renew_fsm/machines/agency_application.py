"""Assessment-agency application (申请考核机构) — one case per institution, its id the institution's.

Read it next to the manual (卫生行政机构 2.2.3 (3) 考核机构申请管理, 2.2.5 考核机构管理;
卫生机构 2.2.4 申请考核机构): the health authority allows an institution to apply (单个或批量)
or takes the permission back; the institution uploads its materials and applies; the
authority over it approves — the institution becomes an assessment agency under its own id —
or rejects with a reason, after which it may apply again.  An industry organisation
(行业组织) does not apply: the authority makes it an agency directly.  Then the authority
assigns institutions to the agency and withdraws them (指定 / 撤销); the agency acts on an
institution's doctors from the moment it is assigned until it is withdrawn.

Guards and effects are rule ids in ``renew_fsm.rules.casework``; who may act is
``world.may_act_case`` (the authority whose region contains the institution; the institution itself).
"""

from __future__ import annotations

from .dsl import STAY, Event, Machine, Param, State, Transition
from .vocabulary import ADMIN, INSTITUTION, OPINION, REASON

INSTITUTION_ID = Param("institution", "id")

EVENTS: dict[str, Event] = {
    "allow_application": Event("允许申请考核机构", "allow the institution to apply"),
    "disallow_application": Event("不允许申请考核机构", "take the permission to apply back", (OPINION,)),
    "apply_agency": Event("提交考核机构申请", "apply to be an assessment agency", (Param("materials", "text"),)),
    "approve_agency": Event("审批通过考核机构", "approve: the institution becomes an agency", (OPINION,)),
    "reject_agency": Event("驳回考核机构申请", "reject the application", (REASON,)),
    "designate_agency": Event("配置行业组织为考核机构", "make an industry organisation an agency", (OPINION,)),
    "assign_institution": Event("指定卫生机构", "assign an institution to the agency", (INSTITUTION_ID,)),
    "withdraw_institution": Event("撤销指定的卫生机构", "withdraw an institution from the agency", (INSTITUTION_ID,)),
}

AGENCY_APPLICATION = Machine(
    "agency_application", "申请考核机构", "application to be an assessment agency",
    initial="not_allowed",
    states=[
        State("not_allowed", "未开通申请权限", "not allowed to apply"),
        State("allowed", "已允许申请，待卫生机构提交", "allowed to apply"),
        State("applied", "已提交申请，待卫生行政部门审批", "applied, awaiting the authority"),
        State("rejected", "申请已驳回，可再次申请", "rejected; may apply again"),
        State("agency", "考核机构", "an assessment agency", final=True),
    ],
    events=EVENTS,
    transitions=[
        # 考核机构申请管理 — the authority opens or closes the way to apply
        Transition("allow_application", "not_allowed", "allowed", ADMIN, guards="subject_kind:institution"),
        Transition("disallow_application", ("allowed", "rejected"), "not_allowed", ADMIN),
        # 申请考核机构 — the institution applies with its materials
        Transition("apply_agency", ("allowed", "rejected"), "applied", INSTITUTION, then="remember:materials"),
        # 审批考核机构 — approve (it becomes an agency) or reject with a reason
        Transition("approve_agency", "applied", "agency", ADMIN, then="forget:reason"),
        Transition("reject_agency", "applied", "rejected", ADMIN, then="remember:reason"),
        # 行业组织 — made an agency by the authority, no application (nor a permission to apply)
        Transition("designate_agency", "not_allowed", "agency", ADMIN, guards="subject_kind:industry_org"),
        # 指定卫生机构 — assign and withdraw the institutions it assesses
        Transition(
            "assign_institution", "agency", STAY, ADMIN,
            guards=("not_assigned", "assigned_nowhere_else"), then="assign",
        ),
        Transition("withdraw_institution", "agency", STAY, ADMIN, guards="assigned", then="withdraw"),
    ],
)
