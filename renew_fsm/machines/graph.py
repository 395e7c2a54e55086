"""One intermediate model of a machine, from which everything else is made.

``build`` flattens a ``Machine`` into nodes (every state, composite or leaf,
by its dotted id) and edges (one per declared transition and source).  The
``transitions`` machine, the runtime table, validation, the diagrams and the
role table all read this model; none re-derives the machine its own way.

``build`` never raises on a broken definition: validation reports the defects.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator

import attrs

from .dsl import RETURN, SEP, STAY, Machine, State, Transition


@attrs.frozen
class Node:
    id: str
    zh: str
    en: str
    parent: str | None
    final: bool
    children: tuple[str, ...]
    initial: str | None

    @property
    def leaf(self) -> bool:
        return not self.children

    @property
    def name(self) -> str:
        return self.id.rsplit(SEP, 1)[-1]


@attrs.frozen
class Edge:
    """One declared transition from one source.  ``target`` may be ``STAY`` or ``RETURN``."""

    event: str
    source: str
    target: str
    roles: tuple[str, ...]
    guards: tuple[str, ...]
    when: str | None
    then: tuple[str, ...]
    #: Position of the declaring transition in the machine file (order decides among branches).
    order: int
    #: For a ``RETURN``: the remembered states it may go back to (empty: the machine's whole history).
    returns: tuple[str, ...] = ()

    @property
    def stays(self) -> bool:
        return self.target == STAY


@attrs.frozen
class Graph:
    machine: Machine
    nodes: dict[str, Node]
    edges: tuple[Edge, ...]
    #: Edges as the runtime sees them: a ``RETURN`` becomes one branch per remembered state.
    branches: tuple[Edge, ...]
    by_source: dict[tuple[str, str], tuple[Edge, ...]]
    duplicates: tuple[str, ...] = ()

    @property
    def id(self) -> str:
        return self.machine.id

    @property
    def initial(self) -> str:
        return self.resolve(self.machine.initial)

    def leaves(self) -> list[str]:
        return [n.id for n in self.nodes.values() if n.leaf]

    def finals(self) -> list[str]:
        return [n.id for n in self.nodes.values() if n.final]

    def leaves_under(self, state_id: str) -> list[str]:
        node = self.nodes.get(state_id)
        if node is None:
            return []
        if node.leaf:
            return [node.id]
        return [leaf for child in node.children for leaf in self.leaves_under(child)]

    def ancestry(self, state_id: str) -> list[str]:
        """``state_id`` then each enclosing composite, innermost first (the order events are tried in)."""
        chain: list[str] = []
        node = self.nodes.get(state_id)
        while node is not None:
            chain.append(node.id)
            node = self.nodes.get(node.parent) if node.parent else None
        return chain

    def resolve(self, state_id: str) -> str:
        """A composite target enters its initial child, down to a leaf."""
        node = self.nodes.get(state_id)
        while node is not None and not node.leaf:
            node = self.nodes.get(f"{node.id}{SEP}{node.initial}" if node.initial else node.children[0])
        return node.id if node is not None else state_id

    def candidates(self, leaf: str, event: str) -> list[Edge]:
        """Branches of ``event`` that apply in ``leaf``: its own first, then its parents'."""
        return [e for scope in self.ancestry(leaf) for e in self.by_source.get((scope, event), ())]

    def successors(self, leaf: str) -> Iterator[tuple[Edge, str]]:
        for event in self.machine.events:
            for edge in self.candidates(leaf, event):
                yield edge, leaf if edge.stays else self.resolve(edge.target)

    def reachable(self) -> set[str]:
        """Leaves reachable from the initial state: a breadth-first walk."""
        start = self.initial
        seen, queue = {start}, deque([start])
        while queue:
            for _, target in self.successors(queue.popleft()):
                if target not in seen and target in self.nodes:
                    seen.add(target)
                    queue.append(target)
        return seen


def _walk(states: tuple[State, ...], parent: str | None) -> Iterator[Node]:
    for state in states:
        sid = f"{parent}{SEP}{state.id}" if parent else state.id
        yield Node(
            sid, state.zh, state.en, parent, state.final,
            tuple(f"{sid}{SEP}{c.id}" for c in state.children), state.initial,
        )
        yield from _walk(state.children, sid)


def _edges(transitions: tuple[Transition, ...]) -> Iterator[Edge]:
    for order, t in enumerate(transitions):
        for source in t.sources:
            yield Edge(t.event, source, t.target, t.roles, t.guards, t.when, t.then, order, t.returns)


def _expand_returns(edges: tuple[Edge, ...], history: tuple[str, ...]) -> tuple[Edge, ...]:
    out: list[Edge] = []
    for edge in edges:
        if edge.target != RETURN:
            out.append(edge)
        else:
            back = edge.returns or history
            out += [attrs.evolve(edge, target=state, when=f"returns_to:{state}") for state in back]
    return tuple(out)


def build(machine: Machine) -> Graph:
    nodes: dict[str, Node] = {}
    duplicates: list[str] = []
    for node in _walk(machine.states, None):
        if node.id in nodes:
            duplicates.append(node.id)
        nodes[node.id] = node
    edges = tuple(_edges(machine.transitions))
    branches = _expand_returns(edges, machine.history)
    by_source: dict[tuple[str, str], list[Edge]] = {}
    for edge in branches:
        by_source.setdefault((edge.source, edge.event), []).append(edge)
    frozen = {key: tuple(value) for key, value in by_source.items()}
    return Graph(machine, nodes, edges, branches, frozen, tuple(duplicates))
