"""The diagrams in docs/ are drawn from the definitions, are current, and a person can read them.

A stale diagram is worse than none: a provincial officer reading docs/ would
trust a flow the engine no longer runs.  So the committed files are
regenerated here and compared byte for byte.  The rest asserts what makes the
pictures readable, as properties of whatever the machines now hold (another
event or state added tomorrow must keep them true): every transition is drawn
in the overview or a view, a transition leaving a whole frame is drawn once from
the frame, labels are Chinese, the SVG is well-formed and needs no Graphviz, and
a doctor's path is marked.  The Mermaid and DOT texts are checked structurally
(no Mermaid or Graphviz binary is installed in CI).
"""

from __future__ import annotations

import re
import shutil
import sqlite3
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from renew_fsm.cli.machines import diagram_files
from renew_fsm.machines import MACHINES
from renew_fsm.machines.graph import build
from renew_fsm.machines.render import dot, mermaid
from renew_fsm.machines.svg import HOT, HOT_FILL, svg
from renew_fsm.machines.views import Diagram, Label, listed, overview, traced, tree, views

from .run_cli import ROOT, renew_fsm

DIAGRAMS = ROOT / "docs" / "diagrams"
REGENERATE = "run `renew-fsm diagram --all --out docs/diagrams` and commit docs/diagrams/"
SVG = "{http://www.w3.org/2000/svg}"
CJK = re.compile(r"[\u4e00-\u9fff]")

#: Every state id of SPEC §2, literally: the public ids the diagrams must show.
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
#: The nesting levels of SPEC §2, drawn open as frames in their views.
SPEC_COMPOSITES = ("simple", "general", "simple.exemption", "general.exemption", "deferral", "reexam")
#: What the overview of the doctor's cycle collapses (issue #34): the compound states and 报名.
COLLAPSED = ("registration", "simple", "general", "deferral", "appeal", "reexam")

ALL_VIEWS = [(m, d) for m in MACHINES for d in views(build(MACHINES[m]))]
VIEW_IDS = [d.id for _, d in ALL_VIEWS]


# -- freshness ----------------------------------------------------------------------------------


def test_committed_diagrams_are_current() -> None:
    expected = diagram_files(DIAGRAMS)
    missing = [p.name for p in expected if not p.is_file()]
    assert not missing, f"docs/diagrams/ lacks {', '.join(missing)}: {REGENERATE}"
    stale = [p.name for p, text in expected.items() if p.read_text(encoding="utf-8") != text]
    assert not stale, f"stale diagrams: {', '.join(stale)} no longer match the machine definitions: {REGENERATE}"


def test_no_diagram_of_a_machine_or_view_that_no_longer_exists() -> None:
    generated = {p.name for p in diagram_files(DIAGRAMS)}
    leftovers = sorted(
        p.name for p in DIAGRAMS.glob("*") if p.suffix in (".mmd", ".dot", ".svg", ".md") and p.name not in generated
    )
    assert not leftovers, f"docs/diagrams/ holds files no machine generates: {', '.join(leftovers)}; delete them"


def test_every_machine_has_its_overview_and_each_view_in_every_format_and_there_is_a_role_table() -> None:
    names = {p.name for p in diagram_files(Path("docs/diagrams"))}
    for machine_id, machine in MACHINES.items():
        first = overview(build(machine))
        stems = [machine_id, *(f"{machine_id}.{b.id}" for b in first.boxes if b.kind == "compound")]
        for stem in stems:
            assert {f"{stem}.mmd", f"{stem}.dot", f"{stem}.svg"} <= names, stem
    assert "roles.md" in names
    page = diagram_files(DIAGRAMS)[DIAGRAMS / "README.md"]
    linked = set(re.findall(r"\]\(([\w.]+\.svg)\)", page))
    assert linked == {n for n in names if n.endswith(".svg")}, "docs/diagrams/README.md does not show every picture"


def test_the_readme_shows_the_overview_picture() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert re.search(r"!\[[^\]]*\]\(docs/diagrams/doctor\.svg\)", readme), "README.md shows no docs/diagrams/doctor.svg"


# -- what the views show ------------------------------------------------------------------------


def declared_order(label: Label) -> int:
    return label.edges[0].order


def holders(d: Diagram) -> list[tuple[str, Label]]:
    """(where it is drawn from, label) for every label: an arrow's source, or the box or frame it stays in."""
    out = [(a.source, label) for a in d.arrows for label in a.labels]
    out += [(b.id, label) for b in d.boxes for label in b.loops]
    out += [(f.id, label) for f in d.frames for label in f.loops]
    return out


def enclosing(d: Diagram, item: str) -> list[str]:
    """The frames ``item`` is drawn in, innermost first."""
    parent = {b.id: b.frame for b in d.boxes} | {f.id: f.parent for f in d.frames}
    chain = []
    while (up := parent.get(item)) is not None:
        chain.append(up)
        item = up
    return chain


@pytest.mark.parametrize("machine_id", sorted(MACHINES))
def test_every_transition_is_drawn_in_the_overview_or_a_view(machine_id: str) -> None:
    graph = build(MACHINES[machine_id])
    drawn = {edge for d in views(graph) for label in d.labels() for edge in label.edges}
    missing = [f"{e.event}: {e.source} → {e.target}" for e in graph.edges if e not in drawn]
    assert not missing, f"transitions drawn in no view: {missing}"


@pytest.mark.parametrize("machine_id", sorted(MACHINES))
def test_every_state_is_drawn_as_a_state_in_the_overview_or_a_view(machine_id: str) -> None:
    graph = build(MACHINES[machine_id])
    drawn = {b.id for d in views(graph) for b in d.boxes if b.kind in ("state", "final")}
    assert set(graph.leaves()) <= drawn, set(graph.leaves()) - drawn


def test_every_spec_state_and_nesting_is_drawn_in_the_doctor_views() -> None:
    doctor = [d for m, d in ALL_VIEWS if m == "doctor"]
    states = {b.id for d in doctor for b in d.boxes if b.kind in ("state", "final")}
    assert set(SPEC_STATES) <= states, set(SPEC_STATES) - states
    frames = {f.id for d in doctor for f in d.frames}
    assert set(SPEC_COMPOSITES) <= frames, set(SPEC_COMPOSITES) - frames


def test_the_doctor_overview_collapses_the_compound_states_and_each_has_a_view() -> None:
    first = overview(build(MACHINES["doctor"]))
    compounds = {b.id for b in first.boxes if b.kind == "compound"}
    assert set(COLLAPSED) <= compounds
    # Nothing nested in a collapsed box is drawn in the overview; each box links to its own view.
    assert not [b.id for b in first.boxes if any(b.id.startswith(c + ".") for c in compounds)]
    assert all(b.link == f"doctor.{b.id}" for b in first.boxes if b.kind == "compound")
    assert {d.id for m, d in ALL_VIEWS if m == "doctor"} >= {f"doctor.{c}" for c in COLLAPSED}


@pytest.mark.parametrize(("machine_id", "diagram"), ALL_VIEWS, ids=VIEW_IDS)
def test_a_transition_leaving_every_state_of_a_frame_is_drawn_once_from_the_frame(
    machine_id: str, diagram: Diagram
) -> None:
    graph = build(MACHINES[machine_id])
    t = tree(graph)
    by_transition: dict[int, list[str]] = {}
    for holder, label in holders(diagram):
        by_transition.setdefault(declared_order(label), []).append(holder)
    for order, where in by_transition.items():
        sources = {leaf for e in graph.edges if e.order == order for leaf in graph.leaves_under(e.source)}
        assert len(where) == len(set(where)), f"transition #{order} drawn twice from one place: {where}"
        for frame in diagram.frames:
            members = [
                i
                for i in [*(b.id for b in diagram.boxes), *(f.id for f in diagram.frames)]
                if enclosing(diagram, i)[:1] == [frame.id]
            ]
            # (A frame around a single state lets its transitions leave from the state itself.)
            if len(members) > 1 and set(t.leaves_under(frame.id)) <= sources:
                inside = [h for h in where if frame.id in enclosing(diagram, h)]
                assert not inside, f"{frame.id} is left by #{order} as a whole, yet it is drawn from {inside}"
        # Never from a frame and from a box within it at once.
        nested = [h for h in where if any(o in enclosing(diagram, h) for o in where)]
        assert not nested, f"transition #{order} drawn from {nested} and from the frame around it"


def test_the_frames_do_gather_transitions_in_the_doctor_views() -> None:
    """The property above is not vacuous: the cycle's deferral and window closes leave whole frames."""
    first = overview(build(MACHINES["doctor"]))
    frame_sources = {a.source for a in first.arrows if a.source in {f.id for f in first.frames}}
    assert frame_sources, "no arrow of the overview leaves a frame"
    events = [label.event for a in first.arrows if a.source in frame_sources for label in a.labels]
    assert "request_deferral" in events and "close_first_round" in events


@pytest.mark.parametrize(("machine_id", "diagram"), ALL_VIEWS, ids=VIEW_IDS)
def test_labels_are_chinese_with_a_role_tag_and_the_ids_only_in_tooltips(machine_id: str, diagram: Diagram) -> None:
    events = MACHINES[machine_id].events
    for label in diagram.labels():
        assert CJK.search(label.text), label.text
        assert label.event not in label.text and events[label.event].zh in label.text
        assert label.tag and all(CJK.search(tag) for tag in label.tag.split("/")), label.tag
        assert label.event in label.tooltip


def test_final_states_are_boxes_not_double_circles() -> None:
    for _, d in ALL_VIEWS:
        assert "doublecircle" not in dot(d)
        root = ET.fromstring(svg(d))
        for b in d.boxes:
            if b.kind == "final":
                group = next(g for g in root.iter(f"{SVG}g") if g.get("id") == svg_id(b.id))
                assert group.find(f"{SVG}rect") is not None and group.find(f"{SVG}circle") is None


# -- SVG ------------------------------------------------------------------------------------------


def svg_id(item: str) -> str:
    return "s-" + "".join(c if c.isalnum() or c in "-_" else "-" for c in item)


@pytest.mark.parametrize(("machine_id", "diagram"), ALL_VIEWS, ids=VIEW_IDS)
def test_svg_is_well_formed_and_draws_every_box_arrow_and_legend_entry(machine_id: str, diagram: Diagram) -> None:
    text = svg(diagram)
    assert not re.search(r'="[^"]*\b(nan|inf)\b', text), "a coordinate is not a number"
    root = ET.fromstring(text)
    assert root.tag == f"{SVG}svg"
    assert float(root.get("width", "0")) > 0 and float(root.get("height", "0")) > 0
    groups = {g.get("id") for g in root.iter(f"{SVG}g")}
    missing = [b.id for b in diagram.boxes if svg_id(b.id) not in groups]
    assert not missing, f"boxes not drawn: {missing}"
    paths = [p for p in root.iter(f"{SVG}path") if p.get("marker-end")]
    assert len(paths) == len(diagram.arrows)
    shown = " ".join(t.text or "" for t in root.iter(f"{SVG}text"))
    for label in diagram.labels():
        assert label.event in shown, f"{label.event} missing from the legend"
        assert label.zh in shown


def test_svg_is_drawn_without_graphviz_or_any_other_program(tmp_path: Path) -> None:
    """``--format svg`` works on a machine with nothing but Python (CI has no Graphviz)."""
    bare = {"PATH": str(Path(sys.executable).parent)}
    result = renew_fsm("diagram", "doctor", "--format", "svg", "--out", str(tmp_path / "d.svg"), env=bare)
    assert result.returncode == 0, result.stderr
    root = ET.parse(tmp_path / "d.svg").getroot()
    assert root.tag == f"{SVG}svg"


def test_graphviz_layout_is_used_only_where_graphviz_is_installed_and_says_so_otherwise(tmp_path: Path) -> None:
    bare = {"PATH": str(Path(sys.executable).parent)}
    line = refused_line(renew_fsm("diagram", "doctor", "--layout", "graphviz", env=bare))
    assert "Graphviz" in line and "leave out --layout" in line
    if shutil.which("dot") is None:  # this machine has no Graphviz: the same refusal with the full PATH
        assert "Graphviz" in refused_line(renew_fsm("diagram", "doctor", "--layout", "graphviz"))
        return
    result = renew_fsm("diagram", "doctor", "--layout", "graphviz", "--out", str(tmp_path / "g.svg"))
    assert result.returncode == 0, result.stderr
    assert ET.parse(tmp_path / "g.svg").getroot().tag == f"{SVG}svg"


# -- Mermaid ------------------------------------------------------------------------------------


def mermaid_structure(text: str) -> tuple[set[str], list[tuple[str, str]], int]:
    """Declared state ids, transitions (from, to), and the brace depth at the end."""
    declared: set[str] = {"[*]"}
    edges: list[tuple[str, str]] = []
    depth = 0
    for raw in text.splitlines():
        line = raw.strip()
        if m := re.fullmatch(r'state "[^"]*" as (\S+) \{', line):
            declared.add(m.group(1))
            depth += 1
        elif line == "}":
            depth -= 1
            assert depth >= 0, "a '}' closes no composite state"
        elif m := re.fullmatch(r'state "[^"]*" as (\S+)', line):
            declared.add(m.group(1))
        elif m := re.fullmatch(r"(\S+) --> (\S+)(?: : .*)?", line):
            edges.append((m.group(1), m.group(2)))
    return declared, edges, depth


@pytest.mark.parametrize(("machine_id", "diagram"), ALL_VIEWS, ids=VIEW_IDS)
def test_mermaid_edges_join_declared_states(machine_id: str, diagram: Diagram) -> None:
    declared, edges, depth = mermaid_structure(mermaid(diagram))
    assert depth == 0, "unbalanced composite states"
    assert len(edges) == len(diagram.arrows)
    dangling = [(a, b) for a, b in edges if a not in declared or b not in declared]
    assert not dangling, f"transitions to undeclared states: {dangling[:5]}"
    assert len(declared) - 1 == len(diagram.boxes) - (1 if diagram.box("__start") else 0) + len(diagram.frames)


def test_mermaid_of_the_cli_is_the_overview() -> None:
    result = renew_fsm("diagram", "doctor", "--format", "mermaid")
    assert result.returncode == 0, result.stderr
    assert result.stdout == mermaid(overview(build(MACHINES["doctor"])))
    assert "stateDiagram-v2" in result.stdout.splitlines()


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


@pytest.mark.parametrize(("machine_id", "diagram"), ALL_VIEWS, ids=VIEW_IDS)
def test_dot_parses_with_every_box_and_frame_and_edges_between_declared_nodes(
    machine_id: str, diagram: Diagram
) -> None:
    text = dot(diagram)
    assert text.startswith(f'digraph "{diagram.id}" {{')
    nodes, clusters, edges = dot_structure(text)
    assert {b.id for b in diagram.boxes} == nodes
    assert {f"cluster_{f.id}" for f in diagram.frames} == clusters
    dangling = [(a, b) for a, b in edges if a not in nodes or b not in nodes]
    assert not dangling, f"edges to undeclared nodes: {dangling[:5]}"
    assert len(edges) == len(diagram.arrows)


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


# -- the command: --out, --view, a doctor's path ------------------------------------------------------


def refused_line(result: object) -> str:
    assert result.returncode == 1, (result.returncode, result.stdout, result.stderr)  # type: ignore[attr-defined]
    lines = [line for line in result.stderr.splitlines() if line.strip()]  # type: ignore[attr-defined]
    assert "Traceback" not in result.stderr and len(lines) == 1, result.stderr  # type: ignore[attr-defined]
    return lines[0]


@pytest.mark.parametrize(
    ("args", "name"),
    [
        (("--format", "svg"), "d.png"),
        (("--format", "dot"), "d.mmd"),
        (("--format", "mermaid"), "d.svg"),
        ((), "d.png"),
    ],
    ids=["svg-to-png", "dot-to-mmd", "mermaid-to-svg", "png-alone"],
)
def test_out_refuses_a_suffix_that_does_not_match_the_format(tmp_path: Path, args: tuple[str, ...], name: str) -> None:
    line = refused_line(renew_fsm("diagram", "doctor", *args, "--out", str(tmp_path / name)))
    assert line.startswith("error: ") and name in line
    assert not (tmp_path / name).exists()


@pytest.mark.parametrize(("name", "check"), [("d.svg", "<svg"), ("d.dot", "digraph"), ("d.mmd", "stateDiagram-v2")])
def test_out_with_a_known_suffix_writes_that_format(tmp_path: Path, name: str, check: str) -> None:
    assert renew_fsm("diagram", "doctor", "--out", str(tmp_path / name)).returncode == 0
    assert check in (tmp_path / name).read_text(encoding="utf-8")


def test_view_draws_one_compound_state_and_an_unknown_view_is_a_usage_error() -> None:
    result = renew_fsm("diagram", "doctor", "--view", "simple", "--format", "dot")
    assert result.returncode == 0 and result.stdout.startswith('digraph "doctor.simple"')
    bad = renew_fsm("diagram", "doctor", "--view", "nope")
    assert bad.returncode == 2 and "registration" in bad.stderr and "Traceback" not in bad.stderr


SCENARIOS = sorted((ROOT / "examples" / "scenarios").glob("*.jsonl"))


def test_every_step_of_every_scenario_doctor_is_marked_on_the_path() -> None:
    """Each history record finds its arrow (or its ↻) in the traced view, numbered; where the doctor is, is marked."""
    import renew_fsm as library
    from renew_fsm.replay import replay_file

    graph = build(MACHINES["doctor"])
    checked = 0
    for scenario in SCENARIOS:
        engine = library.open(":memory:")
        try:
            replay_file(engine, scenario)
            for doctor in engine.instances():
                state = engine.state(doctor).state
                path = [(r.event, r.from_state, r.to_state) for r in engine.history(doctor)]
                drawn = traced(graph, state, path)
                steps = sorted(n for label in drawn.labels() for n in label.steps)
                assert steps == list(range(1, len(path) + 1)), (scenario.name, doctor, path, steps)
                # Each step is numbered on an arrow (or ↻) that leaves the state it was taken from.
                t = tree(graph)
                for holder, label in holders(drawn):
                    for n in label.steps:
                        event, source, _ = path[n - 1]
                        assert label.event == event
                        assert set(listed(holder)) & set(t.chain(source)), (scenario.name, doctor, n, holder)
                assert [b.id for b in drawn.boxes if b.current] == [state], (scenario.name, doctor)
                checked += 1
        finally:
            engine.close()
    assert checked > len(SCENARIOS)


@pytest.fixture(scope="module")
def replayed(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str, str]:
    """A database where one doctor is part-way through the re-exam: (db, doctor, state)."""
    db = str(tmp_path_factory.mktemp("trace") / "trace.db")
    scenario = ROOT / "examples/scenarios/a_violation_makes_the_result_unqualified_and_an_appeal_may_set_it_aside.jsonl"
    assert renew_fsm("replay", str(scenario), "--db", db).returncode == 0
    with sqlite3.connect(db) as conn:
        doctor, state = conn.execute(
            "SELECT doctor, state FROM instances WHERE state LIKE '%.%' ORDER BY doctor LIMIT 1"
        ).fetchone()
    conn.close()
    return db, doctor, state


def test_diagram_of_a_doctor_marks_where_it_is_and_the_path_in_svg(replayed: tuple[str, str, str]) -> None:
    db, doctor, state = replayed
    result = renew_fsm("diagram", "--db", db, "--doctor", doctor, "--format", "svg")
    assert result.returncode == 0, result.stderr
    root = ET.fromstring(result.stdout)
    here = next(g for g in root.iter(f"{SVG}g") if g.get("id") == svg_id(state))
    assert here.find(f"{SVG}rect").get("fill") == HOT_FILL  # type: ignore[union-attr]
    assert "当前所在" in " ".join(t.text or "" for t in here.iter(f"{SVG}text"))
    taken = [p for p in root.iter(f"{SVG}path") if p.get("stroke") == HOT]
    assert taken, "no arrow of the path is marked"
    assert "①" in result.stdout


def test_diagram_of_a_doctor_marks_where_it_is_and_the_path_in_mermaid(replayed: tuple[str, str, str]) -> None:
    db, doctor, state = replayed
    result = renew_fsm("diagram", "doctor", "--db", db, "--doctor", doctor)
    assert result.returncode == 0, result.stderr
    mermaid_id = state.replace(".", "__")
    assert re.search(rf"^    class (\S+,)?{mermaid_id}(,\S+)? current$", result.stdout, re.M), result.stdout[-800:]
    assert re.search(r"--> \S+ : ① ", result.stdout)


def test_diagram_of_an_unknown_doctor_is_refused_in_one_line(replayed: tuple[str, str, str]) -> None:
    result = renew_fsm("diagram", "--db", replayed[0], "--doctor", "NOBODY")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "NOBODY" in result.stderr
