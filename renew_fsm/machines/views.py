"""What a diagram shows: the views of a machine a person can read, built from the graph model.

A machine as big as the doctor's cycle cannot be read in one picture with every
state and every transition, so it is drawn as several views of one model:

- an **overview** with each compound state (and each *group*, such as 报名) collapsed
  into one box that links to its own view;
- one **view per compound state**, its states drawn open and every state it touches
  outside drawn as a small dashed stub.

In every view a transition declared from every state of a frame is drawn once, from
the frame (from nearly every state: once, with the exception named); one declared from
many places in no common frame is drawn once from a box that lists them; a transition
that stays in its state is written inside the box (↻) instead of looping back.  Labels
are Chinese with the role as a short tag; the English ids ride along for tooltips and
the legend.  ``render`` (Mermaid, DOT) and ``svg`` are short renderers over ``Diagram``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import attrs

from .doctor import REGISTRATION
from .dsl import RETURN, Machine
from .graph import Edge, Graph
from .vocabulary import ROLES


#: Groups of top-level states a machine file does not nest but a reader thinks of as one step.
#: ``collapse``: drawn as one box in the overview (with a view of its own); otherwise only as
#: a frame that transitions leaving all of it are drawn from.  Members must share a parent.
@attrs.frozen
class Group:
    id: str
    zh: str
    en: str
    members: tuple[str, ...]
    collapse: bool = True


GROUPS: dict[str, tuple[Group, ...]] = {
    "doctor": (
        Group("registration", "报名", "registration", REGISTRATION),
        Group(
            "in_progress", "考核进行中", "the assessment under way",
            ("registration", "simple", "general"), collapse=False,
        ),
    ),
}

#: Roles as the short tag on an edge (the full names are in the legend).
ROLE_TAGS: dict[str, str] = {
    "doctor": "医师",
    "institution": "机构",
    "agency": "考核机构",
    "admin": "行政",
    "admin:province": "省级行政",
    "exam_system": "测评",
    "system": "系统",
    "account": "本人",
}

START = "__start"
MANY_PREFIX = "many:"
HISTORY = "__history"
#: From this many sources on (after frames are taken), a transition is drawn from one box listing them
#: (an event that stays in its state: written once in a box listing them).
MANY = 4
MANY_STAYS = 3
#: A frame of at least this many members lends its name to a transition from all but one of them.
EXCEPT_FROM = 4


def role_tag(role: str) -> str:
    return ROLE_TAGS.get(role) or ROLES.get(role, (role,))[0]


@attrs.frozen
class Label:
    """One event on an arrow (or inside a box, when it stays)."""

    event: str
    zh: str
    en: str
    roles: tuple[str, ...]
    #: "除…外": the frame's one state this transition does not leave.
    note: str = ""
    #: The declared transitions (one per source) this label draws.
    edges: tuple[Edge, ...] = ()
    #: With a doctor's history: the numbers of the steps that took it.
    steps: tuple[int, ...] = ()

    @property
    def tag(self) -> str:
        return "/".join(dict.fromkeys(role_tag(r) for r in self.roles))

    @property
    def text(self) -> str:
        steps = "".join(circled(n) for n in self.steps)
        note = f"（{self.note}）" if self.note else ""
        return f"{steps + ' ' if steps else ''}{self.zh} · {self.tag}{note}"

    @property
    def tooltip(self) -> str:
        whens = sorted({e.when for e in self.edges if e.when})
        guards = sorted({g for e in self.edges for g in e.guards})
        parts = [f"{self.event} — {self.en}", "roles: " + ", ".join(self.roles)]
        if guards:
            parts.append("guards: " + ", ".join(guards))
        if whens:
            parts.append("when: " + ", ".join(whens))
        return "; ".join(parts)


def circled(n: int) -> str:
    return chr(0x2460 + n - 1) if 1 <= n <= 20 else f"({n})"


@attrs.frozen
class Box:
    """A drawn node: a state, a collapsed compound, a stub of a state outside the view, …"""

    id: str
    zh: str
    en: str
    #: state | final | compound | outside | start | history | many
    kind: str
    #: The frame it is drawn in (``None``: the top of the drawing).
    frame: str | None = None
    #: Events that stay in this state (or, for a ``many`` box without arrows, in the states it lists).
    loops: tuple[Label, ...] = ()
    #: The view this box opens (a compound's), as a file stem.
    link: str | None = None
    current: bool = False
    visited: bool = False


@attrs.frozen
class Frame:
    """A compound state or a group drawn open, around its members."""

    id: str
    zh: str
    en: str
    parent: str | None
    loops: tuple[Label, ...] = ()
    current: bool = False


@attrs.frozen
class Arrow:
    source: str
    target: str
    labels: tuple[Label, ...]

    @property
    def taken(self) -> bool:
        return any(label.steps for label in self.labels)


@attrs.frozen
class Diagram:
    #: The file stem: ``doctor`` for the overview, ``doctor.simple`` for a view.
    id: str
    machine: str
    zh: str
    en: str
    boxes: tuple[Box, ...]
    frames: tuple[Frame, ...]
    arrows: tuple[Arrow, ...]

    def box(self, box_id: str) -> Box | None:
        return next((b for b in self.boxes if b.id == box_id), None)

    def labels(self) -> list[Label]:
        """Every label drawn, arrows first then loops, in drawing order."""
        out = [label for a in self.arrows for label in a.labels]
        out += [label for b in self.boxes for label in b.loops]
        out += [label for f in self.frames for label in f.loops]
        return out


# --- the tree a view collapses: the machine's nesting plus its groups ---------------------------


@attrs.frozen
class Tree:
    graph: Graph
    parent: dict[str, str | None]
    children: dict[str | None, tuple[str, ...]]
    names: dict[str, tuple[str, str]]
    #: Compound states and collapsing groups: the boxes of an overview that have views.
    collapsible: frozenset[str]

    def leaves_under(self, item: str) -> list[str]:
        kids = self.children.get(item, ())
        return [leaf for kid in kids for leaf in self.leaves_under(kid)] if kids else [item]

    def chain(self, item: str) -> list[str]:
        """``item``'s enclosing items, outermost first, then ``item``."""
        out = [item]
        while (up := self.parent.get(out[-1])) is not None:
            out.append(up)
        return out[::-1]

    def within(self, item: str, scope: str) -> bool:
        return scope in self.chain(item)

    def descendants(self, item: str) -> list[str]:
        return [d for kid in self.children.get(item, ()) for d in (kid, *self.descendants(kid))]


def tree(graph: Graph) -> Tree:
    parent: dict[str, str | None] = {n.id: n.parent for n in graph.nodes.values()}
    names = {n.id: (n.zh, n.en) for n in graph.nodes.values()}
    collapsible = {n.id for n in graph.nodes.values() if not n.leaf}
    position = {n: i for i, n in enumerate(graph.nodes)}
    for group in GROUPS.get(graph.id, ()):
        members = [m for m in group.members if m in parent]
        # A group that no longer fits the machine (a member gone, members under different parents,
        # its id taken by a state) is left out rather than drawn wrong.
        if len(members) < 2 or group.id in parent or len({parent[m] for m in members}) != 1:
            continue
        parent[group.id] = parent[members[0]]
        names[group.id] = (group.zh, group.en)
        position[group.id] = min(position[m] for m in members)
        for m in members:
            parent[m] = group.id
        if group.collapse:
            collapsible.add(group.id)
    children: dict[str | None, list[str]] = {}
    for item in sorted(parent, key=position.__getitem__):
        children.setdefault(parent[item], []).append(item)
    return Tree(graph, parent, {k: tuple(v) for k, v in children.items()}, names, frozenset(collapsible))


# --- building a view ----------------------------------------------------------------------------


def overview(graph: Graph) -> Diagram:
    t = tree(graph)
    return _build(t, graph.id, _always_open(t), scope=None, title=("概览", "overview"))


def view_of(graph: Graph, compound: str) -> Diagram:
    """``compound``'s own view: it and everything nested in it open, its neighbours as stubs."""
    t = tree(graph)
    if compound not in t.collapsible:
        raise ValueError(f"{graph.id} has no compound state or group {compound!r}")
    expanded = {compound, *(d for d in t.descendants(compound) if d in t.children)} | _always_open(t)
    return _build(t, f"{graph.id}.{compound}", expanded, scope=compound, title=t.names[compound])


def views(graph: Graph) -> list[Diagram]:
    """The overview, then a view of each box it collapsed (a small flat machine has the overview only)."""
    first = overview(graph)
    return [first, *(view_of(graph, b.id) for b in first.boxes if b.kind == "compound")]


def traced(graph: Graph, current: str, path: Sequence[tuple[str, str, str]]) -> Diagram:
    """The overview with every compound the path went through open, the steps numbered.

    ``path``: (event, from state, to state) per step, oldest first — a doctor's history.
    """
    t = tree(graph)
    seen = {current, *(s for _, a, b in path for s in (a, b))}
    expanded = {a for s in seen if s in t.parent for a in t.chain(s)[:-1]} | _always_open(t)
    diagram = _build(t, f"{graph.id}.trace", expanded, scope=None, title=("路径", "path"))
    return _mark(t, diagram, current, path)


def _always_open(t: Tree) -> set[str]:
    return {item for item in t.children if item is not None and item not in t.collapsible}


def _build(t: Tree, view_id: str, expanded: set[str], scope: str | None, title: tuple[str, str]) -> Diagram:
    graph = t.graph
    machine: Machine = graph.machine

    def unit(leaf: str) -> str:
        for item in t.chain(leaf)[:-1]:
            if item not in expanded:
                return item
        return leaf

    def inside(item: str) -> bool:
        return scope is None or t.within(item, scope)

    def frame_of(item: str) -> str | None:
        up = t.parent.get(item)
        while up is not None and not (up in expanded and inside(up)):
            up = t.parent.get(up)
        return up

    boxes: dict[str, Box] = {}
    frames: dict[str, Frame] = {}

    def add_box(item: str) -> str:
        if item in boxes:
            return item
        zh = t.names.get(item, (item,))[0]
        node = graph.nodes.get(item)
        if item == HISTORY:
            box = Box(HISTORY, "H 返回先前的状态", "the state held before (history)", "history")
        elif not inside(item):
            box = Box(item, zh, item, "outside", link=_link(t, graph.id, item))
        elif item in t.collapsible and item not in expanded:
            box = Box(item, zh, item, "compound", frame_of(item), link=_link(t, graph.id, item))
        else:
            box = Box(item, zh, item, "final" if node is not None and node.final else "state", frame_of(item))
        boxes[item] = box
        up = box.frame
        while up is not None and up not in frames:
            frames[up] = Frame(up, *t.names[up], frame_of(up))
            up = frames[up].parent
        return item

    if scope is None:
        boxes[START] = Box(START, "开始", "start", "start")
    # Every state inside the view is drawn, touched by a transition or not.
    for leaf in graph.leaves():
        if inside(leaf):
            add_box(unit(leaf))

    arrows: dict[tuple[str, str], list[Label]] = {}
    loops: dict[str, list[Label]] = {}
    for declared in _declared(graph):
        first = declared[0]
        event = machine.events.get(first.event)
        zh, en = (event.zh, event.en) if event else (first.event, first.event)
        if first.stays:
            target = None
        elif first.target == RETURN:
            target = HISTORY
        else:
            target = unit(graph.resolve(first.target))
        sources = {
            unit(leaf): None for e in declared for leaf in graph.leaves_under(e.source)
        }
        if target is not None and target in t.collapsible and target not in expanded:
            sources.pop(target, None)  # a step inside a collapsed box is drawn in its own view
        if target is None:  # a stay inside a collapsed box is drawn in its own view too
            sources = {s: None for s in sources if inside(s) and not (s in t.collapsible and s not in expanded)}
        elif target == HISTORY or not inside(target):
            sources = {s: None for s in sources if inside(s)}
        if not sources:
            continue
        cover, note = _cover(list(sources), boxes, frames, t)
        if target is not None and inside(target):
            cover = _outside_groups(cover, t, inside)
        label = Label(first.event, zh, en, first.roles, note, tuple(declared))
        if len(cover) >= (MANY if target is not None else MANY_STAYS):
            listed = "".join(f"「{_name(t, c)}」" for c in cover)
            many = MANY_PREFIX + "+".join(cover)
            if many not in boxes:
                boxes[many] = Box(many, ("在 " if target is None else "自 ") + listed, " ".join(cover), "many")
            cover = [many]
        for c in cover:
            if c not in frames:
                add_box(c)
        if target is None:
            for c in cover:
                loops.setdefault(c, []).append(label)
            continue
        add_box(target)
        for c in cover:
            if c == target and c in t.collapsible and c not in expanded:
                continue
            if c == target:  # back into the same state: written inside it, like a stay
                loops.setdefault(c, []).append(label)
                continue
            merged = arrows.setdefault((c, target), [])
            if not any(x.event == label.event and x.note == label.note for x in merged):
                merged.append(label)
            else:
                i = next(i for i, x in enumerate(merged) if x.event == label.event and x.note == label.note)
                merged[i] = attrs.evolve(merged[i], edges=merged[i].edges + label.edges)
    if scope is None:
        arrows = {(START, unit(graph.initial)): [], **arrows}
    for key in list(loops):
        if key in frames:
            frames[key] = attrs.evolve(frames[key], loops=tuple(loops.pop(key)))
    # A view is read from where it is entered: the start, or the states outside that lead into it.
    entries = {s for s, d in arrows if boxes.get(s) is not None and boxes[s].kind == "outside"
               and (d in frames or (d in boxes and boxes[d].kind != "outside"))}
    drawn = tuple(
        attrs.evolve(b, loops=tuple(loops.get(b.id, ())))
        for b in sorted(boxes.values(), key=lambda b: b.id != START and b.id not in entries)
    )
    zh, en = title
    return Diagram(
        view_id, graph.id, f"{machine.zh} · {zh}", f"{machine.en} — {en} ({view_id})",
        drawn, tuple(frames.values()), tuple(Arrow(s, d, tuple(ls)) for (s, d), ls in arrows.items()),
    )


def _outside_groups(sources: list[str], t: Tree, inside: Callable[[str], bool]) -> list[str]:
    """Stubs outside the view that fill a group which is never collapsed, drawn as that group's stub."""
    out = list(sources)
    for group in t.children:
        if group is None or group in t.collapsible or inside(group):
            continue
        kids = t.children[group]
        if len(kids) > 1 and all(k in out for k in kids):
            out = [group if c == kids[0] else c for c in out if c not in kids[1:]]
    return out


def _declared(graph: Graph) -> list[list[Edge]]:
    """The declared transitions, each with its edges (one per source), in declaration order."""
    out: dict[int, list[Edge]] = {}
    for edge in graph.edges:
        out.setdefault(edge.order, []).append(edge)
    return list(out.values())


def _name(t: Tree, item: str) -> str:
    return t.names.get(item, (item,))[0]


def _link(t: Tree, machine: str, item: str) -> str | None:
    top = next((a for a in t.chain(item) if a in t.collapsible), None)
    return f"{machine}.{top}" if top is not None else None


def _cover(
    sources: list[str], boxes: dict[str, Box], frames: dict[str, Frame], t: Tree
) -> tuple[list[str], str]:
    """The sources with every frame they fill replaced by the frame, innermost frames first."""
    chosen = list(sources)
    note = ""
    members: dict[str, list[str]] = {}
    for item in [*boxes.values(), *frames.values()]:
        up = item.frame if isinstance(item, Box) else item.parent
        if up is not None and item.id not in (START, HISTORY):
            members.setdefault(up, []).append(item.id)
    for frame in sorted(frames, key=lambda f: -len(t.chain(f))):
        inner = members.get(frame, [])
        missing = [m for m in inner if m not in chosen]
        if len(inner) > 1 and not missing:  # (a frame around one state: drawn from the state)
            chosen = [frame if c == inner[0] else c for c in chosen if c not in inner[1:]]
        elif (
            not note and len(inner) >= EXCEPT_FROM and len(missing) == 1
            and missing[0] in boxes and boxes[missing[0]].kind != "outside"
        ):
            keep = next(c for c in chosen if c in inner)
            chosen = [frame if c == keep else c for c in chosen if c not in inner or c == keep]
            note = f"除「{boxes[missing[0]].zh}」"
    return chosen, note


# --- a doctor's path ----------------------------------------------------------------------------


def listed(holder: str) -> list[str]:
    """The boxes and frames an arrow drawn from ``holder`` leaves: itself, or those a ``many`` box lists."""
    return holder[len(MANY_PREFIX):].split("+") if holder.startswith(MANY_PREFIX) else [holder]


def _mark(t: Tree, diagram: Diagram, current: str, path: Sequence[tuple[str, str, str]]) -> Diagram:
    graph = t.graph
    ids = {b.id for b in diagram.boxes}

    def drawn(state: str) -> str:
        return next((a for a in t.chain(state) if a in ids), state)

    def matches(label: Label, event: str, source: str) -> bool:
        ancestry = graph.ancestry(source)
        return label.event == event and any(e.source in ancestry for e in label.edges)

    def holds(holder: str, source: str) -> bool:
        """Whether an arrow drawn from ``holder`` leaves ``source`` (its box, a frame around it, a list naming it)."""
        return bool(set(t.chain(source)) & set(listed(holder)))

    steps: dict[tuple[str, int], list[int]] = {}  # (arrow or box id, label index) → step numbers
    visited: set[str] = set()
    for n, (event, source, target) in enumerate(path, 1):
        visited |= {drawn(source), drawn(target)}
        if source == target:
            holder = next(
                (h for h in [*(b for b in diagram.boxes if b.loops), *(f for f in diagram.frames if f.loops)]
                 for label in h.loops if matches(label, event, source) and holds(h.id, source)),
                None,
            )
            if holder is not None:
                i = next(i for i, lb in enumerate(holder.loops) if matches(lb, event, source))
                steps.setdefault((holder.id, i), []).append(n)
            continue
        # The arrow to the state it reached, else the one back to where it was (``H``).
        found = next(
            (
                (a_index, i)
                for to in (drawn(target), HISTORY)
                for a_index, arrow in enumerate(diagram.arrows) if arrow.target == to and holds(arrow.source, source)
                for i, lb in enumerate(arrow.labels) if matches(lb, event, source)
            ),
            None,
        )
        if found is not None:
            steps.setdefault((f"arrow:{found[0]}", found[1]), []).append(n)

    def numbered(holder: str, labels: Iterable[Label]) -> tuple[Label, ...]:
        return tuple(attrs.evolve(lb, steps=tuple(steps.get((holder, i), ()))) for i, lb in enumerate(labels))

    here = drawn(current)
    boxes = tuple(
        attrs.evolve(b, loops=numbered(b.id, b.loops), current=b.id == here, visited=b.id in visited)
        for b in diagram.boxes
    )
    frames = tuple(
        attrs.evolve(f, loops=numbered(f.id, f.loops), current=f.id in t.chain(current)) for f in diagram.frames
    )
    arrows = tuple(
        attrs.evolve(a, labels=numbered(f"arrow:{i}", a.labels)) for i, a in enumerate(diagram.arrows)
    )
    return attrs.evolve(diagram, boxes=boxes, frames=frames, arrows=arrows)
