"""The cycle's settings (考核设置) — one case per province, its id the province's region.

Read it next to the manual (卫生行政机构 2.2.4 考核设置, 仅省级行政机构具有该权限):
本周期考核设置 loads or amends the cycle's policy (its windows and what is assessed) and
免考设置 keeps the list of business-level exemption reasons — add (添加免考理由), edit (编辑),
open or close applications for one (开启申请 / 关闭申请), delete (删除).  Each is an act of the
province admin with a record in the history, instead of a setup command anyone holding the
database could run.  A reason a doctor has already applied with cannot be deleted
(``reason_unused``: close it instead).

The policy itself is stored under its id and version as the ``policy`` command stores it (the
history names the version each doctor's record was judged under); the record of ``set_policy``
names that id, version and the SHA-256 of the text.
"""

from __future__ import annotations

from .dsl import STAY, Event, Machine, Param, State, Transition
from .vocabulary import PROVINCE

REASON_ID = Param("reason_id", "reason_id")
#: The list can be kept before any ``set_policy`` too: a store set up with the ``policy`` command
#: has its cycle loaded without one.
BOTH = ("new", "set")

EVENTS: dict[str, Event] = {
    #: ``name`` (a shipped policy) or ``file`` (a TOML path); the system fills in the rest.
    "set_policy": Event(
        "保存本周期考核设置", "load or amend the cycle's policy",
        (Param("name", "text", required=False), Param("file", "text", required=False),
         Param("policy", "id", required=False), Param("version", "text", required=False),
         Param("sha256", "sha256", required=False)),
    ),
    "add_exemption_reason": Event(
        "添加免考理由", "add an exemption reason",
        (REASON_ID, Param("text", "text"), Param("open", "switch", required=False)),
    ),
    "edit_exemption_reason": Event("编辑免考理由", "edit an exemption reason", (REASON_ID, Param("text", "text"))),
    "open_exemption_reason": Event("开启申请", "open applications for a reason", (REASON_ID,)),
    "close_exemption_reason": Event("关闭申请", "close applications for a reason", (REASON_ID,)),
    #: ``used`` is how many doctors applied with it, filled in by the system.
    "delete_exemption_reason": Event(
        "删除免考理由", "delete an exemption reason", (REASON_ID, Param("used", "count", required=False))
    ),
}

CYCLE_SETTINGS = Machine(
    "cycle_settings", "考核设置", "the cycle's settings",
    initial="new",
    states=[
        State("new", "未设置本周期考核", "no policy loaded"),
        State("set", "已设置本周期考核", "the cycle is set", final=True),
    ],
    events=EVENTS,
    transitions=[
        Transition("set_policy", ("new", "set"), "set", PROVINCE, guards="subject_kind:province", then="store_policy"),
        Transition("add_exemption_reason", BOTH, STAY, PROVINCE, then="count_reasons:added"),
        Transition("edit_exemption_reason", BOTH, STAY, PROVINCE, then="count_reasons:edited"),
        Transition("open_exemption_reason", BOTH, STAY, PROVINCE, then="count_reasons:opened"),
        Transition("close_exemption_reason", BOTH, STAY, PROVINCE, then="count_reasons:closed"),
        Transition(
            "delete_exemption_reason", BOTH, STAY, PROVINCE, guards="reason_unused", then="count_reasons:deleted"
        ),
    ],
)
