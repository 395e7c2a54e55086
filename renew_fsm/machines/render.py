"""Mermaid and DOT text of a ``Diagram``, and the role table — text only, no system binary.

Each renderer is a short walk over the view model of ``views``: boxes, the frames
they sit in, arrows with their labels.  Output is deterministic so the committed
files in docs/ can be compared with a fresh rendering.
"""

from __future__ import annotations

import re

from .graph import Graph
from .views import MANY_PREFIX, START, Box, Diagram, Label, role_tag
from .vocabulary import ROLES

PROVINCE = "admin:province"


def legend(diagram: Diagram) -> list[tuple[str, str]]:
    """(中文, event id) for every event the diagram draws, in drawing order."""
    return list({label.event: (label.zh, label.event) for label in diagram.labels()}.values())


def role_legend(diagram: Diagram) -> list[tuple[str, str, str]]:
    """(short tag, full Chinese name, role id) for every role on the diagram's labels."""
    roles = dict.fromkeys(r for label in diagram.labels() for r in label.roles)
    return [(role_tag(r), ROLES.get(r, (r,))[0], r) for r in roles]


# --- Mermaid ---------------------------------------------------------------------------

MERMAID_CLASSES = {
    "final": "stroke:#222,stroke-width:3px,font-weight:bold",
    "compound": "fill:#e8f0fe,stroke:#3d6bb3,stroke-width:2px",
    "outside": "fill:#fafafa,stroke:#999,stroke-dasharray:4 3,color:#666",
    "many": "fill:#fffdf0,stroke:#b8a040,stroke-dasharray:4 3",
    "history": "fill:#f4f4f4,stroke:#666",
    "visited": "fill:#fff4e0,stroke:#d46b08",
    "current": "fill:#ffd666,stroke:#d4380d,stroke-width:4px",
}


def _mermaid_text(text: str) -> str:
    # ';' ends a statement and '#' starts an entity: the full-width forms read the same.
    return text.replace(";", "；").replace("#", "＃").replace("\n", "<br/>")


def _mermaid_ids(diagram: Diagram) -> dict[str, str]:
    ids: dict[str, str] = {}
    for n, item in enumerate([*(b.id for b in diagram.boxes), *(f.id for f in diagram.frames)]):
        if item.startswith(MANY_PREFIX):
            ids[item] = f"many_{n}"
        else:
            ids[item] = re.sub(r"\W", "_", item.replace(".", "__"))
    return ids


def _describe(zh: str, en: str, loops: tuple[Label, ...], kind: str = "") -> str:
    lines = [zh, en] if en and kind not in ("many", "history") else [zh]
    lines += [f"↻ {label.text}" for label in loops]
    return _mermaid_text("<br/>".join(lines))


def mermaid(diagram: Diagram) -> str:
    ids = _mermaid_ids(diagram)
    lines = [
        "---",
        f"title: {diagram.zh} ({diagram.id})",
        "---",
        "stateDiagram-v2",
        "    direction TB",
    ]
    lines += [f"    classDef {name} {style}" for name, style in MERMAID_CLASSES.items()]

    def frame(frame_id: str | None, indent: str) -> None:
        for f in diagram.frames:
            if f.parent == frame_id:
                lines.append(f'{indent}state "{_describe(f.zh, f.id, f.loops)}" as {ids[f.id]} {{')
                frame(f.id, indent + "    ")
                lines.append(f"{indent}}}")
        for b in diagram.boxes:
            if b.frame == frame_id and b.id != START:
                lines.append(f'{indent}state "{_describe(b.zh, b.en, b.loops, b.kind)}" as {ids[b.id]}')

    frame(None, "    ")
    for arrow in diagram.arrows:
        source = "[*]" if arrow.source == START else ids[arrow.source]
        text = "<br/>".join(_mermaid_text(label.text) for label in arrow.labels)
        lines.append(f"    {source} --> {ids[arrow.target]}" + (f" : {text}" if text else ""))
    classes: dict[str, list[str]] = {}
    for b in diagram.boxes:
        name = "current" if b.current else "visited" if b.visited else b.kind
        if name in MERMAID_CLASSES:
            classes.setdefault(name, []).append(ids[b.id])
    lines += [f"    class {','.join(members)} {name}" for name, members in classes.items()]
    roles = "; ".join(f"{tag} = {zh} ({role})" for tag, zh, role in role_legend(diagram))
    lines.append(f"    %% 图例 legend — 角色 roles: {roles}")
    lines += [f"    %% {zh} = {event}" for zh, event in legend(diagram)]
    return "\n".join(lines) + "\n"


# --- Graphviz DOT ----------------------------------------------------------------------

FONT = "Noto Sans CJK SC"


def _q(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


DOT_STYLE = {
    "state": 'shape=box, style="rounded,filled", fillcolor=white',
    "final": 'shape=box, style="rounded,filled,bold", fillcolor=white, peripheries=2',
    "compound": 'shape=box, style="rounded,filled,bold", fillcolor="#e8f0fe", color="#3d6bb3"',
    "outside": 'shape=box, style="rounded,dashed", color="#999999", fontcolor="#666666", fontsize=10',
    "many": 'shape=note, style="filled,dashed", fillcolor="#fffdf0", color="#b8a040", fontsize=10',
    "history": 'shape=box, style="rounded,filled", fillcolor="#f4f4f4"',
    "start": 'shape=point, width=0.15, label=""',
}


def _dot_box(b: Box) -> str:
    style = DOT_STYLE[b.kind]
    if b.current:
        style += ', fillcolor="#ffd666", color="#d4380d", penwidth=3, style="rounded,filled,bold"'
    elif b.visited:
        style += ', fillcolor="#fff4e0", color="#d46b08", style="rounded,filled"'
    if b.kind == "start":
        return f"{_q(b.id)} [{style}];"
    lines = [b.zh] if b.kind in ("many", "history") else [b.zh, b.en]
    lines += [f"↻ {label.text}" for label in b.loops]
    tooltip = "; ".join([b.en, *(label.tooltip for label in b.loops)])
    link = f", URL={_q(b.link + '.svg')}" if b.link else ""
    return f"{_q(b.id)} [label={_q(chr(10).join(lines))}, tooltip={_q(tooltip)}{link}, {style}];"


def dot(diagram: Diagram) -> str:
    frames = {f.id: f for f in diagram.frames}
    lines = [
        f"digraph {_q(diagram.id)} {{",
        "    rankdir=TB;",
        "    compound=true;",
        "    newrank=true;",
        f"    label={_q(diagram.zh + chr(10) + diagram.en)};",
        "    labelloc=t;",
        f"    fontname={_q(FONT)};",
        f"    node [fontname={_q(FONT)}, fontsize=12];",
        f"    edge [fontname={_q(FONT)}, fontsize=10];",
    ]

    def anchor(frame_id: str) -> str:
        """A box drawn inside ``frame_id``: where an edge from the frame is tied (Graphviz needs a node)."""
        inner = [b.id for b in diagram.boxes if b.frame == frame_id]
        if inner:
            return inner[0]
        return anchor(next(f.id for f in diagram.frames if f.parent == frame_id))

    def frame(frame_id: str | None, indent: str) -> None:
        for f in diagram.frames:
            if f.parent == frame_id:
                label = "\n".join([f"{f.zh}  {f.id}", *(f"↻ {lb.text}" for lb in f.loops)])
                lines.append(f"{indent}subgraph {_q('cluster_' + f.id)} {{")
                lines.append(f"{indent}    label={_q(label)};")
                lines.append(f'{indent}    style="rounded{",bold" if f.current else ""}"; color="#3d6bb3";')
                frame(f.id, indent + "    ")
                lines.append(f"{indent}}}")
        lines.extend(f"{indent}{_dot_box(b)}" for b in diagram.boxes if b.frame == frame_id)

    frame(None, "    ")
    for arrow in diagram.arrows:
        attrs = []
        if arrow.labels:
            attrs.append(f"label={_q(chr(10).join(label.text for label in arrow.labels))}")
            attrs.append(f"tooltip={_q(' | '.join(label.tooltip for label in arrow.labels))}")
        tail, head = arrow.source, arrow.target
        if tail in frames:
            attrs.append(f"ltail={_q('cluster_' + tail)}")
            tail = anchor(tail)
        if arrow.taken:
            attrs.append('color="#d4380d", fontcolor="#d4380d", penwidth=2.5')
        lines.append(f"    {_q(tail)} -> {_q(head)}" + (f" [{', '.join(attrs)}];" if attrs else ";"))
    lines.append("}")
    return "\n".join(lines) + "\n"


# --- The index of docs/diagrams ------------------------------------------------------------

def index(diagrams: list[Diagram]) -> str:
    """A Markdown page showing every machine's overview and linking each of its views."""
    out = [
        "# 状态图 — state diagrams",
        "",
        "Generated by `renew-fsm diagram --all --out docs/diagrams` from the machine definitions;",
        "a test fails when a file here is stale.  Each picture is also here as Mermaid (`.mmd`) and",
        "Graphviz DOT (`.dot`).  A blue box is a compound state drawn in its own view; an arrow from a",
        "frame leaves every state in it; a yellow box lists the states one arrow leaves; ↻ marks an",
        "event that stays in its state; H goes back to the step held before; a dashed grey box is a",
        "state outside the view.  Labels are Chinese with the role as a short tag; the event ids are",
        "in each picture's legend and tooltips.  Who may fire each event: [roles.md](roles.md).",
        "`renew-fsm diagram --db URL --doctor D1` draws the path one doctor took and where it is.",
        "",
    ]
    for d in diagrams:
        if "." not in d.id:
            out += [f"## {d.zh.split(' · ')[0]} — `{d.machine}`", "", f"![{d.zh}]({d.id}.svg)", ""]
            views = [v for v in diagrams if v.machine == d.machine and v is not d]
            out += [f"- [{v.zh.split(' · ', 1)[1]} `{v.id}`]({v.id}.svg)" for v in views]
            out += [""] if views else []
    return "\n".join(out)


# --- Who may do what ---------------------------------------------------------------------

def role_table(graphs: list[Graph]) -> str:
    """A Markdown role × event table for every machine, in Chinese and English."""
    columns = [r for r in ROLES if r != PROVINCE]
    out = [
        "# 谁可以做什么 — who may do what",
        "",
        "Generated by `renew-fsm diagram --all --out docs/diagrams` from the machine definitions;",
        "a test fails when this file is stale.  ✓ may fire the event; ✓省 only a province-level",
        "admin; the states column lists where the event applies.",
        "",
    ]
    for graph in graphs:
        out += [f"## {graph.machine.zh} — {graph.machine.en} (`{graph.id}`)", ""]
        header = ["event", "事件", "English"] + [f"{ROLES[r][0]}<br/>`{r}`" for r in columns] + ["states 状态"]
        out.append("| " + " | ".join(header) + " |")
        out.append("|" + "---|" * len(header))
        for name, event in graph.machine.events.items():
            edges = [e for e in graph.edges if e.event == name]
            if not edges:
                continue
            roles = {r for e in edges for r in e.roles}
            cells = []
            for r in columns:
                if r in roles:
                    cells.append("✓")
                elif r == "admin" and PROVINCE in roles:
                    cells.append("✓省")
                else:
                    cells.append("")
            sources = ", ".join(dict.fromkeys(f"`{e.source}`" for e in edges))
            out.append("| " + " | ".join([f"`{name}`", event.zh, event.en, *cells, sources]) + " |")
        out.append("")
    return "\n".join(out)
