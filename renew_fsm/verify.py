"""``renew-fsm verify``: rebuild every instance from its history and check the hash chains.

Streams instances and history side by side in doctor order, so memory stays
flat however large the store is (the registry log's rows and an anchor's
heads are held in memory: one small entry per registry row and per chain).

What it checks, and with what (see docs/reliability.md):

- every record against its hash — an HMAC with the history key when the engine
  has one; records by the old unkeyed rule are counted (``legacy``); without the
  key only the structure is checked and keyed records are ``unchecked``;
- each stored policy's text against the SHA-256 stored when it was loaded, and
  each keyed record's HMAC against the SHA-256 of the text stored now;
- every instance and case against the state its records rebuild;
- every registry row (doctors, institutions, regions, agencies, assignments,
  exemption reasons, credentials, export files) against the registry log;
- with ``anchor``: every chain against the folds an anchor file pinned.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import attrs

from . import anchor as anchors
from .engine import Engine
from .history import Finding, Seal, case_differences, differences, rebuild, rebuild_case
from .keys import mark_holds, read_mark
from .machines import CASE_MACHINES, compiled
from .model import CASE_PREFIX, Doctor, Instance, Record
from .rules.policy import Policy
from .storage.base import policy_text_sha256
from .storage.registry import REGISTRY_KEYS, entry_hash, row_digest, row_name

PolicyOf = Callable[[str, str], "Policy | None"]


@attrs.frozen
class Report:
    checked: int
    records: int
    findings: list[Finding]
    #: Whether the records' authenticity was checked (the engine had the history key).
    keyed_check: bool = False
    #: Records (and registry-log entries) whose HMAC holds; that follow the old unkeyed rule
    #: (written before the key); whose authenticity could not be checked (no key).
    keyed: int = 0
    legacy: int = 0
    unchecked: int = 0
    registry_entries: int = 0
    registry_rows: int = 0
    #: Anchor lines checked (``verify(anchor=…)``), and the newest one's time.
    anchor_lines: int = 0
    anchored_at: str | None = None

    @property
    def ok(self) -> bool:
        return not self.findings


def verify(
    engine: Engine,
    progress: Callable[[int], None] | None = None,
    *,
    batch: int = 5000,
    anchor: Path | None = None,
) -> Report:
    storage = engine.storage
    checked = records = 0
    findings: list[Finding] = []
    policies: dict[tuple[str, str], Policy | None] = {}
    mark = read_mark(storage)
    keyed_store = mark is not None
    seal = Seal(engine.key, keyed_store)
    pinned = anchors.load(anchor) if anchor is not None else None
    if pinned is not None:
        findings += [Finding("anchor", p) for p in pinned.problems]
    when = f" (anchored {pinned.newest})" if pinned is not None and pinned.newest else ""
    shas = _policy_shas(storage, findings, pinned)

    def sha_of(cycle: str) -> Callable[[str], str]:
        return lambda version: shas.get(f"{cycle}@{version}", "")

    def policy_of(cycle: str, version: str) -> Policy | None:
        """Looked up once per policy version, not once per record: each lookup asks the store whether
        the world changed, a round trip that made verifying 190,000 records on PostgreSQL take 36 s."""
        if (cycle, version) not in policies:
            policies[cycle, version] = engine.policy_for(cycle, version)
        return policies[cycle, version]

    for cycle in storage.cycles():
        stream = storage.all_history(cycle)
        try:
            history: Iterator[tuple[str, Iterator[Record]]] = itertools.groupby(stream, key=lambda r: r.doctor)
            pending = next(history, None)
            after = None
            while page := storage.scan(cycle, None, after, batch):
                after = page[-1][0].doctor
                for inst, doctor in page:
                    while pending is not None and pending[0] < inst.doctor:
                        findings.append(Finding(pending[0], f"history in {cycle} for an instance that does not exist"))
                        pending = next(history, None)
                    own: list[Record] = []
                    if pending is not None and pending[0] == inst.doctor:
                        own = list(pending[1])
                        pending = next(history, None)
                    problems = _problems(engine, cycle, inst, doctor, own, policy_of, seal, sha_of(cycle))
                    if problems:
                        problems = _read_again(engine, cycle, inst.doctor, policy_of, sha_of(cycle), keyed_store)
                    if pinned is not None:
                        pins = pinned.chains.pop((cycle, inst.doctor), None)
                        problems += anchors.check_chain(pins, own, when) if pins else []
                    findings += [Finding(inst.doctor, f"[{cycle}] {p}") for p in problems]
                    checked += 1
                    records += len(own)
                if progress:
                    progress(len(page))
            while pending is not None:
                findings.append(Finding(pending[0], f"history in {cycle} for an instance that does not exist"))
                pending = next(history, None)
        finally:  # let go of a streaming read (PostgreSQL holds a transaction open) even when rebuilding fails
            close = getattr(stream, "close", None)
            if close is not None:
                close()
    for machine in CASE_MACHINES:
        cases, case_records = _verify_cases(engine, machine, findings, batch, seal, pinned, when)
        checked += cases
        records += case_records
    if pinned is not None:  # chains an anchor pinned that the passes above never met
        for (cycle, chain), pins in sorted(pinned.chains.items()):
            what = _chain_name(cycle, chain)
            findings += [Finding(what, f"[{cycle}] {p}") for p in anchors.check_chain(pins, [], when)]
    guards = getattr(storage, "guards_missing", None)  # (the SQL stores: memory has no database to guard)
    if guards is not None and (gone := guards()):
        findings.append(
            Finding("database", f"the triggers refusing rewrites of history are gone or disabled: {', '.join(gone)}")
        )
    legacy_records = seal.legacy
    entries, rows = _verify_registry(engine, findings, seal, pinned, when)
    if mark is not None and engine.key is not None:
        findings += _legacy_beyond_mark(mark, engine, seal, legacy_records, seal.legacy - legacy_records)
    elif mark is None and engine.key is not None and seal.keyed:
        # Every open with a key marks the store first: keyed records without a mark mean it was removed,
        # which would let old-rule rehashes pass as records from before the key.
        findings.append(Finding("meta key_id", "the key mark is gone, though records are signed with the key"))
    return Report(
        checked,
        records,
        findings,
        keyed_check=engine.key is not None,
        keyed=seal.keyed,
        legacy=seal.legacy,
        unchecked=seal.unchecked,
        registry_entries=entries,
        registry_rows=rows,
        anchor_lines=pinned.lines if pinned is not None else 0,
        anchored_at=pinned.newest if pinned is not None else None,
    )


#: How many chains a finding about old-rule records names before it says "and N more".
NAMED = 20


def _legacy_beyond_mark(mark: dict[str, Any], engine: Engine, seal: Seal, records: int, entries: int) -> list[Finding]:
    """Old-rule records beyond those the store held when its key was adopted: chains rehashed by
    someone without the key (the old rule is the one anyone can compute)."""
    if not mark_holds(mark, engine.key):  # type: ignore[arg-type]
        return [Finding("meta key_id", "the key mark was edited: its counts are not the ones signed with the key")]
    out = []
    allowed = int(mark.get("legacy_records", 0))
    if records > allowed:
        chains = [_chain_name(cycle, chain) for cycle, chain in seal.legacy_chains]
        if allowed == 0:
            why = "its records follow the old unkeyed rule in a store keyed from the start: rehashed without the key"
            out += [Finding(name, why) for name in chains]
        else:
            named = ", ".join(chains[:NAMED]) + (f" and {len(chains) - NAMED} more" if len(chains) > NAMED else "")
            out.append(
                Finding(
                    "history",
                    f"{records} records follow the old unkeyed rule, but the store held {allowed} when its key was "
                    f"adopted: some of these chains were rehashed without the key: {named}",
                )
            )
    allowed_entries = int(mark.get("legacy_entries", 0))
    if entries > allowed_entries:
        out.append(
            Finding(
                "registry_log",
                f"{entries} entries follow the old unkeyed rule, but the log held {allowed_entries} when the key was "
                "adopted: entries were rehashed without the key",
            )
        )
    return out


def _chain_name(cycle: str, chain: str) -> str:
    """How findings name a chain: the doctor's id, or a case as machine/id."""
    return f"{cycle[len(CASE_PREFIX) :]}/{chain}" if cycle.startswith(CASE_PREFIX) else chain


def _policy_shas(storage: Any, findings: list[Finding], pinned: anchors.Anchors | None) -> dict[str, str]:
    """Each stored policy's SHA-256 as its text stands now (what keyed records are checked against); a
    text that differs from the SHA-256 stored when it was loaded, or that an anchor pinned, is a finding."""
    out = {}
    for pid, version, text, stored in storage.policies():
        name, sha = f"{pid}@{version}", policy_text_sha256(text)
        out[name] = sha
        if stored is not None and stored != sha:
            findings.append(
                Finding(
                    f"policies {name}",
                    f"the stored policy text changed after it was loaded (SHA-256 {sha[:16]}…, "
                    f"{stored[:16]}… when loaded): records judged under it no longer mean what they said",
                )
            )
        pin = pinned.policies.pop(name, None) if pinned is not None else None
        if pin is not None and pin[0] != sha:
            findings.append(Finding(f"policies {name}", f"the policy text is not the one anchor line {pin[1]} pinned"))
    for name, (_, number) in sorted(pinned.policies.items()) if pinned is not None else ():
        findings.append(Finding(f"policies {name}", f"the policy pinned by anchor line {number} is gone"))
    return out


def _problems(
    engine: Engine,
    cycle: str,
    inst: Instance,
    doctor: Doctor,
    own: list[Record],
    policy_of: PolicyOf,
    seal: Seal | None = None,
    sha_of: Callable[[str], str] | None = None,
) -> list[str]:
    rebuilt, problems = rebuild(engine.machine, cycle, doctor, own, lambda v: policy_of(cycle, v), seal, sha_of)
    return problems + differences(inst, rebuilt)


#: Times a doctor whose records and instance disagree is read again before it is reported.
READS = 3


def _read_again(
    engine: Engine,
    cycle: str,
    doctor_id: str,
    policy_of: PolicyOf,
    sha_of: Callable[[str], str],
    keyed_store: bool,
) -> list[str]:
    """The doctor's problems, judged on an instance and a history read as one moment.

    The stream of history and the pages of instances are read at different
    moments, so a doctor another process moved in between looks tampered with
    (thousands of "findings" beside a running simulation).  History is
    append-only and each write commits the instance with its record, so the
    history read before and after the instance, unchanged, is the history of
    that instance.  A doctor written to on every reading keeps the last reading's problems.
    """
    storage = engine.storage
    problems: list[str] = []
    for _ in range(READS):
        before = storage.history(cycle, doctor_id)
        pair = storage.load(cycle, [doctor_id]).get(doctor_id)
        after = storage.history(cycle, doctor_id)
        if pair is None:
            return [f"the instance is gone while it was being verified ({len(after)} record(s))"]
        # A fresh seal: the counts are the first reading's (this one only judges).
        judge = Seal(engine.key, keyed_store)
        problems = _problems(engine, cycle, pair[0], pair[1], after, policy_of, judge, sha_of)
        if before == after:
            break
    return problems


def _verify_cases(
    engine: Engine,
    machine: str,
    findings: list[Finding],
    batch: int,
    seal: Seal,
    pinned: anchors.Anchors | None,
    when: str,
) -> tuple[int, int]:
    """Rebuild every workflow case of ``machine`` from its history; (cases, records) checked."""
    storage, m = engine.storage, compiled(machine)
    seen: set[str] = set()
    checked = records = 0
    stream = storage.all_history(CASE_PREFIX + machine)
    try:
        for case_id, group in itertools.groupby(stream, key=lambda r: r.doctor):
            own = list(group)
            seen.add(case_id)
            records += len(own)
            pins = pinned.chains.pop((CASE_PREFIX + machine, case_id), None) if pinned is not None else None
            anchored = anchors.check_chain(pins, own, when) if pins else []
            stored = storage.load_case(machine, case_id)
            if stored is None:
                findings.append(Finding(f"{machine}/{case_id}", "history for a case that does not exist"))
                findings += [Finding(f"{machine}/{case_id}", p) for p in anchored]
                continue
            rebuilt, problems = rebuild_case(m, stored, own, seal)
            problems += case_differences(stored, rebuilt) + anchored
            findings += [Finding(f"{machine}/{case_id}", p) for p in problems]
            checked += 1
    finally:
        close = getattr(stream, "close", None)
        if close is not None:
            close()
    after = None
    while page := storage.scan_cases(machine, after, batch):
        after = page[-1].id
        findings += [Finding(f"{machine}/{c.id}", "a case without history") for c in page if c.id not in seen]
    return checked, records


#: Times the registry is read again when its rows and its log disagree, before that is reported.
REGISTRY_READS = 3


def _verify_registry(
    engine: Engine, findings: list[Finding], seal: Seal, pinned: anchors.Anchors | None, when: str
) -> tuple[int, int]:
    """The registry log's chain, and every logged table's rows against it; (entries, rows) checked.

    The log and the rows are read at different moments: a row another process wrote in between
    (with its entry) looks unlogged, so a disagreement is read again before it is reported.
    """
    found: list[Finding] = []
    entries = rows = 0
    for _ in range(REGISTRY_READS):
        counting = Seal(engine.key, seal.keyed_store)
        found, entries, rows = _registry_once(engine, counting, pinned, when)
        if not found:
            break
    seal.keyed += counting.keyed
    seal.legacy += counting.legacy
    seal.unchecked += counting.unchecked
    findings += found
    return entries, rows


_NEVER = object()


def _registry_once(
    engine: Engine, seal: Seal, pinned: anchors.Anchors | None, when: str
) -> tuple[list[Finding], int, int]:
    storage, key = engine.storage, engine.key
    found: list[Finding] = []
    expected: dict[tuple[str, str], str | None] = {}
    prev, link, want, newer = "", "", 1, False
    log = list(storage.registry_log())
    pins = dict(pinned.registry) if pinned is not None else {}
    for entry in log:
        seq, at, table, changes, digest = entry
        where = f"registry_log {seq}"
        if seq != want:
            found.append(Finding(where, f"entry {seq} follows entry {want - 1}: an entry is missing or out of order"))
        if key is not None and digest == entry_hash(key, prev, seq, at, table, changes):
            seal.keyed += 1
            newer = True
        elif digest == entry_hash(None, prev, seq, at, table, changes):
            if newer:
                found.append(Finding(where, "follows the old unkeyed rule after an entry that does not: rehashed"))
            else:
                seal.legacy += 1
        elif key is not None or not seal.keyed_store:
            found.append(Finding(where, f"the entry ({table}) does not match its hash: the log was edited"))
        else:
            seal.unchecked += 1
            newer = True
        link = anchors.fold(link, entry)
        pin = pins.pop(seq, None)
        if pin is not None and pin[0] != link:
            found.append(Finding(where, f"entries 1–{seq} are not what anchor line {pin[1]} pinned{when}"))
        prev, want = digest, seq + 1
        try:
            for name, value in json.loads(changes).items():
                expected[(table, name)] = value
        except (ValueError, AttributeError):
            found.append(Finding(where, "its rows cannot be read"))
    for seq, (_, number) in sorted(pins.items()):
        found.append(Finding(f"registry_log {seq}", f"the entry pinned by anchor line {number}{when} is gone"))
    rows = 0
    for table in REGISTRY_KEYS:
        seen = set()
        for row in storage.registry_rows(table):
            rows += 1
            name = row_name(table, row)
            seen.add(name)
            logged = expected.get((table, name), _NEVER)
            if logged is _NEVER:
                found.append(
                    Finding(f"{table} {name}", "a row the registry log never recorded: added outside renew_fsm")
                )
            elif logged is None:
                found.append(Finding(f"{table} {name}", "a row the registry log recorded as removed is back"))
            elif logged != row_digest(row):
                found.append(
                    Finding(f"{table} {name}", "the row differs from its last logged change: edited outside renew_fsm")
                )
        found += [
            Finding(f"{table} {name}", "the row is gone though the registry log never removed it: deleted")
            for (logged_table, name), value in expected.items()
            if logged_table == table and value is not None and name not in seen
        ]
    return found, len(log), rows
