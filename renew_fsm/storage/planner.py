"""SQLite's work-queue planner: which walk finds a page of the queue reading fewer rows.

SQLite has no statistics to choose between the jurisdiction's doctors and the to-do
states' index, so this counts (up to a cap) and picks; then each walk reads index
entries and doctor ids only.  PostgreSQL's own planner makes this choice there.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

from ..model import Instance
from .sql import clause_sql as flag_clauses

#: What a work-queue clause set looks like, grouped by state: (need, forbid) flag sets per state.
ByState = dict[str, list[tuple[frozenset[str], frozenset[str]]]]


def jurisdiction_is_smaller(
    conn: sqlite3.Connection,
    cycle: str,
    by_state: ByState,
    institutions: Sequence[str],
    limit: int,
) -> bool:
    """Whether walking the jurisdiction's doctors reads fewer rows than walking the to-do states.

    The first reads every doctor of the jurisdiction (``doctors``); the
    second, per state, reads until ``limit`` rows of the jurisdiction turn
    up — about ``limit × all doctors / doctors`` if they are spread evenly —
    or the state runs out.  Counts stop at ``QUEUE_COUNT_CAP``; the number
    of doctors is read off the rowid, which costs nothing.
    """
    cap = QUEUE_COUNT_CAP
    marks = ",".join("?" * len(institutions))
    doctors = conn.execute(
        f"SELECT count(*) FROM (SELECT 1 FROM doctors WHERE institution IN ({marks}) LIMIT ?)", [*institutions, cap]
    ).fetchone()[0]
    if doctors >= cap:
        return False
    everyone = conn.execute("SELECT max(rowid) FROM doctors").fetchone()[0] or 1
    per_state = limit * everyone / max(doctors, 1)
    walk = 0.0
    for state in by_state:
        waiting = conn.execute(
            "SELECT count(*) FROM (SELECT 1 FROM instances WHERE cycle = ? AND state = ? LIMIT ?)",
            (cycle, state, cap),
        ).fetchone()[0]
        walk += min(waiting, per_state)
        if walk > doctors:
            return True
    return False


def queue_by_doctors(
    conn: sqlite3.Connection,
    cycle: str,
    by_state: ByState,
    institutions: Sequence[str],
    after: str | None,
    limit: int,
) -> list[str]:
    # ``+i.state``: look each doctor's instance up once by its key, not once per to-do state.
    where, params = clause_sql(by_state, "+i.state")
    marks = ",".join("?" * len(institutions))
    # The unary + stops SQLite from carrying ``id > ?`` over to instances as a range, which it then
    # prefers to the ``doctor = d.id`` equality: one range scan per doctor (seconds, not milliseconds).
    keyset = " AND +d.id > ?" if after is not None else ""
    # CROSS JOIN keeps the doctors of the jurisdiction as the outer loop.
    sql = (
        "SELECT d.id FROM doctors d CROSS JOIN instances i "
        f"WHERE d.institution IN ({marks}){keyset} AND i.cycle = ? AND i.doctor = d.id AND ({where}) "
        "ORDER BY d.id LIMIT ?"
    )
    args = [*institutions, *([after] if after is not None else []), cycle, *params, limit]
    return [r[0] for r in conn.execute(sql, args)]


def queue_by_states(
    conn: sqlite3.Connection,
    cycle: str,
    by_state: ByState,
    institutions: Sequence[str] | None,
    after: str | None,
    limit: int,
) -> list[str]:
    keyset = " AND i.doctor > ?" if after is not None else ""
    inside = ""
    if institutions is not None:
        # The unary + keeps SQLite walking the state index instead of the institution one.
        inside = f" AND +d.institution IN ({','.join('?' * len(institutions))})"
    ids: list[str] = []
    for state, options in by_state.items():
        where, params = clause_sql({state: options})
        sql = (
            "SELECT i.doctor FROM instances i CROSS JOIN doctors d "
            f"WHERE i.cycle = ? AND i.state = ?{keyset} AND d.id = i.doctor AND ({where}){inside} "
            "ORDER BY i.doctor LIMIT ?"
        )
        args = [cycle, state, *([after] if after is not None else []), *params, *(institutions or ()), limit]
        ids += [r[0] for r in conn.execute(sql, args)]
    return sorted(ids)[:limit]


#: How far the work queue counts a jurisdiction or a state before calling it "large".
QUEUE_COUNT_CAP = 5000


def clause_sql(by_state: ByState, column: str = "i.state") -> tuple[str, list[Any]]:
    """``(state = ? AND flag tests) OR …`` for the work queue (``sql.clause_sql`` with SQLite's ``instr``)."""
    clauses = [(state, need, forbid) for state, options in by_state.items() for need, forbid in options]
    return flag_clauses(clauses, column, "instr")


def wanted(inst: Instance, by_state: ByState) -> bool:
    return any(need <= inst.flags and not (forbid & inst.flags) for need, forbid in by_state.get(inst.state, ()))


__all__ = ["QUEUE_COUNT_CAP", "jurisdiction_is_smaller", "queue_by_doctors", "queue_by_states", "wanted"]
