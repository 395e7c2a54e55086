"""Diagrams and tables drawn from the graph model — text only, no system binary.

Edges that share a source and target are drawn once with all their events;
a ``RETURN`` is drawn to a history pseudo-state ``H``.  Output is deterministic
so the committed files in docs/ can be compared with a fresh rendering.
"""

from __future__ import annotations

from collections import defaultdict

from .dsl import RETURN, SEP
from .graph import Edge, Graph
from .vocabulary import ROLES

PROVINCE = "admin:province"


def _label(edge: Edge) -> str:
    roles = ",".join(r.replace(PROVINCE, "admin(province)") for r in edge.roles)
    return f"{edge.event} [{roles}]" + (f" ({edge.when})" if edge.when else "")


def _grouped(graph: Graph) -> dict[tuple[str, str], list[str]]:
    """(source, target) → labels, in declaration order; ``STAY`` loops back to the source."""
    out: dict[tuple[str, str], list[str]] = defaultdict(list)
    for edge in graph.edges:
        target = edge.source if edge.stays else edge.target
        label = _label(edge)
        if label not in out[(edge.source, target)]:
            out[(edge.source, target)].append(label)
    return out


def _history_id(graph: Graph) -> str:
    return f"{graph.id}_history"


# --- Mermaid ---------------------------------------------------------------------------

def _mid(state_id: str) -> str:
    return state_id.replace(SEP, "__")


def _mermaid_state(graph: Graph, sid: str, indent: str, lines: list[str]) -> None:
    node = graph.nodes[sid]
    if node.leaf:
        lines.append(f"{indent}{_mid(sid)} : {sid}<br/>{node.zh}")
        return
    lines.append(f"{indent}state {_mid(sid)} {{")
    initial = graph.resolve(sid)
    first_child = next(c for c in node.children if initial == c or initial.startswith(c + SEP))
    lines.append(f"{indent}    [*] --> {_mid(first_child)}")
    for child in node.children:
        _mermaid_state(graph, child, indent + "    ", lines)
    lines.append(f"{indent}}}")
    lines.append(f"{indent}{_mid(sid)} : {sid} {node.zh}")


def mermaid(graph: Graph) -> str:
    lines = [
        "---",
        f"title: {graph.machine.zh} ({graph.id})",
        "---",
        "stateDiagram-v2",
        f"    [*] --> {_mid(graph.machine.initial)}",
    ]
    for node in graph.nodes.values():
        if node.parent is None:
            _mermaid_state(graph, node.id, "    ", lines)
    if graph.machine.history:
        lines.append(f"    {_history_id(graph)} : H 返回先前的状态 (the state held before)")
    for (source, target), labels in _grouped(graph).items():
        dest = _history_id(graph) if target == RETURN else _mid(target)
        lines.append(f"    {_mid(source)} --> {dest} : {' / '.join(labels)}")
    for final in graph.finals():
        lines.append(f"    {_mid(final)} --> [*]")
    return "\n".join(lines) + "\n"


# --- Graphviz DOT ----------------------------------------------------------------------

def _q(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _dot_state(graph: Graph, sid: str, indent: str, lines: list[str]) -> None:
    node = graph.nodes[sid]
    if node.leaf:
        shape = "doublecircle" if node.final else "box"
        lines.append(f"{indent}{_q(sid)} [label={_q(sid + chr(10) + node.zh)}, shape={shape}, style=rounded];")
        return
    lines.append(f"{indent}subgraph {_q('cluster_' + sid)} {{")
    lines.append(f"{indent}    label={_q(sid + ' ' + node.zh)};")
    for child in node.children:
        _dot_state(graph, child, indent + "    ", lines)
    lines.append(f"{indent}}}")


def dot(graph: Graph) -> str:
    lines = [
        f"digraph {_q(graph.id)} {{",
        "    compound=true;",
        "    rankdir=LR;",
        f"    label={_q(graph.machine.zh + ' (' + graph.id + ')')};",
        '    node [fontname="Noto Sans CJK SC"];',
        '    edge [fontname="Noto Sans CJK SC", fontsize=9];',
        '    "__start" [shape=point];',
    ]
    for node in graph.nodes.values():
        if node.parent is None:
            _dot_state(graph, node.id, "    ", lines)
    if graph.machine.history:
        lines.append(f"    {_q(_history_id(graph))} [label=\"H\", shape=circle];")
    lines.append(f"    \"__start\" -> {_q(graph.initial)};")
    for (source, target), labels in _grouped(graph).items():
        attrs = [f"label={_q(chr(10).join(labels))}"]
        tail = source
        if not graph.nodes[source].leaf:
            tail = graph.resolve(source)
            attrs.append(f"ltail={_q('cluster_' + source)}")
        head = _history_id(graph) if target == RETURN else graph.resolve(target)
        lines.append(f"    {_q(tail)} -> {_q(head)} [{', '.join(attrs)}];")
    lines.append("}")
    return "\n".join(lines) + "\n"


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
