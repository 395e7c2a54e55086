"""The organisations' own records and the lists people work from, on the command line.

``case`` fires any workflow event (本机构信息, 科室, 考核设置, 监考照片 …); ``settings`` is the
province admin's 本周期考核设置 and 免考设置; ``photos``, ``doctors``, ``institutions``,
``departments`` and ``organisation`` read, each as the actor given with ``--as ROLE:ID`` and
within that actor's jurisdiction.  Thin: every command is one library call and a print.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from .. import labels, lists, organisations, photos
from ..errors import bad_input
from ..eventdata import ACTOR_ROLES
from ..model import Actor
from .common import DB_HELP, app, choose_db, console, out_path, write
from .store import open_existing

DB = Annotated[str | None, typer.Option(help=DB_HELP)]
AS = Annotated[
    str, typer.Option("--as", help="操作人 / Who asks: ROLE:ID (admin:GX, agency:A1, institution:H1) or exam_system")
]
JSON = Annotated[bool, typer.Option("--json", help="输出 JSON / Print JSON")]
PAGE = Annotated[int, typer.Option(help="每页行数 / Rows per page (1–1000)")]
AFTER = Annotated[
    str | None, typer.Option(help="从该行之后开始（上一页的 next） / Start after this row (the previous page's next)")
]

photos_app = typer.Typer(help="监考照片: proctoring photos, 违纪处理记录, 向社会公布名单.", no_args_is_help=True)
doctors_app = typer.Typer(
    help="医师管理 / 医师信息列表: list, export, show, enrol or cancel a selection.", no_args_is_help=True
)
institutions_app = typer.Typer(help="卫生机构管理: the institutions you oversee.", no_args_is_help=True)
settings_app = typer.Typer(help="考核设置 (province admin): 本周期考核设置 and 免考设置.", no_args_is_help=True)
app.add_typer(photos_app, name="photos")
app.add_typer(doctors_app, name="doctors")
app.add_typer(institutions_app, name="institutions")
app.add_typer(settings_app, name="settings")


def actor_of(text: str) -> Actor:
    role, _, ident = text.partition(":")
    if role not in ACTOR_ROLES:
        raise bad_input(f"--as is ROLE:ID with ROLE one of {', '.join(sorted(ACTOR_ROLES))}, not {text!r}")
    return Actor(role, ident or None)


def _show(rows: list[dict[str, Any]], columns: list[str], nxt: str | None, as_json: bool) -> None:
    if as_json:
        console.print_json(json.dumps({"rows": rows, "next": nxt}, ensure_ascii=False, default=str))
        return
    table = Table(*columns)
    for row in rows:
        table.add_row(*("" if row.get(c) is None else str(row.get(c)) for c in columns))
    console.print(table)
    if nxt is not None:
        console.print(f"more: --after {nxt}", markup=False, highlight=False)


def _xlsx(sheet: lists.Sheet, out: str, default: str) -> None:
    path = out_path(out, default)
    data = lists.to_xlsx(sheet, sheet.title)
    write(path, lambda p: Path(p).write_bytes(data), f" ({len(sheet.rows)} rows)")


# -- a workflow event -------------------------------------------------------------------------------


@app.command("case")
def case(
    machine: Annotated[
        str, typer.Argument(help="流程（状态机） / organisation, department, cycle_settings, proctoring, …")
    ],
    case_id: Annotated[str, typer.Argument(help="流程记录编号 / The case: institution:H1, H1/IM, GX, D1/business/1 …")],
    event: Annotated[str, typer.Argument(help="要执行的操作 / The event to fire")],
    who: AS,
    data: Annotated[str, typer.Option(help="操作数据（JSON 对象） / The event's data as a JSON object")] = "{}",
    subject: Annotated[str | None, typer.Option(help="新流程的对象 / What a new case is about")] = None,
    db: DB = None,
) -> None:
    """执行流程操作 / fire one event at a workflow case, as ``--as``; print the case after it."""
    try:
        payload = json.loads(data)
    except json.JSONDecodeError as exc:
        raise bad_input(f"--data is not JSON ({exc.msg})") from None
    engine = open_existing(choose_db(db))
    try:
        view = engine.case_fire(machine, case_id, event, actor_of(who), payload, subject=subject)
    finally:
        engine.close()
    console.print_json(json.dumps({"id": view.id, **view.as_dict()}, ensure_ascii=False))


@app.command("allowed")
def allowed(
    doctor: Annotated[str, typer.Argument(help="医师编号 / doctor id")],
    who: AS,
    db: DB = None,
) -> None:
    """可执行的操作 / the events ``--as`` may fire on a doctor now (guards checked), with their labels, as JSON."""
    engine = open_existing(choose_db(db))
    try:
        events = engine.allowed(doctor, actor_of(who))
    finally:
        engine.close()
    print(json.dumps({"doctor": doctor, "events": events, "event_labels": labels.events(events)}, ensure_ascii=False))


# -- 考核设置 -----------------------------------------------------------------------------------------


@settings_app.command("load")
def settings_load(
    source: Annotated[str, typer.Argument(help="随附政策名或 TOML 文件 / A shipped policy name or a TOML file")],
    who: AS,
    db: DB = None,
) -> None:
    """本周期考核设置: load or amend the cycle's policy, recorded as the province admin's act."""
    actor = actor_of(who)
    key = "file" if Path(source).suffix == ".toml" else "name"
    engine = open_existing(choose_db(db))
    try:
        view = engine.case_fire("cycle_settings", actor.id or "", "set_policy", actor, {key: source})
    finally:
        engine.close()
    console.print(f"{view.data['cycle']} {view.data['version']} loaded by {who}", markup=False, highlight=False)


@settings_app.command("reason")
def settings_reason(
    action: Annotated[str, typer.Argument(help="添加、修改、开启、关闭或删除 / add, edit, open, close or delete")],
    reason_id: Annotated[str, typer.Argument(help="免考理由编号 / The reason's id")],
    who: AS,
    text: Annotated[str | None, typer.Option(help="免考理由内容 / The reason's text (add, edit)")] = None,
    closed: Annotated[
        bool, typer.Option("--closed", help="添加时即关闭申请 / Add it with applications closed")
    ] = False,
    db: DB = None,
) -> None:
    """免考设置: add, edit, open or close applications for, or delete a business-level exemption reason."""
    if action not in ("add", "edit", "open", "close", "delete"):
        raise bad_input("the action is add, edit, open, close or delete")
    actor = actor_of(who)
    data: dict[str, Any] = {"reason_id": reason_id}
    if text is not None:
        data["text"] = text
    if action == "add":
        data["open"] = not closed
    engine = open_existing(choose_db(db))
    try:
        engine.case_fire("cycle_settings", actor.id or "", f"{action}_exemption_reason", actor, data)
        reasons = engine.policy.business_exemptions.reasons
    finally:
        engine.close()
    for rid, reason in sorted(reasons.items()):
        console.print(f"{rid}  {'开启' if reason.open else '关闭'}  {reason.text}", markup=False, highlight=False)


# -- 监考照片 -----------------------------------------------------------------------------------------


@photos_app.command("list")
def photos_list(
    who: AS,
    below: Annotated[
        float | None, typer.Option(help="最低相似度: attempts whose lowest similarity is at most this")
    ] = None,
    region: Annotated[str | None, typer.Option(help="仅该行政区划的医师 / Only this region's doctors")] = None,
    institution: Annotated[
        str | None, typer.Option(help="仅该卫生机构的医师 / Only this institution's doctors")
    ] = None,
    test: Annotated[str | None, typer.Option(help="医学人文或业务水平 / humanities or business")] = None,
    page_size: PAGE = 50,
    after: AFTER = None,
    as_json: JSON = False,
    db: DB = None,
) -> None:
    """监考照片: each attempt's photo references and similarity, lowest first to check."""
    engine = open_existing(choose_db(db))
    try:
        page = photos.photo_list(
            engine, actor_of(who), similarity_below=below, region=region, institution=institution, test=test,
            page_size=page_size, after=after,
        )  # fmt: skip
    finally:
        engine.close()
    rows = [{**r, "photos": len(r["photos"])} for r in page.rows] if not as_json else page.rows
    _show(rows, ["case", "name", "institution", "test", "attempt", "similarity", "lowest", "photos", "state"],
          page.next, as_json)  # fmt: skip


@photos_app.command("records")
def photos_records(who: AS, page_size: PAGE = 50, after: AFTER = None, as_json: JSON = False, db: DB = None) -> None:
    """违纪处理记录: the doctors found against, the finding, who and when, and their photos."""
    engine = open_existing(choose_db(db))
    try:
        page = photos.discipline_records(engine, actor_of(who), page_size=page_size, after=after)
    finally:
        engine.close()
    _show(page.rows, ["doctor", "name", "institution", "finding", "by", "at", "state"], page.next, as_json)


@photos_app.command("published")
def photos_published(
    who: AS,
    out: Annotated[str | None, typer.Option(help="将名单导出为 xlsx / Write the whole list as xlsx here")] = None,
    as_json: JSON = False,
    db: DB = None,
) -> None:
    """向社会公布名单: the doctors whose cheating is made public; --out for the xlsx."""
    engine = open_existing(choose_db(db))
    try:
        if out is not None:
            _xlsx(photos.published_sheet(engine, actor_of(who)), out, "向社会公布名单.xlsx")
            return
        page = photos.published_list(engine, actor_of(who), page_size=1000)
    finally:
        engine.close()
    _show(page.rows, ["doctor", "name", "institution_name", "finding", "reason", "at"], page.next, as_json)


# -- 医师管理 -----------------------------------------------------------------------------------------


@doctors_app.command("list")
def doctors_list(
    who: AS,
    region: Annotated[str | None, typer.Option()] = None,
    institution: Annotated[str | None, typer.Option()] = None,
    department: Annotated[str | None, typer.Option()] = None,
    program: Annotated[str | None, typer.Option(help="简易程序或一般程序 / simple or general")] = None,
    state: Annotated[list[str] | None, typer.Option(help="考核状态（可重复） / A state (repeat for more)")] = None,
    result: Annotated[str | None, typer.Option(help="不合格原因 / The unqualified reason")] = None,
    category: Annotated[str | None, typer.Option(help="执业类别 / category of practice")] = None,
    out: Annotated[
        str | None, typer.Option(help="将筛选后的名单导出为 xlsx / Write the whole filtered list as xlsx here")
    ] = None,
    page_size: PAGE = 50,
    after: AFTER = None,
    as_json: JSON = False,
    db: DB = None,
) -> None:
    """医师信息列表: your doctors in the cycle, filtered; --out exports them all (【导出】)."""
    filters: dict[str, Any] = {
        "region": region, "institution": institution, "department": department, "program": program,
        "states": state or None, "result": result, "practice_category": category,
    }  # fmt: skip
    engine = open_existing(choose_db(db))
    try:
        if out is not None:
            _xlsx(lists.doctor_sheet(engine, actor_of(who), **filters), out, "医师信息列表.xlsx")
            return
        page = lists.doctor_list(engine, actor_of(who), page_size=page_size, after=after, **filters)
    finally:
        engine.close()
    _show(page.rows, ["doctor", "name", "institution", "practice_category", "program", "state", "reason"],
          page.next, as_json)  # fmt: skip


@doctors_app.command("show")
def doctors_show(doctor: Annotated[str, typer.Argument()], who: AS, db: DB = None) -> None:
    """查看: a doctor's registry data, state and history (JSON)."""
    engine = open_existing(choose_db(db))
    try:
        profile = lists.doctor_profile(engine, actor_of(who), doctor)
    finally:
        engine.close()
    console.print_json(json.dumps(profile, ensure_ascii=False, default=str))


@doctors_app.command("batch")
def doctors_batch(
    event: Annotated[str, typer.Argument(help="enroll (参加考核) or cancel_enrollment (取消)")],
    doctors: Annotated[list[str], typer.Argument(help="选中的医师 / The selected doctors")],
    who: AS,
    db: DB = None,
) -> None:
    """Send 参加考核 or 取消 for a selection; each doctor's outcome on its own line."""
    engine = open_existing(choose_db(db))
    try:
        results = lists.batch(engine, actor_of(who), event, doctors)
    finally:
        engine.close()
    for did, result in zip(doctors, results, strict=True):
        said = getattr(result, "state", None) or f"refused: {result.code}: {result.message}"
        console.print(f"{did}  {said}", markup=False, highlight=False)


# -- 卫生机构管理, 科室, 本机构信息 --------------------------------------------------------------------


@institutions_app.command("list")
def institutions_list(
    who: AS,
    region: Annotated[str | None, typer.Option()] = None,
    unassigned: Annotated[
        bool, typer.Option("--unassigned", help="仅未指定考核机构的 / Only those no agency assesses")
    ] = False,
    page_size: PAGE = 50,
    after: AFTER = None,
    as_json: JSON = False,
    db: DB = None,
) -> None:
    """卫生机构管理: the institutions you oversee, their agency and their cycle confirmation."""
    engine = open_existing(choose_db(db))
    try:
        page = lists.institution_list(
            engine, actor_of(who), region=region, unassigned=unassigned, page_size=page_size, after=after
        )
    finally:
        engine.close()
    _show(page.rows, ["institution", "name", "kind", "region_name", "agency", "cycle_confirmed"], page.next, as_json)


@app.command("departments")
def departments(institution: Annotated[str, typer.Argument()], who: AS, as_json: JSON = False, db: DB = None) -> None:
    """科室信息: an institution's departments, first level then second, with their doctors."""
    engine = open_existing(choose_db(db))
    try:
        rows = organisations.departments(engine, actor_of(who), institution)
    finally:
        engine.close()
    _show(rows, ["department", "name", "level", "parent", "doctors"], None, as_json)


@app.command("organisation")
def organisation(
    ref: Annotated[str, typer.Argument(help="卫生行政部门或卫生机构 / admin:<region> or institution:<id>")],
    who: AS,
    db: DB = None,
) -> None:
    """本机构信息: details, 考核管理委员会 and 考核办公室, or the cycles confirmed (JSON)."""
    engine = open_existing(choose_db(db))
    try:
        record = organisations.organisation_record(engine, actor_of(who), ref)
    finally:
        engine.close()
    console.print_json(json.dumps(record, ensure_ascii=False))
