"""The diagrams in docs/ are drawn from the definitions, are current, and are well formed.

A stale diagram is worse than none: a provincial officer reading docs/ would
trust a flow the engine no longer runs.  So the committed files are
regenerated here and compared byte for byte.  The Mermaid and DOT texts are
also checked structurally (no Mermaid or Graphviz binary is needed, none is
installed in CI): every state id of SPEC §2 appears, nesting is drawn as
composite states, and every edge joins declared nodes.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from renew_fsm.cli.machines import diagram_files
from renew_fsm.machines import MACHINES
from renew_fsm.machines.graph import build

from .run_cli import ROOT, renew_fsm

DIAGRAMS = ROOT / "docs" / "diagrams"
REGENERATE = "run `renew-fsm diagram --all --out docs/diagrams` and commit docs/diagrams/"

#: Every state id of SPEC §2, literally: the public ids the diagram must show.
SPEC_STATES = (
    "not_enrolled",
    "enrolled",
    "info_submitted",
    "info_approved",
    "registered",
    "simple.submitted",
    "simple.institution_approved",
    "simple.testing",
    "simple.exemption.applied",
    "simple.exemption.institution_approved",
    "simple.awaiting_grade",
    "general.submitted",
    "general.institution_approved",
    "general.testing",
    "general.exemption.applied",
    "general.exemption.institution_approved",
    "general.awaiting_grade",
    "deferral.requested",
    "deferral.institution_approved",
    "deferred",
    "qualified",
    "unqualified",
    "reexam.suspended",
    "reexam.listed",
    "reexam.awaiting_grade",
    "reexam_passed",
    "registration_cancelled",
)
#: The nesting levels of SPEC §2, drawn as composite states.
SPEC_COMPOSITES = ("simple", "general", "simple.exemption", "general.exemption", "deferral", "reexam")


# -- freshness ----------------------------------------------------------------------------------


def test_committed_diagrams_are_current() -> None:
    expected = diagram_files(DIAGRAMS)
    missing = [p.name for p in expected if not p.is_file()]
    assert not missing, f"docs/diagrams/ lacks {', '.join(missing)}: {REGENERATE}"
    stale = [p.name for p, text in expected.items() if p.read_text(encoding="utf-8") != text]
    assert not stale, f"stale diagrams: {', '.join(stale)} no longer match the machine definitions: {REGENERATE}"


def test_no_diagram_of_a_machine_that_no_longer_exists() -> None:
    generated = {p.name for p in diagram_files(DIAGRAMS)}
    leftovers = sorted(
        p.name for p in DIAGRAMS.glob("*") if p.suffix in (".mmd", ".dot", ".md") and p.name not in generated
    )
    assert not leftovers, f"docs/diagrams/ holds files no machine generates: {', '.join(leftovers)}; delete them"


def test_every_machine_has_a_mermaid_and_a_dot_file_and_there_is_a_role_table() -> None:
    names = {p.name for p in diagram_files(Path("docs/diagrams"))}
    for machine_id in MACHINES:
        assert {f"{machine_id}.mmd", f"{machine_id}.dot"} <= names
    assert "roles.md" in names


# -- Mermaid ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def doctor_mermaid() -> str:
    result = renew_fsm("diagram", "doctor", "--format", "mermaid")
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_mermaid_is_a_state_diagram_with_every_spec_state(doctor_mermaid: str) -> None:
    lines = doctor_mermaid.splitlines()
    assert "stateDiagram-v2" in lines
    missing = [sid for sid in SPEC_STATES if not re.search(rf"(?<![\w.]){re.escape(sid)}(?![\w.])", doctor_mermaid)]
    assert not missing, f"states of SPEC §2 missing from the diagram: {missing}"


def test_mermaid_draws_nesting_as_composite_states(doctor_mermaid: str) -> None:
    for composite in SPEC_COMPOSITES:
        assert f"state {composite.replace('.', '__')} {{" in doctor_mermaid, composite
    assert "state simple {" in doctor_mermaid
    # An exemption is drawn inside its program, not beside it.
    simple = doctor_mermaid.index("state simple {")
    assert simple < doctor_mermaid.index("state simple__exemption {") < doctor_mermaid.index("state general {")


def mermaid_structure(text: str) -> tuple[set[str], list[tuple[str, str]], int]:
    """Declared state ids, transitions (from, to), and the brace depth at the end."""
    declared: set[str] = {"[*]"}
    edges: list[tuple[str, str]] = []
    depth = 0
    for raw in text.splitlines():
        line = raw.strip()
        if m := re.fullmatch(r"state (\S+) \{", line):
            declared.add(m.group(1))
            depth += 1
        elif line == "}":
            depth -= 1
            assert depth >= 0, "a '}' closes no composite state"
        elif m := re.fullmatch(r"(\S+) --> (\S+)(?: : .*)?", line):
            edges.append((m.group(1), m.group(2)))
        elif m := re.fullmatch(r"(\w+) : .+", line):
            declared.add(m.group(1))
    return declared, edges, depth


@pytest.mark.parametrize("machine_id", sorted(MACHINES))
def test_mermaid_edges_join_declared_states(machine_id: str) -> None:
    result = renew_fsm("diagram", machine_id, "--format", "mermaid")
    declared, edges, depth = mermaid_structure(result.stdout)
    assert depth == 0, "unbalanced composite states"
    graph = build(MACHINES[machine_id])
    assert len(edges) > len(graph.finals()), "no transitions drawn"
    dangling = [(a, b) for a, b in edges if a not in declared or b not in declared]
    assert not dangling, f"transitions to undeclared states: {dangling[:5]}"
    # Every state of the machine is declared, so every one is drawn.
    assert {n.replace(".", "__") for n in graph.nodes} <= declared


# -- Graphviz DOT -------------------------------------------------------------------------------

TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|->|[{}\[\];=,]|[A-Za-z_][\w.]*|-?\d+(?:\.\d+)?|\S')


def dot_structure(text: str) -> tuple[set[str], set[str], list[tuple[str, str]]]:
    """Nodes declared with attributes, clusters, and edges — from a token walk of the DOT text.

    Fails on unbalanced braces or brackets (outside quoted strings, where they are text).
    """
    tokens = TOKEN.findall(text)
    nodes: set[str] = set()
    clusters: set[str] = set()
    edges: list[tuple[str, str]] = []
    stack: list[str] = []
    pairs = {"}": "{", "]": "["}
    for i, tok in enumerate(tokens):
        if tok in "{[" and len(tok) == 1:
            stack.append(tok)
        elif tok in pairs:
            assert stack and stack.pop() == pairs[tok], f"unbalanced {tok!r} at token {i}"
        elif tok == "->":
            edges.append((tokens[i - 1].strip('"'), tokens[i + 1].strip('"')))
        elif tok == "subgraph":
            clusters.add(tokens[i + 1].strip('"'))
        elif tok.startswith('"') and tokens[i + 1 : i + 2] == ["["] and tokens[i - 1] in ("{", ";", "}"):
            nodes.add(tok.strip('"'))
    assert not stack, f"unclosed {stack}"
    return nodes, clusters, edges


@pytest.mark.parametrize("machine_id", sorted(MACHINES))
def test_dot_parses_with_every_state_and_edges_between_declared_nodes(machine_id: str) -> None:
    result = renew_fsm("diagram", machine_id, "--format", "dot")
    assert result.returncode == 0, result.stderr
    text = result.stdout
    assert text.startswith(f'digraph "{machine_id}" {{')
    nodes, clusters, edges = dot_structure(text)
    graph = build(MACHINES[machine_id])
    assert set(graph.leaves()) <= nodes, f"states not drawn: {set(graph.leaves()) - nodes}"
    composites = {f"cluster_{n.id}" for n in graph.nodes.values() if not n.leaf}
    assert composites == clusters
    dangling = [(a, b) for a, b in edges if a not in nodes or b not in nodes]
    assert not dangling, f"edges to undeclared nodes: {dangling[:5]}"
    assert len(edges) > len(graph.leaves()) // 2


def test_doctor_dot_has_every_spec_state_and_composite() -> None:
    nodes, clusters, _ = dot_structure(renew_fsm("diagram", "doctor", "--format", "dot").stdout)
    assert set(SPEC_STATES) <= nodes, f"missing: {set(SPEC_STATES) - nodes}"
    assert {f"cluster_{c}" for c in SPEC_COMPOSITES} <= clusters


def test_dot_structure_check_rejects_broken_text() -> None:
    """The structural check can fail: a missing brace or an edge to nowhere is caught."""
    good = 'digraph "x" {\n    "a" [label="a {"];\n    "b" [label="b"];\n    "a" -> "b";\n}\n'
    nodes, _, edges = dot_structure(good)
    assert nodes == {"a", "b"} and edges == [("a", "b")]
    with pytest.raises(AssertionError, match="unclosed"):
        dot_structure(good[: good.rindex("}")])
    nodes, _, edges = dot_structure(good.replace('-> "b"', '-> "c"'))
    assert [(a, b) for a, b in edges if b not in nodes] == [("a", "c")]


# -- the role table -----------------------------------------------------------------------------


def test_role_table_names_every_event_in_both_languages() -> None:
    table = diagram_files(DIAGRAMS)[DIAGRAMS / "roles.md"]
    for machine in MACHINES.values():
        for name, event in machine.events.items():
            row = next((line for line in table.splitlines() if line.startswith(f"| `{name}` |")), None)
            assert row is not None, f"{name} has no row"
            assert event.zh in row and event.en in row
    # confirm_reexam is the province's alone (SPEC §1): marked as such, not as any admin's.
    confirm = next(line for line in table.splitlines() if line.startswith("| `confirm_reexam` |"))
    assert "✓省" in confirm
