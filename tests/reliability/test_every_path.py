"""Every branch of every shipped machine, walked through the real engine.

The branches are read from the compiled machine (``compiled(m).steps``: leaf
source × event × branch, STAY branches and each ``RETURN`` expansion included),
so a transition added to a machine file is covered here without editing this
test.  For each branch a best-first search (guided by the distance in the
machine's graph) looks for a path from the initial state whose every step has a
witness (``relkit``: an entitled actor, valid data steering the branch, a time
the window guards accept), judging each step with the engine's own pure
decision (``runtime.decide``).  The paths found are then fired through an
``Engine`` on every backend, and each step must land where the definition says.

Bounded, the same is done for simple paths (no leaf state twice, self-loops
allowed as preparation) from the initial state to every final state.

The coverage reached is printed (``pytest -s``) and must be 100%: a branch no
witness can reach is named in the failure, and is either a defect of the
machine or a witness this file lacks.
"""

from __future__ import annotations

import datetime as dt
import heapq
import itertools
import os
from collections import Counter, deque
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from conftest import doctor_cmd, make_engine
from relkit import SENIOR, start_time, valid_fires

from renew_fsm import Actor, Refused, machines
from renew_fsm.eventdata import check_data
from renew_fsm.machines import MACHINES, compiled
from renew_fsm.machines.compile import Compiled
from renew_fsm.model import INSTANCE_FIELDS, Doctor, Instance, replace
from renew_fsm.rules.policy import Policy, load, parse
from renew_fsm.runtime import decide
from renew_fsm.world import World

#: The machines that run on a doctor's instance.  The workflow machines (cases with subjects of their
#: own) are walked the same way — every branch, every simple path to a final state, through the engine
#: on every backend — in ``tests/workflows/test_every_branch.py``.
DOCTOR_MACHINES = sorted(m for m in MACHINES if m not in getattr(machines, "CASE_MACHINES", {}))
#: Simple paths of at most this many transitions are walked.  The doctor machine has 100, the
#: longest 17 hops, so the default bound takes them all; RENEW_FSM_PATH_BOUND lowers it.
PATH_BOUND = int(os.environ.get("RENEW_FSM_PATH_BOUND", "30"))
#: Search effort per branch before it is declared unreachable.
MAX_EXPANSIONS = 10_000
#: Weighted A*: the graph distance counts this much more than the steps already taken, so the
#: search heads for the branch instead of trying every flag combination on the way.
WEIGHT = 10
_KEY_FIELDS = tuple(f for f in INSTANCE_FIELDS if f not in ("doctor", "cycle", "version", "head"))


class Branch(NamedTuple):
    """One row of the compiled table: from ``leaf``, ``event`` takes its ``index``-th branch."""

    leaf: str
    event: str
    index: int

    def describe(self, m: Compiled) -> str:
        step = m.steps[self.leaf][self.event][self.index]
        when = step.when[0] if step.when else "otherwise"
        return f"{self.leaf} --{self.event} [{when}]--> {step.target or '= (stays)'}"


class Move(NamedTuple):
    """One fired command of a path and the state the definition says it lands in."""

    event: str
    actor: Actor
    data: dict[str, Any]
    at: dt.datetime
    branch: Branch
    expect: str


def branches(m: Compiled) -> list[Branch]:
    return [
        Branch(leaf, event, i)
        for leaf, events in m.steps.items()
        for event, steps in events.items()
        for i in range(len(steps))
    ]


def target_of(m: Compiled, b: Branch) -> str:
    """Where the definition sends branch ``b``: its resolved target, or its own leaf for STAY."""
    return m.steps[b.leaf][b.event][b.index].target or b.leaf


def leaf_distances(m: Compiled) -> dict[str, dict[str, int]]:
    """Hops between leaves in the machine's graph (guards ignored): the search's estimate."""
    out: dict[str, dict[str, int]] = {}
    nexts = {
        leaf: {s.target for steps in events.values() for s in steps if s.target} for leaf, events in m.steps.items()
    }
    for start in m.steps:
        dist = {start: 0}
        queue = deque([start])
        while queue:
            here = queue.popleft()
            for there in nexts[here]:
                if there not in dist:
                    dist[there] = dist[here] + 1
                    queue.append(there)
        out[start] = dist
    return out


class Explorer:
    """Searches witnessed paths, judging each step with the engine's pure decision."""

    def __init__(self, m: Compiled, world: World, policy: Policy, doctor: Doctor):
        self.m, self.world, self.policy, self.doctor = m, world, policy, doctor
        self.dist = leaf_distances(m)
        self.decided = 0

    def key(self, inst: Instance) -> tuple[Any, ...]:
        return tuple(getattr(inst, f) for f in _KEY_FIELDS)

    def moves(
        self, inst: Instance, now: dt.datetime, events: set[str] | None = None
    ) -> Iterator[tuple[Move, Instance]]:
        """Every witnessed command the engine accepts from ``inst``, with the instance after it."""
        step_map = self.m.steps[inst.state]
        if events is not None:
            step_map = {e: s for e, s in step_map.items() if e in events}
        tried: set[tuple[str, Actor, str, dt.datetime]] = set()
        for event, _aimed, actor, data, when in valid_fires(step_map, inst, self.doctor, self.world, self.policy, now):
            sig = (event, actor, repr(sorted(data.items())), when)
            if sig in tried:
                continue
            tried.add(sig)
            self.decided += 1
            try:
                checked = check_data(event, self.m.machine.events[event], data)
                changes, fired = decide(self.m, self.world, self.policy, inst, self.doctor, event, actor, checked, when)
            except Refused:
                continue
            index = next(i for i, s in enumerate(step_map[event]) if s is fired)
            branch = Branch(inst.state, event, index)
            after = replace(inst, {**changes, "state": fired.target or inst.state, "version": inst.version + 1})
            yield Move(event, actor, data, when, branch, after.state), after

    def reach(
        self, start: Instance, now: dt.datetime, goal: Branch, found: dict[Branch, tuple[Move, ...]]
    ) -> tuple[Move, ...] | None:
        """A* from ``start`` to a path ending in ``goal``; every branch met on the way is recorded in ``found``."""
        if goal in found:
            return found[goal]
        dist = self.dist
        tie = itertools.count()
        frontier: list[tuple[int, int, int, Instance, dt.datetime, tuple[Move, ...]]] = [
            (WEIGHT * dist[start.state].get(goal.leaf, 99), 0, next(tie), start, now, ())
        ]
        seen = {self.key(start)}
        expansions = 0
        while frontier and expansions < MAX_EXPANSIONS:
            _, _, _, inst, when, path = heapq.heappop(frontier)
            expansions += 1
            for move, after in self.moves(inst, when):
                longer = (*path, move)
                found.setdefault(move.branch, longer)
                if move.branch == goal:
                    return longer
                k = self.key(after)
                if k in seen:
                    continue
                seen.add(k)
                h = dist[after.state].get(goal.leaf)
                if h is not None:
                    heapq.heappush(
                        frontier, (len(longer) + WEIGHT * h, -len(longer), next(tie), after, move.at, longer)
                    )
        return None

    def along(self, start: Instance, now: dt.datetime, leaves: list[str], stays: int = 12) -> tuple[Move, ...] | None:
        """A witnessed walk through ``leaves`` in order; up to ``stays`` self-loops at a leaf prepare the next hop
        (ten failed attempts before a simple-program doctor is graded, say)."""
        looping = {
            leaf: {e for e, steps in events.items() if any(s.target is None for s in steps)}
            for leaf, events in self.m.steps.items()
        }
        last = len(leaves) - 1
        tie = itertools.count()
        frontier = [(WEIGHT * last, 0, next(tie), start, now, 0, 0, ())]
        seen = {(self.key(start), 0)}
        expansions = 0
        while frontier and expansions < MAX_EXPANSIONS // 4:
            _, _, _, inst, when, pos, stayed, path = heapq.heappop(frontier)
            expansions += 1
            wanted = leaves[pos + 1]
            hops = {e for e, steps in self.m.steps[inst.state].items() if any(s.target == wanted for s in steps)}
            for move, after in self.moves(inst, when, hops | (looping[inst.state] if stayed < stays else set())):
                if move.expect == wanted:
                    nxt, nstay = pos + 1, 0
                elif move.expect == inst.state:
                    nxt, nstay = pos, stayed + 1
                else:
                    continue
                longer = (*path, move)
                if nxt == last:
                    return longer
                k = (self.key(after), nxt)
                if k not in seen:
                    seen.add(k)
                    f = len(longer) + WEIGHT * (last - nxt)
                    heapq.heappush(frontier, (f, -len(longer), next(tie), after, move.at, nxt, nstay, longer))
        return None


def first_blocked_hop(explorer: Explorer, start: Instance, now: dt.datetime, leaves: list[str]) -> list[str]:
    """The first hop of ``leaves`` no witnessed walk gets past (for the report)."""
    for end in range(2, len(leaves) + 1):
        if explorer.along(start, now, leaves[:end]) is None:
            return leaves[end - 2 : end]
    return leaves[-2:]


def simple_paths(m: Compiled, start: str, bound: int) -> list[list[str]]:
    """Leaf sequences from ``start`` to a final state, no leaf twice, at most ``bound`` hops.

    A ``RETURN`` branch goes back to the state the sub-flow was entered from,
    which the path has visited, so no simple path takes one: its expansions
    (one per remembered state) are left out, or they would add thousands of
    paths that exist only in the expanded table.
    """
    finals = set(m.graph.finals())
    expansions = set(m.graph.branches) - set(m.graph.edges)
    nexts = {
        leaf: sorted(
            {
                s.target
                for steps in events.values()
                for s in steps
                if s.target and s.target != leaf and s.edge not in expansions
            }
        )
        for leaf, events in m.steps.items()
    }
    out: list[list[str]] = []

    def walk(path: list[str]) -> None:
        here = path[-1]
        if here in finals:
            out.append(list(path))
            return
        if len(path) > bound:
            return
        for there in nexts[here]:
            if there not in path:
                path.append(there)
                walk(path)
                path.pop()

    walk([start])
    return out


# -- the world the paths run in ---------------------------------------------------------------------

SENIOR_CMD = doctor_cmd("P0", "H1", born=SENIOR["born"], since=SENIOR["since"], record=SENIOR["record"])
SHIPPED = "guangxi-2019-2020"
#: Policies tried, in order, for a branch the shipped one cannot reach.  The machine serves any
#: province's policy; a branch only another policy opens is covered, and the report says which.
VARIANTS: dict[str, str] = {
    # A province asking for two re-exam attempts (``policy lint`` warns: one of each failed test is
    # applied); the paths must hold under it too.
    "two re-exam attempts": r"(?m)^\[reexam\]\nattempts = 1",
}
#: Branches no policy can reach: defects of the machine definition, reported in issue 7.  The
#: test expects exactly these to be missing; one that becomes reachable or disappears fails it.
KNOWN_DEAD: dict[tuple[str, str, str], str] = {}


#: Simple paths the rules rule out, by the hop they cannot take: the earlier hop every such path
#: takes, and why.  Any other impossible path fails the test.
EXPLAINED: dict[tuple[str, ...], tuple[tuple[str, str] | tuple[tuple[str, str], ...], str]] = {
    ("reexam.listed", "reexam.awaiting_grade"): (
        ("deferred", "unqualified"),
        "a deferred doctor closed absent after the make-up (2021-11-06) is suspended at least 3 months, "
        "past the re-exam window (ends 2021-11-28), so cannot sit the re-exam this cycle",
    ),
    ("appeal.requested", "qualified"): (
        tuple(
            (leaf, "unqualified")
            for leaf in (
                "enrolled",
                "info_submitted",
                "info_approved",
                "registered",
                "deferred",
                *(
                    f"{p}.{s}"
                    for p in ("simple", "general")
                    for s in (
                        "submitted",
                        "institution_approved",
                        "testing",
                        "exemption.applied",
                        "exemption.institution_approved",
                    )
                ),
            )
        ),
        "an upheld appeal is qualified only with the tests passed, so only for a result given once they were "
        "done (a finding in *.awaiting_grade); a result given before — an absence (only dismissed), a failed "
        "evaluation, a finding during the tests — sends the doctor back to finish (docs/workflows.md)",
    ),
    ("appeal.requested", "reexam.listed"): (
        tuple(
            (leaf, "unqualified")
            for leaf in (
                "qualified",
                "simple.awaiting_grade",
                "general.awaiting_grade",
                "enrolled",
                "info_submitted",
                "info_approved",
                "registered",
                *(
                    f"{p}.{s}"
                    for p in ("simple", "general")
                    for s in (
                        "submitted",
                        "institution_approved",
                        "testing",
                        "exemption.applied",
                        "exemption.institution_approved",
                    )
                ),
            )
        ),
        "an upheld appeal lists a doctor for the re-exam only against an absence once the make-up has closed "
        "(issue 30): a result given after a pass or once the tests were done is never an absence, and a "
        "first-round absence (06-28) is appealed by 07-28 and answered by the agency before the make-up; only "
        "the authority answering an appeal overdue since the summer after 11-05 could list it, a wait the "
        "explorer's moments do not hold (the make-up's absences, from `deferred`, are witnessed)",
    ),
}


def variant_text(name: str) -> str:
    """The shipped policy's TOML with one change, under its own version."""
    import re

    text = load(SHIPPED).text
    if name == SHIPPED:
        return text
    changed, n = re.subn(VARIANTS[name], "[reexam]\nattempts = 2", text)
    assert n == 1, f"variant {name!r} no longer applies to {SHIPPED}"
    changed, n = re.subn(r'(?m)^version = "([^"]+)"', r'version = "\1-variant"', changed)
    assert n == 1
    return changed


def dead_key(m: Compiled, b: Branch) -> tuple[str, str, str]:
    return (b.leaf, b.event, target_of(m, b))


class Setting(NamedTuple):
    world: World
    doctor: Doctor
    start: Instance
    policies: dict[str, Policy]


@pytest.fixture(scope="module")
def setting() -> Setting:
    engine = make_engine("memory:", [SENIOR_CMD])
    doctor = engine.storage.get_doctor("P0")
    assert doctor is not None
    start = engine.storage.load(engine.cycle, ["P0"])["P0"][0]
    policies = {name: parse(variant_text(name), name) for name in (SHIPPED, *VARIANTS)}
    out = Setting(engine.world(), doctor, start, policies)
    engine.close()
    return out


class Coverage(NamedTuple):
    machine: str
    #: branch → (the policy it was witnessed under, its path)
    paths: dict[Branch, tuple[str, tuple[Move, ...]]]
    missing: list[Branch]
    total: int
    #: For the re-exam machine: the doctor-machine path that produced its initial instance.
    prefix: tuple[Move, ...]
    start: Instance
    #: Branches witnessed from another initial instance (the re-exam of another failure), by branch.
    prefixes: dict[Branch, tuple[Move, ...]] | None = None


def _cover(m: Compiled, setting: Setting, start: Instance, prefix: tuple[Move, ...]) -> Coverage:
    everything = branches(m)
    found: dict[Branch, tuple[str, tuple[Move, ...]]] = {}
    now = prefix[-1].at if prefix else start_time(setting.policies[SHIPPED])
    for name, policy in setting.policies.items():
        explorer = Explorer(m, setting.world, policy, setting.doctor)
        seen: dict[Branch, tuple[Move, ...]] = {}
        # Nearest first: their paths pass through, and so cover, many of the deeper ones.
        for goal in sorted(everything, key=lambda b: (explorer.dist[start.state].get(b.leaf, 99), b)):
            if goal not in found and dead_key(m, goal) not in KNOWN_DEAD:
                explorer.reach(start, now, goal, seen)
        for b, path in seen.items():
            found.setdefault(b, (name, path))
        if len(found) == len(everything):
            break
    missing = [b for b in everything if b not in found]
    return Coverage(
        m.machine.id, {b: found[b] for b in everything if b in found}, missing, len(everything), prefix, start
    )


def _walk(m: Compiled, setting: Setting, policy: Policy, start: Instance, path: tuple[Move, ...]) -> Instance:
    """The instance after ``path``, judged again by the pure decision path."""
    inst = start
    for move in path:
        checked = check_data(move.event, m.machine.events[move.event], move.data)
        changes, fired = decide(
            m, setting.world, policy, inst, setting.doctor, move.event, move.actor, checked, move.at
        )
        assert fired is m.steps[inst.state][move.event][move.branch.index]
        inst = replace(inst, {**changes, "state": fired.target or inst.state, "version": inst.version + 1})
    return inst


@pytest.fixture(scope="module")
def coverage(setting: Setting) -> dict[str, Coverage]:
    """The witnessed path of every branch of every shipped machine (searched once per run)."""
    doctor_m = compiled("doctor")
    out = {"doctor": _cover(doctor_m, setting, setting.start, ())}
    # The re-exam machine starts where the doctor machine leaves a doctor graded unqualified
    # (program, scores and reason as the grading left them).
    graded = [
        p
        for b, (name, p) in out["doctor"].paths.items()
        if name == SHIPPED and b.event == "grade" and target_of(doctor_m, b) == "unqualified"
    ]
    prefix = min(graded, key=len)
    failed = _walk(doctor_m, setting, setting.policies[SHIPPED], setting.start, prefix)
    # The re-exam re-assesses what failed (issue 30): one failure (a test) does not open the branches
    # of another (both tests, an evaluation), so every other way into ``unqualified`` is a start too.
    others = sorted(
        (
            p
            for b, (name, p) in out["doctor"].paths.items()
            if name == SHIPPED and target_of(doctor_m, b) == "unqualified" and p is not prefix
        ),
        key=len,
    )
    for machine_id in DOCTOR_MACHINES:
        if machine_id != "doctor":
            m = compiled(machine_id)
            assert m.graph.initial == failed.state, f"{machine_id}: teach this test where the machine starts"
            cov = _cover(m, setting, failed, prefix)
            paths, prefixes = dict(cov.paths), {}
            for other in others:
                if len(paths) == cov.total:
                    break
                start = _walk(doctor_m, setting, setting.policies[SHIPPED], setting.start, other)
                for b, found in _cover(m, setting, start, other).paths.items():
                    if b not in paths:
                        paths[b], prefixes[b] = found, other
            missing = [b for b in branches(m) if b not in paths]
            out[machine_id] = cov._replace(paths=paths, missing=missing, prefixes=prefixes)
    return out


def _fewest(paths: list[tuple[Move, ...]]) -> list[tuple[Move, ...]]:
    """Fewest paths that still pass through every branch: longest first, skip those already walked."""
    walked: set[Branch] = set()
    chosen = []
    for path in sorted(paths, key=len, reverse=True):
        if path[-1].branch not in walked:
            chosen.append(path)
            walked.update(mv.branch for mv in path)
    return chosen


def _run_paths(
    url: str, policy_file: Path | None, runs: list[tuple[tuple[Move, ...], tuple[Move, ...]]], m: Compiled
) -> Counter[Branch]:
    """Fire each (prefix, path) for its own doctor; every step must land where it was predicted.

    Returns the branches of ``m`` the engine's history shows were taken by the paths (not the prefixes).
    """
    ids = [f"P{i:05d}" for i in range(len(runs))]
    cmds = [
        doctor_cmd(d, "H1", born=SENIOR["born"], since=SENIOR["since"], record=SENIOR["record"], serial=i)
        for i, d in enumerate(ids)
    ]
    engine = make_engine(url, cmds)
    if policy_file is not None:
        engine.apply({"op": "policy", "file": str(policy_file)})
    taken: Counter[Branch] = Counter()
    try:
        for did, (prefix, path) in zip(ids, runs, strict=True):
            for n, move in enumerate((*prefix, *path)):
                actor = Actor("doctor", did) if move.actor.role == "doctor" else move.actor
                try:
                    view = engine.fire(did, move.event, actor, move.data, at=move.at)
                except Refused as refused:
                    pytest.fail(
                        f"{did} step {n + 1} {move.event} by {move.actor} refused: {refused!r}\n"
                        f"path: {[mv.event for mv in (*prefix, *path)]}"
                    )
                assert view.state == move.expect, (did, n, move.event, view.state, move.expect)
            history = engine.history(did)
            assert len(history) == len(prefix) + len(path)
            for rec, move in zip(history[len(prefix) :], path, strict=True):
                steps = m.steps[rec.from_state][rec.event]
                matching = [i for i, s in enumerate(steps) if (s.target or rec.from_state) == rec.to_state]
                assert move.branch.index in matching, (rec, move.branch)
                taken[Branch(rec.from_state, rec.event, matching[0] if len(matching) == 1 else move.branch.index)] += 1
    finally:
        engine.close()
    return taken


def _judge_missing(m: Compiled, missing: list[Branch] | set[Branch], what: str) -> None:
    """Fail on a branch nobody can reach unless it is a known defect; report the known ones as xfail."""
    unknown = [b for b in missing if dead_key(m, b) not in KNOWN_DEAD]
    assert not unknown, f"{m.machine.id}: {what} {len(unknown)} branch(es):\n  " + "\n  ".join(
        b.describe(m) for b in unknown
    )
    present = {dead_key(m, b) for b in branches(m)}
    for key in KNOWN_DEAD:
        if key in present:
            assert key in {dead_key(m, b) for b in missing}, f"{key} is reachable now: delete it from KNOWN_DEAD"
    if missing:
        pytest.xfail(
            f"{m.machine.id}: defect, dead branch(es) no policy can reach: "
            + "; ".join(f"{b.describe(m)} ({KNOWN_DEAD[dead_key(m, b)]})" for b in missing)
        )


# -- the tests -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("machine_id", DOCTOR_MACHINES)
def test_every_branch_has_a_witnessed_path(coverage: dict[str, Coverage], machine_id: str) -> None:
    cov = coverage[machine_id]
    m = compiled(machine_id)
    reached = cov.total - len(cov.missing)
    by_policy = Counter(name for name, _ in cov.paths.values())
    print(
        f"\n{machine_id}: {reached}/{cov.total} branches witnessed ({100 * reached / cov.total:.1f}%) "
        f"{dict(by_policy)}, longest path {max(len(p) for _, p in cov.paths.values())} steps"
    )
    for b, (name, path) in cov.paths.items():
        assert path[-1].branch == b and path[-1].expect == target_of(m, b), b.describe(m)
        if name != SHIPPED:
            print(f"  under {name!r} only: {b.describe(m)}")
    _judge_missing(m, cov.missing, "no witness reaches")


@pytest.mark.parametrize("machine_id", DOCTOR_MACHINES)
def test_every_branch_lands_where_the_definition_says(
    coverage: dict[str, Coverage], setting: Setting, machine_id: str, url: str, tmp_path: Path
) -> None:
    """The paths, fired through the engine on each backend, take every branch of the table."""
    cov = coverage[machine_id]
    m = compiled(machine_id)
    taken: Counter[Branch] = Counter()
    events = 0
    for name in setting.policies:
        # Paths grouped by the prefix they start after (moves hold dicts: grouped by identity).
        by_prefix: dict[int, tuple[tuple[Move, ...], list[tuple[Move, ...]]]] = {}
        for b, (n, p) in cov.paths.items():
            if n == name:
                prefix = (cov.prefixes or {}).get(b, cov.prefix)
                by_prefix.setdefault(id(prefix), (prefix, []))[1].append(p)
        runs = [(prefix, p) for prefix, group in by_prefix.values() for p in _fewest(group)]
        if not runs:
            continue
        policy_file = None
        if name != SHIPPED:
            policy_file = tmp_path / "variant.toml"
            policy_file.write_text(variant_text(name), encoding="utf-8")
        # The store is fresh for each policy: a PostgreSQL schema is per test, so use one doctor range each.
        taken += _run_paths(url if name == SHIPPED else "memory:", policy_file, runs, m)
        events += sum(len(p) for _, p in runs)
    everything = set(branches(m))
    missed = everything - set(taken)
    print(
        f"\n{machine_id} on {url.split('?')[0]}: {len(everything) - len(missed)}/{len(everything)} branches "
        f"taken by the engine ({events} events)"
    )
    _judge_missing(m, missed, "the engine never took")


@pytest.mark.parametrize("machine_id", DOCTOR_MACHINES)
def test_simple_paths_to_every_final_state(setting: Setting, coverage: dict[str, Coverage], machine_id: str) -> None:
    """Bounded: every simple leaf path of at most PATH_BOUND hops from the initial state to a final state.

    A path the rules make impossible (no witness fits) is counted and shown;
    every final state must be reached, and every possible path must run
    through the engine and end where it says.
    """
    m = compiled(machine_id)
    cov = coverage[machine_id]
    policy = setting.policies[SHIPPED]
    explorer = Explorer(m, setting.world, policy, setting.doctor)
    now = cov.prefix[-1].at if cov.prefix else start_time(policy)
    leaf_paths = simple_paths(m, cov.start.state, PATH_BOUND)
    runs: list[tuple[tuple[Move, ...], tuple[Move, ...]]] = []
    impossible: list[list[str]] = []
    for leaves in leaf_paths:
        path = explorer.along(cov.start, now, leaves)
        if path is None:
            impossible.append(leaves)
            continue
        assert [mv.expect for mv in path if mv.expect != mv.branch.leaf] == leaves[1:]
        runs.append((cov.prefix, path))
    _run_paths("memory:", None, runs, m)
    ends = Counter(path[-1].expect for _, path in runs)
    print(
        f"\n{machine_id}: {len(runs)}/{len(leaf_paths)} simple paths of ≤ {PATH_BOUND} hops walked through "
        f"the engine, ending {dict(ends)}; {len(impossible)} impossible"
    )
    blocked = [(tuple(first_blocked_hop(explorer, cov.start, now, leaves)), leaves) for leaves in impossible]
    for hop, n in Counter(hop for hop, _ in blocked).most_common():
        print(f"  {n} path(s) cannot take the hop {' → '.join(hop)}: {EXPLAINED.get(hop, ('', '?'))[1]}")
    for hop, leaves in blocked:
        assert hop in EXPLAINED, f"unexplained impossible path, blocked at {hop}: {' → '.join(leaves)}"
        before = EXPLAINED[hop][0]
        hops = before if isinstance(before[0], tuple) else (before,)  # one earlier hop, or any of several
        assert any(leaves[i : i + 2] == list(h) for h in hops for i in range(len(leaves) - 1)), (hop, leaves)
    assert set(m.graph.finals()) == set(ends), (
        f"final states no short path reaches: {set(m.graph.finals()) - set(ends)}"
    )


def test_a_new_transition_is_picked_up_without_editing_this_test() -> None:
    """The branch list is read from the compiled table, not written here: adding a transition grows it."""
    import attrs

    from renew_fsm.machines.compile import compile_machine
    from renew_fsm.machines.dsl import Transition

    base = MACHINES["doctor"]
    extra = attrs.evolve(
        base, transitions=[*base.transitions, Transition("reject_info", "info_approved", "enrolled", "agency")]
    )
    grown = compile_machine(extra)
    assert len(branches(grown)) == len(branches(compiled("doctor"))) + 1
    assert Branch("info_approved", "reject_info", 0) in branches(grown)
