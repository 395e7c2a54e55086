"""What every role script starts from: a small province in a temporary SQLite file.

One province (广西), one city (南宁) with two counties, two hospitals, one
assessment agency, the Guangxi 2019–2020 policy, and a few doctors — enough
for each script to walk through its role's steps of the manual.  ``show``
prints each step the way a log would.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from pathlib import Path
from typing import Any

import renew_fsm
from renew_fsm import Actor

BEIJING = dt.timezone(dt.timedelta(hours=8))

HOSPITAL = Actor("institution", "H1")  # 青秀区人民医院
AGENCY = Actor("agency", "A1")  # 南宁市考核机构
COUNTY = Actor("admin", "NN-QX")  # 青秀区卫健局
CITY = Actor("admin", "NN")  # 南宁市卫健委
PROVINCE = Actor("admin", "GX")  # 广西卫健委
EXAM = Actor("exam_system")  # 医师服务 APP 的测评系统
#: The self-evaluation (自评) a doctor submits with the program choice: without one it is refused.
SELF = {"self_evaluation": "本周期内认真履职，完成岗位工作任务"}

WORLD: list[dict[str, Any]] = [
    {"op": "region", "id": "GX", "level": "province", "name": "广西"},
    {"op": "region", "id": "NN", "level": "city", "parent": "GX", "name": "南宁"},
    {"op": "region", "id": "NN-QX", "level": "county", "parent": "NN", "name": "青秀区"},
    {"op": "region", "id": "NN-XN", "level": "county", "parent": "NN", "name": "兴宁区"},
    {"op": "institution", "id": "H1", "region": "NN-QX", "name": "青秀区人民医院"},
    {"op": "institution", "id": "H2", "region": "NN-XN", "name": "兴宁区人民医院"},
    {"op": "agency", "id": "A1", "region": "NN", "name": "南宁市考核机构", "assigned": ["H1", "H2"]},
    {"op": "policy", "name": "guangxi-2019-2020"},
]
#: (id, name, birth date, licence, practice since, record): the doctors of 青秀区人民医院.
DOCTORS = [
    ("D1", "李明", "1966-05-02", "physician", "1990-09-01", "good"),  # general program
    ("D2", "王芳", "1959-08-20", "physician", "1983-07-01", "good"),  # 60+: simple program, humanities exempt
    ("D3", "张伟", "1985-01-15", "assistant", "2010-09-01", "none"),  # asks for a deferral
    ("D4", "陈静", "1968-11-30", "physician", "1992-09-01", "good"),  # 50+: assisted testing
]


def at(day: str, hour: int = 10) -> dt.datetime:
    """A time on ``day`` in Beijing time (the policy's zone)."""
    return dt.datetime.fromisoformat(f"{day}T{hour:02d}:00:00+08:00")


def id_card(born: str, serial: int) -> str:
    from renew_fsm.idcard import make

    return make("450103", dt.date.fromisoformat(born), serial)


def province(folder: Path | None = None) -> renew_fsm.Engine:
    """An engine over a fresh SQLite file holding the province, its doctors, and the clock on 2021-04-20."""
    path = Path(folder or tempfile.mkdtemp(prefix="renew-fsm-roles-")) / "cycle.db"
    engine = renew_fsm.open(str(path))
    for cmd in WORLD:
        engine.apply(cmd)
    for n, (did, name, born, license, since, record) in enumerate(DOCTORS, 1):
        engine.apply(
            {"op": "doctor", "id": did, "institution": "H1", "name": name, "id_card": id_card(born, n),
             "license": license, "birth_date": born, "practice_since": since, "record": record}
        )  # fmt: skip
    engine.apply({"op": "clock", "at": "2021-04-20T09:00:00+08:00"})  # registration is open
    return engine


def show(view: renew_fsm.View, what: str) -> renew_fsm.View:
    """Print one step: what was done and where the doctor stands now."""
    flags = f" [{', '.join(view.flags)}]" if view.flags else ""
    reason = f" ({view.reason})" if view.reason else ""
    print(f"  {view.doctor}: {what:<44} → {view.state}{reason}{flags}")
    return view


def registered(engine: renew_fsm.Engine, doctor: str) -> None:
    """What the others do before a doctor can choose a program: enrol, details, two checks."""
    engine.fire(doctor, "enroll", HOSPITAL)
    engine.fire(doctor, "submit_info", Actor("doctor", doctor))
    engine.fire(doctor, "approve_info", HOSPITAL)
    engine.fire(doctor, "confirm_registration", AGENCY)


def testing(engine: renew_fsm.Engine, doctor: str, program: str = "general") -> None:
    """… and up to the tests: the program chosen, evaluated by the hospital, confirmed by the agency."""
    registered(engine, doctor)
    if program == "simple":
        engine.fire(doctor, "choose_simple", Actor("doctor", doctor), {"condition": "good_record_5y", **SELF})
    else:
        engine.fire(doctor, "choose_general", Actor("doctor", doctor), SELF)
    engine.fire(doctor, "approve_program", HOSPITAL, {"work_performance": "pass", "ethics": "pass"})
    engine.fire(doctor, "confirm_program", AGENCY)
