"""Departments (科室信息维护) — one case per department, its id ``<institution>/<code>``.

Read it next to the manual (卫生机构 2.2.3): the institution creates first-level departments
(创建一级科室) and second-level ones under them, each with a name and an introduction, and
edits them; a doctor works in a second-level department.  A department in use cannot be
deleted (新建科室一旦被医师使用，无法直接删除): its doctors must be moved to another one first,
and a first-level department goes only once no second-level one is left under it.
"""

from __future__ import annotations

from .dsl import STAY, Event, Machine, Param, State, Transition
from .vocabulary import INSTITUTION

DOCTOR_ID = Param("doctor", "id")

EVENTS: dict[str, Event] = {
    #: ``parent``: the first-level department a second-level one sits under (same institution).
    "create_department": Event(
        "创建科室", "create a department",
        (Param("name", "text"), Param("intro", "text", required=False), Param("parent", "id", required=False)),
    ),
    "edit_department": Event(
        "编辑科室", "edit a department", (Param("name", "text", required=False), Param("intro", "text", required=False))
    ),
    #: ``elsewhere``: the department the doctor is in now, filled in by the system.
    "place_doctor": Event(
        "调整医师科室", "place a doctor in the department", (DOCTOR_ID, Param("elsewhere", "id", required=False))
    ),
    "remove_doctor": Event("移出科室", "take a doctor out of the department", (DOCTOR_ID,)),
    #: ``children``: how many second-level departments it has, filled in by the system.
    "delete_department": Event("删除科室", "delete the department", (Param("children", "count", required=False),)),
}

DEPARTMENT = Machine(
    "department", "科室", "a department",
    initial="new",
    states=[
        State("new", "未创建", "not created"),
        State("active", "在用", "in use"),
        State("deleted", "已删除", "deleted", final=True),
    ],
    events=EVENTS,
    transitions=[
        Transition("create_department", "new", "active", INSTITUTION, then="store_department"),
        Transition("edit_department", "active", STAY, INSTITUTION, then=("remember:name", "remember:intro")),
        Transition(
            "place_doctor", "active", STAY, INSTITUTION, guards=("second_level", "doctor_in_no_department"),
            then="place_doctor",
        ),
        Transition("remove_doctor", "active", STAY, INSTITUTION, guards="doctor_here", then="remove_doctor"),
        Transition("delete_department", "active", "deleted", INSTITUTION, guards="department_unused"),
    ],
)
