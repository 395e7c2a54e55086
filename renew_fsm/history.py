"""The tamper-evident history: the hash chain, and rebuilding an instance from its records.

Each record's hash covers its own fields and the previous record's hash, so
editing, deleting or reordering any record breaks every hash after it.  With
the history key (``renew_fsm.keys``) the hash is an HMAC that also covers the
SHA-256 of the policy text the record was judged under: without the key
nobody can compute a record's hash, so an edit cannot be hidden by rehashing
the chain.  Records written before the key follow the old rule, a plain
SHA-256 (``Seal`` tells the two apart and counts them).  The state is rebuilt
by replaying each record's effects through the same machine table the engine
uses; ``verify`` compares the rebuilt instance with the stored one.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterable

import attrs

from .keys import HistoryKey
from .machines.compile import Compiled
from .model import STATE_FIELDS, Act, Actor, Case, Doctor, Instance, Record
from .rules.policy import Policy
from .runtime import apply_effects, chain_hash, chain_mac


def record_mac(key: HistoryKey, rec: Record, prev: str, policy_sha256: str) -> str:
    return chain_mac(
        key,
        prev,
        rec.cycle,
        rec.doctor,
        rec.seq,
        rec.event,
        rec.from_state,
        rec.to_state,
        rec.role,
        rec.actor,
        rec.at,
        rec.data,
        rec.policy_version,
        policy_sha256,
    )


@attrs.define
class Seal:
    """Judges each record's hash by the keyed rule (with the key) or the old one, and counts what it judged.

    ``keyed``: records whose HMAC holds; ``legacy``: records that follow the old unkeyed rule
    (written before the key); ``unchecked``: records verified without the key that follow no rule
    it can compute — their authenticity is unknown.  A record by the old rule after one that is
    not, in the same chain, is a finding either way: the chain went back to the rule anyone can
    compute, which is what someone rehashing without the key would do.
    """

    key: HistoryKey | None
    #: Without the key: whether the store was ever written with one (``keys.adopt`` marked it).  A
    #: store never keyed has only old-rule records, so one that is not is simply broken.
    keyed_store: bool = False
    keyed: int = 0
    legacy: int = 0
    unchecked: int = 0
    #: The chains (cycle, id) whose records follow the old rule (each starts so: see ``check``).
    legacy_chains: list[tuple[str, str]] = attrs.Factory(list)

    def check(self, rec: Record, prev: str, policy_sha256: str, newer: bool) -> tuple[bool, str | None]:
        """(whether the chain has left the old rule by this record, the problem with it or ``None``)."""
        if self.key is not None and rec.hash == record_mac(self.key, rec, prev, policy_sha256):
            self.keyed += 1
            return True, None
        if rec.hash == record_hash(rec, prev):
            if newer:
                return newer, (
                    f"record {rec.seq} ({rec.event}) follows the old unkeyed rule after a record that does "
                    "not: rehashed without the key"
                )
            self.legacy += 1
            if rec.seq == 1:
                self.legacy_chains.append((rec.cycle, rec.doctor))
            return False, None
        if self.key is not None or not self.keyed_store:
            return newer, f"record {rec.seq} ({rec.event}) does not match its hash: the chain is broken"
        self.unchecked += 1
        return True, None


def record_hash(rec: Record, prev: str) -> str:
    return chain_hash(
        prev,
        rec.cycle,
        rec.doctor,
        rec.seq,
        rec.event,
        rec.from_state,
        rec.to_state,
        rec.role,
        rec.actor,
        rec.at,
        rec.data,
        rec.policy_version,
    )


@attrs.frozen
class Finding:
    """One thing wrong with one instance."""

    doctor: str
    problem: str

    def __str__(self) -> str:
        return f"{self.doctor}: {self.problem}"


def rebuild(
    m: Compiled,
    cycle: str,
    doctor: Doctor,
    records: Iterable[Record],
    policy_of: Callable[[str], Policy | None],
    seal: Seal | None = None,
    sha_of: Callable[[str], str] | None = None,
) -> tuple[Instance, list[str]]:
    """The instance the records describe, and what in them does not add up.

    ``seal`` judges the hashes (without one: the old rule only); ``sha_of(version)`` is the SHA-256
    of the stored policy text a keyed record's HMAC covers.
    """
    seal = seal if seal is not None else Seal(None)
    inst = Instance(doctor.id, cycle)
    problems: list[str] = []
    newer = False
    for rec in records:
        if rec.seq != inst.version + 1:
            problems.append(f"record {rec.seq} follows record {inst.version}: a record is missing or out of order")
        newer, problem = seal.check(rec, inst.head, sha_of(rec.policy_version) if sha_of else "", newer)
        if problem:
            problems.append(problem)
        if rec.from_state != inst.state:
            problems.append(f"record {rec.seq} starts from {rec.from_state!r} but the instance was in {inst.state!r}")
        policy = policy_of(rec.policy_version)
        steps = m.steps.get(inst.state, {}).get(rec.event, ())
        step = next((s for s in steps if (s.target or inst.state) == rec.to_state), None)
        if step is None or policy is None:
            why = "no such transition" if policy is not None else f"unknown policy version {rec.policy_version!r}"
            problems.append(f"record {rec.seq}: {rec.event} from {inst.state!r} to {rec.to_state!r}: {why}")
            inst = inst._replace(state=rec.to_state, version=rec.seq, head=rec.hash)
            continue
        try:
            at = dt.datetime.fromisoformat(rec.at)
            act = Act(rec.event, Actor(rec.role, rec.actor), json.loads(rec.data), doctor, at)
            inst = apply_effects(inst, step.then, policy, act, at)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:  # an edited record, not a crash
            problems.append(f"record {rec.seq} ({rec.event}): its time or data cannot be replayed ({exc!r})")
        inst = inst._replace(state=rec.to_state, version=rec.seq, head=rec.hash)
    return inst, problems


def differences(stored: Instance, rebuilt: Instance) -> list[str]:
    out = [
        f"{name} is {getattr(stored, name)!r} but history gives {getattr(rebuilt, name)!r}"
        for name in STATE_FIELDS
        if getattr(stored, name) != getattr(rebuilt, name)
    ]
    if stored.head != rebuilt.head:
        out.append("the stored chain head does not match the last history record")
    return out


def rebuild_case(
    m: Compiled, stored: Case, records: Iterable[Record], seal: Seal | None = None
) -> tuple[Case, list[str]]:
    """The case its records describe (the subject comes from the first record), and what does not add up.

    A case's effects read only the case and the command's data, so no policy or world is needed.
    """
    seal = seal if seal is not None else Seal(None)
    case = Case(stored.machine, stored.id, stored.subject, m.graph.initial)
    problems: list[str] = []
    newer = False
    for rec in records:
        if rec.seq != case.version + 1:
            problems.append(f"record {rec.seq} follows record {case.version}: a record is missing or out of order")
        newer, problem = seal.check(rec, case.head, "", newer)
        if problem:
            problems.append(problem)
        if rec.from_state != case.state:
            problems.append(f"record {rec.seq} starts from {rec.from_state!r} but the case was in {case.state!r}")
        steps = m.steps.get(case.state, {}).get(rec.event, ())
        step = next((s for s in steps if (s.target or case.state) == rec.to_state), None)
        try:
            data = json.loads(rec.data)
            if rec.seq == 1:
                case = attrs.evolve(case, subject=data.pop("subject", None))
            if step is None:
                problems.append(
                    f"record {rec.seq}: {rec.event} from {case.state!r} to {rec.to_state!r}: no such transition"
                )
            else:
                at = dt.datetime.fromisoformat(rec.at)
                act = Act(rec.event, Actor(rec.role, rec.actor), data, None, at)  # type: ignore[arg-type]
                case = apply_effects(case, step.then, None, act, at)  # type: ignore[arg-type]
        except (ValueError, KeyError, TypeError, AttributeError) as exc:  # an edited record, not a crash
            problems.append(f"record {rec.seq} ({rec.event}): its time or data cannot be replayed ({exc!r})")
        case = attrs.evolve(case, state=rec.to_state, version=rec.seq, head=rec.hash)
    return case, problems


def case_differences(stored: Case, rebuilt: Case) -> list[str]:
    out = [
        f"{name} is {getattr(stored, name)!r} but history gives {getattr(rebuilt, name)!r}"
        for name in ("subject", "state", "version", "flags", "data")
        if getattr(stored, name) != getattr(rebuilt, name)
    ]
    if stored.head != rebuilt.head:
        out.append("the stored chain head does not match the last history record")
    return out
