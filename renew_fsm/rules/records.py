"""Rules of the organisations' own records: proctoring photos, settings, 本机构信息, departments.

Guards and effects of the workflow cases in ``machines/proctoring.py``, ``settings.py``,
``organisation.py`` and ``department.py``.  Like every case rule they read only the case and
the command's data (and a guard may read its subject): facts the engine looks up in storage (how
many doctors use an exemption reason, which sub-departments a department has) are added to the
data by the system before the decision (``workflows.Kind.complete``), so they are in the record
and the history rebuilds the case from its records alone.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from ..model import Case, Command
from .effects import Changes, _data
from .policy import Policy
from .verdict import PASS, Verdict, refuse

# -- 监考照片 -----------------------------------------------------------------------------------------


def attempt_recorded(case: Case, policy: Policy | None, cmd: Command, at: dt.datetime) -> Verdict:
    """The testing app sends an attempt's photos after its score: the attempt must have been recorded."""
    inst = cmd.subject.instance
    test, attempt = cmd.data["test"], cmd.data["attempt"]
    done = 0 if inst is None else getattr(inst, f"{test}_attempts") + inst.reexam_attempts
    if attempt <= done:
        return PASS
    return refuse(
        "not_eligible",
        f"该医师的{'医学人文' if test == 'humanities' else '业务水平'}第 {attempt} 次测评尚无成绩",
        f"attempt {attempt} of the {test} test has no recorded score ({done} recorded)",
    )


def store_photos(case: Case, policy: Policy | None, cmd: Command, at: dt.datetime) -> Changes:
    """The attempt's photo references, capture times and similarity; ``lowest`` is its 最低相似度."""
    d = cmd.data
    lowest = min([d["similarity"], *(p["similarity"] for p in d["photos"] if "similarity" in p)])
    return _data(
        case, test=d["test"], attempt=d["attempt"], similarity=d["similarity"], lowest=lowest, photos=d["photos"]
    )


# -- 本周期考核设置, 免考设置 -------------------------------------------------------------------------


def store_policy(case: Case, policy: Policy | None, cmd: Command, at: dt.datetime) -> Changes:
    """Which policy the province loaded (its id, version and the SHA-256 of its text)."""
    if "sha256" not in cmd.data:
        return {}
    return _data(case, cycle=cmd.data["policy"], version=cmd.data["version"], sha256=cmd.data["sha256"])


def reason_unused(case: Case, policy: Policy | None, cmd: Command, at: dt.datetime) -> Verdict:
    """A reason a doctor has applied with cannot be deleted: their application would name nothing.

    ``used`` is filled in by the system (judged first without it, then with it)."""
    used = cmd.data.get("used", 0)
    if not used:
        return PASS
    return refuse(
        "reason_in_use",
        f"免考理由 {cmd.data['reason_id']} 已被 {used} 名医师使用，不能删除（可关闭申请）",
        f"{used} doctor(s) applied with {cmd.data['reason_id']!r}; close it instead of deleting it",
    )


def count_reasons(case: Case, policy: Policy | None, cmd: Command, at: dt.datetime, change: str) -> Changes:
    """How many reasons the province has added, edited, opened, closed or deleted: a running tally."""
    tally = dict(case.values.get("reason_changes", {}))
    tally[change] = tally.get(change, 0) + 1
    return _data(case, reason_changes=tally)


# -- 本机构信息 ---------------------------------------------------------------------------------------


def store_info(case: Case, policy: Policy | None, cmd: Command, at: dt.datetime) -> Changes:
    """The organisation's own fields (address, contact, phone…): the new ones over the old."""
    return _data(case, info={**case.values.get("info", {}), **cmd.data})


def store_members(case: Case, policy: Policy | None, cmd: Command, at: dt.datetime, body: str) -> Changes:
    """The members of the 考核管理委员会 (``committee``) or 考核办公室 (``office``), as saved."""
    return _data(case, **{body: cmd.data["members"]})


def confirm_cycle(case: Case, policy: Policy | None, cmd: Command, at: dt.datetime) -> Changes:
    return _data(case, confirmed=sorted({*case.values.get("confirmed", ()), cmd.data["cycle"]}))


def cycle_not_confirmed(case: Case, policy: Policy | None, cmd: Command, at: dt.datetime) -> Verdict:
    cycle = cmd.data.get("cycle")
    if cycle not in case.values.get("confirmed", ()):
        return PASS
    return refuse("not_eligible", f"已确认考核周期 {cycle}", f"cycle {cycle} is already confirmed")


# -- 科室信息维护 -------------------------------------------------------------------------------------


def store_department(case: Case, policy: Policy | None, cmd: Command, at: dt.datetime) -> Changes:
    d = cmd.data
    return _data(case, name=d["name"], intro=d.get("intro"), parent=d.get("parent"), level=2 if d.get("parent") else 1)


def second_level(case: Case, policy: Policy | None, cmd: Command, at: dt.datetime) -> Verdict:
    """A doctor works in a second-level department (一级科室、二级科室都必须创建)."""
    if case.values.get("level") == 2:
        return PASS
    return refuse(
        "not_eligible",
        "医师须归入二级科室",
        f"{case.id} is a first-level department: place doctors in its second level",
    )


def doctor_in_no_department(case: Case, policy: Policy | None, cmd: Command, at: dt.datetime) -> Verdict:
    """A doctor is in one department: moved out of the old one first (``elsewhere`` filled by the system)."""
    other = cmd.data.get("elsewhere")
    if not other:
        if cmd.data["doctor"] in case.values.get("doctors", ()):
            return refuse(
                "not_eligible", f"医师 {cmd.data['doctor']} 已在该科室", f"{cmd.data['doctor']} is already here"
            )
        return PASS
    return refuse(
        "not_eligible",
        f"医师 {cmd.data['doctor']} 已在科室 {other}，须先移出",
        f"{cmd.data['doctor']} is in department {other}; remove them there first",
    )


def doctor_here(case: Case, policy: Policy | None, cmd: Command, at: dt.datetime) -> Verdict:
    if cmd.data["doctor"] in case.values.get("doctors", ()):
        return PASS
    return refuse("not_eligible", f"医师 {cmd.data['doctor']} 不在该科室", f"{cmd.data['doctor']} is not in {case.id}")


def place_doctor(case: Case, policy: Policy | None, cmd: Command, at: dt.datetime) -> Changes:
    return _data(case, doctors=sorted({*case.values.get("doctors", ()), cmd.data["doctor"]}))


def remove_doctor(case: Case, policy: Policy | None, cmd: Command, at: dt.datetime) -> Changes:
    return _data(case, doctors=sorted(set(case.values.get("doctors", ())) - {cmd.data["doctor"]}))


def department_unused(case: Case, policy: Policy | None, cmd: Command, at: dt.datetime) -> Verdict:
    """新建科室一旦被医师使用，无法直接删除: no doctor in it, and no second-level department under it
    (``children`` filled by the system)."""
    doctors: list[Any] = case.values.get("doctors", [])
    children = cmd.data.get("children", 0)
    if not doctors and not children:
        return PASS
    return refuse(
        "department_in_use",
        f"科室 {case.id} 仍有 {len(doctors)} 名医师、{children} 个二级科室，须先调整到其他科室",
        f"{case.id} still has {len(doctors)} doctor(s) and {children} sub-department(s): move them first",
    )
