"""Setting up the world: the replay's setup commands (SPEC §5) — regions, institutions, agencies,
the policy, doctors, exemption reasons and the clock.

Each command is a function of the engine and its ``ops`` value, found through one explicit table
(``SETUP``, by op type) that ``Engine.apply`` joins with the events' table; nothing here decides a
doctor's event.  ``Engine.add_doctors``, ``add_institutions``, ``load_policy`` and
``doctor_from_op`` are these functions, kept on the engine for the code that calls them there.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from . import idcard, ops
from .errors import CONFLICT, NOT_FOUND, Refused, bad_input
from .eventdata import MAX_TEXT, check_free_form, text_problem
from .model import Doctor, is_id
from .rules.policy import LICENSES, RECORDS, ExemptionReason, Policy, PolicyError, load, parse
from .storage.base import ConflictError
from .world import LEVELS, Agency, Institution, Region, World

if TYPE_CHECKING:
    from .engine import Engine


def _same_policy(stored_text: str, policy: Policy) -> bool:
    """Whether ``stored_text`` reads as the same rules as ``policy`` (``Policy`` equality leaves out the text)."""
    try:
        return parse(stored_text) == policy
    except PolicyError:
        return False


_Op = TypeVar("_Op")


def ops_of(kind: type[_Op], items: Any, method: str) -> list[_Op]:
    """What ``method`` was given, every item checked to be a ``kind`` before anything is written."""
    if isinstance(items, str | bytes | dict) or not isinstance(items, Iterable):
        raise bad_input(f"{method} takes a list of renew_fsm.ops.{kind.__name__}, not {type(items).__name__}")
    out = list(items)
    for n, item in enumerate(out):
        if not isinstance(item, kind):
            raise bad_input(
                f"{method} takes renew_fsm.ops.{kind.__name__} values; item {n} is a {type(item).__name__} "
                "(a command as a dict goes through Engine.apply); nothing was written"
            )
    return out


def region(engine: Engine, op: ops.RegionOp, base: Path | None) -> None:
    if op.level not in LEVELS:
        raise bad_input(f"region {op.id}: level must be one of {', '.join(LEVELS)}")
    world = engine.world()
    want_parent = {"province": None, "city": "province", "county": "city"}[op.level]
    if want_parent is None and op.parent is not None:
        raise bad_input(f"region {op.id}: a province has no parent")
    if want_parent is not None:
        if op.parent is None:
            raise bad_input(f"region {op.id}: a {op.level} needs its {want_parent} as parent")
        parent = world.regions.get(op.parent)
        if parent is None:
            raise Refused(NOT_FOUND, f"region {op.id}: no parent region {op.parent!r}")
        if parent.level != want_parent:
            raise bad_input(f"region {op.id}: the parent of a {op.level} must be a {want_parent}")
    region = Region(op.id, op.level, op.name, op.parent)
    engine.storage.put_region(region)
    engine.world_changed(lambda w: w.with_region(region))


def institution(engine: Engine, op: ops.InstitutionOp, base: Path | None) -> None:
    add_institutions(engine, [op])


def add_institutions(engine: Engine, institution_ops: Sequence[ops.InstitutionOp]) -> None:
    """Add (or replace) institutions in one transaction, all or nothing.

    One at a time, each addition copies the world's institution table, so a
    nation's 80,000 institutions took minutes; together they copy it once.
    """
    regions = engine.world().regions
    institutions = []
    for op in ops_of(ops.InstitutionOp, institution_ops, "add_institutions"):
        if op.region not in regions:
            raise Refused(NOT_FOUND, f"institution {op.id}: no region {op.region!r}")
        if op.kind not in ("institution", "industry_org"):
            raise bad_input(f"institution {op.id}: kind must be institution or industry_org")
        institutions.append(Institution(op.id, op.region, op.name, op.kind))
    engine.storage.put_institutions(institutions)
    engine.world_changed(lambda w: w.with_(institutions={**w.institutions, **{i.id: i for i in institutions}}))


def agency(engine: Engine, op: ops.AgencyOp, base: Path | None) -> None:
    world = engine.world()
    if op.region not in world.regions:
        raise Refused(NOT_FOUND, f"agency {op.id}: no region {op.region!r}")
    missing = [i for i in op.assigned if i not in world.institutions]
    if missing:
        raise Refused(NOT_FOUND, f"agency {op.id}: no institution {missing[0]!r}")
    agency = Agency(op.id, op.region, op.name, frozenset(op.assigned))
    engine.storage.put_agency(agency)
    engine.world_changed(lambda w: w.with_(agencies={**w.agencies, agency.id: agency}))


def policy_op(engine: Engine, op: ops.PolicyOp, base: Path | None) -> Policy:
    if (op.name is None) == (op.file is None):
        raise bad_input("policy: give exactly one of name (a shipped policy) or file (a path)")
    source = op.name if op.name is not None else str((base or Path.cwd()) / op.file)  # type: ignore[operator]
    try:
        policy = load(source)
    except PolicyError as exc:
        raise bad_input(f"policy: {exc}") from None
    load_policy(engine, policy)
    return policy


def load_policy(engine: Engine, policy: Policy) -> None:
    """Make ``policy`` the current one; seed the province's exemption list; create instances.

    History records name the policy they were decided under by id and
    version, and ``verify`` judges them by the text stored under that name:
    another policy under a name already stored would rewrite what the
    records mean, so it is refused (a comment or layout change is not).
    """
    stored = engine.storage.policy_text(policy.id, policy.version)
    if stored is not None and stored != policy.text and not _same_policy(stored, policy):
        raise Refused(
            CONFLICT,
            f"policy {policy.id}@{policy.version} is already loaded with other rules; history cites it by "
            "id and version: give the changed file a new policy.version",
            message_zh=f"考核政策 {policy.id}@{policy.version} 已载入且内容不同，修改后的政策须使用新的版本号",
        )
    engine.storage.put_policy(policy.id, policy.version, policy.text)
    engine.storage.seed_exemption_reasons(policy.id, policy.business_exemptions.reasons)
    engine.storage.ensure_instances(policy.id)


def doctor(engine: Engine, op: ops.DoctorOp, base: Path | None) -> None:
    add_doctors(engine, [op])


def doctor_from_op(
    engine: Engine, op: ops.DoctorOp, world: World | None = None, today: dt.date | None = None
) -> Doctor:
    """A registry doctor, checked: known institution, licence, record, a valid id-card number, dates a
    living doctor can have (``ops.doctor_problem``) and text of the lengths every road accepts."""
    world = world or engine.world()
    if not is_id(op.id) or not is_id(op.institution):
        raise bad_input(f"doctor {op.id!r}: id and institution must be 1–64 printable characters")
    if op.institution not in world.institutions:
        raise Refused(NOT_FOUND, f"doctor {op.id}: no institution {op.institution!r}")
    if op.license not in LICENSES:
        raise bad_input(f"doctor {op.id}: license must be one of {', '.join(LICENSES)}")
    if op.record not in RECORDS:
        raise bad_input(f"doctor {op.id}: record must be one of {', '.join(RECORDS)}")
    if not isinstance(op.name, str) or not op.name.strip():
        raise bad_input(f"doctor {op.id}: name must not be empty")
    # The replay's and the API's limits (``ops``), here too: an import does not go through ``ops.parse``.
    why = f"is longer than {MAX_TEXT} characters" if len(op.name) > MAX_TEXT else text_problem(op.name, nul=True)
    if why:
        raise bad_input(f"doctor {op.id}: name {why}")
    problem = idcard.problem(op.id_card, op.birth_date)
    if problem:
        raise bad_input(f"doctor {op.id}: {problem}", f"医师 {op.id}：身份证号不合法")
    problem = ops.doctor_problem(op, engine.today() if today is None else today)
    if problem:
        raise bad_input(f"doctor {op.id}: {problem}", f"医师 {op.id}：注册信息不合理")
    if not isinstance(op.profile, dict):
        raise bad_input(f"doctor {op.id}: profile must be an object")
    if op.profile:  # (a simulated province's doctors have none: a million checks saved)
        check_free_form(f"doctor {op.id}: profile", op.profile)
    return Doctor(
        op.id,
        op.institution,
        op.name,
        op.id_card,
        op.license,
        op.birth_date,
        op.practice_since,
        op.record,
        dict(op.profile),
        op.sex,
        op.qualification_no,
        op.license_no,
        op.practice_category,
    )


def add_doctors(engine: Engine, doctor_ops: Sequence[ops.DoctorOp]) -> list[str]:
    """Add doctors in one transaction (all or nothing); ids already present unchanged are returned.

    An id-card number held by another doctor, in the store or in the batch, is a ``conflict``:
    one person is one registry entry.
    """
    world, today = engine.world(), engine.today()
    doctors = [doctor_from_op(engine, op, world, today) for op in ops_of(ops.DoctorOp, doctor_ops, "add_doctors")]
    holders = dict(engine.storage.doctors_with_id_cards([d.id_card for d in doctors]))
    for doc in doctors:
        holder = holders.setdefault(doc.id_card, doc.id)
        if holder != doc.id:
            raise Refused(
                CONFLICT,
                f"doctor {doc.id}: id-card number {idcard.mask(doc.id_card)} is already held by doctor {holder}",
                message_zh=f"医师 {doc.id}：身份证号已属于医师 {holder}",
            )
    try:
        return engine.storage.put_doctors(doctors, world.policy.id if world.policy else None)
    except ConflictError as exc:
        raise Refused(CONFLICT, str(exc)) from None


def exemption_reason(engine: Engine, op: ops.ExemptionReasonOp, base: Path | None) -> None:
    if not op.text.strip():
        raise bad_input(f"exemption_reason {op.id}: text must not be empty")
    engine.storage.put_exemption_reason(engine.cycle, op.id, ExemptionReason(op.text, op.open))


def clock(engine: Engine, op: ops.ClockOp, base: Path | None) -> None:
    zone = clock_zone(engine)
    try:
        at = op.at.astimezone(zone) if op.at.tzinfo else op.at.replace(tzinfo=zone)
    except OverflowError:
        # Stored, it would make every later command without an ``at`` fail instead.
        raise bad_input(f"clock: {op.at.isoformat()} is out of the calendar's range in {zone}") from None
    engine.storage.set_meta("clock", at.isoformat())


def clock_zone(engine: Engine) -> dt.tzinfo:
    policy = engine.world().policy
    if policy is not None:
        return policy.tz
    from zoneinfo import ZoneInfo

    return ZoneInfo("Asia/Shanghai")


#: A setup command's handler: (engine, the parsed op, the replay file's folder) → what ``apply`` returns.
Handler = Callable[["Engine", Any, "Path | None"], Any]

#: Every setup command, by its ``ops`` type.
SETUP: dict[type, Handler] = {
    ops.RegionOp: region,
    ops.InstitutionOp: institution,
    ops.AgencyOp: agency,
    ops.PolicyOp: policy_op,
    ops.DoctorOp: doctor,
    ops.ExemptionReasonOp: exemption_reason,
    ops.ClockOp: clock,
}

__all__ = ["SETUP", "Handler", "add_doctors", "add_institutions", "doctor_from_op", "load_policy", "ops_of"]
