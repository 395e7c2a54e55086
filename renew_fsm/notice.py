"""The result notice (医师定期考核结果通知书): the paper a doctor with a result is handed.

A notice is printed for every result, not only a final one: a 不合格 result
takes the doctor's practice away for months, and art. 24 of the 2007 Measures
gives the doctor 30 days to ask for a review — so the notice of an
``unqualified`` (and later ``reexam.*``) doctor says why, in Chinese, and how
to appeal: within the policy's ``appeal.request_days``, to the agency that
assesses the doctor's institution, which answers within ``appeal.answer_days``.

One template (``templates/notice.html``, or the province's own file) gives the
HTML and the PDF (``renew_fsm.paper``).  Each notice carries a document number
that names its result: the cycle, the doctor and the history record that gave
the result, so printing the same result twice gives the same number, and two
results never share one.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import attrs

from . import paper
from .engine import Engine
from .errors import INVALID_TRANSITION, NOT_FOUND, Refused
from .idcard import mask
from .labels import state_zh
from .machines.vocabulary import VIOLATIONS
from .model import Doctor, Instance, Record
from .rules.guards import suspension_end
from .rules.policy import Policy
from .stats import PROGRAM_ZH, REASON_ZH
from .world import World

TEMPLATE = "notice.html"

#: Results that close the cycle.
FINAL_RESULTS = {
    "qualified": "合格",
    "reexam_passed": "再次考核合格（本考核周期内不得评优、晋升）",
    "registration_cancelled": "再次考核不合格，注销注册，收回医师执业证书",
}
#: An unqualified result, and the re-exam that follows it: the result stands, with where the doctor is now.
UNQUALIFIED_RESULTS = {
    "unqualified": "不合格",
    "reexam.suspended": "不合格",
    "reexam.listed": "不合格",
    "reexam.awaiting_grade": "不合格",
}
#: Every state a notice is printed in.
NOTICE_STATES = (*FINAL_RESULTS, *UNQUALIFIED_RESULTS)

#: 附件2 ④ and the manual's 【处理】: what the photo review found.
DISCIPLINE_ZH = {
    "communicating": "考核抓拍照片中有多人并有相互沟通嫌疑",
    "camera_blocked": "考核中故意遮挡摄像头防止抓拍",
    "cheating": "考核抓拍照片中有作弊行为，依规向社会公布",
}


@attrs.frozen
class Appeal:
    """How to ask for a review (art. 24), as the appeal rules read the policy."""

    #: Days from receiving the result in which the doctor asks (policy ``appeal.request_days``).
    days: int
    #: Days from the request in which the agency answers (policy ``appeal.answer_days``).
    answer_days: int
    #: The agency (考核机构) that assesses the doctor's institution, by name.
    agency: str
    #: The day of the result the system counts from, and the last day it accepts a request.
    result_day: str
    last_day: str


@attrs.frozen
class Notice:
    doctor: str
    #: 文号: unique per result, the same on every printing of it.
    number: str
    name: str
    id_card: str
    institution: str
    program: str
    state: str
    result: str
    #: Why the result is not 合格, as a sentence (``None`` for a pass).
    reason: str | None
    #: The reason's short label (``REASON_ZH``), for a template that wants only that.
    reason_label: str | None
    #: Where an unqualified doctor stands now (suspension, re-exam list), else ``None``.
    status: str | None
    date: str
    cycle: str
    period: str
    authority: str
    appeal: Appeal | None

    @property
    def qualified(self) -> bool:
        return self.state in ("qualified", "reexam_passed")

    def fields(self) -> list[tuple[str, str]]:
        rows = [
            ("姓名", self.name),
            ("身份证号", self.id_card),
            ("执业机构", self.institution),
            ("考核周期", self.period),
            ("考核程序", self.program),
            ("考核结果", self.result),
        ]
        if self.reason:
            rows.append(("原因", self.reason))
        if self.status:
            rows.append(("目前状态", self.status))
        rows.append(("日期", self.date))
        return rows


def notice(engine: Engine, doctor: str) -> Notice:
    """The notice's content, or ``Refused`` when the doctor has no result to give yet."""
    inst = engine.state(doctor).instance
    _check_has_result(inst)
    doc = engine.storage.get_doctor(doctor)
    assert doc is not None
    return _build(engine.world(), engine.policy, inst, doc, engine.history(doctor))


def _check_has_result(inst: Instance) -> None:
    if inst.state in NOTICE_STATES:
        return
    if inst.state.startswith("appeal."):
        raise Refused(
            INVALID_TRANSITION,
            f"{inst.doctor}'s result is under review (state {inst.state}): "
            f"a notice is printed once the review is answered",
            message_zh=f"医师 {inst.doctor} 的考核结果正在复核（{state_zh(inst.state)}），复核答复后方可打印结果通知书",
        )
    raise Refused(
        INVALID_TRANSITION,
        f"{inst.doctor} has no result yet (state {inst.state}): a notice is printed once a result is given",
        message_zh=f"医师 {inst.doctor} 尚无考核结果（当前{state_zh(inst.state)}），不能打印结果通知书",
    )


def notices_of(engine: Engine, institution: str, *, page: int = 500) -> Iterator[Notice]:
    """Every notice of an institution's doctors who have a result, in doctor-id order.

    Reads along the store's index of the institution's doctors (the work queue's
    path), never the whole cycle: a hospital's notices are printed the day its
    results come, in a province of a million doctors.  An unknown institution is
    refused here, before the first notice is asked for.
    """
    world, policy = engine.world(), engine.policy
    if institution not in world.institutions:
        raise Refused(
            NOT_FOUND,
            f"no institution {institution!r} in this store",
            message_zh=f"没有卫生机构 {institution}",
        )
    return _notices(engine, world, policy, institution, page)


def _notices(engine: Engine, world: World, policy: Policy, institution: str, page: int) -> Iterator[Notice]:
    clauses = [(state, frozenset(), frozenset()) for state in NOTICE_STATES]
    after: str | None = None
    while True:
        rows = engine.storage.work_queue(engine.cycle, clauses, [institution], None, after, page)
        for inst, doc in rows:
            yield _build(world, policy, inst, doc, engine.storage.history(engine.cycle, inst.doctor))
        if len(rows) < page:
            return
        after = rows[-1][0].doctor


def _build(world: World, policy: Policy, inst: Instance, doc: Doctor, records: list[Record]) -> Notice:
    inst_place = world.institutions.get(doc.institution)
    province = next((r for r in world.regions.values() if r.level == "province"), None)
    province_name = province.name if province and province.name else policy.policy.province
    unqualified = inst.state in UNQUALIFIED_RESULTS
    # One review per result (art. 24): a result the review kept is not offered a second one.
    reviewed = "appealed" in inst.flags
    given = _result_record(records, "unqualified" if unqualified else inst.state)
    date = (inst.result_on if unqualified and inst.result_on else None) or (given.at[:10] if given else "")
    return Notice(
        doctor=inst.doctor,
        number=_number(province_name, policy, inst.doctor, given),
        name=doc.name,
        id_card=mask(doc.id_card),
        institution=inst_place.name if inst_place and inst_place.name else doc.institution,
        program=PROGRAM_ZH.get(inst.program, PROGRAM_ZH[None]),
        state=inst.state,
        result=FINAL_RESULTS.get(inst.state) or UNQUALIFIED_RESULTS[inst.state],
        reason=why(inst, policy, doc, records, given) if inst.state not in ("qualified", "reexam_passed") else None,
        reason_label=REASON_ZH.get(inst.reason or ""),
        status=_status(inst, policy, reviewed),
        date=date,
        cycle=policy.id,
        period=f"{policy.period.start} 至 {policy.period.end}",
        authority=province_name + "卫生健康委员会",
        appeal=_appeal(world, policy, doc, date) if unqualified and not reviewed else None,
    )


def _result_record(records: list[Record], result: str) -> Record | None:
    """The record that gave the result: the last one entering that state.

    Not the newest record: a mark or a lifted mark after the grade (allowed once
    the result is given) would otherwise re-date and re-number the result; nor a
    dismissed appeal, which leaves the result as it was.
    """
    reached = [r for r in records if r.to_state == result and r.from_state != result and r.event != "dismiss_appeal"]
    return reached[-1] if reached else (records[-1] if records else None)


def _number(province: str, policy: Policy, doctor: str, given: Record | None) -> str:
    """〔the cycle's years〕, the doctor, and the sequence number of the record that gave the result."""
    seq = given.seq if given is not None else 0
    return f"{province}医考〔{policy.period.start.year}—{policy.period.end.year}〕{doctor}-{seq:03d}号"


def _score(best: float | None) -> str:
    return "无成绩" if best is None else f"{best:g} 分"


def why(
    inst: Instance, policy: Policy, doc: Doctor, records: Sequence[Record] = (), given: Record | None = None
) -> str | None:
    """The reason of a result that is not 合格, said as the doctor reads it (``given``: the record that
    gave the result, which tells an absence from the first round from one from the make-up)."""
    reason = inst.reason
    in_reexam = inst.state == "registration_cancelled"
    if reason in ("humanities", "business_level"):
        test = "humanities" if reason == "humanities" else "business"
        best = inst.reexam_best if in_reexam else (inst.humanities_best if test == "humanities" else inst.business_best)
        name = policy.tests[test].zh if test in policy.tests else REASON_ZH[reason]
        line = policy.tests[test].pass_line.get(doc.license) if test in policy.tests else None
        round_zh = "再次考核" if in_reexam else ""
        if best is None:
            return f"未参加{round_zh}{name}测评"
        line_zh = f"，合格分数线 {line:g} 分" if line is not None else ""
        best_zh = "最好成绩" if not in_reexam and test in policy.tests and policy.tests[test].attempts > 1 else "成绩"
        return f"{round_zh}{name}测评未达到合格分数线（{best_zh} {_score(best)}{line_zh}）"
    if reason == "work_performance":
        return "工作成绩经所在卫生机构评定、考核机构复核为不合格"
    if reason == "ethics":
        return "职业道德经所在卫生机构评定、考核机构复核为不合格"
    if reason == "absent":
        if in_reexam:
            return "未在再次考核期间参加再次考核（缺考）"
        if given is not None and given.event == "close_makeup":
            return "经批准延期考核后，未参加补考（缺考）"
        return "未参加本周期首轮考核，且未申请延期考核（缺考）"
    if reason == "discipline":
        found = DISCIPLINE_ZH.get(inst.finding or "", inst.finding or "")
        return _with_note(f"违反考核纪律：{found}", records)
    if reason == "violation":
        found = VIOLATIONS.get(inst.finding or "", (inst.finding or "",))[0]
        return _with_note(f"有《医师定期考核管理办法》第二十七条所列情形：{found}", records)
    return REASON_ZH.get(reason or "") or None


def _with_note(text: str, records: Sequence[Record]) -> str:
    """A finding's own words (the reason the authority recorded with it), when there are some."""
    given = next((r for r in reversed(records) if r.event in ("discipline", "record_violation")), None)
    if given is None:
        return text
    data = json.loads(given.data or "{}")
    note = next((data[k] for k in ("text", "reason") if isinstance(data.get(k), str) and data[k].strip()), None)
    return f"{text}（说明：{note.strip()}）" if note else text


def _status(inst: Instance, policy: Policy, reviewed: bool) -> str | None:
    if inst.state == "unqualified" and reviewed:
        return "本考核结果已经复核（每项考核结果只能申请一次复核）"
    if inst.state == "reexam.suspended":
        end = suspension_end(inst)
        since = f"自 {inst.suspended_on} 起至 {end} 止" if end else ""
        months = f"{inst.suspension_months}个月" if inst.suspension_months else ""
        return f"暂停执业活动{months}（{since}），期满后参加再次考核" if since else f"暂停执业活动{months}"
    if inst.state == "reexam.listed":
        window = policy.windows.reexam
        return f"已列入再次考核名单，请于 {window.start} 至 {window.end} 参加再次考核"
    if inst.state == "reexam.awaiting_grade":
        return "已参加再次考核，待卫生行政部门评定"
    return None


def _appeal(world: World, policy: Policy, doc: Doctor, result_day: str) -> Appeal:
    agencies = sorted((a for a in world.agencies.values() if doc.institution in a.institutions), key=lambda a: a.id)
    named = "、".join(a.name or a.id for a in agencies) or "您所在卫生机构的考核机构"
    days = policy.appeal.request_days
    # "之日起30日内": the day itself is not counted, as the appeal rule reads it (rules.guards._last_day).
    last = (dt.date.fromisoformat(result_day) + dt.timedelta(days=days)).isoformat() if result_day else ""
    return Appeal(days, policy.appeal.answer_days, named, result_day, last)


# -- rendering -------------------------------------------------------------------------------------


def to_html(n: Notice, template: str | Path | None = None) -> str:
    """The notice as an HTML page, from the packaged template or the province's ``template`` file."""
    return paper.render(paper.template(TEMPLATE, template), notice=n, rows=n.fields())


def to_pdf(n: Notice, template: str | Path | None = None) -> bytes:
    """The same page as PDF (needs ``pip install 'renew_fsm[pdf]'``)."""
    return paper.to_pdf(to_html(n, template), _base(template))


def _base(template: str | Path | None) -> str | None:
    return Path(template).resolve().parent.as_uri() + "/" if template is not None else None


def write_notices(
    engine: Engine, institution: str, folder: Path, *, fmt: str = "html", template: str | Path | None = None
) -> list[Path]:
    """Every notice of ``institution`` into ``folder`` (made if missing), one file per doctor with a
    result (``notice-<doctor>.html`` or ``.pdf``); the files written, in doctor-id order.

    The template is read once; PDFs share one cut of the font (``paper.to_pdfs``).  An unknown
    institution or a bad template is refused before anything is written.
    """
    found = notices_of(engine, institution)
    tpl = paper.template(TEMPLATE, template)
    pages = [(n.doctor, paper.render(tpl, notice=n, rows=n.fields())) for n in found]
    if not pages:
        return []
    files = [folder / f"notice-{_file_safe(doctor)}.{fmt}" for doctor, _ in pages]
    if fmt == "pdf":
        contents = paper.to_pdfs([page for _, page in pages], _base(template))
    else:
        contents = [page.encode("utf-8") for _, page in pages]
    folder.mkdir(parents=True, exist_ok=True)
    for path, content in zip(files, contents, strict=True):
        path.write_bytes(content)
    return files


def _file_safe(doctor: str) -> str:
    return doctor.replace("/", "_").replace("\\", "_")


def as_dict(n: Notice) -> dict[str, Any]:
    return attrs.asdict(n)
