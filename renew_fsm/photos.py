"""Photo review (监考照片, 违纪处理): what agencies, institutions and authorities page through.

The testing app sends each attempt's photos as a ``proctoring`` case (``submit_photos``):
references into the province's object store, capture times and the face-similarity score.
Here are the reads built on them, each limited to the caller's jurisdiction (the doctors
``World.may_act`` gives the actor) and paged by a keyset (``next`` is the following page's
``after``):

- ``photo_list`` — 监考照片查询, filtered by 最低相似度 (the attempt's lowest similarity at
  most ``similarity_below``), region, institution and test.  【处理】 from it is the doctor's
  ``discipline`` event, fired as any other (``Engine.fire``).
- ``discipline_records`` — 违纪处理记录: every doctor found against in the photo review, the
  finding, who made it and when, and the references of their photos.
- ``published_list`` — 向社会公布名单: the doctors whose cheating is made public; with
  ``lists.to_xlsx`` it is the export.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .errors import FORBIDDEN, Refused, bad_input
from .eventdata import check_actor
from .labels import role_zh
from .lists import Page, Sheet, check_page, in_jurisdiction
from .model import Actor, CaseView, Doctor, Instance
from .records import PHOTO_READERS, cases_under, photo_case_id

if TYPE_CHECKING:
    from .engine import Engine

#: How many cases a page reads at a time while it filters.
READ = 500
FINDING_ZH = {"communicating": "交流", "camera_blocked": "遮挡摄像头", "cheating": "作弊"}


def submit_photos(
    engine: Engine,
    doctor: str,
    test: str,
    attempt: int,
    similarity: float,
    photos: Sequence[dict[str, Any]],
    actor: Actor,
    at: dt.datetime | None = None,
) -> CaseView:
    """The testing app sends an attempt's photos (references and capture times, never images)."""
    data = {"test": test, "attempt": attempt, "similarity": similarity, "photos": list(photos)}
    case_id = photo_case_id(doctor, test, attempt) if isinstance(doctor, str) else doctor
    return engine.case_fire("proctoring", case_id, "submit_photos", actor, data, at, subject=doctor)


def _reader(actor: Actor) -> None:
    check_actor(actor)
    if actor.role not in PHOTO_READERS:
        raise Refused(
            FORBIDDEN,
            f"a {actor.role} does not review proctoring photos",
            message_zh=f"{role_zh(actor.role)}无权查看监考照片",
        )


def _doctors(engine: Engine, ids: Sequence[str]) -> dict[str, tuple[Instance | None, Doctor]]:
    """The doctors of ``ids`` with their instance in the current cycle (``None`` when they have none)."""
    policy = engine.world().policy
    loaded: dict[str, tuple[Instance | None, Doctor]] = dict(engine.storage.load(policy.id, ids)) if policy else {}
    for did in ids:
        if did not in loaded:
            doc = engine.storage.get_doctor(did)
            if doc is not None:
                loaded[did] = (None, doc)
    return loaded


def photo_list(
    engine: Engine,
    actor: Actor,
    *,
    similarity_below: float | None = None,
    region: str | None = None,
    institution: str | None = None,
    test: str | None = None,
    page_size: int = 50,
    after: str | None = None,
) -> Page:
    """One page of attempts' photos the actor may see (监考照片), in case-id order (doctor, test, attempt).

    ``similarity_below``: only attempts whose lowest similarity (最低相似度) is at most this —
    the manual's advice to check the doubtful ones first.
    """
    _reader(actor)
    check_page(page_size)
    if test is not None and test not in ("humanities", "business"):
        raise bad_input("test is humanities or business")
    if similarity_below is not None and not (
        isinstance(similarity_below, int | float) and 0 <= similarity_below <= 100
    ):
        raise bad_input("similarity_below is a similarity within 0–100")
    world = engine.world()
    rows: list[dict[str, Any]] = []
    cursor = after
    while batch := engine.storage.scan_cases("proctoring", cursor, READ):
        doctors = _doctors(engine, sorted({c.subject for c in batch}))
        for case in batch:
            cursor = case.id
            pair = doctors.get(case.subject)
            if pair is None:
                continue
            inst, doc = pair
            values = case.values
            if not in_jurisdiction(world, actor, doc, region, institution):
                continue
            if test is not None and values["test"] != test:
                continue
            if similarity_below is not None and values["lowest"] > similarity_below:
                continue
            rows.append(
                {
                    "case": case.id,
                    "doctor": doc.id,
                    "name": doc.name,
                    "institution": doc.institution,
                    "region": world.region_of(doc),
                    "test": values["test"],
                    "attempt": values["attempt"],
                    "similarity": values["similarity"],
                    "lowest": values["lowest"],
                    "photos": values["photos"],
                    "state": inst.state if inst else None,
                    "flags": sorted(inst.flags) if inst else [],
                }
            )
            if len(rows) == page_size:
                return Page(rows, cursor)
        if len(batch) < READ:
            break
    return Page(rows, None)


def photos_of(engine: Engine, doctor: str) -> list[dict[str, Any]]:
    """Every attempt's photos of one doctor (their cases sit together: ``<doctor>/…``)."""
    return [
        {"case": c.id, **{k: c.values[k] for k in ("test", "attempt", "similarity", "lowest", "photos")}}
        for c in cases_under(engine, "proctoring", f"{doctor}/")
    ]


def _scan_doctors(
    engine: Engine,
    actor: Actor,
    keep: Any,
    region: str | None,
    institution: str | None,
    page_size: int,
    after: str | None,
) -> tuple[list[tuple[Instance, Doctor]], str | None]:
    world = engine.world()
    policy = engine.policy
    out: list[tuple[Instance, Doctor]] = []
    cursor = after
    while page := engine.storage.scan(policy.id, None, cursor, READ):
        for inst, doc in page:
            cursor = inst.doctor
            if keep(inst) and in_jurisdiction(world, actor, doc, region, institution):
                out.append((inst, doc))
                if len(out) == page_size:
                    return out, cursor
        if len(page) < READ:
            break
    return out, None


def _finding_record(engine: Engine, doctor: str) -> dict[str, Any]:
    """The last ``discipline`` record of the doctor in the cycle: who found what, when, why."""
    found = [r for r in engine.storage.history(engine.cycle, doctor) if r.event == "discipline"]
    if not found:
        return {}
    rec = found[-1]
    data = json.loads(rec.data)
    return {"finding": data.get("finding"), "reason": data.get("reason"), "by": f"{rec.role}:{rec.actor}", "at": rec.at}


def discipline_records(
    engine: Engine,
    actor: Actor,
    *,
    region: str | None = None,
    institution: str | None = None,
    page_size: int = 50,
    after: str | None = None,
) -> Page:
    """违纪处理记录: the doctors found against in the photo review, with the finding and their photos.

    A finding set aside by the appeal, or undone with the doctor sent out of the cycle, leaves
    no ``finding`` on the instance and is not listed; it stays in the doctor's history.
    """
    _reader(actor)
    check_page(page_size)
    hits, cursor = _scan_doctors(
        engine, actor, lambda inst: inst.finding is not None, region, institution, page_size, after
    )
    rows = [
        {
            "doctor": doc.id,
            "name": doc.name,
            "institution": doc.institution,
            "state": inst.state,
            "published": "published" in inst.flags,
            **_finding_record(engine, doc.id),
            "photos": photos_of(engine, doc.id),
        }
        for inst, doc in hits
    ]
    return Page(rows, cursor)


def published_list(
    engine: Engine,
    actor: Actor,
    *,
    region: str | None = None,
    institution: str | None = None,
    page_size: int = 50,
    after: str | None = None,
) -> Page:
    """向社会公布名单: the doctors whose cheating is made public (flag ``published``)."""
    check_actor(actor)
    if actor.role not in ("admin", "agency", "institution"):
        raise Refused(FORBIDDEN, f"a {actor.role} does not read the published list", message_zh="无权查看公布名单")
    check_page(page_size)
    hits, cursor = _scan_doctors(
        engine, actor, lambda inst: "published" in inst.flags, region, institution, page_size, after
    )
    world = engine.world()
    rows = []
    for _, doc in hits:
        found = _finding_record(engine, doc.id)
        place = world.institutions.get(doc.institution)
        rows.append(
            {
                "doctor": doc.id,
                "name": doc.name,
                "institution": doc.institution,
                "institution_name": place.name if place else "",
                "finding": found.get("finding"),
                "reason": found.get("reason"),
                "at": found.get("at"),
            }
        )
    return Page(rows, cursor)


PUBLISHED_HEADERS = ["医师编号", "姓名", "卫生机构编号", "卫生机构", "违纪情形", "处理理由", "处理时间"]


def published_sheet(engine: Engine, actor: Actor, **filters: Any) -> Sheet:
    """The whole published list the actor may see, as one sheet (every page)."""
    rows: list[list[Any]] = []
    after = None
    while True:
        page = published_list(engine, actor, page_size=1000, after=after, **filters)
        rows += [
            [
                r["doctor"],
                r["name"],
                r["institution"],
                r["institution_name"],
                FINDING_ZH.get(r["finding"] or "", r["finding"] or ""),
                r["reason"] or "",
                r["at"] or "",
            ]
            for r in page.rows
        ]
        if page.next is None:
            return Sheet("向社会公布名单", PUBLISHED_HEADERS, rows)
        after = page.next


__all__ = [
    "FINDING_ZH",
    "discipline_records",
    "photo_list",
    "photos_of",
    "published_list",
    "published_sheet",
    "submit_photos",
]
