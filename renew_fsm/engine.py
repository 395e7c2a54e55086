"""The engine other services embed (SPEC §6): commands in, views and history out.

The engine owns I/O: it reads the world and the instance from storage, asks
``runtime.decide`` what happens, and commits the new instance with its history
record in one transaction.  ``fire`` is the batch path with a batch of one, so
the two cannot disagree.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

from . import idcard, ops
from .commands import (
    IDEMPOTENCY_KEY,
    MAX_TEXT,
    check_actor,
    check_data,
    check_free_form,
    check_id,
    check_identity,
    check_same_request,
    is_actor,
    not_a,
    text_problem,
)
from .errors import BAD_INPUT, CONFLICT, FORBIDDEN, GUARD_FAILED, NOT_FOUND, Refused, bad_input
from .machines import compiled
from .machines.compile import Compiled
from .model import Actor, Doctor, Instance, Record, View, is_id, iso_time
from .rules.policy import LICENSES, RECORDS, ExemptionReason, Policy, PolicyError, load, parse
from .runtime import advance, allowed_events, decide, dumps
from .storage import ConflictError, Storage
from .storage.base import policy_text_sha256
from .workflows import Workflows
from .world import LEVELS, Agency, Institution, Region, World, confirmed_institutions

#: How many commands the batch path decides before committing them in one transaction.
BATCH = 5000
#: How many checked actors an engine remembers before it starts again: a province's offices and
#: counties are a few thousand; a service making a new ``Actor`` per request only refills it.
ACTORS_REMEMBERED = 4096


def _same_policy(stored_text: str, policy: Policy) -> bool:
    """Whether ``stored_text`` reads as the same rules as ``policy`` (``Policy`` equality leaves out the text)."""
    try:
        return parse(stored_text) == policy
    except PolicyError:
        return False


def _once(cmd: Fire, slots: list[View | Refused]) -> Plan:
    """A plan of one command that keeps its result (how ``fire_many`` rides the plan path)."""
    result = yield cmd
    slots.append(result)


_Op = TypeVar("_Op")


def _ops_of(kind: type[_Op], items: Any, method: str) -> list[_Op]:
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


class Fire(NamedTuple):
    """One command for the batch path (``Engine.fire_many``); ``data`` ``None`` means no data."""

    doctor: str
    event: str
    actor: Actor
    data: dict[str, Any] | None = None
    at: dt.datetime | None = None
    idempotency_key: str | None = None


#: What ``Engine.drive`` runs: a doctor's steps, each decided on the result of the one before.
Plan = Generator["Fire", "View | Refused", None]


class Engine(Workflows):
    def __init__(self, storage: Storage) -> None:
        self.storage = storage
        #: The history key (``renew_fsm.keys``) the store was opened with: records are HMACs with it;
        #: ``None``, they follow the old unkeyed rule.
        self.key = getattr(storage, "key", None)
        #: The SHA-256 of each policy text a record is judged under, by text (computed once).
        self._policy_shas: dict[str, str] = {}
        #: The doctor's cycle: instances are created in its initial state.  The workflow machines
        #: (``case_fire``) and the re-exam machine's diagram are compiled from the same data.
        self.machine: Compiled = compiled("doctor")
        self._events = self.machine.machine.events
        self._world: World | None = None
        self._policies: dict[str, Policy] = {}
        #: Actors ``_check`` has accepted, by identity (see ``_check_actor``).
        self._actors_checked: dict[int, Actor] = {}

    # -- the world ---------------------------------------------------------------------------
    def world(self) -> World:
        """The cached world, reloaded when another engine (or process) changed it."""
        version = self.storage.world_version()
        if self._world is None or self._world.version != version:
            self._world = self._load_world()
        return self._world

    def _wrote(self, change: Callable[[World], World]) -> None:
        """Keep the cached world after our own write, instead of reloading it.

        Setting up a province writes thousands of institutions one by one;
        reloading the whole world after each would make that quadratic.  If
        anyone else wrote meanwhile (the version moved by more than ours), the
        cache is dropped and the next use reloads.
        """
        old = self._world
        version = self.storage.world_version()
        if old is not None and version == old.version + 1:
            self._world = change(old).with_(version=version)
        else:
            self._world = None

    def _load_world(self) -> World:
        current = self.storage.get_meta("policy")
        cycle = current.split("@", 1)[0] if current else None
        rows = self.storage.load_world(cycle)
        policy = self._policy_from_text(rows.policy_text) if rows.policy_text else None
        confirmed = confirmed_institutions(self.storage, cycle)
        return World.build(
            rows.version, rows.regions, rows.institutions, rows.agencies, policy, rows.reasons, confirmed
        )

    def _policy_from_text(self, text: str) -> Policy:
        cached = self._policies.get(text)
        if cached is None:
            cached = self._policies[text] = parse(text, "<stored policy>")
        return cached

    def policy_sha256(self, policy: Policy) -> str:
        """The SHA-256 of ``policy``'s text: what a keyed record names, so the stored text cannot change under it."""
        sha = self._policy_shas.get(policy.text)
        if sha is None:
            sha = self._policy_shas[policy.text] = policy_text_sha256(policy.text)
        return sha

    def policy_for(self, policy_id: str, version: str) -> Policy | None:
        """The policy a history record was judged under (for rebuilding and verifying)."""
        current = self.world().policy
        if current is not None and (current.id, current.version) == (policy_id, version):
            return current
        text = self.storage.policy_text(policy_id, version)
        return self._policy_from_text(text) if text else None

    @property
    def policy(self) -> Policy:
        policy = self.world().policy
        if policy is None:
            raise Refused(NOT_FOUND, "no policy is loaded: apply a policy command first", message_zh="尚未加载考核政策")
        return policy

    @property
    def cycle(self) -> str:
        return self.policy.id

    def now(self) -> dt.datetime:
        """The engine's clock: the last ``clock`` command, else the wall clock."""
        stored = self.storage.get_meta("clock")
        return dt.datetime.fromisoformat(stored) if stored else dt.datetime.now(dt.UTC)

    def _aware(self, at: dt.datetime | None, policy: Policy) -> dt.datetime:
        """``at`` as the policy's local time, which is what history records; a naive ``at`` is local already.

        A time near the ends of the calendar (year 9999 in UTC is year 10000 in
        Beijing) cannot be; refused as input, not an ``OverflowError`` deep in a rule.
        """
        if at is None:
            at = self.now()
        if not isinstance(at, dt.datetime):
            raise bad_input(f"at must be a date and time, not {type(at).__name__}")
        if at.tzinfo is None:
            return at.replace(tzinfo=policy.tz)
        if at.tzinfo is policy.tz:
            return at
        try:
            return at.astimezone(policy.tz)
        except OverflowError:
            raise bad_input(f"at {at.isoformat()} is out of the calendar's range in {policy.tz.key}") from None

    # -- commands ----------------------------------------------------------------------------
    def apply(self, cmd: dict[str, Any] | Any, *, base: Path | None = None) -> Any:
        """Any replay command of SPEC §5 (a dict, or an already parsed ``ops`` value)."""
        op = cmd if type(cmd) in ops.OPS.values() else ops.parse(cmd)  # anything else: bad_input, not a crash
        handler = getattr(self, f"_op_{type(op).__name__}")
        return handler(op, base)

    def fire(
        self,
        doctor: str,
        event: str,
        actor: Actor,
        data: dict[str, Any] | None = None,
        at: dt.datetime | None = None,
        idempotency_key: str | None = None,
        *,
        expected_version: int | None = None,
    ) -> View:
        """Fire one event; the new view, or ``Refused`` with nothing written.

        ``expected_version``: the version the caller decided on (the screen it showed).  The write
        is made only if the instance still has it — the same conditional update that guards every
        write, so of several requests expecting one version exactly one is accepted and the
        others are refused ``conflict``.  A retry with the idempotency key of the write that moved
        the version is recognised as before.  ``change_institution`` also moves the doctor in the
        registry, so it goes to ``change_institution`` (the batch path refuses it).
        """
        if expected_version is not None and (type(expected_version) is not int or expected_version < 0):
            raise bad_input(f"expected_version must be a whole number ≥ 0, not {expected_version!r}")
        if event == "change_institution":
            return self.fire_change_institution(
                doctor, actor, data, at, idempotency_key, expected_version=expected_version
            )
        cmd = Fire(doctor, event, actor, {} if data is None else data, at, idempotency_key)
        expecting = expected_version is not None
        result = self._fire_expecting(cmd, expected_version) if expecting else self.fire_many([cmd])[0]  # type: ignore[arg-type]
        if isinstance(result, Refused):
            raise result
        return result

    def _fire_expecting(self, cmd: Fire, expected: int) -> View | Refused:
        """``cmd`` decided on the instance as read, written only where it is still at ``expected``."""
        pair = self._load_one(cmd.doctor)
        if pair[0].version != expected:
            if cmd.idempotency_key is not None and self.storage.find_idempotent(
                self.cycle, cmd.doctor, cmd.idempotency_key
            ):
                return self.fire_many([cmd])[0]  # the retry of the write that moved it: its answer again
            return Refused(
                CONFLICT,
                f"{cmd.doctor} changed since version {expected}; read it again and decide again",
                message_zh=f"医师 {cmd.doctor} 的考核状态已被他人修改，请刷新后重试",
            )
        slots: list[View | Refused] = []
        try:
            # Decided on this read, committed only if the row still has its version (see ``commit``).
            self._run([(cmd.doctor, _once(cmd, slots))], {cmd.doctor: pair})
        except ConflictError:
            return self._conflict(cmd)
        return slots[0]

    def fire_many(self, commands: Sequence[Fire]) -> list[View | Refused]:
        """Decide every command in order, then commit the accepted ones in one transaction per batch.

        A refused command (or an item that is not a ``Fire``) is reported in
        its place and writes nothing; the others still go through.  If another
        writer got in between reading and writing, the batch is retried one
        command at a time, so each loser is told ``conflict`` on its own.
        """
        commands = list(commands)
        results: list[View | Refused] = []
        for start in range(0, len(commands), BATCH):
            chunk = commands[start : start + BATCH]
            # Anything but a Fire (a dict straight from JSON, a plain tuple) is refused in its place.
            slots = iter(self._fire_batch([c for c in chunk if isinstance(c, Fire)]))
            results += [next(slots) if isinstance(c, Fire) else not_a("renew_fsm.Fire", "fire_many", c) for c in chunk]
        return results

    def _fire_batch(self, chunk: list[Fire]) -> list[View | Refused]:
        slots: list[View | Refused] = []
        try:
            self._run([(c.doctor, _once(c, slots)) for c in chunk])
        except ConflictError:
            if len(chunk) == 1:
                return [self._conflict(chunk[0])]
            return [r for c in chunk for r in self._fire_batch([c])]
        return slots

    def drive(self, plans: Iterable[tuple[str, Plan]], *, batch: int = BATCH) -> int:
        """Run per-doctor plans through the batch path; the number of accepted events.

        A plan is a generator that yields ``Fire`` commands for its doctor and
        is sent each result (a ``View`` or a ``Refused``), so it can decide its
        next step the way a person at a screen would.  Plans are taken
        ``batch`` doctors at a time; each batch commits in one transaction.
        Another writer changing one of those doctors meanwhile raises
        ``ConflictError`` (a plan cannot be replayed), so run this as the
        only writer of those doctors.
        """
        accepted = 0
        chunk: list[tuple[str, Plan]] = []
        for item in plans:
            chunk.append(item)
            if len(chunk) >= batch:
                accepted += self._run(chunk)
                chunk = []
        if chunk:
            accepted += self._run(chunk)
        return accepted

    def drive_states(
        self,
        states: Sequence[str],
        make_plan: Callable[[Instance, Doctor], Plan],
        *,
        batch: int = BATCH,
        progress: Callable[[int, int], None] | None = None,
        after: str | None = None,
        until: str | None = None,
    ) -> int:
        """A plan for every instance now in ``states``, made from the instance as read; accepted events.

        Streams the cycle in doctor-id pages of ``batch``: each page is read
        once, driven, and committed in one transaction before the next is read.
        ``progress(doctors, accepted)`` is called after each page.  ``after`` <
        doctor id ≤ ``until`` narrows the walk to one slice (one per process).
        """
        accepted = 0
        while page := self.storage.scan(self.cycle, states, after, batch, until):
            after = page[-1][0].doctor
            loaded = {doc.id: (inst, doc) for inst, doc in page}
            done = self._run([(doc.id, make_plan(inst, doc)) for inst, doc in page], loaded)
            accepted += done
            if progress:
                progress(len(page), done)
        return accepted

    def drive_new(self, doctor_ops: Sequence[ops.DoctorOp], make_plan: Callable[[Instance, Doctor], Plan]) -> int:
        """Add doctors not yet stored and drive each one's plan from their new instance; accepted events.

        What ``add_doctors`` and then ``drive_states`` over the same doctors write — the same
        records, the same instances — in one transaction, without writing the new instances,
        reading them back and updating them (a simulation's setup and first pass, fused: 5–8 % less
        time at 100,000 to 1,000,000 doctors).  A doctor already stored raises ``ConflictError``
        and nothing is written.
        """
        world = self.world()
        policy = world.policy
        if policy is None:
            raise self._no_policy()
        today = self.today()
        doctors = [self.doctor_from_op(op, world, today) for op in _ops_of(ops.DoctorOp, doctor_ops, "drive_new")]
        loaded = {doc.id: (Instance(doc.id, policy.id), doc) for doc in doctors}
        plans = [(doc.id, make_plan(inst, doc)) for inst, doc in loaded.values()]
        current, _, records = self._play(plans, world, policy, loaded)
        self.storage.put_new_doctors(doctors, [current.get(doc.id, inst) for inst, doc in loaded.values()], records)
        return len(records)

    def _run(self, plans: Sequence[tuple[str, Plan]], loaded: dict[str, tuple[Instance, Doctor]] | None = None) -> int:
        """Load the plans' doctors at once, decide their commands in order, commit once."""
        world = self.world()
        policy = world.policy
        if loaded is None:
            loaded = self.storage.load(policy.id, [d for d, _ in plans if is_id(d)]) if policy else {}
        current, read_versions, records = self._play(plans, world, policy, loaded)
        if records:
            self.storage.commit([(read_versions[d], inst) for d, inst in current.items()], records)
        return len(records)

    def _play(
        self,
        plans: Sequence[tuple[str, Plan]],
        world: World,
        policy: Policy | None,
        loaded: dict[str, tuple[Instance, Doctor]],
    ) -> tuple[dict[str, Instance], dict[str, int], list[Record]]:
        """Decide the plans' commands in order on ``loaded``: the instances moved, the versions they were
        read at, and the records, all still to be written."""
        current: dict[str, Instance] = {}
        read_versions: dict[str, int] = {}
        records: list[Record] = []
        for _, plan in plans:
            result: View | Refused | None = None
            while True:
                try:
                    cmd = plan.send(result)  # type: ignore[arg-type]
                except StopIteration:
                    break
                result = self._decide(cmd, world, policy, loaded, current, read_versions, records)
        return current, read_versions, records

    def _decide(
        self,
        cmd: Fire,
        world: World,
        policy: Policy | None,
        loaded: dict[str, tuple[Instance, Doctor]],
        current: dict[str, Instance],
        read_versions: dict[str, int],
        records: list[Record],
    ) -> View | Refused:
        """One command on the batch's in-memory instances: the view after it, or the refusal."""
        # Its fields read once: a named tuple's field is a descriptor call each time (this runs per event).
        doctor_id, name, actor, raw, when, key = cmd
        try:
            if policy is None:
                raise self._no_policy()
            # The batch loaded only ids checked when their doctors were added: one of them needs no
            # second check (this runs per event); anything else is checked before it is looked up.
            pair = loaded.get(doctor_id) if type(doctor_id) is str else None
            if pair is None:
                pair = loaded.get(check_id(doctor_id, "doctor"))
            if key is not None:
                check_id(key, "idempotency_key", IDEMPOTENCY_KEY)
            if pair is None:
                raise Refused(
                    NOT_FOUND, f"no doctor {doctor_id!r} in cycle {policy.id}", message_zh=f"本周期无医师 {doctor_id}"
                )
            before = current.get(doctor_id, pair[0])
            data = self._check(name, actor, raw, pair[1])
            if key is not None:
                prior = self._prior(policy.id, cmd, records)
                if prior is not None:
                    check_same_request(prior, name, actor, data)
                    if prior.seq > before.version:
                        # Another writer used the key after this batch read the doctor (the same request
                        # sent twice at once): answer with the doctor as that write left them.
                        return View.of(self._load_one(doctor_id, policy.id)[0])
                    return View.of(before)
            # Already the policy's local time (a plan's clock, a batch's parsed times): nothing to convert.
            at = when if type(when) is dt.datetime and when.tzinfo is policy.tz else self._aware(when, policy)
            changes, step = decide(self.machine, world, policy, before, pair[1], name, actor, data, at)
        except Refused as refused:
            return refused
        new, record = advance(
            before,
            changes,
            step,
            actor,
            dumps(data),
            iso_time(at),
            policy.version,
            key,
            self.key,
            self._policy_shas.get(policy.text) or self.policy_sha256(policy),
        )
        read_versions.setdefault(doctor_id, before.version)
        current[doctor_id] = new
        records.append(record)
        return View(new)

    def _check(self, name: str, actor: Actor, raw: Any, doctor: Doctor) -> dict[str, Any]:
        """The command's event, actor and data as the boundary accepts them: its data, checked."""
        event = self._events.get(name) if type(name) is str else None
        if event is None:
            raise bad_input(f"unknown event {name!r}", f"未知事件 {name}")
        if self._actors_checked.get(id(actor)) is not actor:
            self._check_actor(actor)
        data = check_data(name, event, raw)
        if event.open:
            check_identity(name, data, doctor)
        elif event.via is not None:
            raise bad_input(
                f"{name} writes outside the doctor's instance: fire it alone (Engine.{event.via}), not in a batch",
                f"{name} 须单独执行",
            )
        return data

    def _check_actor(self, actor: Actor) -> None:
        """``actor`` refused as input, or remembered as checked: a batch's commands share a few actors
        (an office, a county), and checking one anew cost two calls an event.
        Only a plain ``Actor`` is remembered — it is frozen; a subclass might not be."""
        check_actor(actor)
        if actor.id is not None:
            check_id(actor.id, "actor id")
        if type(actor) is Actor:
            if len(self._actors_checked) >= ACTORS_REMEMBERED:
                self._actors_checked.clear()
            # Keyed by identity (hashing an attrs instance is a Python call), holding the actor so
            # its id cannot be reused by another object while the entry lives.
            self._actors_checked[id(actor)] = actor

    def _prior(self, cycle: str, cmd: Fire, pending: list[Record]) -> Record | None:
        """The record ``cmd``'s idempotency key already names: in this batch, or stored."""
        key = cmd.idempotency_key
        for r in pending:
            if r.doctor == cmd.doctor and r.idempotency_key == key:
                return r
        return self.storage.find_idempotent(cycle, cmd.doctor, key)  # type: ignore[arg-type]

    def _conflict(self, cmd: Fire) -> View | Refused:
        prior = (
            None
            if cmd.idempotency_key is None
            else self.storage.find_idempotent(self.cycle, cmd.doctor, cmd.idempotency_key)
        )
        if prior is not None:
            # Another writer got in with this key: the same request sent twice at once, or a
            # different one reusing the key.  The command passed its checks in the lost attempt.
            data = check_data(cmd.event, self._events[cmd.event], cmd.data)
            try:
                check_same_request(prior, cmd.event, cmd.actor, data)
            except Refused as refused:
                return refused
            return self.state(cmd.doctor)
        return Refused(
            CONFLICT,
            f"{cmd.doctor} changed since it was read; read it again and retry",
            message_zh=f"医师 {cmd.doctor} 的考核状态已被他人修改，请刷新后重试",
        )

    @staticmethod
    def _no_policy() -> Refused:
        return Refused(NOT_FOUND, "no policy is loaded: apply a policy command first", message_zh="尚未加载考核政策")

    # -- reading -----------------------------------------------------------------------------
    def _load_one(self, doctor: str, cycle: str | None = None) -> tuple[Instance, Doctor]:
        check_id(doctor, "doctor")
        cycle = cycle or self.cycle
        pair = self.storage.load(cycle, [doctor]).get(doctor)
        if pair is None:
            raise Refused(NOT_FOUND, f"no doctor {doctor!r} in cycle {cycle}", message_zh=f"本周期无医师 {doctor}")
        return pair

    def state(self, doctor: str) -> View:
        return View.of(self._load_one(doctor)[0])

    def history(self, doctor: str) -> list[Record]:
        self._load_one(doctor)
        return self.storage.history(self.cycle, doctor)

    def instances(self) -> list[str]:
        return self.storage.instance_ids(self.cycle)

    def allowed(self, doctor: str, actor: Actor, at: dt.datetime | None = None) -> list[str]:
        """Events ``actor`` may fire on ``doctor`` now: role, jurisdiction and every guard that
        does not depend on the command's data (a score, a reason id) are checked."""
        world = self.world()
        policy = world.policy or self.policy  # (raises not_found when no policy is loaded)
        inst, doc = self._load_one(doctor, policy.id)
        if not is_actor(actor):
            return []
        return allowed_events(self.machine, world, policy, inst, doc, actor, self._aware(at, policy))

    def work_queue(
        self,
        actor: Actor,
        *,
        states: Sequence[str] | None = None,
        page_size: int = 50,
        after: str | None = None,
        at: dt.datetime | None = None,
    ) -> Any:
        """One page of the doctors on whom ``actor`` has something to do now (``renew_fsm.queue``)."""
        from .queue import work_queue

        return work_queue(self, actor, states=states, page_size=page_size, after=after, at=at)

    # -- sweeps -------------------------------------------------------------------------------
    def sweep(self, event: str, at: dt.datetime | None = None, *, batch: int = BATCH) -> int:
        """Fire a system event at every instance it applies to; the number it moved.

        Instances a guard turns away (a doctor of the make-up at the first
        round's close) are left untouched; sweeping too early is refused.
        Running a sweep twice moves nobody the second time.
        """
        spec = self.machine.machine.events.get(event) if type(event) is str else None
        if spec is None or not spec.sweep:
            raise bad_input(f"{event!r} is not a sweep (sweeps: close_first_round, close_makeup, close_reexam)")
        policy = self.policy
        at = self._aware(at, policy)
        states = self.sweep_states(event)
        self._sweep_window(event, states, policy, at)
        system = Actor("system")
        moved, after = 0, None
        while True:
            page = self.storage.scan(policy.id, states, after, batch)
            if not page:
                return moved
            after = page[-1][0].doctor
            results = self.fire_many([Fire(inst.doctor, event, system, {}, at) for inst, _ in page])
            for result in results:
                if isinstance(result, Refused) and result.rule == "window_still_open":
                    raise result
            moved += sum(1 for r in results if isinstance(r, View))

    def sweep_states(self, event: str) -> list[str]:
        """The states a sweep fires in: every state with a step for ``event``."""
        return [s for s, events in self.machine.steps.items() if event in events]

    def _sweep_window(self, event: str, states: Sequence[str], policy: Policy, at: dt.datetime) -> None:
        """Refuse a sweep whose window is still open, even when nobody is in its states.

        ``window_over`` judges only the time, so it is asked once up front with
        no instance; the per-instance guards still run for each doctor swept.
        """
        for state in states:
            for step in self.machine.steps[state][event]:
                for ref, guard in step.guards:
                    if ref.startswith("window_over:"):
                        verdict = guard(Instance("", policy.id), policy, None, at)
                        if not verdict.ok:
                            raise Refused(GUARD_FAILED, verdict.en, rule=verdict.rule, message_zh=verdict.zh)

    # -- setting up the world (the replay's setup commands) -------------------------------------
    def _op_RegionOp(self, op: ops.RegionOp, base: Path | None) -> None:
        if op.level not in LEVELS:
            raise bad_input(f"region {op.id}: level must be one of {', '.join(LEVELS)}")
        world = self.world()
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
        self.storage.put_region(region)
        self._wrote(lambda w: w.with_region(region))

    def _op_InstitutionOp(self, op: ops.InstitutionOp, base: Path | None) -> None:
        self.add_institutions([op])

    def add_institutions(self, institution_ops: Sequence[ops.InstitutionOp]) -> None:
        """Add (or replace) institutions in one transaction, all or nothing.

        One at a time, each addition copies the world's institution table, so a
        nation's 80,000 institutions took minutes; together they copy it once.
        """
        regions = self.world().regions
        institutions = []
        for op in _ops_of(ops.InstitutionOp, institution_ops, "add_institutions"):
            if op.region not in regions:
                raise Refused(NOT_FOUND, f"institution {op.id}: no region {op.region!r}")
            if op.kind not in ("institution", "industry_org"):
                raise bad_input(f"institution {op.id}: kind must be institution or industry_org")
            institutions.append(Institution(op.id, op.region, op.name, op.kind))
        self.storage.put_institutions(institutions)
        self._wrote(lambda w: w.with_(institutions={**w.institutions, **{i.id: i for i in institutions}}))

    def _op_AgencyOp(self, op: ops.AgencyOp, base: Path | None) -> None:
        world = self.world()
        if op.region not in world.regions:
            raise Refused(NOT_FOUND, f"agency {op.id}: no region {op.region!r}")
        missing = [i for i in op.assigned if i not in world.institutions]
        if missing:
            raise Refused(NOT_FOUND, f"agency {op.id}: no institution {missing[0]!r}")
        agency = Agency(op.id, op.region, op.name, frozenset(op.assigned))
        self.storage.put_agency(agency)
        self._wrote(lambda w: w.with_(agencies={**w.agencies, agency.id: agency}))

    def _op_PolicyOp(self, op: ops.PolicyOp, base: Path | None) -> Policy:
        if (op.name is None) == (op.file is None):
            raise bad_input("policy: give exactly one of name (a shipped policy) or file (a path)")
        source = op.name if op.name is not None else str((base or Path.cwd()) / op.file)  # type: ignore[operator]
        try:
            policy = load(source)
        except PolicyError as exc:
            raise bad_input(f"policy: {exc}") from None
        self.load_policy(policy)
        return policy

    def load_policy(self, policy: Policy) -> None:
        """Make ``policy`` the current one; seed the province's exemption list; create instances.

        History records name the policy they were decided under by id and
        version, and ``verify`` judges them by the text stored under that name:
        another policy under a name already stored would rewrite what the
        records mean, so it is refused (a comment or layout change is not).
        """
        stored = self.storage.policy_text(policy.id, policy.version)
        if stored is not None and stored != policy.text and not _same_policy(stored, policy):
            raise Refused(
                CONFLICT,
                f"policy {policy.id}@{policy.version} is already loaded with other rules; history cites it by "
                "id and version: give the changed file a new policy.version",
                message_zh=f"考核政策 {policy.id}@{policy.version} 已载入且内容不同，修改后的政策须使用新的版本号",
            )
        self.storage.put_policy(policy.id, policy.version, policy.text)
        self.storage.seed_exemption_reasons(policy.id, policy.business_exemptions.reasons)
        self.storage.ensure_instances(policy.id)

    def _op_DoctorOp(self, op: ops.DoctorOp, base: Path | None) -> None:
        self.add_doctors([op])

    def today(self) -> dt.date:
        """The engine clock's day in the policy's time zone: what "in the future" means for the registry."""
        return self.now().astimezone(self._clock_zone()).date()

    def doctor_from_op(self, op: ops.DoctorOp, world: World | None = None, today: dt.date | None = None) -> Doctor:
        """A registry doctor, checked: known institution, licence, record, a valid id-card number, dates a
        living doctor can have (``ops.doctor_problem``) and text of the lengths every road accepts."""
        world = world or self.world()
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
        problem = ops.doctor_problem(op, self.today() if today is None else today)
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

    def add_doctors(self, doctor_ops: Sequence[ops.DoctorOp]) -> list[str]:
        """Add doctors in one transaction (all or nothing); ids already present unchanged are returned.

        An id-card number held by another doctor, in the store or in the batch, is a ``conflict``:
        one person is one registry entry.
        """
        world, today = self.world(), self.today()
        doctors = [self.doctor_from_op(op, world, today) for op in _ops_of(ops.DoctorOp, doctor_ops, "add_doctors")]
        holders = dict(self.storage.doctors_with_id_cards([d.id_card for d in doctors]))
        for doc in doctors:
            holder = holders.setdefault(doc.id_card, doc.id)
            if holder != doc.id:
                raise Refused(
                    CONFLICT,
                    f"doctor {doc.id}: id-card number {idcard.mask(doc.id_card)} is already held by doctor {holder}",
                    message_zh=f"医师 {doc.id}：身份证号已属于医师 {holder}",
                )
        try:
            return self.storage.put_doctors(doctors, world.policy.id if world.policy else None)
        except ConflictError as exc:
            raise Refused(CONFLICT, str(exc)) from None

    def _op_ExemptionReasonOp(self, op: ops.ExemptionReasonOp, base: Path | None) -> None:
        if not op.text.strip():
            raise bad_input(f"exemption_reason {op.id}: text must not be empty")
        self.storage.put_exemption_reason(self.cycle, op.id, ExemptionReason(op.text, op.open))

    def _op_ClockOp(self, op: ops.ClockOp, base: Path | None) -> None:
        zone = self._clock_zone()
        try:
            at = op.at.astimezone(zone) if op.at.tzinfo else op.at.replace(tzinfo=zone)
        except OverflowError:
            # Stored, it would make every later command without an ``at`` fail instead.
            raise bad_input(f"clock: {op.at.isoformat()} is out of the calendar's range in {zone}") from None
        self.storage.set_meta("clock", at.isoformat())

    def _clock_zone(self) -> dt.tzinfo:
        policy = self.world().policy
        if policy is not None:
            return policy.tz
        from zoneinfo import ZoneInfo

        return ZoneInfo("Asia/Shanghai")

    def _op_FireOp(self, op: ops.FireOp, base: Path | None) -> View:
        return self.fire(op.doctor, op.event, op.who, op.data, op.at, op.idempotency_key)

    def _op_SweepOp(self, op: ops.SweepOp, base: Path | None) -> int:
        return self.sweep(op.event, op.at)

    # -- whole-store reads ------------------------------------------------------------------------
    def scan(self, states: Sequence[str] | None = None, *, batch: int = BATCH) -> Iterator[tuple[Instance, Doctor]]:
        """Every instance of the cycle (in ``states``), streamed in doctor-id order."""
        after = None
        while True:
            page = self.storage.scan(self.cycle, states, after, batch)
            if not page:
                return
            yield from page
            after = page[-1][0].doctor

    def close(self) -> None:
        self.storage.close()


__all__ = ["BAD_INPUT", "FORBIDDEN", "Engine", "Fire"]
