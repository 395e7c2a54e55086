"""Workflows with subjects of their own, and the doctor's institution change: the engine's side.

The agency application, the information change, accounts and the exam-progress export are
machines in the same DSL as the doctor's cycle (``renew_fsm/machines/``), decided by the same
``runtime.decide`` and chained into the same append-only history.  What differs is kept here,
one ``Kind`` per machine:

- the *subject* a case is about, loaded from the world (an institution, a doctor, an account
  holder, a region) into a ``world.Subject`` — with ``world.may_act_case`` it decides who may act;
- what the boundary adds to or refuses in a command's data before and after the decision (an
  export's row count and digest, an information change's forbidden fields);
- what an accepted step writes outside the case, in the case's own transaction
  (``storage.base.CaseWrites``): the agency into the world, a profile into the registry, a
  password hash, an export file.

The boundary's hooks (``prepare``, ``complete``, ``writes``) each take one frozen ``Step``: the
command on the case, read field by field, so a hook names only what it uses.

``Workflows`` is what an engine holds as ``engine.cases``; the checks every write shares (actor,
time, conflicts) are ``renew_fsm.gate``'s.  Nothing here runs on a doctor's hot path.
"""

from __future__ import annotations

import base64
import csv
import datetime as dt
import functools
import hashlib
import hmac
import io
import secrets
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple
from zoneinfo import ZoneInfo

import attrs

from . import gate, ops, records
from .cells import csv_writer, xlsx_row
from .errors import CONFLICT, FORBIDDEN, GUARD_FAILED, NOT_FOUND, Refused, bad_input, outside
from .eventdata import (
    IDENTITY,
    check_data,
    check_identity,
    is_actor,
    not_a,
)
from .labels import event_zh, role_zh
from .machines import CASE_MACHINES, compiled
from .model import CASE_PREFIX, CORRECTABLE, Actor, Case, CaseView, Instance, Record, View, iso_time
from .runtime import advance, allowed_events, decide, dumps
from .storage.base import CaseWrites
from .world import Agency, Subject, World, may_act_case

if TYPE_CHECKING:
    from .engine import Engine

SHANGHAI = ZoneInfo("Asia/Shanghai")


class CaseFire(NamedTuple):
    """One command of a batch (``Engine.case_fire_many``): 批量激活, 批量允许."""

    case: str
    event: str
    actor: Actor
    data: dict[str, Any] | None = None
    at: dt.datetime | None = None
    subject: str | None = None


# -- secrets ------------------------------------------------------------------------------------

#: New hashes are argon2id (RFC 9106) through argon2-cffi.  Its parameters can be tuned by the
#: environment (RENEW_FSM_ARGON2 = "time_cost=3,memory_cost=65536,parallelism=4", memory in KiB);
#: a sign-in with a hash made under other parameters — or an older scrypt hash — rehashes it.
ARGON2_ENV = "RENEW_FSM_ARGON2"
#: scrypt (RFC 7914), the stores' first hash: still checked, upgraded to argon2id on sign-in.
SCRYPT = {"n": 2**14, "r": 8, "p": 1}
MIN_SECRET = 8
#: A longer secret is refused before it is hashed, so nobody can make the server hash megabytes.
MAX_SECRET = 1024
#: A one-time secret (activation, reset) no longer opens the account this long after it was issued.
ONE_TIME_DAYS_ENV = "RENEW_FSM_ONE_TIME_DAYS"
ONE_TIME_DAYS = 14


@functools.cache
def _hasher() -> Any:
    import os

    from argon2 import PasswordHasher

    tuned: dict[str, int] = {}
    for part in filter(None, (os.environ.get(ARGON2_ENV) or "").split(",")):
        name, _, value = part.partition("=")
        if name.strip() not in ("time_cost", "memory_cost", "parallelism") or not value.strip().isdigit():
            raise ValueError(f"{ARGON2_ENV}: {part!r} is not time_cost=N, memory_cost=KiB or parallelism=N")
        tuned[name.strip()] = int(value)
    return PasswordHasher(**tuned)


def hash_secret(secret: str) -> str:
    """An argon2id hash (its PHC string carries the salt and the parameters)."""
    return str(_hasher().hash(secret))


def _scrypt(secret: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(secret.encode(), salt=salt, dklen=32, n=n, r=r, p=p, maxmem=2**26)


@functools.cache
def _decoy() -> str:
    """Checked against when there is no hash, so an unknown account costs as much time as a wrong secret.

    Made on first use: made at import, its hashing delayed every command of the CLI.
    """
    return hash_secret(secrets.token_urlsafe(16))


def check_secret(secret: str, stored: str | None) -> bool:
    """Whether ``secret`` matches ``stored`` (argon2id, or a store's older scrypt hash)."""
    decoy = _decoy()  # made before either branch, so the first check of a known account pays it too
    if not isinstance(secret, str) or len(secret) > MAX_SECRET:
        return False
    target = stored or decoy
    try:
        if target.startswith("scrypt$"):
            _, n, r, p, salt, digest = target.split("$")
            got = _scrypt(secret, base64.b64decode(salt), int(n), int(r), int(p))
            ok = hmac.compare_digest(got, base64.b64decode(digest))
        else:
            from argon2.exceptions import InvalidHashError, VerificationError

            try:
                ok = bool(_hasher().verify(target, secret))
            except (VerificationError, InvalidHashError):
                ok = False
    except (ValueError, TypeError):
        return False
    return stored is not None and ok


def needs_rehash(stored: str) -> bool:
    """Whether a proved hash should be made again: scrypt, or argon2 under other parameters."""
    return stored.startswith("scrypt$") or bool(_hasher().check_needs_rehash(stored))


def new_secret() -> str:
    """A one-time initial secret: 16 characters, about 96 random bits (the manual's shared 666666, replaced)."""
    return secrets.token_urlsafe(12)


def one_time_days() -> int:
    import os

    value = os.environ.get(ONE_TIME_DAYS_ENV, "")
    return int(value) if value.strip().isdigit() else ONE_TIME_DAYS


def _wrong_secret() -> Refused:
    return Refused(FORBIDDEN, "unknown account or wrong secret", message_zh="账号或密码错误")


# -- the exam-progress export -------------------------------------------------------------------

#: Doctors who have reached the tests (已进入待参加医学人文或业务水平测评): testing, an exemption
#: pending, awaiting the grade, and the re-exam's listed and awaiting doctors.
EXPORT_STATES = (
    *(
        f"{p}.{s}"
        for p in ("simple", "general")
        for s in ("testing", "exemption.applied", "exemption.institution_approved", "awaiting_grade")
    ),
    "reexam.listed",
    "reexam.awaiting_grade",
)
EXPORT_HEADER = (
    "医师编号",
    "姓名",
    "卫生机构",
    "考核程序",
    "考核状态",
    "医学人文测评次数",
    "业务水平测评次数",
    "再次考核测评次数",
    "是否已参加测评",
)


def export_csv(engine: Engine, world: World, cycle: str, region: str) -> tuple[str, int, int]:
    """The list of the region's doctors at the tests, who has sat them and who has not: (CSV, rows, taken)."""
    out = io.StringIO()
    writer = csv_writer(out, lineterminator="\n")
    writer.writerow(EXPORT_HEADER)
    rows = taken = 0
    after = None
    while page := engine.storage.scan(cycle, EXPORT_STATES, after, 5000):
        after = page[-1][0].doctor
        for inst, doc in page:
            if not world.governs(region, world.region_of(doc)):
                continue
            sat = (
                inst.reexam_attempts
                if inst.state.startswith("reexam")
                else (inst.humanities_attempts + inst.business_attempts)
            )
            writer.writerow(
                (
                    doc.id,
                    doc.name,
                    doc.institution,
                    inst.program or "",
                    inst.state,
                    inst.humanities_attempts,
                    inst.business_attempts,
                    inst.reexam_attempts,
                    "是" if sat else "否",
                )
            )
            rows += 1
            taken += bool(sat)
    return out.getvalue(), rows, taken


def csv_to_xlsx(text: str) -> bytes:
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.title = "考试进展"
    for row in csv.reader(io.StringIO(text)):
        xlsx_row(sheet, [int(v) if v.isdigit() else v for v in row])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


# -- one Kind per workflow machine ----------------------------------------------------------------


@attrs.frozen
class Step:
    """One command on a case, as a Kind's hooks see it: each reads the fields it needs.

    ``data`` is the caller's data for ``prepare`` and the checked data for ``complete`` and
    ``writes``; ``after`` (the case the decision made) and ``carry`` (what ``complete`` handed
    on) are set for ``writes`` only.
    """

    engine: Engine
    world: World
    #: The case as it was read, before the step.
    case: Case
    subject: Subject
    event: str
    actor: Actor
    data: dict[str, Any]
    after: Case | None = None
    carry: Any = None


@attrs.frozen
class Kind:
    """How the engine serves one workflow machine (see the module docstring)."""

    #: (engine, world, subject id, case id) → the ``Subject``, or ``Refused(not_found)``.
    load: Callable[[Engine, World, str, str], Subject]
    #: The case id is its subject's id (an agency application is its institution's, and the
    #: agency it makes has that id too): one case per subject.
    subject_is_id: bool = False
    #: The caller's data (``step.data``), checked or completed before the fields are validated.
    prepare: Callable[[Step], dict[str, Any]] | None = None
    #: Data the system adds once the step is decided (judged again with it): (data, carry).
    complete: Callable[[Step], tuple[dict[str, Any], Any] | None] | None = None
    #: What the accepted step (``step.after``) writes outside the case, and a secret to hand back once.
    writes: Callable[[Step], tuple[CaseWrites, str | None]] | None = None
    #: Who may act on (and read) the case: ``world.may_act_case`` unless the machine says otherwise
    #: (an attempt's photos: the testing app sends them, the doctor's agency reads them).
    may_act: Callable[[World, Actor, Subject], bool] = may_act_case
    #: What follows the commit, derived and idempotent (the instances of a newly loaded cycle).
    after: Callable[[Engine, Case, str], None] | None = None


def no_institution(iid: str) -> Refused:
    return Refused(NOT_FOUND, f"no institution {iid!r}", message_zh=f"无卫生机构 {iid}")


def _institution_subject(engine: Engine, world: World, ref: str, case_id: str) -> Subject:
    inst = world.institutions.get(ref)
    if inst is None:
        raise no_institution(ref)
    return Subject(ref, region=inst.region, institution=inst.id, kind=inst.kind, entity=inst, world=world)


def _agency_prepare(step: Step) -> dict[str, Any]:
    """指定 / 撤销: the institution must exist, and an authority must govern it as well as the agency."""
    world, case, actor, data = step.world, step.case, step.actor, step.data
    target = data.get("institution") if isinstance(data, dict) else None
    if not isinstance(target, str):
        return data
    if case.state == "agency" and case.subject not in world.agencies:
        # An agency revoked (撤销考核机构) is gone from the world: nothing is assigned to it any more.
        raise Refused(NOT_FOUND, f"no agency {case.subject!r}", message_zh=f"无考核机构 {case.subject}")
    institution = world.institutions.get(target)
    if institution is None:
        raise no_institution(target)
    if actor.role == "admin" and not world.governs(actor.id, institution.region):
        raise outside(actor, target)
    return data


def _agency_writes(step: Step) -> tuple[CaseWrites, str | None]:
    subject, event, data = step.subject, step.event, step.data
    inst = subject.entity
    if event in ("approve_agency", "designate_agency"):
        return CaseWrites(agency=Agency(inst.id, inst.region, inst.name)), None
    if event in ("assign_institution", "withdraw_institution"):
        pair = (inst.id, data["institution"])
        return (CaseWrites(assign=pair) if event == "assign_institution" else CaseWrites(unassign=pair)), None
    return CaseWrites(), None


def _doctor_subject(engine: Engine, world: World, ref: str, case_id: str) -> Subject:
    doc = engine.storage.get_doctor(ref)
    if doc is None:
        raise Refused(NOT_FOUND, f"no doctor {ref!r}", message_zh=f"无医师 {ref}")
    inst: Instance | None = None
    if world.policy is not None:
        pair = engine.storage.load(world.policy.id, [ref]).get(ref)
        inst = pair[0] if pair else None
    return Subject(
        ref,
        region=world.region_of(doc),
        institution=doc.institution,
        doctor=doc.id,
        entity=doc,
        instance=inst,
        world=world,
    )


#: Registry facts the rules read, or that change another way: never through an information change.
REGISTRY_FACTS = {
    "birth_date": "the birth date is part of the id-card number",
    "practice_since": "the years of practice decide the simple program; they come from the registration system",
    "record": "the conduct record comes from the registration system",
    "institution": "the institution changes by 变更卫生机构 (change_institution)",
}


def _info_prepare(step: Step) -> dict[str, Any]:
    engine, subject, event, data = step.engine, step.subject, step.event, step.data
    if event != "submit_change" or not isinstance(data, dict):
        return data
    doctor = subject.entity
    check_identity(event, data, doctor)
    for field, why in REGISTRY_FACTS.items():
        if field in data:
            raise bad_input(
                f"{event}: {field} cannot be changed here: {why}", f"{event_zh(event, 'info_change')}：{field} 不可修改"
            )
    changes = {k: v for k, v in data.items() if k not in IDENTITY}
    if not changes:
        raise bad_input(f"{event}: nothing to change", f"{event_zh(event, 'info_change')}：没有修改内容")
    problem = ops.correction_problem(changes)
    if problem:
        raise bad_input(f"{event}: {problem}", f"{event_zh(event, 'info_change')}：修改内容不合法")
    if "license" in changes:
        _licence_still_open(engine, event, doctor.id)
    return changes


def _licence_still_open(engine: Engine, event: str, doctor: str) -> None:
    """A licence is corrected before the doctor's first test score, in this cycle or an earlier one.

    The pass line follows the licence, and the history of every cycle is replayed against the
    doctor as the registry now holds them: a licence changed under a recorded score would make
    that score's grade read another way on verification (and a graded result is corrected by appeal).
    """
    for cycle in engine.storage.cycles():
        pair = engine.storage.load(cycle, [doctor]).get(doctor)
        inst = pair[0] if pair else None
        if inst is not None and (inst.humanities_attempts or inst.business_attempts or inst.reexam_attempts):
            raise Refused(
                GUARD_FAILED,
                f"{event}: the licence cannot be corrected once a test score is recorded (cycle {cycle}): "
                "the pass line followed it; a result is corrected by appeal",
                rule="not_eligible",
                message_zh=f"{event_zh(event, 'info_change')}：已有测评成绩（{cycle}），执业类型不可再修改",
            )


def _info_writes(step: Step) -> tuple[CaseWrites, str | None]:
    engine, after, subject, event = step.engine, step.after, step.subject, step.event
    if event != "approve_change":
        return CaseWrites(), None
    doctor = subject.entity
    changes = after.values.get("changes", {})
    registry = {k: v for k, v in changes.items() if k in CORRECTABLE}
    if "license" in registry:
        _licence_still_open(engine, event, doctor.id)  # a score may have come in since the doctor submitted
    profile = {**doctor.profile, **{k: v for k, v in changes.items() if k not in CORRECTABLE}}
    return CaseWrites(profile=(doctor.id, profile), registry=(doctor.id, registry) if registry else None), None


#: Who may hold an account: an authority (its region), an institution, an agency, a doctor, and a
#: province's testing app (``exam_system:<province>``, which records scores for that province only).
HOLDERS = ("admin", "institution", "agency", "doctor", "exam_system")


def _holder_subject(engine: Engine, world: World, ref: str, case_id: str) -> Subject:
    role, _, hid = ref.partition(":")
    if role not in HOLDERS or not hid:
        raise bad_input(f"an account's subject is <role>:<id> with role one of {', '.join(HOLDERS)}, not {ref!r}")
    if role in ("admin", "exam_system"):
        region = world.regions.get(hid)
        if region is None:
            raise Refused(NOT_FOUND, f"no region {hid!r}", message_zh=f"无行政区域 {hid}")
        if role == "exam_system" and region.level != "province":
            raise bad_input(f"a testing app's account is a province's, and {hid} is a {region.level}")
        # An authority's own account is its superior's to manage (strict); a province's testing app
        # is the province's.
        strict = role == "admin"
        return Subject(ref, region=hid, strict=strict, account=case_id, kind=role, entity=region, world=world)
    if role == "institution":
        inst = world.institutions.get(hid)
        if inst is None:
            raise no_institution(hid)
        return Subject(ref, region=inst.region, account=case_id, kind=role, entity=inst, world=world)
    if role == "agency":
        agency = world.agencies.get(hid)
        if agency is None:
            raise Refused(NOT_FOUND, f"no agency {hid!r}", message_zh=f"无考核机构 {hid}")
        return Subject(ref, region=agency.region, account=case_id, kind=role, entity=agency, world=world)
    # A doctor's account follows the doctor: its institution is read from the registry each time.
    doc = engine.storage.get_doctor(hid)
    if doc is None:
        raise Refused(NOT_FOUND, f"no doctor {hid!r}", message_zh=f"无医师 {hid}")
    return Subject(
        ref,
        region=world.region_of(doc),
        institution=doc.institution,
        account=case_id,
        kind=role,
        entity=doc,
        world=world,
    )


def account_of(engine: Engine, subject: str) -> str | None:
    """The account (not deleted, not deactivated) whose holder is ``subject``, if there is one."""
    after = None
    while page := engine.storage.scan_cases("account", after, 5000):
        after = page[-1].id
        for case in page:
            if case.subject == subject and case.state not in ("new", "deleted", "deactivated"):
                return case.id
    return None


def _account_complete(step: Step) -> tuple[dict[str, Any], Any] | None:
    """One account per holder: a second one for the same doctor, institution, agency or region is a
    second key to the same door, which nobody would remember to close.  Judged after the decision,
    so an actor outside the jurisdiction learns ``forbidden``, not whether an account exists."""
    engine, case, subject, event = step.engine, step.case, step.subject, step.event
    if event == "create_account":
        other = account_of(engine, subject.id)
        if other is not None and other != case.id:
            raise Refused(
                CONFLICT,
                f"{subject.id} already has account {other}",
                message_zh=f"{subject.id} 已有账号 {other}",
            )
    return None


def _account_writes(step: Step) -> tuple[CaseWrites, str | None]:
    after, event, carry = step.after, step.event, step.carry
    if event in ("activate_account", "reset_password"):
        secret = new_secret()
        return CaseWrites(credential=(after.id, hash_secret(secret))), secret
    if event == "change_password":
        return CaseWrites(credential=(after.id, hash_secret(carry))), None
    if event == "deactivate_account":
        # 注销: the stored hash becomes one of a secret nobody was given, so even a store restored
        # without the account's state opens nothing, and every token (keyed to the hash) ends.
        return CaseWrites(credential=(after.id, hash_secret(new_secret()))), None
    return CaseWrites(), None


def _region_subject(engine: Engine, world: World, ref: str, case_id: str) -> Subject:
    region = world.regions.get(ref)
    if region is None:
        raise Refused(NOT_FOUND, f"no region {ref!r}", message_zh=f"无行政区域 {ref}")
    return Subject(ref, region=ref, kind=region.level, entity=region, world=world)


def _export_prepare(step: Step) -> dict[str, Any]:
    engine, world, event, data = step.engine, step.world, step.event, step.data
    if event == "produce_export" and data:
        raise bad_input("produce_export: the system computes the list; send no data", "导出名单由系统生成")
    if event == "request_export" and isinstance(data, dict) and "cycle" not in data:
        if world.policy is None:
            raise gate.no_policy()
        return {**data, "cycle": world.policy.id}
    if event == "request_export" and isinstance(data, dict) and data["cycle"] not in engine.storage.cycles():
        raise Refused(NOT_FOUND, f"no cycle {data['cycle']!r}", message_zh=f"无考核周期 {data['cycle']}")
    return data


def _export_complete(step: Step) -> tuple[dict[str, Any], Any] | None:
    engine, world, case, event = step.engine, step.world, step.case, step.event
    if event != "produce_export":
        return None
    text, rows, taken = export_csv(engine, world, case.values["cycle"], case.subject)
    digest = hashlib.sha256(text.encode()).hexdigest()
    return {"rows": rows, "taken": taken, "sha256": digest}, text


def _export_writes(step: Step) -> tuple[CaseWrites, str | None]:
    after, event, carry = step.after, step.event, step.carry
    if event == "produce_export":
        return CaseWrites(file=(f"exam-progress-{after.subject}-{after.id}.csv", carry)), None
    return CaseWrites(), None


#: How the engine serves each workflow machine, by machine name.
CASE_KINDS: dict[str, Kind] = {
    "agency_application": Kind(
        _institution_subject, subject_is_id=True, prepare=_agency_prepare, writes=_agency_writes
    ),
    "info_change": Kind(_doctor_subject, prepare=_info_prepare, writes=_info_writes),
    "account": Kind(_holder_subject, complete=_account_complete, writes=_account_writes),
    "export_request": Kind(_region_subject, prepare=_export_prepare, complete=_export_complete, writes=_export_writes),
}
# The organisations' own records: their Kinds live beside their queries (``renew_fsm.records``).
CASE_KINDS.update(records.kinds(Kind, _doctor_subject, _region_subject, _institution_subject))
assert set(CASE_KINDS) == set(CASE_MACHINES)
#: The old name, kept for code that imports it.
KINDS = CASE_KINDS


# -- the engine's methods -------------------------------------------------------------------------


class Workflows:
    """The workflow cases of one engine (``engine.cases``): their commands, reads and accounts.

    It holds the engine it serves, which the ``Kind`` hooks are given (they read the world and the
    registry through it).  Called with a machine's name, it lists that machine's case ids.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.storage = engine.storage

    def __call__(self, machine: str) -> list[str]:
        """Ids of the machine's cases, in id order (``engine.cases("account")``)."""
        return self.ids(machine)

    # -- workflow cases --------------------------------------------------------------------------
    def case_fire(
        self,
        machine: str,
        case_id: str,
        event: str,
        actor: Actor,
        data: dict[str, Any] | None = None,
        at: dt.datetime | None = None,
        *,
        subject: str | None = None,
    ) -> CaseView:
        """Fire one event at a workflow case; the new view, or ``Refused`` with nothing written.

        The case is created by its first accepted event, which must name its ``subject`` (an
        agency application's is its own id).  An account's activation or password reset returns
        the one-time secret on the view (``view.secret``), the only place it ever appears.
        """
        spec = _case_machine(machine).machine.events.get(event)
        if spec is not None and spec.via is not None:
            raise bad_input(f"{event} is done by Engine.{spec.via}", f"{event_zh(event, machine)}须通过专用接口执行")
        return self._case_step(machine, case_id, event, actor, data, at, subject)

    def case_fire_many(self, machine: str, commands: Sequence[CaseFire]) -> list[CaseView | Refused]:
        """Each command in order, each in its own transaction; a refused one is reported in its place."""
        out: list[CaseView | Refused] = []
        for c in commands:
            if not isinstance(c, CaseFire):
                out.append(not_a("renew_fsm.workflows.CaseFire", "case_fire_many", c))
                continue
            try:
                out.append(self.case_fire(machine, c.case, c.event, c.actor, c.data, c.at, subject=c.subject))
            except Refused as refused:
                out.append(refused)
        return out

    def case_state(self, machine: str, case_id: str) -> CaseView:
        return CaseView.of(self._load_case(machine, case_id))

    def case_history(self, machine: str, case_id: str) -> list[Record]:
        self._load_case(machine, case_id)
        return self.storage.history(CASE_PREFIX + machine, case_id)

    def ids(self, machine: str) -> list[str]:
        """Ids of the machine's cases, in id order."""
        _case_machine(machine)
        ids: list[str] = []
        while page := self.storage.scan_cases(machine, ids[-1] if ids else None, 5000):
            ids += [c.id for c in page]
        return ids

    def _load_case(self, machine: str, case_id: str) -> Case:
        _case_machine(machine)
        case = self.storage.load_case(machine, case_id)
        if case is None:
            raise Refused(
                NOT_FOUND, f"no {machine} case {case_id!r}", message_zh=f"无此{CASE_MACHINES[machine].zh} {case_id}"
            )
        return case

    def _case_step(
        self,
        machine: str,
        case_id: str,
        event: str,
        actor: Actor,
        data: dict[str, Any] | None,
        at: dt.datetime | None,
        subject_ref: str | None,
        carry: Any = None,
    ) -> CaseView:
        m = _case_machine(machine)
        kind = CASE_KINDS[machine]
        spec = m.machine.events.get(event)
        if spec is None:
            raise bad_input(f"unknown event {event!r} of {machine}", f"未知事件 {event}")
        gate.check_actor(actor)
        world = self.engine.world()
        case, subject = self._case_and_subject(machine, case_id, subject_ref, world)
        raw = {} if data is None else data
        hook = Step(self.engine, world, case, subject, event, actor, raw)
        if kind.prepare is not None:
            raw = kind.prepare(hook)
        checked = check_data(event, spec, raw)
        when = self._case_time(at)
        changes, step = decide(m, world, None, case, subject, event, actor, checked, when, kind.may_act)
        if kind.complete is not None:
            completed = kind.complete(attrs.evolve(hook, data=checked))
            if completed is not None:
                checked, carry = check_data(event, spec, completed[0]), completed[1]
                changes, step = decide(m, world, None, case, subject, event, actor, checked, when, kind.may_act)
        # The first record of a case names its subject, so the subject is covered by the chain too.
        recorded = checked if case.version else {"subject": case.subject, **checked}
        new, record = advance(case, changes, step, actor, dumps(recorded), iso_time(when), "", None, self.engine.key)
        writes, secret = (
            kind.writes(attrs.evolve(hook, data=checked, after=new, carry=carry))
            if kind.writes is not None
            else (CaseWrites(), None)
        )
        with gate.refusing_conflicts(
            lambda: Refused(
                CONFLICT,
                f"{machine} {case_id} changed since it was read; read it again and retry",
                message_zh=f"{case_id} 已被他人修改，请刷新后重试",
            )
        ):
            self.storage.commit_case(case.version, new, record, writes)
        if kind.after is not None:
            kind.after(self.engine, new, event)
        return CaseView.of(new, secret)

    def _case_and_subject(
        self, machine: str, case_id: str, subject_ref: str | None, world: World
    ) -> tuple[Case, Subject]:
        """The stored case, or a new one in the initial state about ``subject_ref``; and its subject."""
        m, kind = _case_machine(machine), CASE_KINDS[machine]
        if not isinstance(case_id, str) or not ops.ID.match(case_id):
            raise bad_input(f"{machine}: a case id is 1–64 printable characters")
        case = self.storage.load_case(machine, case_id)
        if kind.subject_is_id and subject_ref not in (None, case_id):
            raise bad_input(f"{machine}: the case is its subject's: id {case_id!r}, not subject {subject_ref!r}")
        if case is None:
            ref = case_id if kind.subject_is_id else subject_ref
            if ref is None:
                raise bad_input(f"{machine} {case_id}: a new case needs its subject", "新记录须指明对象")
            case = Case(machine, case_id, ref, m.graph.initial)
        elif subject_ref is not None and subject_ref != case.subject:
            raise bad_input(f"{machine} {case_id} is about {case.subject}, not {subject_ref}")
        return case, kind.load(self.engine, world, case.subject, case_id)

    def case_allowed(
        self,
        machine: str,
        case_id: str,
        actor: Actor,
        at: dt.datetime | None = None,
        *,
        subject: str | None = None,
    ) -> list[str]:
        """Events ``actor`` may fire on the case now, judged as ``Engine.allowed`` judges a doctor's.

        A case not yet created is judged in its machine's initial state, about
        ``subject`` (as ``case_fire`` would create it).  Events done through their
        own method (``authenticate``, ``change_password``, ``download_export``) are
        listed too: the actor may do them, by that method.
        """
        if not is_actor(actor):
            return []
        world = self.engine.world()
        case, subj = self._case_and_subject(machine, case_id, subject, world)
        m = _case_machine(machine)
        return allowed_events(m, world, None, case, subj, actor, self._case_time(at), CASE_KINDS[machine].may_act)

    def case_may_act(self, machine: str, case_id: str, actor: Actor) -> bool:
        """Whether the case lies in ``actor``'s jurisdiction — what a service asks before showing it,
        so that reads follow the rule writes follow.  An unknown case is ``Refused(not_found)``."""
        case = self._load_case(machine, case_id)
        if not is_actor(actor):
            return False
        world = self.engine.world()
        kind = CASE_KINDS[machine]
        return kind.may_act(world, actor, kind.load(self.engine, world, case.subject, case_id))

    def _case_time(self, at: dt.datetime | None) -> dt.datetime:
        policy = self.engine.world().policy
        return gate.local_time(at, policy.tz if policy is not None else SHANGHAI, self.engine.now)

    # -- accounts --------------------------------------------------------------------------------
    def authenticate(self, account: str, secret: str, role: str | None = None) -> Actor:
        """The actor an account acts as, once its secret is proved.

        Refused ``forbidden`` for an unknown account, a wrong secret or an account not in use (the
        same message for each); and, with rule ``must_change_password``, for an account whose
        one-time initial secret has not been replaced yet: nothing but ``change_password`` is
        allowed until then.  ``role="agency"`` signs an institution that is an agency in as the
        agency (the manual's 身份切换: one account, two roles).  A hash made under older
        parameters (or scrypt) is made again with the current ones, now that the secret is known.
        """
        case = self.storage.load_case("account", account) if isinstance(account, str) else None
        stored = self.storage.credential(account) if case is not None else None
        proved = check_secret(secret if isinstance(secret, str) else "", stored)
        if case is None or not proved or case.state not in ("must_change", "active"):
            raise _wrong_secret()
        if case.state == "must_change":
            self._one_time_still_valid(account)
            raise Refused(
                FORBIDDEN,
                "the initial secret must be replaced first (change_password); nothing else is allowed until then",
                rule="must_change_password",
                message_zh="首次登录须先修改初始密码",
            )
        if stored is not None and needs_rehash(stored):
            self.storage.set_credential(account, hash_secret(secret))
        holder, _, hid = case.subject.partition(":")
        if role is None or role == holder:
            return Actor(holder, hid)
        if role == "agency" and holder == "institution" and hid in self.engine.world().agencies:
            return Actor("agency", hid)
        raise Refused(
            FORBIDDEN,
            f"account {account} cannot act as {role}",
            rule="role_not_held",
            message_zh=f"该账号不能以{role_zh(role)}身份登录",
        )

    def _one_time_still_valid(self, account: str) -> None:
        """A one-time secret opens the account for ``one_time_days()`` after it was issued, no longer:
        a letter with a secret lost in a drawer should not stay a key."""
        issued = self.storage.history(CASE_PREFIX + "account", account)[-1].at
        age = self._case_time(None) - dt.datetime.fromisoformat(issued)
        if age > dt.timedelta(days=one_time_days()):
            raise Refused(
                FORBIDDEN,
                f"the one-time secret was issued more than {one_time_days()} days ago: ask for a reset",
                rule="secret_expired",
                message_zh="初始密码已过期，请联系上级重置密码",
            )

    def change_password(self, account: str, secret: str, new_secret: str, at: dt.datetime | None = None) -> CaseView:
        """Replace the account's secret (the first login must); the current one must be proved.

        The new secret has 8–1,024 characters and is neither the account id nor the current
        (one-time) secret; a longer one is refused before anything is hashed.
        """
        if not isinstance(new_secret, str) or not MIN_SECRET <= len(new_secret) <= MAX_SECRET:
            raise bad_input(
                f"a new secret has {MIN_SECRET}–{MAX_SECRET} characters", f"新密码长度须为{MIN_SECRET}至{MAX_SECRET}位"
            )
        case = self.storage.load_case("account", account) if isinstance(account, str) else None
        stored = self.storage.credential(account) if case is not None else None
        if case is None or not check_secret(secret if isinstance(secret, str) else "", stored):
            raise _wrong_secret()
        if case.state == "must_change":
            self._one_time_still_valid(account)
        if new_secret == secret:
            raise bad_input("the new secret must differ from the current one", "新密码不能与原密码相同")
        if new_secret == account:
            raise bad_input("the new secret must not be the account id", "新密码不能与账号相同")
        holder = Actor("account", account)
        return self._case_step("account", account, "change_password", holder, {}, at, None, new_secret)

    # -- the exam-progress export ----------------------------------------------------------------
    def download_export(
        self, case_id: str, actor: Actor, at: dt.datetime | None = None, *, format: str = "csv"
    ) -> bytes:
        """The produced list (CSV with a byte-order mark for Excel, or ``xlsx``); the download is recorded."""
        if format not in ("csv", "xlsx"):
            raise bad_input("format is csv or xlsx")
        self.case_fire("export_request", case_id, "download_export", actor, at=at)
        name_text = self.storage.case_file("export_request", case_id)
        assert name_text is not None, "a ready export has its file"
        text = name_text[1]
        return csv_to_xlsx(text) if format == "xlsx" else ("\ufeff" + text).encode()


# -- the workflows' replay commands ------------------------------------------------------------------


def _case_op(engine: Engine, op: ops.CaseOp, base: Any) -> CaseView | list[CaseView | Refused]:
    if (op.id is None) == (op.ids is None):
        raise bad_input("case: give exactly one of id or ids")
    if op.id is not None:
        return engine.cases.case_fire(
            op.machine, op.id, op.event, gate.op_actor(op), op.data, op.at, subject=op.subject
        )
    commands = [CaseFire(cid, op.event, gate.op_actor(op), op.data, op.at, op.subject) for cid in op.ids or ()]
    return engine.cases.case_fire_many(op.machine, commands)


def _batch_op(engine: Engine, op: ops.BatchOp, base: Any) -> list[View | Refused]:
    from .lists import batch

    return batch(engine, gate.op_actor(op), op.event, op.doctors, op.at)


def _change_password_op(engine: Engine, op: ops.ChangePasswordOp, base: Any) -> CaseView:
    return engine.cases.change_password(op.account, op.secret or "", op.new_secret, op.at)


def _login_op(engine: Engine, op: ops.LoginOp, base: Any) -> Actor:
    return engine.cases.authenticate(op.account, op.secret or "", op.role)


#: The replay commands served here, by ``ops`` type (``Engine.apply`` joins them with the others).
APPLY: dict[type, Callable[[Engine, Any, Any], Any]] = {
    ops.CaseOp: _case_op,
    ops.BatchOp: _batch_op,
    ops.ChangePasswordOp: _change_password_op,
    ops.LoginOp: _login_op,
}


def _case_machine(machine: str) -> Any:
    if machine not in CASE_MACHINES:
        raise bad_input(f"unknown workflow {machine!r} (known: {', '.join(CASE_MACHINES)})")
    return compiled(machine)


__all__ = [
    "CASE_KINDS",
    "KINDS",
    "CaseFire",
    "Kind",
    "Workflows",
    "account_of",
    "check_secret",
    "hash_secret",
    "needs_rehash",
]
