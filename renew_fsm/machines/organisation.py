"""An organisation's own record (本机构信息) — one case per organisation, its id ``<role>:<id>``.

Read it next to the manual: an authority (卫生行政机构 2.2.2 本机构信息完善) fills in its own
details (卫健委) and saves the members of its 考核管理委员会 (assessment committee) and its
考核办公室 (assessment office); an institution (卫生机构 2.2.2) fills in its details and confirms
the cycle's dates (确认考核周期, asked on its first login).  The case id is ``admin:<region>``
or ``institution:<id>``; an authority above may fill them in too.
"""

from __future__ import annotations

from .dsl import Event, Machine, Param, State, Transition
from .vocabulary import ADMIN, INSTITUTION

BOTH = ("new", "filled")

EVENTS: dict[str, Event] = {
    #: Free-form fields (address, contact, phone …), one level of text.
    "edit_organisation": Event("完善本机构信息", "fill in the organisation's details", open=True),
    "save_committee": Event("保存考核管理委员会", "save the assessment committee", (Param("members", "members"),)),
    "save_office": Event("保存考核办公室", "save the assessment office", (Param("members", "members"),)),
    #: ``cycle`` defaults to the current one.
    "confirm_cycle": Event("确认考核周期", "confirm the cycle's dates", (Param("cycle", "id", required=False),)),
}

ORGANISATION = Machine(
    "organisation", "本机构信息", "an organisation's own record",
    initial="new",
    states=[
        State("new", "未完善", "not filled in"),
        State("filled", "已完善", "filled in", final=True),
    ],
    events=EVENTS,
    transitions=[
        Transition("edit_organisation", BOTH, "filled", (ADMIN, INSTITUTION), then="store_info"),
        Transition(
            "save_committee", BOTH, "filled", ADMIN, guards="subject_kind:admin", then="store_members:committee"
        ),
        Transition("save_office", BOTH, "filled", ADMIN, guards="subject_kind:admin", then="store_members:office"),
        Transition(
            "confirm_cycle", BOTH, "filled", INSTITUTION,
            guards=("subject_kind:institution", "cycle_not_confirmed"), then="confirm_cycle",
        ),
    ],
)
