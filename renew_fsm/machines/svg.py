"""SVG of a ``Diagram``, laid out and written by the library itself — no Graphviz, no browser.

The layout is a small layered one (Sugiyama's, as Graphviz's ``dot`` does it), enough
for the views of ``views``, a dozen boxes each:

- a frame is laid out on its own and placed as one block in its parent, so a
  compound state's members always sit together;
- inside a block the boxes go in rows from the top by the longest path from where
  the block is entered (back edges, found by a depth-first walk in declaration
  order, are left out of the ranking);
- every other row is for the arrows: an arrow crossing rows passes each in a lane
  of its own, and the lane in its middle row holds its label, so no label has to
  be squeezed in beside a box;
- rows are ordered by barycentre sweeps, and each box is set under its
  predecessors where there is room.

Text is measured by counting a Chinese character as one em and a Latin one as 0.6 em,
so the output depends on nothing installed and is the same on every machine (the
committed files in docs/ are compared with a fresh rendering).
"""

from __future__ import annotations

import itertools
import math
import unicodedata
from collections.abc import Iterable
from xml.sax.saxutils import escape

import attrs

from .render import legend, role_legend
from .views import Arrow, Box, Diagram, Frame, Label

FONT = "'Noto Sans CJK SC','Source Han Sans SC','PingFang SC','Microsoft YaHei','WenQuanYi Micro Hei',sans-serif"
MONO = "'DejaVu Sans Mono',Menlo,Consolas,monospace"

STATE_SIZE, ID_SIZE, LOOP_SIZE, LABEL_SIZE = 14, 10, 11, 11
LINE = 1.35
PAD_X, PAD_Y = 12, 8
BOX_TEXT = 226  # a box's text wraps at this width
FRAME_PAD = 16
COLUMN_GAP = 40
ROW_GAP = 14
MAX_LABEL = 330

INK, MUTED, EDGE = "#1f2329", "#6b7280", "#4b5563"
HOT, HOT_FILL, VISITED_FILL = "#d4380d", "#ffd666", "#fff4e0"
FILL = {
    "state": "#ffffff", "final": "#ffffff", "compound": "#e8f0fe", "outside": "#fafafa",
    "many": "#fffdf0", "history": "#f4f4f4",
}
STROKE = {
    "state": "#4b5563", "final": "#1f2329", "compound": "#3d6bb3", "outside": "#9ca3af",
    "many": "#b8a040", "history": "#6b7280",
}


def width(text: str, size: float) -> float:
    return sum(size if unicodedata.east_asian_width(c) in "WF" else 0.6 * size for c in text)


def wrap(text: str, size: float, limit: float) -> list[str]:
    """Break ``text`` into lines no wider than ``limit``, after a Chinese comma where one is near."""
    lines: list[str] = []
    line = ""
    for c in text:
        if line and width(line + c, size) > limit:
            cut = max(line.rfind(c) for c in "，、」 ")
            if cut >= len(line) * 0.4:
                lines.append(line[: cut + 1].rstrip())
                line = line[cut + 1 :].lstrip()
            else:
                lines.append(line)
                line = ""
        line += c
    return [*lines, line] if line else lines


@attrs.frozen
class Text:
    text: str
    size: float
    weight: str = "normal"
    color: str = INK
    mono: bool = False


@attrs.define
class Rect:
    x: float = 0.0
    y: float = 0.0
    w: float = 0.0
    h: float = 0.0

    @property
    def x1(self) -> float:
        return self.x + self.w

    @property
    def y1(self) -> float:
        return self.y + self.h

    @property
    def cx(self) -> float:
        return self.x + self.w / 2

    @property
    def cy(self) -> float:
        return self.y + self.h / 2

    def overlaps(self, other: Rect, margin: float = 2) -> bool:
        return not (
            self.x1 + margin <= other.x or other.x1 + margin <= self.x
            or self.y1 + margin <= other.y or other.y1 + margin <= self.y
        )

    def contains(self, other: Rect) -> bool:
        return self.x <= other.x and self.y <= other.y and other.x1 <= self.x1 and other.y1 <= self.y1


def _height(lines: list[Text]) -> float:
    return sum(t.size * LINE for t in lines)


def _box_lines(b: Box) -> list[Text]:
    if b.kind == "start":
        return []
    size = 12 if b.kind in ("outside", "many") else STATE_SIZE
    weight = "bold" if b.kind in ("final", "compound") or b.current else "normal"
    color = MUTED if b.kind == "outside" else INK
    lines = [Text(t, size, weight, color) for t in wrap(b.zh, size, BOX_TEXT)]
    if b.kind not in ("many", "history"):
        lines.append(Text(b.en, ID_SIZE, color=MUTED, mono=True))
    if b.kind == "compound":
        lines.append(Text("⊞ 详见分图", ID_SIZE, color=STROKE["compound"]))
    if b.current:
        lines.append(Text("◉ 当前所在", LOOP_SIZE, "bold", HOT))
    lines += _loop_lines(b.loops)
    return lines


def _loop_lines(loops: Iterable[Label]) -> list[Text]:
    return [
        Text(line, LOOP_SIZE, "bold" if label.steps else "normal", HOT if label.steps else "#374151")
        for label in loops for line in wrap(f"↻ {label.text}", LOOP_SIZE, BOX_TEXT + 40)
    ]


def _frame_lines(f: Frame) -> list[Text]:
    return [
        Text(f"{f.zh}  ", 13, "bold"),
        *_loop_lines(f.loops),
    ]


def _label_lines(arrow: Arrow) -> list[Text]:
    return [
        Text(line, LABEL_SIZE, "bold" if label.steps else "normal", HOT if label.steps else "#374151")
        for label in arrow.labels for line in wrap(label.text, LABEL_SIZE, MAX_LABEL)
    ]


def _text_width(lines: list[Text]) -> float:
    return max((width(t.text, t.size) for t in lines), default=0)


# --- layout --------------------------------------------------------------------------------

Point = tuple[float, float]
Segment = tuple[Point, Point, Point, Point]
#: Where a long arrow passes a row: a narrow lane, or at its middle row the room for its label.
LANE = 10


@attrs.define
class Layout:
    diagram: Diagram
    owner: dict[str, str | None]
    rects: dict[str, Rect] = attrs.Factory(dict)
    #: Per arrow that crosses rows: the lanes it passes through, in order, and the one holding its label.
    lanes: dict[int, list[str]] = attrs.Factory(dict)
    label_lane: dict[int, str] = attrs.Factory(dict)
    #: Boxes listed with no arrow (an event staying in many states): drawn as notes under the picture.
    notes: list[Box] = attrs.Factory(list)
    #: Each box's place in the diagram, a frame's that of its first box.
    position: dict[str, int] = attrs.Factory(dict)


def _lift(item: str, container: str | None, owner: dict[str, str | None]) -> str | None:
    """The member of ``container`` that holds ``item`` (itself or an enclosing frame), if any."""
    while item in owner:
        if owner[item] == container:
            return item
        up = owner[item]
        if up is None:
            return None
        item = up
    return None


def _rank(items: list[str], edges: list[tuple[str, str]]) -> dict[str, int]:
    out = {i: [b for a, b in edges if a == i] for i in items}
    has_in = {b for _, b in edges}
    state: dict[str, int] = {}
    back: set[tuple[str, str]] = set()

    def walk(u: str) -> None:
        state[u] = 1
        for v in out[u]:
            if state.get(v) == 1 or v == u:
                back.add((u, v))
            elif v not in state:
                walk(v)
        state[u] = 2

    for root in [i for i in items if i not in has_in] + items:
        if root not in state:
            walk(root)
    forward = [(a, b) for a, b in edges if (a, b) not in back]
    layer = dict.fromkeys(items, 0)
    for _ in items:  # longest path by relaxation: the graphs are small
        changed = False
        for a, b in forward:
            if layer[b] < layer[a] + 1:
                layer[b] = layer[a] + 1
                changed = True
        if not changed:
            break
    return layer


def _order(rows: list[list[str]], edges: list[tuple[str, str]]) -> list[list[str]]:
    """Barycentre sweeps down and up: each item moves toward the average place of its neighbours."""
    neighbours: dict[str, list[str]] = {}
    for a, b in edges:
        if a != b:
            neighbours.setdefault(a, []).append(b)
            neighbours.setdefault(b, []).append(a)
    row_of = {item: r for r, row in enumerate(rows) for item in row}
    where = {item: (i + 0.5) / len(row) for row in rows for i, item in enumerate(row)}

    def centre(item: str, side: int) -> float:
        near = [where[n] for n in neighbours.get(item, ()) if row_of.get(n) == side]
        return sum(near) / len(near) if near else where[item]

    for sweep in range(8):
        sequence = range(1, len(rows)) if sweep % 2 == 0 else range(len(rows) - 2, -1, -1)
        for r in sequence:
            side = r - 1 if sweep % 2 == 0 else r + 1
            keys = {item: (centre(item, side), i) for i, item in enumerate(rows[r])}
            rows[r] = sorted(rows[r], key=keys.__getitem__)
            where.update({item: (i + 0.5) / len(rows[r]) for i, item in enumerate(rows[r])})
    return rows


def _block(lay: Layout, container: str | None) -> Rect:
    """Lay out ``container``'s members relative to its content's top-left corner; the block's size."""
    d, owner = lay.diagram, lay.owner
    boxes = {b.id: b for b in d.boxes}
    frames = {f.id: f for f in d.frames}
    # Members in the order their states are declared, so a walk starts where the machine does.
    members = sorted((i for i, up in list(owner.items()) if up == container), key=lambda i: lay.position.get(i, 0))
    if container is None:
        lay.notes = [b for b in d.boxes if b.kind == "many" and _arrowless(d, b.id)]
    members = [m for m in members if not (m in boxes and boxes[m] in lay.notes)]
    sizes = {m: _box_size(boxes[m]) if m in boxes else _block(lay, m) for m in members}
    edges: list[tuple[str, str, int]] = []
    for i, arrow in enumerate(d.arrows):
        a, b = _lift(arrow.source, container, owner), _lift(arrow.target, container, owner)
        if a is not None and b is not None and a != b:
            edges.append((a, b, i))
    many = [m for m in members if m in boxes and boxes[m].kind == "many"]
    ranked = [m for m in members if m not in many]
    # Every other row is left for the arrows: each arrow between two rows of boxes passes a lane
    # there that holds its label, so labels have room of their own (as Graphviz makes room too).
    layer = {m: 2 * r for m, r in _rank(ranked, [(a, b) for a, b, _ in edges if a in ranked and b in ranked]).items()}
    for m in many:  # a box listing many sources stands beside the state its arrow leads to
        target = next((b for a, b, _ in edges if a == m), None)
        layer[m] = layer.get(target, 0) if target is not None else 0
    # An arrow crossing rows passes each row in a lane of its own; the middle lane holds its label.
    order_edges: list[tuple[str, str]] = []
    for a, b, i in edges:
        la, lb = layer[a], layer[b]
        if la == lb:
            order_edges.append((a, b))
            continue
        step = 1 if lb > la else -1
        lanes = [f"~{i}:{row}" for row in range(la + step, lb, step)]
        label = _label_lines(d.arrows[i])
        middle = lanes[len(lanes) // 2]
        for lane in lanes:
            layer[lane] = int(lane.rsplit(":", 1)[1])
            owner[lane] = container
            if lane == middle and label:
                sizes[lane] = Rect(0, 0, LANE + _text_width(label) + 12, _height(label) + 4)
            else:
                sizes[lane] = Rect(0, 0, LANE, 1)
        lay.lanes[i] = lanes
        if label:
            lay.label_lane[i] = middle
        chain = [a, *lanes, b]
        order_edges += list(itertools.pairwise(chain))
    count = max(layer.values(), default=-1) + 1
    rows = _order([[m for m in layer if layer[m] == r] for r in range(count)], order_edges)
    rows = [row for row in rows if row]
    renumber = {m: r for r, row in enumerate(rows) for m in row}
    layer.update(renumber)
    count = len(rows)
    for m in many:  # … just beside it
        row = rows[layer[m]]
        target = next((b for a, b, _ in edges if a == m), None)
        if target in row:
            row.remove(m)
            row.insert(row.index(target) + 1, m)
    # Rows from top to bottom, each gap tall enough for the labels of the arrows between two rows.
    across: dict[frozenset[str], float] = {}
    for a, b, i in edges:
        label = _label_lines(d.arrows[i])
        if layer[a] == layer[b]:
            across[frozenset((a, b))] = max(across.get(frozenset((a, b)), 0), _text_width(label) + 24)
    ys: list[float] = []
    y = 0.0
    for row in rows:
        ys.append(y)
        y += max((sizes[m].h for m in row), default=0) + ROW_GAP
    placed: dict[str, Rect] = {}
    near = [(a, b) for a, b in order_edges]
    for r, row in enumerate(rows):
        right: float | None = None
        row_h = max(sizes[m].h for m in row)
        previous = None
        for m in row:
            size = sizes[m]
            before = [placed[n] for n in _neighbours(m, near) if n in placed and layer.get(n, r) < r]
            gap = COLUMN_GAP if previous is None else max(COLUMN_GAP, across.get(frozenset((previous, m)), 0))
            if m.startswith("~") or (previous or "").startswith("~"):
                gap = 14
            # A box centred under its predecessors; a lane so that its arrow runs on straight.
            offset = LANE / 2 if m.startswith("~") else size.w / 2
            want = sum(p.cx for p in before) / len(before) - offset if before else None
            x = (want if want is not None else 0.0) if right is None else max(want or -1e9, right + gap)
            top = ys[r] + (row_h - size.h) / 2
            if m.startswith("~") and m not in lay.label_lane.values():
                top, size = ys[r], Rect(0, 0, size.w, row_h)
            placed[m] = Rect(x, top, size.w, size.h)
            right = x + size.w
            previous = m
    _balance(rows, placed, near, across)
    left = min((r.x for r in placed.values()), default=0)
    for m, rect in placed.items():
        rect.x -= left
        lay.rects[m] = rect
    w = max((rect.x1 for rect in placed.values()), default=0)
    h = max((rect.y1 for rect in placed.values()), default=0)
    if container is None:
        return Rect(0, 0, w, h)
    f = frames[container]
    return Rect(0, 0, max(w, _text_width(_frame_lines(f))) + 2 * FRAME_PAD, h + _frame_header(f) + 2 * FRAME_PAD)


def _gap(a: str, b: str, across: dict[frozenset[str], float]) -> float:
    if a.startswith("~") or b.startswith("~"):
        return 14
    return max(COLUMN_GAP, across.get(frozenset((a, b)), 0))


def _balance(
    rows: list[list[str]], placed: dict[str, Rect], near: list[tuple[str, str]], across: dict[frozenset[str], float]
) -> None:
    """Sweeps that move each row, order kept, as close as it may get to where its neighbours are.

    Each pass is an isotonic regression (pool adjacent violators): the positions a row
    wants, less the room its members need, must not decrease; so the least-squares
    placement that keeps every gap is found exactly, and a row no longer drifts to
    the right behind the widest one above it.
    """
    neighbours: dict[str, list[str]] = {}
    for a, b in near:
        neighbours.setdefault(a, []).append(b)
        neighbours.setdefault(b, []).append(a)
    for sweep in range(8):
        order = rows if sweep % 2 == 0 else rows[::-1]  # down, then up
        for row in order:
            offsets: list[float] = []
            room = 0.0
            for k, m in enumerate(row):
                offsets.append(room)
                if k + 1 < len(row):
                    room += placed[m].w + _gap(m, row[k + 1], across)
            wanted = []
            for m, offset in zip(row, offsets, strict=True):
                others = [placed[n] for n in neighbours.get(m, ()) if n in placed and placed[n].y != placed[m].y]
                if others:
                    line = LANE / 2 if m.startswith("~") else placed[m].w / 2
                    target = sum(_port(n, placed) for n in neighbours[m] if n in placed
                                 and placed[n].y != placed[m].y) / len(others) - line
                else:
                    target = placed[m].x
                wanted.append(target - offset)
            for m, y, offset in zip(row, _isotonic(wanted), offsets, strict=True):
                placed[m].x = y + offset


def _port(item: str, placed: dict[str, Rect]) -> float:
    """Where an arrow meets ``item``, across: a lane's line, a box's middle."""
    r = placed[item]
    return r.x + LANE / 2 if item.startswith("~") else r.cx


def _isotonic(values: list[float]) -> list[float]:
    """The non-decreasing sequence nearest ``values`` in least squares (pool adjacent violators)."""
    blocks: list[list[float]] = []  # [mean, count]
    for v in values:
        blocks.append([v, 1])
        while len(blocks) > 1 and blocks[-2][0] > blocks[-1][0]:
            (m2, n2), (m1, n1) = blocks.pop(), blocks.pop()
            blocks.append([(m1 * n1 + m2 * n2) / (n1 + n2), n1 + n2])
    return [mean for mean, count in blocks for _ in range(int(count))]


def _neighbours(item: str, edges: list[tuple[str, str]]) -> list[str]:
    return [b for a, b in edges if a == item] + [a for a, b in edges if b == item]


def _arrowless(d: Diagram, box_id: str) -> bool:
    return not any(a.source == box_id or a.target == box_id for a in d.arrows)


def _box_size(b: Box) -> Rect:
    if b.kind == "start":
        return Rect(0, 0, 16, 16)
    lines = _box_lines(b)
    return Rect(0, 0, max(_text_width(lines) + 2 * PAD_X, 90), _height(lines) + 2 * PAD_Y)


def _frame_header(f: Frame) -> float:
    return _height(_frame_lines(f)) + 6


def _place(lay: Layout, container: str | None, dx: float, dy: float) -> None:
    """Turn positions relative to ``container`` into absolute ones, frame by frame."""
    frames = {f.id: f for f in lay.diagram.frames}
    for m in [i for i, up in lay.owner.items() if up == container and i in lay.rects]:
        r = lay.rects[m]
        r.x += dx
        r.y += dy
        if m in frames:
            _place(lay, m, r.x + FRAME_PAD, r.y + FRAME_PAD + _frame_header(frames[m]))


def lay_out(diagram: Diagram) -> Layout:
    owner: dict[str, str | None] = {b.id: b.frame for b in diagram.boxes}
    owner.update({f.id: f.parent for f in diagram.frames})
    lay = Layout(diagram, owner)
    for n, b in enumerate(diagram.boxes):
        lay.position[b.id] = n
        up = b.frame
        while up is not None:
            lay.position[up] = min(lay.position.get(up, n), n)
            up = owner[up]
    _block(lay, None)
    _place(lay, None, 0, 0)
    return lay


# --- arrows and labels ---------------------------------------------------------------------------


def _bezier(p: Segment, t: float) -> Point:
    (x0, y0), (x1, y1), (x2, y2), (x3, y3) = p
    u = 1 - t
    return (
        u**3 * x0 + 3 * u * u * t * x1 + 3 * u * t * t * x2 + t**3 * x3,
        u**3 * y0 + 3 * u * u * t * y1 + 3 * u * t * t * y2 + t**3 * y3,
    )


def _vertical(points: list[Point]) -> list[Segment]:
    """A smooth path through ``points``, leaving and reaching each one vertically."""
    out = []
    for (x0, y0), (x1, y1) in itertools.pairwise(points):
        dy = (y1 - y0) / 2
        out.append(((x0, y0), (x0, y0 + dy), (x1, y1 - dy), (x1, y1)))
    return out


def _routes(lay: Layout) -> list[list[Segment]]:
    d, rects = lay.diagram, lay.rects
    ends: list[tuple[str, str]] = []  # which sides each arrow leaves and reaches
    ports: dict[tuple[str, str], list[tuple[float, int]]] = {}
    for i, arrow in enumerate(d.arrows):
        s, t = rects[arrow.source], rects[arrow.target]
        first = rects[lay.lanes[i][0]] if i in lay.lanes else t
        last = rects[lay.lanes[i][-1]] if i in lay.lanes else s
        if arrow.source != arrow.target and first.y >= s.y1 - 1 and t.y >= last.y1 - 1 and t.y > s.y1:
            ends.append(("bottom", "top"))
        elif arrow.source != arrow.target and first.y1 <= s.y + 1 and t.y1 <= last.y + 1 and t.y1 < s.y:
            ends.append(("top", "bottom"))
        else:
            ends.append(("", ""))
            continue
        ports.setdefault((arrow.source, ends[-1][0]), []).append((first.cx, i))
        ports.setdefault((arrow.target, ends[-1][1]), []).append((last.cx, i))
    at: dict[tuple[int, str, str], float] = {}
    for (item, side), users in ports.items():
        r = rects[item]
        users.sort()
        for k, (_, i) in enumerate(users):
            at[(i, item, side)] = r.x + r.w * (k + 1) / (len(users) + 1)
    routes: list[list[Segment]] = []
    for i, arrow in enumerate(d.arrows):
        s, t = rects[arrow.source], rects[arrow.target]
        leave, reach = ends[i]
        if leave:
            p0 = (at[(i, arrow.source, leave)], s.y1 if leave == "bottom" else s.y)
            p3 = (at[(i, arrow.target, reach)], t.y if reach == "top" else t.y1)
            middle = [(rects[lane].x + LANE / 2, rects[lane].cy) for lane in lay.lanes.get(i, ())]
            routes.append(_vertical([p0, *middle, p3]))
        elif arrow.source == arrow.target:
            routes.append([((s.x1, s.cy - 6), (s.x1 + 40, s.cy - 30), (s.x1 + 40, s.cy + 30), (s.x1, s.cy + 6))])
        elif t.x >= s.x1 or t.x1 <= s.x:
            p0 = (s.x1, s.cy) if t.x >= s.x1 else (s.x, s.cy)
            p3 = (t.x, t.cy) if t.x >= s.x1 else (t.x1, t.cy)
            dx = (p3[0] - p0[0]) / 2
            routes.append([(p0, (p0[0] + dx, p0[1]), (p3[0] - dx, p3[1]), p3)])
        else:
            p0, p3 = (s.cx, s.y1), (t.cx, t.y)
            routes.append([(p0, p0, p3, p3)])
    return routes


def _place_labels(lay: Layout, routes: list[list[Segment]]) -> list[Rect | None]:
    d = lay.diagram
    frames = {f.id: f for f in d.frames}
    obstacles = [r for k, r in lay.rects.items() if k not in frames and not k.startswith("~")]
    obstacles += [lay.rects[lane] for lane in lay.label_lane.values()]
    obstacles += [
        Rect(lay.rects[f].x, lay.rects[f].y, lay.rects[f].w, FRAME_PAD + _frame_header(frames[f])) for f in frames
    ]
    placed: list[Rect | None] = [None] * len(d.arrows)
    # Labels with a lane of their own first; the others then go where nothing is.
    for i, lane in lay.label_lane.items():
        r = lay.rects[lane]
        placed[i] = Rect(r.x + LANE + 4, r.y, r.w - LANE - 4, r.h)
    for i, (arrow, route) in enumerate(zip(d.arrows, routes, strict=True)):
        lines = _label_lines(arrow)
        if not lines or placed[i] is not None:
            continue
        w, h = _text_width(lines) + 8, _height(lines) + 4
        spot = None
        segment = route[len(route) // 2]
        for t in (0.5, 0.4, 0.6, 0.3, 0.7):
            x, y = _bezier(segment, t)
            for shift in (0, 1, -1, 2, -2, 3, -3, 4, -4, 5, -5, 6, -6, 8, -8):
                r = Rect(x - w / 2 + shift * 20, y - h / 2, w, h)
                if not any(r.overlaps(o) for o in obstacles):
                    spot = r
                    break
            if spot is not None:
                break
        if spot is None:
            x, y = _bezier(segment, 0.5)
            spot = Rect(x - w / 2, y - h / 2, w, h)
        obstacles.append(spot)
        placed[i] = spot
    return placed


# --- writing -------------------------------------------------------------------------------------

MARGIN = 24
HEADER = 64


def _f(v: float) -> str:
    return f"{v:.1f}".rstrip("0").rstrip(".")


def _text(lines: list[Text], cx: float, top: float, anchor: str = "middle") -> list[str]:
    out = []
    y = top
    for t in lines:
        y += t.size * LINE
        family = MONO if t.mono else FONT
        weight = ' font-weight="bold"' if t.weight == "bold" else ""
        out.append(
            f'<text x="{_f(cx)}" y="{_f(y - t.size * 0.32)}" font-size="{_f(t.size)}" fill="{t.color}"'
            f' text-anchor="{anchor}" font-family="{family}"{weight}>{escape(t.text)}</text>'
        )
    return out


def _box_svg(b: Box, r: Rect) -> list[str]:
    title = f"<title>{escape(b.en if b.kind in ('many', 'history') else f'{b.en} — {b.zh}')}</title>"
    if b.kind == "start":
        return [
            f'<g class="state start" id="{_svg_id(b.id)}">{title}',
            f'<circle cx="{_f(r.cx)}" cy="{_f(r.cy)}" r="7" fill="{INK}"/></g>',
        ]
    fill = HOT_FILL if b.current else VISITED_FILL if b.visited else FILL[b.kind]
    stroke = HOT if b.current or b.visited else STROKE[b.kind]
    sw = 3 if b.current else 2 if b.kind in ("compound", "final") else 1.2
    dash = ' stroke-dasharray="5 3"' if b.kind in ("outside", "many") else ""
    rx = r.h / 2 if b.kind == "history" else 8
    out = [f'<g class="state {b.kind}" id="{escape(_svg_id(b.id))}">', title]
    out.append(
        f'<rect x="{_f(r.x)}" y="{_f(r.y)}" width="{_f(r.w)}" height="{_f(r.h)}" rx="{_f(rx)}"'
        f' fill="{fill}" stroke="{stroke}" stroke-width="{_f(sw)}"{dash}/>'
    )
    if b.kind == "final":  # a final state: a thin second border inside, not a huge double circle
        out.append(
            f'<rect x="{_f(r.x + 4)}" y="{_f(r.y + 4)}" width="{_f(r.w - 8)}" height="{_f(r.h - 8)}" rx="5"'
            f' fill="none" stroke="{stroke}" stroke-width="1"/>'
        )
    out += _text(_box_lines(b), r.cx, r.y + PAD_Y - 1)
    out.append("</g>")
    if b.link:
        return [f'<a href="{escape(b.link)}.svg">', *out, "</a>"]
    return out


def _svg_id(item: str) -> str:
    return "s-" + "".join(c if c.isalnum() or c in "-_" else "-" for c in item)


def svg(diagram: Diagram) -> str:
    lay = lay_out(diagram)
    routes = _routes(lay)
    labels = _place_labels(lay, routes)
    frames = {f.id: f for f in diagram.frames}
    # Everything drawn, to size the canvas: boxes, frames, the arcs of the arrows, the labels.
    drawn = [r for k, r in lay.rects.items() if not k.startswith("~") and k not in {b.id for b in lay.notes}]
    points = [(r.x, r.y) for r in drawn] + [(r.x1, r.y1) for r in drawn]
    points += [_bezier(segment, t / 10) for route in routes for segment in route for t in range(11)]
    points += [p for r in labels if r is not None for p in ((r.x, r.y), (r.x1, r.y1))]
    x0, y0 = min(p[0] for p in points), min(p[1] for p in points)
    w = max(p[0] for p in points) - x0
    h = max(p[1] for p in points) - y0
    body: list[str] = []
    depth = {f.id: 0 for f in diagram.frames}
    for f in diagram.frames:
        up = f.parent
        while up is not None:
            depth[f.id] += 1
            up = frames[up].parent
    for f in sorted(diagram.frames, key=lambda f: depth[f.id]):
        r = lay.rects[f.id]
        fill = ("#f5f8fd", "#eef3fb", "#e6eef9")[min(depth[f.id], 2)]
        stroke = HOT if f.current else "#3d6bb3"
        body.append(f'<g class="frame" id="{escape(_svg_id(f.id))}"><title>{escape(f.id + " — " + f.en)}</title>')
        body.append(
            f'<rect x="{_f(r.x)}" y="{_f(r.y)}" width="{_f(r.w)}" height="{_f(r.h)}" rx="12"'
            f' fill="{fill}" stroke="{stroke}" stroke-width="{2 if f.current else 1.4}"/>'
        )
        header = _frame_lines(f)
        body += _text(header[:1], r.x + FRAME_PAD, r.y + FRAME_PAD - 6, "start")
        body.append(
            f'<text x="{_f(r.x + FRAME_PAD + width(header[0].text, 13))}" y="{_f(r.y + FRAME_PAD - 6 + 13 * LINE - 4)}"'
            f' font-size="{ID_SIZE}" fill="{MUTED}" font-family="{MONO}">{escape(f.id)}</text>'
        )
        body += _text(header[1:], r.x + FRAME_PAD, r.y + FRAME_PAD - 6 + 13 * LINE, "start")
        body.append("</g>")
    for arrow, route in zip(diagram.arrows, routes, strict=True):
        hot = arrow.taken
        tip = " | ".join(label.tooltip for label in arrow.labels) or "start"
        path = f"M{_f(route[0][0][0])},{_f(route[0][0][1])}" + "".join(
            f" C{_f(b[0])},{_f(b[1])} {_f(c[0])},{_f(c[1])} {_f(e[0])},{_f(e[1])}" for _, b, c, e in route
        )
        body.append(
            f'<path d="{path}" fill="none"'
            f' stroke="{HOT if hot else EDGE}" stroke-width="{2.6 if hot else 1.3}"'
            f' marker-end="url(#{"hot" if hot else "arrow"})"><title>{escape(tip)}</title></path>'
        )
    for b in diagram.boxes:
        if b.id in lay.rects and b not in lay.notes:
            body += _box_svg(b, lay.rects[b.id])
    for arrow, spot in zip(diagram.arrows, labels, strict=True):
        if spot is None:
            continue
        tip = " | ".join(label.tooltip for label in arrow.labels)
        body.append(f"<g class=\"label\"><title>{escape(tip)}</title>")
        body.append(
            f'<rect x="{_f(spot.x)}" y="{_f(spot.y)}" width="{_f(spot.w)}" height="{_f(spot.h)}" rx="3"'
            f' fill="#ffffff" fill-opacity="0.9"/>'
        )
        body += _text(_label_lines(arrow), spot.cx, spot.y + 2)
        body.append("</g>")
    # Below the picture: events that stay in many states, then the legend.
    below: list[str] = []
    y = h + 28
    x = 0.0
    row_h = 0.0
    for note in lay.notes:
        size = _box_size(note)
        if x and x + size.w > max(w, 600):
            x, y = 0.0, y + row_h + 16
            row_h = 0.0
        below += _box_svg(note, Rect(x0 + x, y0 + y, size.w, size.h))
        x += size.w + 16
        row_h = max(row_h, size.h)
    y += row_h + (24 if lay.notes else 0)
    legend_lines = _legend_lines(diagram)
    column_w = max((_text_width([t]) for t in legend_lines[1:]), default=0) + 28
    per_column = max(1, int(max(w, column_w) // column_w))
    rows = math.ceil((len(legend_lines) - 1) / per_column)
    below += _text(legend_lines[:1], x0, y0 + y, "start")
    y += 12 * LINE + 4
    for k, t in enumerate(legend_lines[1:]):
        col, row = divmod(k, rows)
        below += _text([t], x0 + col * column_w, y0 + y + row * LOOP_SIZE * LINE, "start")
    y += rows * LOOP_SIZE * LINE
    total_w = max(w, per_column * column_w - 28, width(diagram.zh, 18), width(diagram.en, 12)) + 2 * MARGIN
    total_h = HEADER + y + MARGIN
    head = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_f(total_w)}" height="{_f(total_h)}"'
        f' viewBox="0 0 {_f(total_w)} {_f(total_h)}" font-family="{FONT}">',
        f"<title>{escape(diagram.zh)} — {escape(diagram.en)}</title>",
        "<defs>",
        *(
            f'<marker id="{name}" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="8" markerHeight="8"'
            f' orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="{color}"/></marker>'
            for name, color in (("arrow", EDGE), ("hot", HOT))
        ),
        "</defs>",
        f'<rect width="{_f(total_w)}" height="{_f(total_h)}" fill="#ffffff"/>',
        *_text([Text(diagram.zh, 18, "bold")], MARGIN, 8, "start"),
        *_text([Text(diagram.en, 12, color=MUTED)], MARGIN, 32, "start"),
        f'<g transform="translate({_f(MARGIN - x0)},{_f(HEADER - y0)})">',
    ]
    return "\n".join([*head, *body, *below, "</g>", "</svg>"]) + "\n"


def _legend_lines(diagram: Diagram) -> list[Text]:
    """The legend's heading, the roles' tags, then each event's Chinese name with its id."""
    out = [Text("图例 legend — 事件 = event id", 12, "bold")]
    out += [Text(f"〔角色〕{tag} = {zh} · {role}", LOOP_SIZE, color=MUTED) for tag, zh, role in role_legend(diagram)]
    out += [Text(f"{zh} = {event}", LOOP_SIZE, color="#374151") for zh, event in legend(diagram)]
    return out
