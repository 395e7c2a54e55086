"""考核结果名单: the result list of a region (合格名单 / 不合格名单), one row per doctor.

Art. 25 of the 2007 Measures: the assessment agency reports the results to the
health administration that registered the doctors, which acts on them (an
unqualified doctor is suspended and re-examined, a failed re-exam cancels the
registration).  So each row names the doctor as the registry does (身份证号,
执业证书编号, 执业类别) with the result, its reason, the program and the days
that matter: when the result was given, when a suspension began and for how
long.  The result day is read from the history, the record that gave it.

The rows print as a table or go out through the statistics' own CSV and Excel
writers (``renew_fsm.stats``), so every export of the package is written alike.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from pathlib import Path

from .engine import Engine
from .errors import NOT_FOUND, Refused
from .model import PRACTICE_CATEGORIES, SEXES, Doctor, Instance, Record
from .stats import PROGRAM_ZH, REASON_ZH, Sheet, outcome, write_xlsx
from .timeline import with_history
from .world import World

#: Where a doctor stands, as the list says it (``stats.outcome``'s keys without the reason).
RESULT_ZH = {
    "qualified": "合格",
    "unqualified": "不合格",
    "reexam_pending": "再次考核中",
    "reexam_passed": "再次考核合格",
    "registration_cancelled": "注销注册",
    "in_progress": "考核中",
    "not_enrolled": "未纳入本周期",
}
LICENSE_ZH = {"physician": "执业医师", "assistant": "执业助理医师"}
#: The results that go on the 合格名单 and on the 不合格名单.
QUALIFIED = ("qualified", "reexam_passed")
UNQUALIFIED = ("unqualified", "reexam_pending", "registration_cancelled")
HEADERS = [
    "医师编号",
    "姓名",
    "性别",
    "身份证号",
    "执业类型",
    "执业类别",
    "执业证书编号",
    "卫生机构",
    "所在地区",
    "考核程序",
    "考核结果",
    "不合格原因",
    "结果日期",
    "暂停执业起始日",
    "暂停执业月数",
    "状态",
]
#: The column holding the result (the 合格名单 and 不合格名单 are chosen by it).
RESULT_COLUMN = HEADERS.index("考核结果")


def result_day(inst: Instance, records: Sequence[Record]) -> str | None:
    """The day (ISO, as the records hold it) the doctor's current result was given; ``None`` without one.

    An unqualified result keeps its day through the appeal and the re-exam (the instance's
    ``result_on``, from which the appeal's 30 days run); a final result's day is the day of the
    record that brought the doctor into it.
    """
    where = outcome(inst.state, inst.reason).split(":")[0]
    if where in ("in_progress", "not_enrolled"):
        return None
    if where in ("unqualified", "reexam_pending") and inst.result_on:
        return inst.result_on
    for rec in reversed(records):
        if rec.to_state == inst.state and rec.from_state != inst.state:
            return rec.at[:10]
    return None


def _row(world: World, inst: Instance, doc: Doctor, records: Sequence[Record]) -> list[str | int]:
    where = outcome(inst.state, inst.reason).split(":")[0]
    institution = world.institutions.get(doc.institution)
    region = world.regions.get(institution.region) if institution is not None else None
    reason = inst.reason if where in UNQUALIFIED else None
    return [
        doc.id,
        doc.name,
        SEXES.get(doc.sex or "", ""),
        doc.id_card,
        LICENSE_ZH.get(doc.license, doc.license),
        PRACTICE_CATEGORIES.get(doc.practice_category or "", ""),
        doc.license_no or "",
        institution.name or institution.id if institution is not None else doc.institution,
        (region.name or region.id) if region is not None else "",
        PROGRAM_ZH.get(inst.program, inst.program or ""),
        RESULT_ZH[where],
        REASON_ZH.get(reason, reason or "") if reason else "",
        result_day(inst, records) or "",
        inst.suspended_on.isoformat() if inst.suspended_on else "",
        inst.suspension_months or "",
        inst.state,
    ]


def rows(engine: Engine, region: str | None = None) -> Iterator[list[str | int]]:
    """One row per doctor of the cycle whose institution lies in ``region``'s subtree (all without
    one), in doctor-id order; ``Refused(not_found)`` for a region the store does not have."""
    world = engine.world()
    if region is not None and region not in world.regions:
        raise Refused(NOT_FOUND, f"no region {region!r}", message_zh=f"无行政区域 {region}")
    for inst, doc, records in with_history(engine):
        if region is None or world.governs(region, world.region_of(doc)):
            yield _row(world, inst, doc, records)


def result_list(engine: Engine, region: str | None = None) -> Sheet:
    """The whole list of ``region`` (every doctor, with where they stand) as one sheet."""
    return Sheet("考核结果名单", list(HEADERS), list(rows(engine, region)))


def split(sheet: Sheet) -> tuple[Sheet, Sheet]:
    """The 合格名单 and the 不合格名单 of a result list (art. 25's two reports)."""
    passed = {RESULT_ZH[k] for k in QUALIFIED}
    failed = {RESULT_ZH[k] for k in UNQUALIFIED}
    return (
        Sheet("合格名单", sheet.headers, [r for r in sheet.rows if r[RESULT_COLUMN] in passed]),
        Sheet("不合格名单", sheet.headers, [r for r in sheet.rows if r[RESULT_COLUMN] in failed]),
    )


def to_xlsx(engine: Engine, sheet: Sheet, path: Path, region: str | None = None) -> None:
    """The whole list, the 合格名单 and the 不合格名单, one sheet each, through the statistics' writer."""
    qualified, unqualified = split(sheet)
    taken = dt.datetime.now(engine.policy.tz).isoformat(timespec="seconds")
    where = f"（{region}）" if region else ""
    known = engine.world().regions.get(region) if region else None
    place = f"{known.name or known.id}　" if known is not None else ""
    write_xlsx([sheet, qualified, unqualified], path, f"{engine.cycle} 考核结果名单{where}", f"{place}导出时间 {taken}")


__all__ = ["HEADERS", "RESULT_ZH", "result_day", "result_list", "rows", "split", "to_xlsx"]
