"""A small province where one doctor stands at each result a notice is printed for, and at a few it is not.

Built through the public engine, step by step as the manual's actors would: the
tests of notices and forms read it back through ``renew-fsm``.
"""

from __future__ import annotations

from pathlib import Path

from conftest import A1, A2, COUNTY, EXAM, H1, PROVINCE, at, doctor, doctor_cmd, make_engine, register, to_testing

import renew_fsm
from renew_fsm import Actor

H3 = Actor("institution", "H3")

#: doctor id → (state, reason) they end in.
EXPECTED = {
    "Q1": ("qualified", None),
    "WP": ("unqualified", "work_performance"),
    "ET": ("unqualified", "ethics"),
    "HU": ("unqualified", "humanities"),
    "BL": ("unqualified", "business_level"),
    "AB": ("unqualified", "absent"),
    "DI": ("unqualified", "discipline"),
    "VI": ("unqualified", "violation"),
    "SU": ("reexam.suspended", "business_level"),
    "LI": ("reexam.listed", "business_level"),
    "AW": ("reexam.awaiting_grade", "business_level"),
    "RP": ("reexam_passed", "business_level"),
    "RC": ("registration_cancelled", "business_level"),
    "AP": ("appeal.requested", "work_performance"),
    "NE": ("not_enrolled", None),
    "RG": ("deferral.requested", None),
    "DF": ("deferred", None),
    "G3": ("unqualified", "business_level"),
}
#: Doctors of H1 with a result (a notice each).
WITH_RESULT = sorted(
    d for d, (s, _) in EXPECTED.items() if d != "G3" and not s.startswith(("appeal.", "not_", "defer"))
)


def doctors() -> list[dict[str, object]]:
    return [doctor_cmd(d, "H3" if d == "G3" else "H1", serial=i + 1, name=f"测试{d}") for i, d in enumerate(EXPECTED)]


def build(db: Path) -> None:
    """The province in a SQLite file, for the CLI to read."""
    e = make_engine(str(db), doctors())
    try:
        populate(e)
    finally:
        e.close()


def populate(e: renew_fsm.Engine) -> None:
    """Take every doctor of ``EXPECTED`` to where it says (the engine made by ``make_engine(url, doctors())``)."""
    _play(e)
    for d, (state, reason) in EXPECTED.items():
        view = e.state(d)
        assert (view.state, view.reason) == (state, reason), (d, view.state, view.reason)


def _general(e, d: str, business: float, humanities: float = 80, inst: Actor = H1, agency: Actor = A1) -> None:
    to_testing(e, d, "general", inst, agency)
    e.fire(d, "record_score", Actor("exam_system"), {"test": "business", "score": business}, at=at("2021-06-02"))
    e.fire(d, "record_score", EXAM, {"test": "humanities", "score": humanities}, at=at("2021-06-02"))
    e.fire(d, "grade", agency, at=at("2021-07-01"))


def _evaluated(e, d: str, work: str, ethics: str) -> None:
    register(e, d)
    e.fire(d, "choose_general", doctor(d), {"self_evaluation": "完成本职工作"})
    e.fire(d, "approve_program", H1, {"work_performance": work, "ethics": ethics})
    e.fire(d, "confirm_program", A1)


def _play(e) -> None:
    _general(e, "Q1", 80)
    _evaluated(e, "WP", "fail", "pass")
    _evaluated(e, "ET", "pass", "fail")
    _evaluated(e, "AP", "fail", "pass")
    e.fire("AP", "request_appeal", doctor("AP"), {"reason": "本人工作成绩评定有误"})
    to_testing(e, "HU", "simple")
    for _ in range(10):
        e.fire("HU", "record_score", EXAM, {"test": "humanities", "score": 42}, at=at("2021-06-03"))
    e.fire("HU", "grade", A1, at=at("2021-07-01"))
    _general(e, "BL", 41)
    _general(e, "G3", 30, inst=H3, agency=A2)
    to_testing(e, "AB", "general")
    to_testing(e, "DI", "general")
    e.fire(
        "DI", "discipline", COUNTY, {"finding": "cheating", "reason": "抓拍照片显示他人代为作答"}, at=at("2021-06-05")
    )
    register(e, "VI")
    e.fire("VI", "record_violation", A1, {"finding": "kickbacks", "reason": "收受药品回扣"})
    register(e, "RG")
    e.fire("RG", "request_deferral", doctor("RG"), {"reason": "孕产期，无法参加首轮考核"}, at=at("2021-05-10"))
    register(e, "DF")
    e.fire("DF", "request_deferral", doctor("DF"), {"reason": "援外医疗队派驻境外"}, at=at("2021-05-10"))
    e.fire("DF", "approve_deferral", H1, {"opinion": "情况属实，同意延期"}, at=at("2021-05-12"))
    e.fire("DF", "approve_deferral", COUNTY, {"opinion": "同意"}, at=at("2021-05-20"))
    e.sweep("close_first_round", at("2021-06-28"))
    for d in ("SU", "LI", "AW", "RP", "RC"):
        _general(e, d, 40)
        e.fire(d, "suspend", COUNTY, {"months": 3}, at=at("2021-07-15"))
    for d in ("LI", "AW", "RP", "RC"):
        e.fire(d, "confirm_reexam", PROVINCE, at=at("2021-07-20"))
    for d, score in (("AW", 70), ("RP", 75), ("RC", 20)):
        e.fire(d, "record_score", EXAM, {"test": "business", "score": score}, at=at("2021-11-08"))
    for d in ("RP", "RC"):
        e.fire(d, "grade", COUNTY, at=at("2021-11-20"))
