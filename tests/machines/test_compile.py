"""The fast table and the ``transitions`` machine agree on every transition.

The engine walks ``compiled(m).steps`` (a dict lookup per event) for speed;
``transitions``' HierarchicalMachine is the engine of record.  Here both are
driven through every leaf state × every event × every combination of branch
outcomes: each conditional step may say yes or no, and the table must pick
(first step whose condition is absent or says yes) exactly where the
reference machine lands — ``None`` where neither moves.  The reference must
also ask its conditions in the order the table tries them, or a real instance
(whose conditions are not independent) could end elsewhere.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Collection, Iterator

import attrs
import pytest

from renew_fsm.machines import MACHINES, compiled
from renew_fsm.machines.compile import Compiled, Step, reference_fire
from renew_fsm.machines.graph import Edge

Table = dict[str, dict[str, tuple[Step, ...]]]


@attrs.frozen
class Case:
    leaf: str
    event: str
    #: What each conditional branch says, by the edge it was compiled from.
    says: dict[Edge, bool]


def cases(c: Compiled, leaves: Collection[str] = ()) -> Iterator[Case]:
    """Every leaf (or those given) × event × outcome assignment; branches come from the graph, not the table."""
    for leaf in leaves or c.graph.leaves():
        for event in c.machine.events:
            conditional = [edge for edge in c.graph.candidates(leaf, event) if edge.when is not None]
            for outcome in itertools.product((False, True), repeat=len(conditional)):
                yield Case(leaf, event, dict(zip(conditional, outcome, strict=True)))


def table_pick(steps: Table, case: Case) -> tuple[str | None, list[Edge]]:
    """Where the table goes (``None``: nowhere) and the conditional steps it consulted, in order."""
    consulted: list[Edge] = []
    for step in steps[case.leaf].get(case.event, ()):
        if step.when is None:
            return step.target or case.leaf, consulted
        consulted.append(step.edge)
        if case.says[step.edge]:
            return step.target or case.leaf, consulted
    return None, consulted


def reference_pick(c: Compiled, case: Case) -> tuple[str | None, list[Edge], list[Edge]]:
    """Where ``transitions`` lands, the conditions it asked in order, and any it asked about unknown steps."""
    asked: list[Edge] = []
    unknown: list[Edge] = []

    def decide(step: Step) -> bool:
        asked.append(step.edge)
        if step.edge not in case.says:
            unknown.append(step.edge)
            return False
        return case.says[step.edge]

    return reference_fire(c.reference, case.leaf, case.event, decide), asked, unknown


def disagreements(c: Compiled, steps: Table, leaves: Collection[str] = ()) -> tuple[int, list[str]]:
    """How many transitions were compared, and a line for each one where table and reference differ."""
    checked, wrong = 0, []
    for case in cases(c, leaves):
        checked += 1
        table_target, consulted = table_pick(steps, case)
        ref_target, asked, unknown = reference_pick(c, case)
        said = sorted(f"{e.target}:{'yes' if v else 'no'}" for e, v in case.says.items()) or ["(no conditions)"]
        where = f"{case.leaf} --{case.event}--> [{', '.join(said)}]"
        if unknown:
            wrong.append(f"{where}: the reference asked about steps the graph does not list: {unknown}")
        elif table_target != ref_target:
            wrong.append(f"{where}: table → {table_target}, transitions → {ref_target}")
        elif consulted != asked:
            wrong.append(
                f"{where}: table tries {[e.target for e in consulted]}, transitions asks {[e.target for e in asked]}"
            )
    return checked, wrong


@functools.cache
def shipped_comparison(machine_id: str) -> tuple[int, list[str]]:
    c = compiled(machine_id)
    return disagreements(c, c.steps)


@pytest.mark.parametrize("machine_id", sorted(MACHINES))
def test_table_and_transitions_agree_on_every_transition(machine_id: str) -> None:
    c = compiled(machine_id)
    checked, wrong = shipped_comparison(machine_id)
    assert not wrong, f"{len(wrong)} of {checked} transitions disagree:\n" + "\n".join(wrong[:20])
    # Not vacuous: at least one case per leaf and event, and every conditional outcome on top.
    assert checked >= len(c.graph.leaves()) * len(c.machine.events), f"only {checked} transitions checked"
    print(f"{machine_id}: table and transitions agree on all {checked} transitions")


def test_the_doctor_machine_comparison_covers_the_deferral_returns() -> None:
    """The 14 remembered states of a deferral make 2**14 outcomes per return event; all are compared."""
    c = compiled("doctor")
    returns = [case for case in cases(c) if case.leaf == "deferred" and case.event == "resume"]
    assert len(returns) == 2 ** len(c.machine.history) == 2**14
    checked, wrong = shipped_comparison("doctor")
    assert not wrong
    assert checked > 3 * 2**14, f"only {checked} transitions checked"


def reordered(steps: Table, leaf: str, event: str) -> Table:
    """The table with one entry's branches tried in the opposite order."""
    tampered = {state: dict(events) for state, events in steps.items()}
    tampered[leaf][event] = tuple(reversed(tampered[leaf][event]))
    return tampered


@pytest.mark.parametrize(
    ("machine_id", "leaf", "event"),
    [
        ("doctor", "general.testing", "record_score"),  # a condition before its fallback
        ("doctor", "simple.institution_approved", "confirm_program"),
        ("reexam", "reexam.awaiting_grade", "grade"),
    ],
)
def test_the_comparison_catches_a_table_that_tries_branches_in_another_order(
    machine_id: str, leaf: str, event: str
) -> None:
    c = compiled(machine_id)
    checked, wrong = disagreements(c, reordered(c.steps, leaf, event), leaves=[leaf])
    assert not disagreements(c, c.steps, leaves=[leaf])[1]
    assert wrong, f"a reordered {leaf}/{event} went unnoticed in {checked} transitions"
    assert all(line.startswith(f"{leaf} --{event}-->") for line in wrong)


def test_the_comparison_catches_a_table_that_lost_an_event() -> None:
    c = compiled("doctor")
    tampered = {state: dict(events) for state, events in c.steps.items()}
    del tampered["registered"]["choose_general"]
    _, wrong = disagreements(c, tampered, leaves=["registered"])
    assert wrong == ["registered --choose_general--> [(no conditions)]: table → None, transitions → general.submitted"]


def test_the_comparison_catches_a_table_entry_declared_on_the_wrong_level() -> None:
    """A step inherited from a composite (``admin_exit`` on ``simple``) must be in each leaf's entry."""
    c = compiled("doctor")
    tampered = {state: dict(events) for state, events in c.steps.items()}
    del tampered["simple.exemption.applied"]["admin_exit"]
    _, wrong = disagreements(c, tampered, leaves=["simple.exemption.applied"])
    assert wrong == [
        "simple.exemption.applied --admin_exit--> [(no conditions)]: table → None, transitions → not_enrolled"
    ]


def test_a_stay_step_keeps_the_leaf_in_both() -> None:
    """``mark_suspected`` is declared on the composite ``reexam``; it must not move a listed doctor."""
    c = compiled("doctor")
    (step,) = c.steps["reexam.listed"]["mark_suspected"]
    assert step.target is None
    assert reference_fire(c.reference, "reexam.listed", "mark_suspected", lambda s: True) == "reexam.listed"
