"""Exam-progress export (考试进展导出: 先申请，再导出) — one case per request, its subject a region.

Read it next to the manual (卫生行政机构 2.2.10 (2)): for the doctors who have reached
the tests, an authority asks for the list of who has and has not sat them; the system
produces the list from the request; the authority (or one above it) downloads it, and
every download is recorded.  The list is frozen when produced: its row count and SHA-256
are in the produce record of the history, so a later download can be checked against it.
"""

from __future__ import annotations

from .dsl import STAY, Event, Machine, Param, State, Transition
from .vocabulary import ADMIN, SYSTEM

EVENTS: dict[str, Event] = {
    #: ``cycle`` defaults to the current one.
    "request_export": Event(
        "申请导出考试进展", "ask for the exam-progress list", (Param("cycle", "id", required=False),)
    ),
    #: The system fills these in from the list it produced (a sender's data is refused).
    "produce_export": Event(
        "生成导出名单", "produce the list",
        (Param("rows", "count", required=False), Param("taken", "count", required=False),
         Param("sha256", "sha256", required=False)),
    ),
    "download_export": Event("下载导出名单", "download the list"),
}

EXPORT_REQUEST = Machine(
    "export_request", "考试进展导出", "an exam-progress export",
    initial="new",
    states=[
        State("new", "未申请", "not asked yet"),
        State("requested", "已申请，待系统生成", "requested, being produced"),
        State("ready", "已生成，可下载", "ready to download", final=True),
    ],
    events=EVENTS,
    transitions=[
        Transition("request_export", "new", "requested", ADMIN, then="remember:cycle"),
        Transition("produce_export", "requested", "ready", SYSTEM, then="store_export"),
        Transition("download_export", "ready", STAY, ADMIN, then="count:downloads"),
    ],
)
