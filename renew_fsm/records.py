"""The engine's side of the organisations' own records: one ``workflows.Kind`` per machine.

Proctoring photos (``machines/proctoring.py``), the cycle's settings (``settings.py``), an
organisation's own record (``organisation.py``) and departments (``department.py``) are
workflow cases like the agency application: decided by ``runtime.decide``, chained into the
append-only history, rebuilt by ``verify``.  What each needs besides its machine is here —
the subject it is about, what the boundary refuses in or adds to a command's data (facts the
system looks up: how many doctors use a reason, where a doctor works now), and what an
accepted step writes outside the case in the case's own transaction.

Each hook takes one ``workflows.Step`` (the command on the case) and reads the fields it needs.
``workflows`` builds the Kinds from these functions (``kinds``); the queries people work from
are in ``renew_fsm.photos``, ``renew_fsm.organisations`` and ``renew_fsm.lists``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from .errors import CONFLICT, FORBIDDEN, INVALID_TRANSITION, NOT_FOUND, Refused, bad_input
from .gate import no_policy
from .model import Actor, Case
from .rules.policy import ExemptionReason, Policy, PolicyError, load
from .storage.base import CaseWrites
from .world import Subject, World, may_act_case

if TYPE_CHECKING:
    from .engine import Engine
    from .workflows import Step

# -- shared ---------------------------------------------------------------------------------------


def system_fields(event: str, data: Any, names: tuple[str, ...]) -> None:
    """Fields the system fills in (a count, a digest) are refused from a sender: they would be believed."""
    if isinstance(data, dict):
        sent = [n for n in names if n in data]
        if sent:
            raise bad_input(f"{event}: {sent[0]} is filled in by the system; do not send it", f"{sent[0]} 由系统填写")


def cases_under(engine: Engine, machine: str, prefix: str, page: int = 500) -> Iterator[Case]:
    """The machine's cases whose id starts with ``prefix``: one contiguous run of ids, read by keyset."""
    after = prefix
    while batch := engine.storage.scan_cases(machine, after, page):
        for case in batch:
            if not case.id.startswith(prefix):
                return
            yield case
        after = batch[-1].id


# -- 监考照片 -----------------------------------------------------------------------------------------

#: Who reads photos: the doctor's institution, their agency, the authorities over them.
PHOTO_READERS = ("institution", "agency", "admin")


def photo_may_act(world: World, actor: Actor, subject: Subject) -> bool:
    """The testing app sends any doctor's photos; the others see the doctors in their jurisdiction."""
    if actor.role == "exam_system":
        return True
    return actor.role in PHOTO_READERS and subject.entity is not None and world.may_act(actor, subject.entity)


def photo_case_id(doctor: str, test: str, attempt: int) -> str:
    return f"{doctor}/{test}/{attempt}"


def _photo_complete(step: Step) -> None:
    """The case id names the attempt the photos are of: one case per attempt, a doctor's together."""
    case, subject, data = step.case, step.subject, step.data
    want = photo_case_id(subject.id, data["test"], data["attempt"])
    if case.id != want:
        raise bad_input(
            f"submit_photos: the photos of attempt {data['attempt']} of {subject.id}'s {data['test']} test "
            f"are case {want!r}, not {case.id!r}",
            f"监考照片记录编号应为 {want}，不是 {case.id}",
        )


# -- 本周期考核设置, 免考设置 -------------------------------------------------------------------------

POLICY_FILLED = ("policy", "version", "sha256")
REASON_EVENTS = (
    "add_exemption_reason",
    "edit_exemption_reason",
    "open_exemption_reason",
    "close_exemption_reason",
    "delete_exemption_reason",
)


def _settings_prepare(step: Step) -> dict[str, Any]:
    world, event, data = step.world, step.event, step.data
    if event == "set_policy":
        system_fields(event, data, POLICY_FILLED)
        if isinstance(data, dict) and ("name" in data) == ("file" in data):
            raise bad_input("set_policy: give exactly one of name (a shipped policy) or file (a path)")
        return data
    system_fields(event, data, ("used",))
    if not isinstance(data, dict) or not isinstance(data.get("reason_id"), str):
        return data  # (the field check says what is missing)
    if world.policy is None:
        raise no_policy()
    rid = data["reason_id"]
    present = rid in world.policy.business_exemptions.reasons
    if event == "add_exemption_reason" and present:
        raise Refused(CONFLICT, f"exemption reason {rid!r} exists: edit it", message_zh=f"免考理由 {rid} 已存在")
    if event != "add_exemption_reason" and not present:
        raise Refused(NOT_FOUND, f"no exemption reason {rid!r}", message_zh=f"无免考理由 {rid}")
    return data


def _load_policy(engine: Engine, data: dict[str, Any]) -> Policy:
    source = data["name"] if "name" in data else data["file"]
    try:
        policy = load(source)
    except PolicyError as exc:
        raise bad_input(f"set_policy: {exc}") from None
    stored = engine.storage.policy_text(policy.id, policy.version)
    if stored is not None and stored != policy.text:
        raise Refused(
            CONFLICT,
            f"policy {policy.id}@{policy.version} is already loaded with other text; history cites it by id and "
            "version: give the changed file a new policy.version",
            message_zh=f"考核政策 {policy.id}@{policy.version} 已载入且内容不同，修改后的政策须使用新的版本号",
        )
    return policy


def reason_users(engine: Engine, cycle: str, reason_id: str) -> int:
    """How many doctors of the cycle applied for the business-level exemption with ``reason_id``."""
    used, after = 0, None
    while page := engine.storage.scan(cycle, None, after, 5000):
        after = page[-1][0].doctor
        used += sum(1 for inst, _ in page if inst.exemption_reason == reason_id)
    return used


def _settings_complete(step: Step) -> tuple[dict[str, Any], Any] | None:
    engine, world, event, data = step.engine, step.world, step.event, step.data
    if event == "set_policy":
        policy = _load_policy(engine, data)
        digest = hashlib.sha256(policy.text.encode()).hexdigest()
        return {**data, "policy": policy.id, "version": policy.version, "sha256": digest}, policy
    if event == "delete_exemption_reason":
        assert world.policy is not None  # (prepare refused the command without one)
        return {**data, "used": reason_users(engine, world.policy.id, data["reason_id"])}, None
    return None


def _settings_writes(step: Step) -> tuple[CaseWrites, str | None]:
    world, event, data, carry = step.world, step.event, step.data, step.carry
    if event == "set_policy":
        policy: Policy = carry
        seeds = (policy.id, dict(policy.business_exemptions.reasons))
        return CaseWrites(policy=(policy.id, policy.version, policy.text), seed_reasons=seeds), None
    assert world.policy is not None
    cycle, rid = world.policy.id, data["reason_id"]
    old = world.policy.business_exemptions.reasons.get(rid)
    reason: ExemptionReason | None
    if event == "add_exemption_reason":
        reason = ExemptionReason(data["text"], data.get("open", True))
    elif event == "edit_exemption_reason":
        reason = ExemptionReason(data["text"], old.open if old else True)
    elif event in ("open_exemption_reason", "close_exemption_reason"):
        reason = ExemptionReason(old.text if old else rid, event == "open_exemption_reason")
    else:
        reason = None
    return CaseWrites(reason=(cycle, rid, reason)), None


def _settings_after(engine: Engine, case: Case, event: str) -> None:
    """A newly loaded cycle has an instance for every doctor of the registry (as ``policy`` makes them)."""
    if event == "set_policy":
        engine.storage.ensure_instances(case.values["cycle"])


# -- 本机构信息 ---------------------------------------------------------------------------------------

ORGANISATIONS = ("admin", "institution")


def _organisation_subject(engine: Engine, world: World, ref: str, case_id: str) -> Subject:
    role, _, oid = ref.partition(":")
    if role not in ORGANISATIONS or not oid:
        raise bad_input(f"an organisation's record is admin:<region> or institution:<id>, not {ref!r}")
    if role == "admin":
        if oid not in world.regions:
            raise Refused(NOT_FOUND, f"no region {oid!r}", message_zh=f"无行政区域 {oid}")
        return Subject(ref, region=oid, kind="admin", entity=world.regions[oid], world=world)
    inst = world.institutions.get(oid)
    if inst is None:
        raise Refused(NOT_FOUND, f"no institution {oid!r}", message_zh=f"无卫生机构 {oid}")
    return Subject(ref, region=inst.region, institution=inst.id, kind="institution", entity=inst, world=world)


def _organisation_prepare(step: Step) -> dict[str, Any]:
    engine, world, event, data = step.engine, step.world, step.event, step.data
    if event == "edit_organisation" and isinstance(data, dict) and not data:
        raise bad_input("edit_organisation: nothing to fill in", "没有填写内容")
    if event == "confirm_cycle" and isinstance(data, dict):
        if "cycle" not in data:
            if world.policy is None:
                raise no_policy()
            return {**data, "cycle": world.policy.id}
        if data["cycle"] not in engine.storage.cycles():
            raise Refused(NOT_FOUND, f"no cycle {data['cycle']!r}", message_zh=f"无考核周期 {data['cycle']}")
    return data


def _organisation_writes(step: Step) -> tuple[CaseWrites, str | None]:
    """确认考核周期 is read by the enrol guard from the world (``World.build(confirmed=…)``)."""
    return CaseWrites(touches_world=step.event == "confirm_cycle"), None


def cycle_confirmed(engine: Engine, institution: str, cycle: str | None = None) -> bool:
    """Whether the institution has confirmed the cycle (确认考核周期); the current cycle by default."""
    case = engine.storage.load_case("organisation", f"institution:{institution}")
    cycle = cycle or engine.cycle
    return case is not None and cycle in case.values.get("confirmed", ())


# -- 科室信息维护 -------------------------------------------------------------------------------------


def departments_of(engine: Engine, institution: str) -> list[Case]:
    """The institution's departments still in use, in id order."""
    return [c for c in cases_under(engine, "department", f"{institution}/") if c.state == "active"]


def department_of(engine: Engine, doctor: str, institution: str) -> str | None:
    """The department a doctor works in at ``institution``, if placed in one."""
    for case in departments_of(engine, institution):
        if doctor in case.values.get("doctors", ()):
            return case.id
    return None


def _department_prepare(step: Step) -> dict[str, Any]:
    engine, case, subject, event, data = step.engine, step.case, step.subject, step.event, step.data
    prefix = f"{subject.id}/"
    if not case.id.startswith(prefix) or case.id == prefix:
        raise bad_input(f"a department of {subject.id} is {prefix}<code>, not {case.id!r}")
    system_fields(event, data, ("elsewhere", "children"))
    if not isinstance(data, dict):
        return data
    parent = data.get("parent")
    if event == "create_department" and isinstance(parent, str):
        above = engine.storage.load_case("department", parent)
        if above is None or above.state != "active" or not parent.startswith(prefix):
            raise Refused(NOT_FOUND, f"{subject.id} has no department {parent!r}", message_zh=f"本机构无科室 {parent}")
        if above.values.get("level") != 1:
            raise bad_input(f"{parent} is a second-level department: departments have two levels")
    doctor = data.get("doctor")
    if event in ("place_doctor", "remove_doctor") and isinstance(doctor, str):
        doc = engine.storage.get_doctor(doctor)
        if doc is None:
            raise Refused(NOT_FOUND, f"no doctor {doctor!r}", message_zh=f"无医师 {doctor}")
        if doc.institution != subject.id:
            raise Refused(
                FORBIDDEN, f"{doctor} is not a doctor of {subject.id}", message_zh=f"医师 {doctor} 不属于 {subject.id}"
            )
    return data


def _department_complete(step: Step) -> tuple[dict[str, Any], Any] | None:
    engine, case, subject, event, data = step.engine, step.case, step.subject, step.event, step.data
    if event == "place_doctor":
        where = department_of(engine, data["doctor"], subject.id)
        return ({**data, "elsewhere": where} if where and where != case.id else data), None
    if event == "delete_department":
        children = sum(1 for c in departments_of(engine, subject.id) if c.values.get("parent") == case.id)
        return {**data, "children": children}, None
    return None


# -- 撤销考核机构 --------------------------------------------------------------------------------------


def _agency_subject(engine: Engine, world: World, ref: str, case_id: str) -> Subject:
    agency = world.agencies.get(ref)
    if agency is None:
        done = engine.storage.load_case("agency_revocation", case_id)
        if done is not None and done.state == "revoked":
            raise Refused(INVALID_TRANSITION, f"agency {ref} is already revoked", message_zh=f"考核机构 {ref} 已撤销")
        raise Refused(NOT_FOUND, f"no agency {ref!r}", message_zh=f"无考核机构 {ref}")
    return Subject(ref, region=agency.region, kind="agency", entity=agency, world=world)


def _revocation_prepare(step: Step) -> dict[str, Any]:
    system_fields(step.event, step.data, ("released",))
    return step.data


def _revocation_complete(step: Step) -> tuple[dict[str, Any], Any]:
    return {**step.data, "released": sorted(step.subject.entity.institutions)}, None


def _revocation_writes(step: Step) -> tuple[CaseWrites, str | None]:
    return CaseWrites(revoke=step.subject.id), None


# -- the Kinds ------------------------------------------------------------------------------------


def kinds(
    kind: type,
    doctor_subject: Callable[..., Subject],
    region_subject: Callable[..., Subject],
    institution_subject: Callable[..., Subject],
) -> dict[str, Any]:
    """The Kinds of these machines, made with ``workflows.Kind`` (passed in: workflows imports us)."""
    return {
        "proctoring": kind(doctor_subject, complete=_photo_complete, may_act=photo_may_act),
        "cycle_settings": kind(
            region_subject,
            subject_is_id=True,
            prepare=_settings_prepare,
            complete=_settings_complete,
            writes=_settings_writes,
            after=_settings_after,
        ),
        "organisation": kind(
            _organisation_subject, subject_is_id=True, prepare=_organisation_prepare, writes=_organisation_writes
        ),
        "department": kind(institution_subject, prepare=_department_prepare, complete=_department_complete),
        "agency_revocation": kind(
            _agency_subject,
            subject_is_id=True,
            prepare=_revocation_prepare,
            complete=_revocation_complete,
            writes=_revocation_writes,
        ),
    }


__all__ = [
    "cases_under",
    "cycle_confirmed",
    "department_of",
    "departments_of",
    "kinds",
    "may_act_case",
    "photo_case_id",
    "reason_users",
]
