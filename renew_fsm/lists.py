"""The lists people work from (卫生机构管理, 医师管理, 医师信息列表) and their xlsx export.

Every list is limited to the caller's jurisdiction — an institution sees its own doctors, an
agency the doctors of the institutions assigned to it, an authority its region's (the same
rule ``World.may_act`` applies to writes) — and paged by a keyset: ``Page.next`` is the
``after`` of the following page, ``None`` at the end.  The doctor list reads along the
store's (state, doctor) index through ``Storage.work_queue``, one clause per state asked for
(every state of the cycle by default: the progress query by state for all of them).

Exports go through ``renew_fsm.cells`` (``xlsx_row``), so a cell a doctor typed can never be
a formula, and are laid out the way the statistics are: a bold, frozen header row and columns
fitted to their text.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import attrs

from .cells import xlsx_row
from .errors import FORBIDDEN, NOT_FOUND, Refused, bad_input, outside
from .eventdata import check_actor
from .model import Actor, Doctor, Instance
from .queue import jurisdiction
from .world import World

if TYPE_CHECKING:
    from .engine import Engine

#: Roles that work from the lists (a doctor sees only their own profile).
LIST_ROLES = ("institution", "agency", "admin")
MAX_PAGE = 1000
#: Events a list's selection may be sent in one go: 参加考核 and 取消 (密码重置 is the account
#: machine's ``reset_password``, batched with ``Engine.case_fire_many``).
BATCH_EVENTS = ("enroll", "cancel_enrollment")


@attrs.frozen
class Page:
    """One page of a list; ``next`` is the ``after`` of the following page (``None``: the last)."""

    rows: list[dict[str, Any]]
    next: str | None

    def as_dict(self) -> dict[str, Any]:
        return {"rows": self.rows, "next": self.next}


@attrs.frozen
class Sheet:
    """A list as one table to export: its title, Chinese headers and rows."""

    title: str
    headers: list[str]
    rows: list[list[Any]]


def check_page(page_size: Any) -> None:
    if isinstance(page_size, bool) or not isinstance(page_size, int) or not 1 <= page_size <= MAX_PAGE:
        raise bad_input(f"page_size must be between 1 and {MAX_PAGE}")


def _lister(actor: Actor) -> None:
    check_actor(actor)
    if actor.role not in LIST_ROLES:
        raise Refused(FORBIDDEN, f"a {actor.role} does not work from these lists", message_zh="无权查看该名单")


def in_jurisdiction(world: World, actor: Actor, doc: Doctor, region: str | None, institution: str | None) -> bool:
    """The doctor is the actor's (``World.may_act``) and inside the filters' region and institution."""
    return (
        world.may_act(actor, doc)
        and (region is None or world.governs(region, world.region_of(doc)))
        and (institution is None or doc.institution == institution)
    )


def practice_category(doc: Doctor) -> str | None:
    """执业类别 (clinical, TCM, dental, public health): a registry column once the doctor model has it,
    until then a profile field of the same name."""
    value = getattr(doc, "practice_category", None)
    return value if value is not None else doc.profile.get("practice_category")


# -- 卫生机构管理 -------------------------------------------------------------------------------------


def institution_list(
    engine: Engine,
    actor: Actor,
    *,
    region: str | None = None,
    kind: str | None = None,
    unassigned: bool = False,
    page_size: int = 50,
    after: str | None = None,
) -> Page:
    """卫生机构管理: the institutions the actor oversees (an authority its region's, an agency those
    assigned to it, an institution itself), each with its agency and whether it confirmed the cycle.
    ``unassigned``: only the health institutions no agency assesses (after 撤销考核机构, say)."""
    from .records import cycle_confirmed

    _lister(actor)
    check_page(page_size)
    world = engine.world()
    allowed, _ = jurisdiction(actor, world)
    ids = sorted(world.institutions) if allowed is None else allowed
    agency_of = {i: a.id for a in world.agencies.values() for i in a.institutions}
    cycle = world.policy.id if world.policy else None
    rows: list[dict[str, Any]] = []
    for iid in ids:
        if after is not None and iid <= after:
            continue
        inst = world.institutions[iid]
        if region is not None and not world.governs(region, inst.region):
            continue
        if kind is not None and inst.kind != kind:
            continue
        if unassigned and (iid in agency_of or inst.kind != "institution"):
            continue
        rows.append(
            {
                "institution": iid,
                "name": inst.name,
                "kind": inst.kind,
                "region": inst.region,
                "region_name": world.regions[inst.region].name if inst.region in world.regions else "",
                "agency": agency_of.get(iid),
                "is_agency": iid in world.agencies,
                "cycle_confirmed": cycle is not None and cycle_confirmed(engine, iid, cycle),
            }
        )
        if len(rows) == page_size:
            return Page(rows, iid if iid != ids[-1] else None)
    return Page(rows, None)


# -- 医师管理, 医师信息列表 --------------------------------------------------------------------------


@attrs.frozen
class DoctorFilter:
    """What the doctor list is narrowed to; ``None`` is no narrowing."""

    region: str | None = None
    institution: str | None = None
    department: str | None = None
    program: str | None = None
    states: Sequence[str] | None = None
    #: The unqualified reason (``humanities``, ``discipline`` …), 考核结果 beside the state.
    result: str | None = None
    practice_category: str | None = None


def _institutions(world: World, actor: Actor, f: DoctorFilter) -> list[str] | None:
    allowed, _ = jurisdiction(actor, world)
    if f.region is None and f.institution is None:
        return allowed
    pool = sorted(world.institutions) if allowed is None else allowed
    return [
        i
        for i in pool
        if (f.region is None or world.governs(f.region, world.institutions[i].region))
        and (f.institution is None or i == f.institution)
    ]


def doctor_list(
    engine: Engine,
    actor: Actor,
    *,
    region: str | None = None,
    institution: str | None = None,
    department: str | None = None,
    program: str | None = None,
    states: Sequence[str] | None = None,
    result: str | None = None,
    practice_category: str | None = None,
    page_size: int = 50,
    after: str | None = None,
) -> Page:
    """医师管理 / 医师信息列表: one page of the actor's doctors in the current cycle, filtered."""
    _lister(actor)
    check_page(page_size)
    f = DoctorFilter(region, institution, department, program, states, result, practice_category)
    machine = engine.machine
    wanted = list(f.states) if f.states is not None else sorted(machine.steps)
    unknown = [s for s in wanted if s not in machine.steps]
    if unknown:
        raise bad_input(f"unknown state {unknown[0]!r}", f"未知状态 {unknown[0]}")
    world, policy = engine.world(), engine.policy
    members: set[str] | None = None
    if f.department is not None:
        dept = engine.storage.load_case("department", f.department)
        if dept is None:
            raise Refused(NOT_FOUND, f"no department {f.department!r}", message_zh=f"无科室 {f.department}")
        members = set(dept.values.get("doctors", ()))
    institutions = _institutions(world, actor, f)
    if institutions == [] or not wanted:
        return Page([], None)
    clauses = [(s, frozenset(), frozenset()) for s in wanted]
    rows: list[dict[str, Any]] = []
    cursor = after
    while True:
        batch = engine.storage.work_queue(policy.id, clauses, institutions, None, cursor, page_size)
        for inst, doc in batch:
            cursor = inst.doctor
            if _keeps(f, inst, doc, members):
                rows.append(doctor_row(world, inst, doc))
                if len(rows) == page_size:
                    return Page(rows, cursor)
        if len(batch) < page_size:
            return Page(rows, None)


def _keeps(f: DoctorFilter, inst: Instance, doc: Doctor, members: set[str] | None) -> bool:
    return (
        (members is None or doc.id in members)
        and (f.program is None or inst.program == f.program)
        and (f.result is None or inst.reason == f.result)
        and (f.practice_category is None or practice_category(doc) == f.practice_category)
    )


def doctor_row(world: World, inst: Instance, doc: Doctor) -> dict[str, Any]:
    place = world.institutions.get(doc.institution)
    return {
        "doctor": doc.id,
        "name": doc.name,
        "institution": doc.institution,
        "institution_name": place.name if place else "",
        "region": place.region if place else None,
        "license": doc.license,
        "practice_category": practice_category(doc),
        "program": inst.program,
        "state": inst.state,
        "reason": inst.reason,
        "flags": sorted(inst.flags),
    }


DOCTOR_HEADERS = [
    "医师编号", "姓名", "卫生机构编号", "卫生机构", "行政区划", "执业资格", "执业类别",
    "考核程序", "考核状态", "不合格原因",
]  # fmt: skip


def doctor_sheet(engine: Engine, actor: Actor, **filters: Any) -> Sheet:
    """The whole filtered doctor list the actor may see (every page), as one sheet: the 【导出】."""
    rows: list[list[Any]] = []
    after = None
    while True:
        page = doctor_list(engine, actor, page_size=MAX_PAGE, after=after, **filters)
        rows += [
            [
                r["doctor"],
                r["name"],
                r["institution"],
                r["institution_name"],
                r["region"] or "",
                r["license"],
                r["practice_category"] or "",
                r["program"] or "",
                r["state"],
                r["reason"] or "",
            ]
            for r in page.rows
        ]
        if page.next is None:
            return Sheet("医师信息列表", DOCTOR_HEADERS, rows)
        after = page.next


def doctor_profile(engine: Engine, actor: Actor, doctor: str) -> dict[str, Any]:
    """查看: a doctor's registry data, current state and history, for whoever's jurisdiction covers them."""
    from .records import department_of

    check_actor(actor)
    inst, doc = engine.load_one(doctor)
    world = engine.world()
    if actor.role not in (*LIST_ROLES, "doctor") or not world.may_act(actor, doc):
        raise outside(actor, doctor)
    return {
        "registry": {
            "doctor": doc.id,
            "name": doc.name,
            "id_card": doc.id_card,
            "institution": doc.institution,
            "license": doc.license,
            "practice_category": practice_category(doc),
            "birth_date": doc.birth_date.isoformat(),
            "practice_since": doc.practice_since.isoformat(),
            "record": doc.record,
            "profile": doc.profile,
            "department": department_of(engine, doc.id, doc.institution),
        },
        "state": _view(inst),
        "history": [r._asdict() for r in engine.storage.history(engine.cycle, doctor)],
    }


def _view(inst: Instance) -> dict[str, Any]:
    return {"state": inst.state, "reason": inst.reason, "flags": sorted(inst.flags), "version": inst.version}


def batch(engine: Engine, actor: Actor, event: str, doctors: Sequence[str], at: dt.datetime | None = None) -> list[Any]:
    """参加考核 / 取消 on a selection: each doctor's result (a view, or the refusal) in its place."""
    from .engine import Fire

    if event not in BATCH_EVENTS:
        raise bad_input(f"a selection is sent {' or '.join(BATCH_EVENTS)}, not {event!r}", "只能批量纳入或取消考核")
    check_actor(actor)
    if isinstance(doctors, str | bytes | dict):
        raise bad_input("doctors is a list of doctor ids")
    return engine.fire_many([Fire(d, event, actor, {}, at) for d in doctors])


# -- xlsx ---------------------------------------------------------------------------------------


def _width(value: Any) -> int:
    text = "" if value is None else str(value)
    return sum(2 if ord(ch) > 0x2E80 else 1 for ch in text)


def to_xlsx(sheet: Sheet, title: str) -> bytes:
    """One workbook of one sheet: bold, frozen header; columns fitted to their text (at most 40)."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font
    from openpyxl.utils import get_column_letter

    book = Workbook()
    ws = book.active
    ws.title = sheet.title
    xlsx_row(ws, sheet.headers)
    for row in sheet.rows:
        xlsx_row(ws, row)
    for cell in ws[1]:
        cell.font = Font(bold=True)
        cell.alignment = Alignment(wrap_text=True, vertical="center")
    ws.freeze_panes = "A2"
    for index, header in enumerate(sheet.headers, 1):
        longest = max([_width(header), *(_width(r[index - 1]) for r in sheet.rows)])
        ws.column_dimensions[get_column_letter(index)].width = min(40, max(8, longest + 2))
    book.properties.title = title
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


__all__ = [
    "BATCH_EVENTS",
    "DoctorFilter",
    "Page",
    "Sheet",
    "batch",
    "doctor_list",
    "doctor_profile",
    "doctor_sheet",
    "in_jurisdiction",
    "institution_list",
    "practice_category",
    "to_xlsx",
]
