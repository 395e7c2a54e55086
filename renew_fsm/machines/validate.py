"""Definition-time checks (``renew-fsm check``): small graph functions over the model.

Each check returns the defects it finds, naming the state or event; a
definition with any defect must not be compiled into the engine.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import attrs

from .. import rules
from ..eventdata import PARAM_KINDS
from .dsl import RETURN, STAY
from .graph import Graph, build
from .vocabulary import ROLES


@attrs.frozen
class Problem:
    check: str
    where: str
    message: str

    def __str__(self) -> str:
        return f"[{self.check}] {self.where}: {self.message}"


def unknown_states(g: Graph) -> Iterator[Problem]:
    if g.machine.initial not in g.nodes:
        yield Problem("unknown_state", "initial", f"initial state {g.machine.initial!r} is not declared")
    for dup in g.duplicates:
        yield Problem("duplicate_state", dup, "state declared twice")
    for node in g.nodes.values():
        if node.children and node.initial and f"{node.id}.{node.initial}" not in g.nodes:
            yield Problem("unknown_state", node.id, f"initial child {node.initial!r} is not one of its children")
    for e in g.edges:
        if e.source not in g.nodes:
            yield Problem("unknown_state", e.event, f"source {e.source!r} is not a declared state")
        if e.target not in (STAY, RETURN) and e.target not in g.nodes:
            yield Problem("unknown_state", e.event, f"target {e.target!r} is not a declared state")
    for state in g.machine.history:
        if state not in g.nodes:
            yield Problem("unknown_state", "history", f"remembered state {state!r} is not declared")
    for e in g.edges if g.machine.history else ():  # no history at all: ``no_history`` says it once
        for state in e.returns:
            if state not in g.machine.history:
                yield Problem("unknown_state", e.event, f"returns to {state!r}, which the machine does not remember")


def unreachable_states(g: Graph) -> Iterator[Problem]:
    reached = g.reachable()
    for leaf in g.leaves():
        if leaf not in reached:
            kind = "final state" if g.nodes[leaf].final else "state"
            yield Problem("unreachable", leaf, f"{kind} cannot be reached from {g.machine.initial!r}")


def dead_ends(g: Graph) -> Iterator[Problem]:
    for leaf in g.leaves():
        node = g.nodes[leaf]
        leaves = [target for _, target in g.successors(leaf) if target != leaf]
        if not node.final and not leaves:
            yield Problem("dead_end", leaf, "a non-final state with no way out")
        if node.final and leaves:
            yield Problem("final_exit", leaf, f"a final state with a way out (to {leaves[0]!r})")


def roles_named(g: Graph) -> Iterator[Problem]:
    for e in g.edges:
        if not e.roles:
            yield Problem("no_role", e.event, f"the transition from {e.source!r} names no role")
        for role in e.roles:
            if role not in ROLES:
                yield Problem("unknown_role", e.event, f"role {role!r} is not one of {', '.join(ROLES)}")


def rules_exist(g: Graph) -> Iterator[Problem]:
    for e in g.edges:
        refs = [("guard", r) for r in e.guards] + [("effect", r) for r in e.then]
        refs += [("condition", e.when)] if e.when else []
        for kind, ref in refs:
            problem = rules.problem(kind, ref)
            if problem:
                yield Problem("unknown_rule", e.event, f"{problem} (from {e.source!r})")


def events_declared(g: Graph) -> Iterator[Problem]:
    used = {e.event for e in g.edges}
    for e in sorted(used - set(g.machine.events)):
        yield Problem("unknown_event", e, "fired by a transition but not declared in the machine's events")
    for name, event in g.machine.events.items():
        if name not in used:
            yield Problem("unused_event", name, "declared but no transition fires it")
        for param in event.params:
            if param.kind not in PARAM_KINDS:
                yield Problem("unknown_param_kind", name, f"field {param.name!r} has unknown kind {param.kind!r}")


def returns_have_history(g: Graph) -> Iterator[Problem]:
    if not g.machine.history and any(e.target == RETURN for e in g.edges):
        yield Problem("no_history", "history", "a transition returns to a remembered state, but none is declared")


def ambiguous_branches(g: Graph) -> Iterator[Problem]:
    """Among an event's transitions from one state, only the last may go without a deciding condition."""
    for leaf in g.leaves():
        for event in g.machine.events:
            branches = g.candidates(leaf, event)
            seen: set[str] = set()
            for i, edge in enumerate(branches):
                if edge.when is None and i < len(branches) - 1:
                    other = branches[i + 1]
                    yield Problem(
                        "ambiguous", f"{leaf} --{event}-->",
                        f"to {edge.target!r} and to {other.target!r} can both fire; no rule decides between them",
                    )
                    break
                if edge.when is not None and edge.when in seen:
                    yield Problem("ambiguous", f"{leaf} --{event}-->", f"condition {edge.when!r} decides twice")
                    break
                if edge.when is not None:
                    seen.add(edge.when)


CHECKS: tuple[Callable[[Graph], Iterator[Problem]], ...] = (
    unknown_states, roles_named, rules_exist, events_declared, returns_have_history,
)
#: Checks that walk the graph; they only make sense once the names resolve.
GRAPH_CHECKS: tuple[Callable[[Graph], Iterator[Problem]], ...] = (
    unreachable_states, dead_ends, ambiguous_branches,
)


def validate(machine_or_graph) -> list[Problem]:
    g = machine_or_graph if isinstance(machine_or_graph, Graph) else build(machine_or_graph)
    problems = [p for check in CHECKS for p in check(g)]
    if not any(p.check in ("unknown_state", "duplicate_state") for p in problems):
        problems += [p for check in GRAPH_CHECKS for p in check(g)]
    return problems
