"""The engine other services embed (SPEC §6): commands in, views and history out.

The engine owns I/O: it reads the world and the instance from storage, asks
``runtime.decide`` what happens, and commits the new instance with its history
record in one transaction.  ``fire`` and the batch path (``fire_many``, ``drive``)
pass the same gate (``Gate.decide``) and the same ``Storage.commit``; ``fire`` only
leaves out the batch's bookkeeping and lets the store answer its reads from memory
(``Storage.deciding``), so the two cannot disagree (``tests/engine/test_fast_path_agrees.py``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from . import gate, ops, queue, setup, workflows
from .errors import BAD_INPUT, CONFLICT, FORBIDDEN, GUARD_FAILED, NOT_FOUND, Refused, bad_input, outside
from .eventdata import (
    check_data,
    check_id,
    is_actor,
    not_a,
)
from .gate import Fire
from .machines import compiled
from .machines.compile import Compiled
from .model import Actor, CaseView, Doctor, Instance, Record, View, is_id, iso_time
from .rules.policy import Policy, parse
from .runtime import advance, allowed_events, decide, dumps
from .storage import ConflictError, Storage
from .workflows import CaseFire, Workflows
from .world import World, confirmed_institutions

#: How many commands the batch path decides before committing them in one transaction.
BATCH = 5000


def _once(cmd: Fire, slots: list[View | Refused]) -> Plan:
    """A plan of one command that keeps its result (how ``fire_many`` rides the plan path)."""
    result = yield cmd
    slots.append(result)


#: What ``Engine.drive`` runs: a doctor's steps, each decided on the result of the one before.
Plan = Generator["Fire", "View | Refused", None]


class Engine:
    def __init__(self, storage: Storage) -> None:
        self.storage = storage
        #: The history key (``renew_fsm.keys``) the store was opened with: records are HMACs with it;
        #: ``None``, they follow the old unkeyed rule.
        self.key = getattr(storage, "key", None)
        #: The doctor's cycle: instances are created in its initial state.  The workflow machines
        #: (``case_fire``) and the re-exam machine's diagram are compiled from the same data.
        self.machine: Compiled = compiled("doctor")
        self._world: World | None = None
        self._policies: dict[str, Policy] = {}
        #: Every write passes it: the checks before the pure decision and the conflicts after.
        self.gate = gate.Gate(storage, self.machine, self.key, self.now)
        #: The workflow cases (``renew_fsm.workflows``): ``engine.cases("account")`` lists a machine's ids.
        self.cases = Workflows(self)

    # -- the world ---------------------------------------------------------------------------
    def world(self) -> World:
        """The cached world, reloaded when another engine (or process) changed it."""
        version = self.storage.world_version()
        if self._world is None or self._world.version != version:
            self._world = self._load_world()
        return self._world

    def world_changed(self, change: Callable[[World], World]) -> None:
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
        return self.gate.policy_sha256(policy)

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
            raise gate.no_policy()
        return policy

    @property
    def cycle(self) -> str:
        return self.policy.id

    def now(self) -> dt.datetime:
        """The engine's clock: the last ``clock`` command, else the wall clock."""
        stored = self.storage.get_meta("clock")
        return dt.datetime.fromisoformat(stored) if stored else dt.datetime.now(dt.UTC)

    def local_time(self, at: dt.datetime | None, policy: Policy) -> dt.datetime:
        """``at`` as the policy's local time (``gate.local_time``): what history records."""
        return gate.local_time(at, policy.tz, self.now)

    # -- commands ----------------------------------------------------------------------------
    def apply(self, cmd: dict[str, Any] | Any, *, base: Path | None = None) -> Any:
        """Any replay command of SPEC §5 (a dict, or an already parsed ``ops`` value)."""
        op = cmd if type(cmd) in ops.OPS.values() else ops.parse(cmd)  # anything else: bad_input, not a crash
        return _APPLY[type(op)](self, op, base)

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
        gate.check_expected_version(expected_version)
        if event == "change_institution":
            return self.fire_change_institution(
                doctor, actor, data, at, idempotency_key, expected_version=expected_version
            )
        result = self._fire_one(
            Fire(doctor, event, actor, {} if data is None else data, at, idempotency_key), expected_version
        )
        if isinstance(result, Refused):
            raise result
        return result

    def _fire_one(self, cmd: Fire, expected: int | None) -> View | Refused:
        """One command: the batch path's read, gate and commit without a batch's plans and lists.

        On SQLite what the connection remembers answers the reads (``Storage.deciding``).  With
        ``expected``, the command is decided on the instance as read and written only if the row
        still has that version (see ``commit``): a write that moved it first wins.
        """
        with self.storage.deciding():
            world = self.world()
            policy = world.policy
            doctor = cmd.doctor
            loaded = self.storage.load(policy.id, [doctor]) if policy is not None and is_id(doctor) else {}
            if expected is not None:
                pair = loaded.get(doctor) or self.load_one(doctor)  # (not_found or bad_input, as a read says it)
                key = cmd.idempotency_key
                # Unless it is the retry of the write that moved it: the gate answers that as before.
                if pair[0].version != expected and (
                    key is None or not self.storage.find_idempotent(policy.id, doctor, key)  # type: ignore[union-attr]
                ):
                    return gate.stale(doctor, expected)
            current: dict[str, Instance] = {}
            read_versions: dict[str, int] = {}
            records: list[Record] = []
            result = self.gate.decide(cmd, world, policy, loaded, current, read_versions, records)
            if records:
                try:
                    self.storage.commit([(read_versions[doctor], current[doctor])], records)
                except ConflictError:
                    return self._lost(cmd)
            return result

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
                return [self._lost(chunk[0])]
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
            raise gate.no_policy()
        today = self.today()
        doctors = [
            setup.doctor_from_op(self, op, world, today) for op in setup.ops_of(ops.DoctorOp, doctor_ops, "drive_new")
        ]
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
        one = self.gate.decide  # (bound once: this loop runs per event)
        for _, plan in plans:
            result: View | Refused | None = None
            while True:
                try:
                    cmd = plan.send(result)  # type: ignore[arg-type]
                except StopIteration:
                    break
                result = one(cmd, world, policy, loaded, current, read_versions, records)
        return current, read_versions, records

    def _lost(self, cmd: Fire) -> View | Refused:
        """A command whose write lost a storage race: see ``Gate.lost``."""
        return self.gate.lost(self.cycle, cmd, self.state)

    # -- reading -----------------------------------------------------------------------------
    def load_one(self, doctor: str, cycle: str | None = None) -> tuple[Instance, Doctor]:
        """The doctor's instance in the cycle (default: the current one) and their registry row;
        ``Refused(not_found)`` for an id that is not a doctor of the cycle."""
        check_id(doctor, "doctor")
        cycle = cycle or self.cycle
        pair = self.storage.load(cycle, [doctor]).get(doctor)
        if pair is None:
            raise Refused(NOT_FOUND, f"no doctor {doctor!r} in cycle {cycle}", message_zh=f"本周期无医师 {doctor}")
        return pair

    def state(self, doctor: str) -> View:
        return View.of(self.load_one(doctor)[0])

    def history(self, doctor: str) -> list[Record]:
        self.load_one(doctor)
        return self.storage.history(self.cycle, doctor)

    def instances(self) -> list[str]:
        return self.storage.instance_ids(self.cycle)

    def allowed(self, doctor: str, actor: Actor, at: dt.datetime | None = None) -> list[str]:
        """Events ``actor`` may fire on ``doctor`` now: role, jurisdiction and every guard that
        does not depend on the command's data (a score, a reason id) are checked."""
        world = self.world()
        policy = world.policy or self.policy  # (raises not_found when no policy is loaded)
        inst, doc = self.load_one(doctor, policy.id)
        if not is_actor(actor):
            return []
        return allowed_events(self.machine, world, policy, inst, doc, actor, self.local_time(at, policy))

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
        return queue.work_queue(
            self.storage,
            self.machine,
            self.world(),
            self.now,
            actor,
            states=states,
            page_size=page_size,
            after=after,
            at=at,
        )

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
        at = self.local_time(at, policy)
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

    # -- setting up the world (``renew_fsm.setup``) ----------------------------------------------
    def today(self) -> dt.date:
        """The engine clock's day in the policy's time zone: what "in the future" means for the registry."""
        return self.now().astimezone(setup.clock_zone(self)).date()

    def add_institutions(self, institution_ops: Sequence[ops.InstitutionOp]) -> None:
        """Add (or replace) institutions in one transaction, all or nothing (``setup.add_institutions``)."""
        setup.add_institutions(self, institution_ops)

    def load_policy(self, policy: Policy) -> None:
        """Make ``policy`` the current one (``setup.load_policy``)."""
        setup.load_policy(self, policy)

    def doctor_from_op(self, op: ops.DoctorOp, world: World | None = None, today: dt.date | None = None) -> Doctor:
        """A registry doctor, checked (``setup.doctor_from_op``)."""
        return setup.doctor_from_op(self, op, world, today)

    def add_doctors(self, doctor_ops: Sequence[ops.DoctorOp]) -> list[str]:
        """Add doctors in one transaction, all or nothing (``setup.add_doctors``)."""
        return setup.add_doctors(self, doctor_ops)

    # -- 变更卫生机构: a doctor's event that also moves them in the registry --------------------
    def change_institution(
        self,
        doctor: str,
        institution: str,
        actor: Actor,
        at: dt.datetime | None = None,
        *,
        previous: str | None = None,
        idempotency_key: str | None = None,
    ) -> View:
        """Move a doctor who is out of the cycle to another institution (SPEC §1).

        The admin must govern both the doctor's institution and the new one: a county's within
        it, a city's across its counties, the province's across its cities.  The registry row
        changes and the doctor's instance records ``change_institution`` (a stay) with the new
        and the previous institution, in one transaction.  ``previous``, if given, must be where
        the doctor is now (else ``conflict``).
        """
        data: dict[str, Any] = {"institution": institution}
        if previous is not None:
            data["previous"] = previous
        return self.fire_change_institution(doctor, actor, data, at, idempotency_key)

    def fire_change_institution(
        self,
        doctor: str,
        actor: Actor,
        data: dict[str, Any] | None,
        at: dt.datetime | None,
        idempotency_key: str | None = None,
        *,
        expected_version: int | None = None,
    ) -> View:
        """``fire(doctor, "change_institution", …)``: see ``change_institution``."""
        policy = self.policy
        world = self.world()
        inst, doc = self.load_one(doctor)
        gate.check_expected_version(expected_version)
        key = gate.check_key(idempotency_key)
        if (
            expected_version is not None
            and inst.version != expected_version
            and (key is None or not self.storage.find_idempotent(policy.id, doctor, key))
        ):
            raise gate.stale(doctor, expected_version)  # (a retry of the write that moved it goes on)
        gate.check_actor(actor)
        event = "change_institution"
        checked = check_data(event, self.machine.machine.events[event], data or {})
        if key is not None:
            prior = self.storage.find_idempotent(policy.id, doctor, key)
            if prior is not None:
                gate.same_request(prior, event, actor, checked, added="previous")
                return View.of(inst)
        target = world.institutions.get(checked["institution"])
        if target is None:
            raise workflows.no_institution(checked["institution"])
        if target.kind != "institution":
            raise bad_input(f"{target.id} is an industry organisation; a doctor practises at a health institution")
        if checked.get("previous", doc.institution) != doc.institution:
            raise Refused(
                CONFLICT, f"{doctor} is no longer at {checked['previous']}", message_zh=f"医师 {doctor} 已不在该机构"
            )
        checked["previous"] = doc.institution
        when = self.local_time(at, policy)
        changes, step = decide(self.machine, world, policy, inst, doc, event, actor, checked, when)
        if not world.governs(actor.id, target.region):
            raise outside(actor, target.id)
        new, record = advance(
            inst,
            changes,
            step,
            actor,
            dumps(checked),
            iso_time(when),
            policy.version,
            idempotency_key,
            self.key,
            self.policy_sha256(policy),
        )
        with gate.refusing_conflicts(lambda: gate.changed(doctor)):
            self.storage.move_doctor(inst.version, new, record, target.id)
        return View.of(new)

    # -- workflow cases (``engine.cases``, ``renew_fsm.workflows``) -------------------------------
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
        """Fire one event at a workflow case (``Workflows.case_fire``)."""
        return self.cases.case_fire(machine, case_id, event, actor, data, at, subject=subject)

    def case_fire_many(self, machine: str, commands: Sequence[CaseFire]) -> list[CaseView | Refused]:
        """Each command in order, each in its own transaction (``Workflows.case_fire_many``)."""
        return self.cases.case_fire_many(machine, commands)

    def case_state(self, machine: str, case_id: str) -> CaseView:
        return self.cases.case_state(machine, case_id)

    def case_history(self, machine: str, case_id: str) -> list[Record]:
        return self.cases.case_history(machine, case_id)

    def case_allowed(
        self, machine: str, case_id: str, actor: Actor, at: dt.datetime | None = None, *, subject: str | None = None
    ) -> list[str]:
        """Events ``actor`` may fire on the case now (``Workflows.case_allowed``)."""
        return self.cases.case_allowed(machine, case_id, actor, at, subject=subject)

    def case_may_act(self, machine: str, case_id: str, actor: Actor) -> bool:
        """Whether the case lies in ``actor``'s jurisdiction (``Workflows.case_may_act``)."""
        return self.cases.case_may_act(machine, case_id, actor)

    def authenticate(self, account: str, secret: str, role: str | None = None) -> Actor:
        """The actor an account acts as, once its secret is proved (``Workflows.authenticate``)."""
        return self.cases.authenticate(account, secret, role)

    def change_password(self, account: str, secret: str, new_secret: str, at: dt.datetime | None = None) -> CaseView:
        """Replace the account's secret (``Workflows.change_password``)."""
        return self.cases.change_password(account, secret, new_secret, at)

    def download_export(
        self, case_id: str, actor: Actor, at: dt.datetime | None = None, *, format: str = "csv"
    ) -> bytes:
        """The produced exam-progress list, its download recorded (``Workflows.download_export``)."""
        return self.cases.download_export(case_id, actor, at, format=format)

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


def _fire_op(engine: Engine, op: ops.FireOp, base: Path | None) -> View:
    return engine.fire(op.doctor, op.event, gate.op_actor(op), op.data, op.at, op.idempotency_key)


def _sweep_op(engine: Engine, op: ops.SweepOp, base: Path | None) -> int:
    return engine.sweep(op.event, op.at)


#: Every replay command (SPEC §5) by its ``ops`` type: setting up the world, a doctor's events and the
#: workflows' — one explicit table, checked whole when the module loads.
_APPLY: dict[type, Callable[[Engine, Any, Path | None], Any]] = {
    **setup.SETUP,
    ops.FireOp: _fire_op,
    ops.SweepOp: _sweep_op,
    **workflows.APPLY,
}
assert set(_APPLY) == set(ops.OPS.values()), set(ops.OPS.values()) ^ set(_APPLY)


__all__ = ["BAD_INPUT", "FORBIDDEN", "Engine", "Fire"]
