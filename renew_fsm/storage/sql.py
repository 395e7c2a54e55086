"""The SQL both database backends run, written once.

Statements are written with SQLite's ``?`` placeholder and the upsert syntax both
SQLite and PostgreSQL read (``INSERT … ON CONFLICT (…) DO UPDATE``); a ``Dialect``
gives each backend its placeholder.  ``SQLStore`` holds the methods whose SQL is the
same on both and reaches the backend through a few hooks:

- ``conn`` and ``write()`` — the connection to read on, and a write transaction
  yielding something with ``execute``/``executemany`` (SQLite: the connection in the
  writer's turn; PostgreSQL: a cursor in a transaction);
- ``_reading()`` — what a read holds (SQLite: the store's lock; PostgreSQL: nothing,
  a store serves one thread at a time);
- ``_snapshot()`` — a read transaction that sees one state of the world;
- ``_lock_log(c)`` — what keeps one writer at the registry log's tail;
- ``UNIQUE_VIOLATION`` / ``_said(exc)`` — the driver's duplicate-key error and its message;
- ``_bump(c)`` — the world version, one more.

The hot paths that differ in more than the placeholder (SQLite's chunked ``load``
and ``executemany`` commits, PostgreSQL's one-statement fire and ``COPY``), the
migrations and the work-queue planners stay in their backends.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, nullcontext
from typing import Any

import attrs

from ..keys import HistoryKey
from ..model import CORRECTABLE, Case, Doctor, Instance, Record
from ..rules.policy import ExemptionReason
from ..world import Agency, Institution, Region
from .base import (
    CASE_COLUMNS,
    DOCTOR_COLUMNS,
    HISTORY_COLUMNS,
    INSTANCE_COLUMNS,
    CaseWrites,
    ConflictError,
    WorldRows,
    case_from_row,
    case_row,
    check_doctor_batch,
    doctor_digests,
    doctor_from_row,
    doctor_row,
    instance_from_row,
    instance_row,
    new_doctor_rows,
    page_end,
    policy_text_sha256,
    record_from_row,
    same_doctor,
    scan_keyset,
)
from .registry import LOG_COLUMNS, REGISTRY_KEYS, dict_rows, key_name, new_entry, row_digest, row_name


@attrs.frozen
class Dialect:
    """A backend's placeholder: ``dialect(sql)`` is ``sql`` with each ``?`` as the driver wants it."""

    mark: str

    def __call__(self, sql: str) -> str:
        return sql if self.mark == "?" else sql.replace("?", self.mark)

    def marks(self, n: int) -> str:
        """``n`` placeholders, comma-separated."""
        return ", ".join([self.mark] * n)


SQLITE = Dialect("?")
POSTGRES = Dialect("%s")


def values(n: int) -> str:
    """``?, ?, …``: ``n`` placeholders in the shared notation."""
    return ", ".join(["?"] * n)


_SET = ", ".join(f"{c} = ?" for c in INSTANCE_COLUMNS[2:])
UPDATE_INSTANCE = f"UPDATE instances SET {_SET} WHERE cycle = ? AND doctor = ? AND version = ?"
INSERT_HISTORY = f"INSERT INTO history ({', '.join(HISTORY_COLUMNS)}) VALUES ({values(len(HISTORY_COLUMNS))})"
INSERT_DOCTOR = f"INSERT INTO doctors ({', '.join(DOCTOR_COLUMNS)}) VALUES ({values(len(DOCTOR_COLUMNS))})"
INSERT_INSTANCE = (
    f"INSERT INTO instances ({', '.join(INSTANCE_COLUMNS)}, institution) VALUES ({values(len(INSTANCE_COLUMNS) + 1)})"
)
INSERT_LOG = f"INSERT INTO registry_log ({', '.join(LOG_COLUMNS)}) VALUES ({values(len(LOG_COLUMNS))})"
#: A page of instances with their doctors: the instance's columns, then the doctor's.
SELECT_PAIR = ", ".join([*(f"i.{c}" for c in INSTANCE_COLUMNS), *(f"d.{c}" for c in DOCTOR_COLUMNS)])
PAIR_SPLIT = len(INSTANCE_COLUMNS)
#: The columns of ``history`` and ``doctors``, in the order ``record_from_row``/``doctor_from_row`` read.
HISTORY = ", ".join(HISTORY_COLUMNS)
DOCTORS = ", ".join(DOCTOR_COLUMNS)
#: A cycle's whole history in the order ``verify`` walks it.
ALL_HISTORY = f"SELECT {HISTORY} FROM history WHERE cycle = ? ORDER BY doctor, seq"
_CASE_COLS = ", ".join(CASE_COLUMNS)
_INSERT_CASE = f"INSERT INTO cases ({_CASE_COLS}) VALUES ({values(len(CASE_COLUMNS))})"
_UPDATE_CASE = (
    "UPDATE cases SET subject = ?, state = ?, version = ?, flags = ?, data = ?, head = ? "
    "WHERE machine = ? AND id = ? AND version = ?"
)
UPSERT_META = "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value"
UPSERT_INSTITUTION = (
    "INSERT INTO institutions (id, region, name, kind) VALUES (?, ?, ?, ?) ON CONFLICT (id) DO UPDATE "
    "SET region = excluded.region, name = excluded.name, kind = excluded.kind"
)
_UPSERT_REASON = (
    "INSERT INTO exemption_reasons (cycle, id, text, open) VALUES (?, ?, ?, ?) "
    "ON CONFLICT (cycle, id) DO UPDATE SET text = excluded.text, open = excluded.open"
)
INSERT_REASON_IF_NEW = (
    "INSERT INTO exemption_reasons (cycle, id, text, open) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING"
)
#: The first text stays: records already judged under this id and version name its SHA-256 (the
#: engine refuses other rules under a stored name; a re-worded copy changes nothing).
_INSERT_POLICY = (
    "INSERT INTO policies (id, version, text, loaded_at, sha256) VALUES (?, ?, ?, ?, ?) "
    "ON CONFLICT (id, version) DO NOTHING"
)
#: Rows of a logged table ``registry_rows`` reads at a time.
REGISTRY_PAGE = 5000


def registry_baseline(c: Any, dialect: Dialect) -> None:
    """The registry log's first entries, made by the schema-6 upgrade: the rows already there (by the
    unkeyed rule: there was no log).  ``c``: a connection or cursor inside the upgrade's transaction."""
    if c.execute("SELECT 1 FROM registry_log LIMIT 1").fetchone() is not None:
        return  # (the step run again on a store that has its log)
    for table in REGISTRY_KEYS:
        cur = c.execute(f"SELECT * FROM {table}")
        names = [d[0] for d in cur.description or ()]
        changes = {row_name(table, r): row_digest(r) for r in dict_rows(names, cur.fetchall())}
        if changes:
            tail = c.execute("SELECT seq, hash FROM registry_log ORDER BY seq DESC LIMIT 1").fetchone()
            c.execute(dialect(INSERT_LOG), new_entry(None, tail, table, changes))


@attrs.frozen
class QueueAsk:
    """One ``work_queue`` call, as a backend's planner receives it (see ``Storage.work_queue``)."""

    cycle: str
    clauses: Sequence[tuple[str, frozenset[str], frozenset[str]]]
    institutions: Sequence[str] | None
    doctor: str | None
    after: str | None
    limit: int


def clause_sql(
    clauses: Iterable[tuple[str, frozenset[str], frozenset[str]]], column: str, find: str
) -> tuple[str, list[Any]]:
    """``(state = ? AND flag tests) OR …`` for the work queue; flags are stored comma-joined.

    ``column``: the state column as the query names it; ``find``: the dialect's substring
    position function (SQLite's ``instr``, PostgreSQL's ``strpos``)."""
    parts: list[str] = []
    params: list[Any] = []
    for state, need, forbid in clauses:
        tests = [f"{column} = ?"]
        params.append(state)
        for flag in sorted(need):
            tests.append(f"{find}(',' || coalesce(i.flags, '') || ',', ?) > 0")
            params.append(f",{flag},")
        for flag in sorted(forbid):
            tests.append(f"{find}(',' || coalesce(i.flags, '') || ',', ?) = 0")
            params.append(f",{flag},")
        parts.append("(" + " AND ".join(tests) + ")")
    return " OR ".join(parts), params


def pairs(rows: Sequence[Sequence[Any]]) -> list[tuple[Instance, Doctor]]:
    """Rows of ``SELECT_PAIR`` as (instance, doctor)."""
    return [(instance_from_row(r), doctor_from_row(r[PAIR_SPLIT:])) for r in rows]


class SQLStore:
    """The storage methods whose SQL is the same on SQLite and PostgreSQL (see the module)."""

    dialect: Dialect
    conn: Any
    key: HistoryKey | None = None
    #: The driver's error for a duplicate key (a record or case already stored).
    UNIQUE_VIOLATION: tuple[type[Exception], ...] = ()

    # -- the hooks a backend provides ---------------------------------------------------------------
    def write(self) -> AbstractContextManager[Any]: ...
    def _reading(self) -> AbstractContextManager[Any]: ...
    def _snapshot(self) -> AbstractContextManager[Any]: ...
    def _bump(self, c: Any) -> None: ...

    def _stored_doctors(self, c: Any, ids: Sequence[str]) -> dict[str, Doctor]: ...
    def _add_instances(self, c: Any, cycle: str, doctors: Sequence[Doctor]) -> None: ...
    def _insert_new(self, c: Any, doctors: list[Any], instances: list[Any], records: Sequence[Record]) -> None: ...
    def _queue_page(self, ask: QueueAsk) -> list[tuple[Instance, Doctor]]: ...

    def _lock_log(self, c: Any) -> None:
        """Keep one writer at the registry log's tail until commit (SQLite's writer turn already does)."""

    def _said(self, exc: Exception) -> str:
        return str(exc)

    def _q(self, sql: str) -> str:
        return self.dialect(sql)

    def _read(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        with self._reading():
            return self.conn.execute(self._q(sql), params).fetchall()

    def _read_one(self, sql: str, params: Sequence[Any] = ()) -> Any:
        with self._reading():
            return self.conn.execute(self._q(sql), params).fetchone()

    # -- settings and the world ----------------------------------------------------------------------
    def get_meta(self, key: str) -> str | None:
        row = self._read_one("SELECT value FROM meta WHERE key = ?", (key,))
        return row[0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        with self.write() as c:
            c.execute(self._q(UPSERT_META), (key, value))

    def world_version(self) -> int:
        return int(self.get_meta("world_version") or 0)

    def load_world(self, cycle: str | None) -> WorldRows:
        q = self._q
        with self._snapshot() as c:
            version = int(c.execute("SELECT value FROM meta WHERE key = 'world_version'").fetchone()[0])
            regions = [Region(*r) for r in c.execute("SELECT id, level, name, parent FROM regions").fetchall()]
            institutions = [
                Institution(*r) for r in c.execute("SELECT id, region, name, kind FROM institutions").fetchall()
            ]
            assigned: dict[str, set[str]] = {}
            for agency, inst in c.execute("SELECT agency, institution FROM assignments").fetchall():
                assigned.setdefault(agency, set()).add(inst)
            agencies = [
                Agency(aid, region, name, frozenset(assigned.get(aid, ())))
                for aid, region, name in c.execute("SELECT id, region, name FROM agencies").fetchall()
            ]
            text = None
            row = c.execute("SELECT value FROM meta WHERE key = 'policy'").fetchone()
            if row:
                pid, pver = row[0].split("@", 1)
                found = c.execute(q("SELECT text FROM policies WHERE id = ? AND version = ?"), (pid, pver)).fetchone()
                text = found[0] if found else None
            reasons = {
                rid: ExemptionReason(rtext, bool(ropen))
                for rid, rtext, ropen in c.execute(
                    q("SELECT id, text, open FROM exemption_reasons WHERE cycle = ? ORDER BY id"), (cycle or "",)
                ).fetchall()
            }
        return WorldRows(version, regions, institutions, agencies, text, reasons)

    def put_region(self, region: Region) -> None:
        with self.write() as c:
            c.execute(
                self._q(
                    "INSERT INTO regions (id, level, name, parent) VALUES (?, ?, ?, ?) ON CONFLICT (id) DO UPDATE "
                    "SET level = excluded.level, name = excluded.name, parent = excluded.parent"
                ),
                (region.id, region.level, region.name, region.parent),
            )
            self._log_rows(c, "regions", [(region.id,)])
            self._bump(c)

    def put_institution(self, institution: Institution) -> None:
        i = institution
        with self.write() as c:
            c.execute(self._q(UPSERT_INSTITUTION), (i.id, i.region, i.name, i.kind))
            self._log_rows(c, "institutions", [(i.id,)])
            self._bump(c)

    def put_institutions(self, institutions: Sequence[Institution]) -> None:
        """Insert or replace many institutions in one transaction (a CSV import: all or nothing)."""
        with self.write() as c:
            if institutions:
                c.executemany(self._q(UPSERT_INSTITUTION), [(i.id, i.region, i.name, i.kind) for i in institutions])
                # Digests of the rows as written, not read back: a nation's import writes 80,000 at once.
                rows = ({"id": i.id, "region": i.region, "name": i.name, "kind": i.kind} for i in institutions)
                self._log(c, "institutions", {row["id"]: row_digest(row) for row in rows})
            self._bump(c)

    def put_agency(self, agency: Agency) -> None:
        a, q = agency, self._q
        with self.write() as c:
            c.execute(
                q(
                    "INSERT INTO agencies (id, region, name) VALUES (?, ?, ?) "
                    "ON CONFLICT (id) DO UPDATE SET region = excluded.region, name = excluded.name"
                ),
                (a.id, a.region, a.name),
            )
            held = [r[0] for r in c.execute(q("SELECT institution FROM assignments WHERE agency = ?"), (a.id,))]
            c.execute(q("DELETE FROM assignments WHERE agency = ?"), (a.id,))
            if a.institutions:
                c.executemany(
                    q("INSERT INTO assignments (agency, institution) VALUES (?, ?)"),
                    [(a.id, inst) for inst in sorted(a.institutions)],
                )
            self._log_rows(c, "agencies", [(a.id,)])
            self._log_rows(c, "assignments", [(a.id, inst) for inst in sorted({*held, *a.institutions})])
            self._bump(c)

    def put_policy(self, policy_id: str, version: str, text: str) -> None:
        with self.write() as c:
            self._put_policy(c, policy_id, version, text)
            self._bump(c)

    def _put_policy(self, c: Any, policy_id: str, version: str, text: str) -> None:
        now = dt.datetime.now(dt.UTC).isoformat()
        c.execute(self._q(_INSERT_POLICY), (policy_id, version, text, now, policy_text_sha256(text)))
        c.execute(self._q(UPSERT_META), ("policy", f"{policy_id}@{version}"))

    def policy_text(self, policy_id: str, version: str) -> str | None:
        row = self._read_one("SELECT text FROM policies WHERE id = ? AND version = ?", (policy_id, version))
        return row[0] if row else None

    def put_exemption_reason(self, cycle: str, reason_id: str, reason: ExemptionReason) -> None:
        with self.write() as c:
            c.execute(self._q(_UPSERT_REASON), (cycle, reason_id, reason.text, int(reason.open)))
            self._log_rows(c, "exemption_reasons", [(cycle, reason_id)])
            self._bump(c)

    # -- doctors, instances and history --------------------------------------------------------------
    def put_doctors(self, doctors: Sequence[Doctor], cycle: str | None) -> list[str]:
        check_doctor_batch(doctors)
        present: list[str] = []
        with self.write() as c:
            old = self._stored_doctors(c, [d.id for d in doctors])
            for doc in doctors:
                if doc.id in old:
                    if not same_doctor(old[doc.id], doc):
                        raise ConflictError(f"doctor {doc.id!r} already exists with other details")
                    present.append(doc.id)
            fresh = [doctor_row(d) for d in doctors if d.id not in old]
            if fresh:
                c.executemany(self._q(f"{INSERT_DOCTOR} ON CONFLICT DO NOTHING"), fresh)
                self._log(c, "doctors", doctor_digests(fresh))
            if cycle and doctors:
                self._add_instances(c, cycle, doctors)
        return present

    def put_new_doctors(
        self, doctors: Sequence[Doctor], instances: Sequence[Instance], records: Sequence[Record]
    ) -> None:
        doctor_rows, instance_rows = new_doctor_rows(doctors, instances, records)
        try:
            with self.write() as c:
                self._insert_new(c, doctor_rows, instance_rows, records)
                # One registry entry for the batch, not one per doctor: the bulk path's only extra row.
                self._log(c, "doctors", doctor_digests(doctor_rows))
        except self.UNIQUE_VIOLATION as exc:
            raise ConflictError(f"a new doctor, instance or record is already stored ({self._said(exc)})") from None

    def work_queue(
        self,
        cycle: str,
        clauses: Sequence[tuple[str, frozenset[str], frozenset[str]]],
        institutions: Sequence[str] | None,
        doctor: str | None,
        after: str | None,
        limit: int,
    ) -> list[tuple[Instance, Doctor]]:
        """A page of the instances matching ``clauses`` inside the jurisdiction, by doctor id (see base);
        how to find it is the backend's (``_queue_page``)."""
        if not clauses:
            return []
        return self._queue_page(QueueAsk(cycle, clauses, institutions, doctor, after, limit))

    def get_doctor(self, doctor_id: str) -> Doctor | None:
        row = self._read_one(f"SELECT {DOCTORS} FROM doctors WHERE id = ?", (doctor_id,))
        return doctor_from_row(row) if row else None

    def history(self, cycle: str, doctor_id: str) -> list[Record]:
        rows = self._read(
            f"SELECT {HISTORY} FROM history WHERE cycle = ? AND doctor = ? ORDER BY seq", (cycle, doctor_id)
        )
        return [record_from_row(r) for r in rows]

    def deciding(self) -> AbstractContextManager[None]:
        return nullcontext()  # every read asks the database (SQLite remembers: ``SQLiteStorage.deciding``)

    def find_idempotent(self, cycle: str, doctor_id: str, key: str) -> Record | None:
        row = self._read_one(
            f"SELECT {HISTORY} FROM history WHERE cycle = ? AND doctor = ? AND idempotency_key = ?",
            (cycle, doctor_id, key),
        )
        return record_from_row(row) if row else None

    def instance_ids(self, cycle: str) -> list[str]:
        return [r[0] for r in self._read("SELECT doctor FROM instances WHERE cycle = ? ORDER BY doctor", (cycle,))]

    def cycles(self) -> list[str]:
        return [r[0] for r in self._read("SELECT DISTINCT cycle FROM instances ORDER BY cycle")]

    def count_history(self, cycle: str) -> int:
        return self._read_one("SELECT count(*) FROM history WHERE cycle = ?", (cycle,))[0]

    def scan(
        self, cycle: str, states: Sequence[str] | None, after: str | None, limit: int, until: str | None = None
    ) -> list[tuple[Instance, Doctor]]:
        """One query per state, each an ordered walk of the (cycle, state, doctor) index.

        ``state IN (…) ORDER BY doctor`` would sort every matching row for each
        page, which makes a paged walk of a million doctors quadratic.
        """
        q = self._q
        base = f"SELECT {SELECT_PAIR} FROM instances i JOIN doctors d ON d.id = i.doctor WHERE i.cycle = ?"
        keyset, tail = scan_keyset(after, until, "?")
        rows: list[Any] = []
        with self._reading():
            if states is None:
                rows = self.conn.execute(
                    q(f"{base}{keyset} ORDER BY i.doctor LIMIT ?"), [cycle, *tail, limit]
                ).fetchall()
            else:
                states = list(dict.fromkeys(states))
                if len(states) > 1:
                    ids = q(
                        f"SELECT i.doctor FROM instances i WHERE i.cycle = ? AND i.state = ?{keyset}"
                        " ORDER BY i.doctor LIMIT ?"
                    )
                    walks = [self.conn.execute(ids, [cycle, s, *tail, limit]).fetchall() for s in states]
                    bound = page_end(walks, limit)
                    if bound is not None:
                        keyset, tail = scan_keyset(after, bound, "?")
                sql = q(f"{base} AND i.state = ?{keyset} ORDER BY i.doctor LIMIT ?")
                for state in states:
                    rows += self.conn.execute(sql, [cycle, state, *tail, limit]).fetchall()
                if len(states) > 1:
                    rows.sort(key=lambda r: r[0])
                    del rows[limit:]  # another writer may have moved a doctor in between
        return pairs(rows)

    # -- the registry log (see ``registry``) ---------------------------------------------------------
    def _log(self, c: Any, table: str, changes: dict[str, str | None]) -> None:
        """Append the entry for ``changes`` (row name → digest, ``None``: gone), holding the log's tail
        (``_lock_log``) so the tail read here is still the tail when the entry lands."""
        if changes:
            self._lock_log(c)
            tail = c.execute("SELECT seq, hash FROM registry_log ORDER BY seq DESC LIMIT 1").fetchone()
            c.execute(self._q(INSERT_LOG), new_entry(self.key, tail, table, changes))

    def _log_rows(self, c: Any, table: str, keys: list[tuple[Any, ...]]) -> None:
        """Log the rows named by ``keys`` as they now stand (read back: what is stored is what is logged)."""
        where = " AND ".join(f"{k} = ?" for k in REGISTRY_KEYS[table])
        sql = self._q(f"SELECT * FROM {table} WHERE {where}")
        changes: dict[str, str | None] = {}
        for key in keys:
            cur = c.execute(sql, key)
            row = cur.fetchone()
            names = [d[0] for d in cur.description or ()]
            changes[key_name(key)] = row_digest(dict(zip(names, row, strict=True))) if row else None
        self._log(c, table, changes)

    def registry_log(self) -> list[tuple[int, str, str, str, str]]:
        return self._read(f"SELECT {', '.join(LOG_COLUMNS)} FROM registry_log ORDER BY seq")

    def registry_rows(self, table: str) -> Iterator[dict[str, Any]]:
        """Streamed in pages along the key (a nation's doctors are millions of rows)."""
        if table not in REGISTRY_KEYS:
            raise ValueError(f"{table!r} is not a logged table")
        keys = REGISTRY_KEYS[table]
        order = ", ".join(keys)
        after: tuple[Any, ...] | None = None
        while True:
            where = f"WHERE ({order}) > ({values(len(keys))})" if after is not None else ""
            with self._reading():
                cur = self.conn.execute(
                    self._q(f"SELECT * FROM {table} {where} ORDER BY {order} LIMIT {REGISTRY_PAGE}"), after or ()
                )
                page = list(dict_rows([d[0] for d in cur.description or ()], cur.fetchall()))
            yield from page
            if len(page) < REGISTRY_PAGE:
                return
            after = tuple(page[-1][k] for k in keys)

    def policies(self) -> list[tuple[str, str, str, str | None]]:
        return self._read("SELECT id, version, text, sha256 FROM policies ORDER BY id, version")

    # -- institution changes and workflow cases ------------------------------------------------------
    def move_doctor(self, expected: int, inst: Instance, record: Record, institution: str) -> None:
        q = self._q
        try:
            with self.write() as c:
                cur = c.execute(q(UPDATE_INSTANCE), (*instance_row(inst)[2:], inst.cycle, inst.doctor, expected))
                if cur.rowcount != 1:
                    raise ConflictError(f"{inst.doctor} changed since it was read")
                c.execute(q("UPDATE doctors SET institution = ? WHERE id = ?"), (institution, inst.doctor))
                c.execute(q("UPDATE instances SET institution = ? WHERE doctor = ?"), (institution, inst.doctor))
                c.execute(q(INSERT_HISTORY), tuple(record))
                self._log_rows(c, "doctors", [(inst.doctor,)])
        except self.UNIQUE_VIOLATION as exc:
            raise ConflictError(f"history already has this record ({self._said(exc)})") from None

    def load_case(self, machine: str, case_id: str) -> Case | None:
        row = self._read_one(f"SELECT {_CASE_COLS} FROM cases WHERE machine = ? AND id = ?", (machine, case_id))
        return case_from_row(row) if row else None

    def commit_case(self, expected: int, case: Case, record: Record, writes: CaseWrites) -> None:
        q = self._q
        try:
            with self.write() as c:
                if expected == 0:
                    c.execute(q(_INSERT_CASE), case_row(case))
                else:
                    row = case_row(case)
                    cur = c.execute(q(_UPDATE_CASE), (*row[2:], case.machine, case.id, expected))
                    if cur.rowcount != 1:
                        raise ConflictError(f"case {case.machine}/{case.id} changed since it was read")
                c.execute(q(INSERT_HISTORY), tuple(record))
                self._case_writes(c, case, writes)
        except self.UNIQUE_VIOLATION as exc:
            raise ConflictError(
                f"case {case.machine}/{case.id} changed since it was read ({self._said(exc)})"
            ) from None

    def _case_writes(self, c: Any, case: Case, w: CaseWrites) -> None:
        q = self._q
        if w.agency is not None:
            a = w.agency
            c.execute(
                q(
                    "INSERT INTO agencies (id, region, name) VALUES (?, ?, ?) "
                    "ON CONFLICT (id) DO UPDATE SET region = excluded.region, name = excluded.name"
                ),
                (a.id, a.region, a.name),
            )
            self._log_rows(c, "agencies", [(a.id,)])
        if w.assign is not None:
            c.execute(q("INSERT INTO assignments (agency, institution) VALUES (?, ?) ON CONFLICT DO NOTHING"), w.assign)
            self._log_rows(c, "assignments", [w.assign])
        if w.unassign is not None:
            c.execute(q("DELETE FROM assignments WHERE agency = ? AND institution = ?"), w.unassign)
            self._log_rows(c, "assignments", [w.unassign])
        if w.profile is not None:
            doctor, profile = w.profile
            c.execute(
                q("UPDATE doctors SET profile = ? WHERE id = ?"),
                (json.dumps(profile, ensure_ascii=False, sort_keys=True), doctor),
            )
            self._log_rows(c, "doctors", [(doctor,)])
        if w.registry is not None:
            doctor, fields = w.registry
            columns = [col for col in CORRECTABLE if col in fields]  # names from our list, never the caller's
            if columns:
                c.execute(
                    q(f"UPDATE doctors SET {', '.join(f'{col} = ?' for col in columns)} WHERE id = ?"),
                    (*(fields[col] for col in columns), doctor),
                )
                self._log_rows(c, "doctors", [(doctor,)])
        if w.credential is not None:
            c.execute(
                q(
                    "INSERT INTO credentials (account, hash) VALUES (?, ?) "
                    "ON CONFLICT (account) DO UPDATE SET hash = excluded.hash"
                ),
                w.credential,
            )
            self._log_rows(c, "credentials", [(w.credential[0],)])
        if w.file is not None:
            c.execute(
                q(
                    "INSERT INTO case_files (machine, id, name, content) VALUES (?, ?, ?, ?) "
                    "ON CONFLICT (machine, id) DO UPDATE SET name = excluded.name, content = excluded.content"
                ),
                (case.machine, case.id, *w.file),
            )
            self._log_rows(c, "case_files", [(case.machine, case.id)])
        if w.policy is not None:
            self._put_policy(c, *w.policy)  # the first text stays, as ``put_policy`` keeps it
        if w.seed_reasons is not None:
            cycle, reasons = w.seed_reasons
            if reasons:
                c.executemany(
                    q(INSERT_REASON_IF_NEW),
                    [(cycle, rid, r.text, int(r.open)) for rid, r in reasons.items()],
                )
                self._log_rows(c, "exemption_reasons", [(cycle, rid) for rid in reasons])
        if w.reason is not None:
            cycle, rid, reason = w.reason
            if reason is None:
                c.execute(q("DELETE FROM exemption_reasons WHERE cycle = ? AND id = ?"), (cycle, rid))
            else:
                c.execute(q(_UPSERT_REASON), (cycle, rid, reason.text, int(reason.open)))
            self._log_rows(c, "exemption_reasons", [(cycle, rid)])
        if w.revoke is not None:
            released = c.execute(
                q("SELECT agency, institution FROM assignments WHERE agency = ?"), (w.revoke,)
            ).fetchall()
            c.execute(q("DELETE FROM assignments WHERE agency = ?"), (w.revoke,))
            c.execute(q("DELETE FROM agencies WHERE id = ?"), (w.revoke,))
            self._log_rows(c, "assignments", [tuple(row) for row in released])
            self._log_rows(c, "agencies", [(w.revoke,)])
        if w.world:
            self._bump(c)

    def scan_cases(self, machine: str, after: str | None, limit: int) -> list[Case]:
        rows = self._read(
            f"SELECT {_CASE_COLS} FROM cases WHERE machine = ? AND id > ? ORDER BY id LIMIT ?",
            (machine, after if after is not None else "", limit),
        )
        return [case_from_row(r) for r in rows]

    def set_credential(self, account: str, hashed: str) -> None:
        """Replace an account's hash alone (a sign-in upgrading it to the current parameters)."""
        with self.write() as c:
            c.execute(self._q("UPDATE credentials SET hash = ? WHERE account = ?"), (hashed, account))
            self._log_rows(c, "credentials", [(account,)])

    def credential(self, account: str) -> str | None:
        row = self._read_one("SELECT hash FROM credentials WHERE account = ?", (account,))
        return row[0] if row else None

    def case_file(self, machine: str, case_id: str) -> tuple[str, str] | None:
        row = self._read_one("SELECT name, content FROM case_files WHERE machine = ? AND id = ?", (machine, case_id))
        return (row[0], row[1]) if row else None


__all__ = [
    "ALL_HISTORY",
    "DOCTORS",
    "HISTORY",
    "INSERT_DOCTOR",
    "INSERT_HISTORY",
    "INSERT_INSTANCE",
    "INSERT_LOG",
    "PAIR_SPLIT",
    "POSTGRES",
    "SELECT_PAIR",
    "SQLITE",
    "UPDATE_INSTANCE",
    "UPSERT_META",
    "Dialect",
    "QueueAsk",
    "SQLStore",
    "clause_sql",
    "pairs",
    "registry_baseline",
    "values",
]
