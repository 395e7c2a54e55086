"""Compile a machine: to ``transitions`` (the engine of record), then to a flat table.

``reference`` builds one shared ``HierarchicalMachine`` per definition
(``model=None``, ``auto_transitions=False``): it decides which branch of an
event fires from which state, exactly as ``transitions`` resolves nested
states.  ``table`` reads that machine's events back into a dict
``state → event → steps`` the engine walks in a few dictionary lookups; a test
proves the two agree on every transition.  Instances are never attached to the
machine: a reference run borrows a tiny probe object.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import attrs
from transitions.core import MachineError
from transitions.extensions.nesting import HierarchicalMachine, NestedState, NestedTransition

from .. import rules
from .dsl import SEP, STAY, Machine
from .graph import Edge, Graph, Node, build

Fn = Callable[..., Any]


@attrs.frozen(slots=True)
class Step:
    """One branch of an event from a state, with its rules bound to functions."""

    event: str
    source: str
    #: ``None``: the instance stays in its state (a flag or counter changes).
    target: str | None
    roles: frozenset[str]
    guards: tuple[tuple[str, Fn], ...]
    when: tuple[str, Fn] | None
    then: tuple[Fn, ...]
    edge: Edge = attrs.field(eq=False, repr=False)


def bind(graph: Graph, edge: Edge) -> Step:
    return Step(
        event=edge.event,
        source=edge.source,
        target=None if edge.stays else graph.resolve(edge.target),
        roles=frozenset(edge.roles),
        guards=tuple((ref, rules.bind("guard", ref)) for ref in edge.guards),
        when=(edge.when, rules.bind("condition", edge.when)) if edge.when else None,
        then=tuple(rules.bind("effect", ref) for ref in edge.then),
        edge=edge,
    )


class DotState(NestedState):
    separator = SEP


class StepTransition(NestedTransition):
    """A ``transitions`` transition that carries the step it was compiled from."""

    def __init__(self, *args: Any, step: Step | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.step = step


class ReferenceMachine(HierarchicalMachine):
    state_cls = DotState
    transition_cls = StepTransition


class Probe:
    """What the reference machine runs on: the instance before, and after the step's effects."""

    def __init__(self, state: str, decide: Callable[[Step], bool]):
        self.state = state
        self.decide = decide


def _state_tree(graph: Graph, node: Node) -> dict[str, Any] | str:
    if node.leaf:
        return {"name": node.name, "final": node.final} if node.final else node.name
    return {
        "name": node.name,
        "initial": node.initial or graph.nodes[node.children[0]].name,
        "children": [_state_tree(graph, graph.nodes[c]) for c in node.children],
    }


def _judge(step: Step, event_data: Any) -> bool:
    return event_data.model.decide(step)


def reference(graph: Graph) -> ReferenceMachine:
    """The ``transitions`` machine of ``graph``: one per definition, shared by everyone."""
    top = [n for n in graph.nodes.values() if n.parent is None]
    machine = ReferenceMachine(
        model=None,
        states=[_state_tree(graph, n) for n in top],
        initial=graph.initial,
        auto_transitions=False,
        send_event=True,
    )
    for edge in graph.branches:
        step = bind(graph, edge)
        machine.add_transition(
            edge.event,
            edge.source,
            None if edge.stays else step.target,
            conditions=[functools.partial(_judge, step)] if step.when else [],
            step=step,
        )
    return machine


def table(graph: Graph, machine: ReferenceMachine) -> dict[str, dict[str, tuple[Step, ...]]]:
    """``state → event → steps`` read from the reference machine's events.

    Per leaf, an event's transitions declared on the leaf come first, then
    those declared on each enclosing composite — the order ``transitions``
    tries them in.
    """
    out: dict[str, dict[str, tuple[Step, ...]]] = {}
    for leaf in graph.leaves():
        events: dict[str, tuple[Step, ...]] = {}
        for name, event in machine.events.items():
            steps = tuple(t.step for scope in graph.ancestry(leaf) for t in event.transitions.get(scope, ()))
            if steps:
                events[name] = steps
        out[leaf] = events
    return out


def reference_fire(machine: ReferenceMachine, state: str, event: str, decide: Callable[[Step], bool]) -> str | None:
    """Fire ``event`` on the reference machine from ``state``; the state it lands in, or ``None``."""
    probe = Probe(state, decide)
    if event not in machine.events:
        return None
    try:
        fired = machine.trigger_event(probe, event)
    except MachineError:  # no transition of the event applies in this state
        return None
    return probe.state if fired else None


@attrs.frozen
class Compiled:
    """Everything the engine needs of a machine, built once and shared."""

    machine: Machine
    graph: Graph
    reference: ReferenceMachine = attrs.field(repr=False)
    steps: dict[str, dict[str, tuple[Step, ...]]] = attrs.field(repr=False)
    #: Roles that may fire each event anywhere (refused ``forbidden`` before the state is looked at).
    event_roles: dict[str, frozenset[str]] = attrs.field(repr=False)


def compile_machine(machine: Machine) -> Compiled:
    from .validate import validate

    problems = validate(machine)
    if problems:
        raise ValueError(f"machine {machine.id!r} is not valid: " + "; ".join(map(str, problems)))
    graph = build(machine)
    ref = reference(graph)
    steps = table(graph, ref)
    event_roles: dict[str, set[str]] = {}
    for edge in graph.edges:
        event_roles.setdefault(edge.event, set()).update(edge.roles)
    return Compiled(machine, graph, ref, steps, {k: frozenset(v) for k, v in event_roles.items()})


__all__ = ["STAY", "Compiled", "Step", "compile_machine", "reference", "reference_fire", "table"]
