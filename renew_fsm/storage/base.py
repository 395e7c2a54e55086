"""The storage contract every backend keeps, and the row shapes they share.

A backend stores the world (regions, institutions, agencies, doctors, the
policy, the province's exemption list, the clock), each instance's record and
its append-only history.  ``commit`` writes instance updates and their history
records in one transaction, checking each instance's version first: a lost
race raises ``ConflictError`` and writes nothing.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import operator
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol, TypeVar

import attrs

from ..keys import HistoryKey
from ..model import Case, Doctor, Instance, Record
from ..rules.policy import ExemptionReason
from ..world import Agency, Institution, Region
from .registry import row_digest

#: 2: the appeal's days on ``instances``; workflow ``cases``, ``credentials`` and ``case_files``.
#: 3: each instance's institution.  4: PostgreSQL compares ids by code point, as SQLite always did.
#: 5: the doctors' sex, certificate numbers and category of practice; an index on the id-card number.
#: 6: the registry log, each policy's SHA-256, and triggers refusing to rewrite history.
SCHEMA_VERSION = 6


class ConflictError(Exception):
    """An instance changed since it was read (or a doctor id already exists with other details)."""


class StorageError(Exception):
    """A store that cannot be opened or used: a wrong URL, a newer schema, a missing driver, a lost
    connection, a closed store.  The message says what to do."""


@attrs.frozen
class WorldRows:
    version: int
    regions: list[Region]
    institutions: list[Institution]
    agencies: list[Agency]
    policy_text: str | None
    reasons: dict[str, ExemptionReason]


def policy_text_sha256(text: str) -> str:
    """The SHA-256 of a policy's text: what a keyed record names, and the ``policies`` table keeps."""
    return hashlib.sha256(text.encode()).hexdigest()


#: The tables a store only ever appends to: the database refuses to update or delete their rows.
APPEND_ONLY = ("history", "registry_log")


class Storage(Protocol):
    url: str
    #: The history key the store was opened with (``renew_fsm.keys``): the registry log's entries are
    #: HMACs with it, as the engine's records are.
    key: HistoryKey | None

    def close(self) -> None: ...

    # -- settings and the world ----------------------------------------------------------
    def get_meta(self, key: str) -> str | None: ...
    def set_meta(self, key: str, value: str) -> None: ...
    def meta_with_prefix(self, prefix: str) -> list[tuple[str, str]]:
        """Settings whose key starts with ``prefix`` (a service's sessions), by key."""
        ...

    def changes(self, cycle: str, after: int, limit: int) -> list[tuple[int, Record]]:
        """The cycle's history in the order it was committed, after position ``after``: (position,
        record) pairs, at most ``limit``.  A position is never reused, and no record is committed later
        at a position a reader has already passed — what a change feed (notifications) reads."""
        ...

    def delete_meta(self, keys: Sequence[str]) -> None:
        """Remove these settings (ended sessions); keys not there are ignored."""
        ...

    def world_version(self) -> int: ...
    def load_world(self, cycle: str | None) -> WorldRows: ...
    def put_region(self, region: Region) -> None: ...
    def put_institution(self, institution: Institution) -> None: ...
    def put_agency(self, agency: Agency) -> None: ...
    def put_policy(self, policy_id: str, version: str, text: str) -> None: ...
    def policy_text(self, policy_id: str, version: str) -> str | None: ...
    def put_exemption_reason(self, cycle: str, reason_id: str, reason: ExemptionReason) -> None: ...
    def seed_exemption_reasons(self, cycle: str, reasons: dict[str, ExemptionReason]) -> None: ...

    # -- doctors and instances ----------------------------------------------------------
    def put_doctors(self, doctors: Sequence[Doctor], cycle: str | None) -> list[str]:
        """Insert doctors (and their instances when a cycle is set); returns ids already present unchanged.

        Raises ``ConflictError`` (writing nothing) when an id exists with other details.
        """
        ...

    def put_new_doctors(
        self, doctors: Sequence[Doctor], instances: Sequence[Instance], records: Sequence[Record]
    ) -> None:
        """Insert doctors none of which is stored yet, each with its instance as given, and their records.

        One transaction: what ``put_doctors`` then ``commit`` would write, without the fresh instances
        being written, read back and updated.  ``instances`` holds one instance per doctor, ``records``
        only those doctors' records (``ValueError`` otherwise).  A doctor, instance or record already
        stored is a ``ConflictError`` and nothing is written.
        """
        ...

    def get_doctor(self, doctor_id: str) -> Doctor | None: ...
    def doctors_with_id_cards(self, id_cards: Sequence[str]) -> dict[str, str]:
        """The stored doctor id holding each of ``id_cards`` that one does (card → doctor id)."""
        ...

    def ensure_instances(self, cycle: str) -> int: ...
    def load(self, cycle: str, doctor_ids: Sequence[str]) -> dict[str, tuple[Instance, Doctor]]: ...
    def commit(self, updates: Sequence[tuple[int, Instance]], records: Sequence[Record]) -> None: ...
    def history(self, cycle: str, doctor_id: str) -> list[Record]: ...
    def instance_ids(self, cycle: str) -> list[str]: ...
    def scan(
        self, cycle: str, states: Sequence[str] | None, after: str | None, limit: int, until: str | None = None
    ) -> list[tuple[Instance, Doctor]]:
        """Instances in ``states`` (all if ``None``) with ``after`` < doctor id ≤ ``until``, by doctor id."""
        ...

    def find_idempotent(self, cycle: str, doctor_id: str, key: str) -> Record | None: ...
    def deciding(self) -> AbstractContextManager[None]:
        """One decision's reads: an online fire reads the world's version, the instance and its
        idempotency key.  A store that can tell cheaply whether anything changed since it last read
        (SQLite) looks once at the start and answers them from what it remembers; elsewhere each
        read asks the database.  The write after them is checked as always (``commit``)."""
        ...

    def all_history(self, cycle: str) -> Iterable[Record]:
        """Every record of the cycle, grouped by doctor, oldest first within each doctor."""
        ...

    def cycles(self) -> list[str]: ...
    def count_history(self, cycle: str) -> int: ...
    def checkpoint(self) -> None:
        """Copy what a write-ahead log holds back into the database, beside the writers and without
        waiting for any; nothing where the backend keeps no such log of its own (memory; PostgreSQL,
        whose server checkpoints by itself)."""
        ...

    def tally(self, cycle: str) -> list[tuple[str, str, str | None, str | None, int]]:
        """(institution, state, program, reason, count): every statistic is a sum over these."""
        ...

    # -- the institution change and workflow cases -------------------------------------------
    def move_doctor(self, expected: int, inst: Instance, record: Record, institution: str) -> None:
        """The doctor's new institution, their instance and its history record, in one transaction
        (``ConflictError`` if the instance changed since it was read)."""
        ...

    def load_case(self, machine: str, case_id: str) -> Case | None: ...
    def commit_case(self, expected: int, case: Case, record: Record, writes: CaseWrites) -> None:
        """The case (inserted at version 0, else updated if still at ``expected``), its history record and
        what it writes outside itself, in one transaction; ``ConflictError`` writes nothing."""
        ...

    def scan_cases(self, machine: str, after: str | None, limit: int) -> list[Case]:
        """The machine's cases with id > ``after``, by id."""
        ...

    def credential(self, account: str) -> str | None:
        """An account's password hash (never a password)."""
        ...

    def set_credential(self, account: str, hashed: str) -> None:
        """Replace an existing account's hash (a sign-in upgrading it to the current parameters)."""
        ...

    def case_file(self, machine: str, case_id: str) -> tuple[str, str] | None:
        """A file a case produced: (name, text)."""
        ...

    def work_queue(
        self,
        cycle: str,
        clauses: Sequence[tuple[str, frozenset[str], frozenset[str]]],
        institutions: Sequence[str] | None,
        doctor: str | None,
        after: str | None,
        limit: int,
    ) -> list[tuple[Instance, Doctor]]:
        """Up to ``limit`` instances with doctor id > ``after``, in doctor-id order, that match a clause.

        A clause ``(state, need, forbid)`` matches an instance in ``state`` carrying
        every flag of ``need`` and none of ``forbid``.  ``institutions`` (the
        doctors' main institutions) and ``doctor`` narrow the search when not
        ``None``.  Backs ``renew_fsm.queue``: it must read along indexes, not
        scan the cycle, since a front end asks for a page on every screen.
        """
        ...

    def put_institutions(self, institutions: Sequence[Institution]) -> None:
        """Insert or replace many institutions in one transaction, bumping the world version once."""
        ...

    # -- integrity -------------------------------------------------------------------------------
    def registry_log(self) -> Iterable[tuple[int, str, str, str, str]]:
        """Every registry-log entry (seq, at, table, rows as JSON, hash), oldest first."""
        ...

    def registry_rows(self, table: str) -> Iterable[dict[str, Any]]:
        """Every row of a logged table (``registry.REGISTRY_KEYS``) as stored, column by column."""
        ...

    def policies(self) -> list[tuple[str, str, str, str | None]]:
        """Every stored policy: (id, version, text, the SHA-256 stored when it was loaded)."""
        ...


#: The contract's methods that ``guarded`` wraps: all of them, ``close`` apart (it gets its own wrapper).
STORAGE_METHODS = tuple(
    name for name, member in vars(Storage).items() if callable(member) and not name.startswith("_") and name != "close"
)
CLOSED = "this store is closed"
_Backend = TypeVar("_Backend", bound=type)


def guarded(cls: _Backend) -> _Backend:
    """Make a backend fail alike on every method once closed, and name its driver's failures.

    Left to themselves the backends differed after ``close``: the memory store
    went on working, SQLite raised ``sqlite3.ProgrammingError`` and psycopg
    ``OperationalError``.  Wrapped, every contract method of a closed store
    raises ``StorageError(CLOSED)``, and closing again does nothing.  A backend
    whose driver fails in ways a service must handle (a lost PostgreSQL
    connection) lists those errors in ``DRIVER_ERRORS``; ``_failure(exc)``
    returns the ``StorageError`` to raise instead, or ``None`` to let the
    error through.  The cost: one Python call and one attribute test per call.
    """
    errors: tuple[type[Exception], ...] = getattr(cls, "DRIVER_ERRORS", ())
    cls.closed = False  # type: ignore[attr-defined]
    for name in STORAGE_METHODS:
        setattr(cls, name, _open_only(getattr(cls, name), errors))
    cls.close = _close_once(cls.close)  # type: ignore[attr-defined]
    return cls


def _open_only(method: Callable[..., Any], errors: tuple[type[Exception], ...]) -> Callable[..., Any]:
    @functools.wraps(method)
    def call(self: Any, *args: Any, **kwargs: Any) -> Any:
        if self.closed:
            raise StorageError(CLOSED)
        try:
            return method(self, *args, **kwargs)
        except errors as exc:
            failure = self._failure(exc)
            if failure is None:
                raise
            raise failure from None

    return call


def _close_once(close: Callable[[Any], None]) -> Callable[[Any], None]:
    @functools.wraps(close)
    def call(self: Any) -> None:
        if not self.closed:
            self.closed = True
            close(self)

    return call


# -- row shapes shared by the SQL backends ------------------------------------------------

INSTANCE_COLUMNS = Instance._fields
DOCTOR_COLUMNS = tuple(f.name for f in attrs.fields(Doctor))
HISTORY_COLUMNS = Record._fields

#: The tables as schema 1 made them, frozen: a migration must build what it built on the day it
#: was written, whatever fields later code adds (those arrive by later migrations).
V1_INSTANCE_COLUMNS = (
    "doctor",
    "cycle",
    "state",
    "version",
    "flags",
    "reason",
    "program",
    "condition",
    "work_performance",
    "ethics",
    "exemption_reason",
    "humanities_attempts",
    "humanities_best",
    "business_attempts",
    "business_best",
    "reexam_attempts",
    "reexam_best",
    "deferred_from",
    "suspended_on",
    "suspension_months",
    "finding",
    "head",
)
V1_DOCTOR_COLUMNS = (
    "id",
    "institution",
    "name",
    "id_card",
    "license",
    "birth_date",
    "practice_since",
    "record",
    "profile",
)
#: The doctors' columns migration 5 adds (the optional registry fields, in ``Doctor``'s order).
V5_DOCTOR_COLUMNS = ("sex", "qualification_no", "license_no", "practice_category")
V1_HISTORY_COLUMNS = (
    "cycle",
    "doctor",
    "seq",
    "event",
    "from_state",
    "to_state",
    "role",
    "actor",
    "at",
    "data",
    "policy_version",
    "hash",
    "idempotency_key",
)

_N = len(INSTANCE_COLUMNS)
_make_instance = Instance._make


def flags_text(flags: frozenset[str]) -> str:
    return ",".join(sorted(flags))


_SUSPENDED_ON = INSTANCE_COLUMNS.index("suspended_on")


def instance_row(inst: Instance) -> tuple[Any, ...]:
    suspended = inst[_SUSPENDED_ON]
    return (
        *inst[:4],
        ",".join(sorted(inst[4])) if inst[4] else "",
        *inst[5:_SUSPENDED_ON],
        suspended.isoformat() if suspended is not None else None,
        *inst[_SUSPENDED_ON + 1 :],
    )


_FLAGS_CACHE: dict[str, frozenset[str]] = {}


def _flags(text: str | None) -> frozenset[str]:
    """Flags are few and repeat, so parsed sets are shared."""
    if not text:
        return frozenset()
    cached = _FLAGS_CACHE.get(text)
    if cached is None:
        cached = _FLAGS_CACHE[text] = frozenset(text.split(","))
    return cached


def instance_from_row(row: Sequence[Any]) -> Instance:
    suspended = row[_SUSPENDED_ON]
    if suspended is not None and not isinstance(suspended, dt.date):
        suspended = dt.date.fromisoformat(suspended)
    return _make_instance((*row[:4], _flags(row[4]), *row[5:_SUSPENDED_ON], suspended, *row[_SUSPENDED_ON + 1 : _N]))


def doctor_row(doc: Doctor) -> tuple[Any, ...]:
    return (
        doc.id,
        doc.institution,
        doc.name,
        doc.id_card,
        doc.license,
        doc.birth_date.isoformat(),
        doc.practice_since.isoformat(),
        doc.record,
        # Most doctors carry no profile: "{}" without the encoder (a simulation adds millions).
        json.dumps(doc.profile, ensure_ascii=False, sort_keys=True) if doc.profile else "{}",
        doc.sex,
        doc.qualification_no,
        doc.license_no,
        doc.practice_category,
    )


def doctor_from_row(row: Sequence[Any]) -> Doctor:
    (did, institution, name, id_card, license, birth, since, record, profile, *registry) = row
    return Doctor(
        did,
        institution,
        name,
        id_card,
        license,
        birth if isinstance(birth, dt.date) else dt.date.fromisoformat(birth),
        since if isinstance(since, dt.date) else dt.date.fromisoformat(since),
        record,
        ({} if profile == "{}" else json.loads(profile)) if isinstance(profile, str) else (profile or {}),
        *registry,
    )


def doctor_digests(rows: Iterable[Sequence[Any]]) -> dict[str, str | None]:
    """The registry log's changes for doctor rows (``doctor_row``'s tuples) about to be written."""
    return {row[0]: row_digest(dict(zip(DOCTOR_COLUMNS, row, strict=True))) for row in rows}


def record_row(rec: Record) -> tuple[Any, ...]:
    """A record is already its row."""
    return rec


def record_from_row(row: Sequence[Any]) -> Record:
    return Record(*row)


def scan_keyset(after: str | None, until: str | None, mark: str) -> tuple[str, list[str]]:
    """The ``after < doctor <= until`` part of a paged scan and its parameters (``mark``: the placeholder)."""
    sql = f" AND i.doctor > {mark}" if after is not None else ""
    sql += f" AND i.doctor <= {mark}" if until is not None else ""
    return sql, [v for v in (after, until) if v is not None]


def page_end(walks: Iterable[Iterable[Sequence[str]]], limit: int) -> str | None:
    """The last doctor of a page over several states, when their walks hold more than ``limit``.

    Each walk is one state's doctor ids (index only, cheap).  Bounded by this
    id, the full rows read are exactly the page's; unbounded, every state
    read ``limit`` full rows to keep a few.
    """
    ids = sorted(r[0] for walk in walks for r in walk)
    return ids[limit - 1] if len(ids) > limit else None


def same_doctor(a: Doctor, b: Doctor) -> bool:
    return doctor_row(a) == doctor_row(b)


def check_doctor_batch(doctors: Sequence[Doctor]) -> None:
    """A batch naming one doctor id twice with different details is a conflict (it writes nothing)."""
    seen: dict[str, Doctor] = {}
    for doc in doctors:
        first = seen.setdefault(doc.id, doc)
        if first is not doc and not same_doctor(first, doc):
            raise ConflictError(f"doctor {doc.id!r} is given twice in one batch with different details")


_doctor_of = operator.attrgetter("doctor")


def check_new_doctors(
    doctors: Sequence[Doctor], instances: Sequence[Instance], records: Sequence[Record]
) -> dict[str, str]:
    """``put_new_doctors``' arguments judged before anything is written; each doctor's institution by id.

    A doctor named twice is a conflict, as a doctor already stored is; an instance or a record
    of someone outside the batch is the caller's mistake.
    """
    institution = {doc.id: doc.institution for doc in doctors}
    if len(institution) != len(doctors):
        raise ConflictError("a batch of new doctors names one doctor twice")
    if len(instances) != len(doctors) or {inst.doctor for inst in instances} != institution.keys():
        raise ValueError("put_new_doctors needs one instance for each of its doctors")
    # In C (map, set): a generator's step per record cost more than the rest of the check.
    if not institution.keys() >= set(map(_doctor_of, records)):
        raise ValueError("put_new_doctors writes records of its own doctors only")
    return institution


def new_doctor_rows(
    doctors: Sequence[Doctor], instances: Sequence[Instance], records: Sequence[Record]
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """A SQL store's rows for ``put_new_doctors``, once its arguments are judged: the doctors', and
    each instance's followed by its doctor's institution (the instances table carries it)."""
    institution = check_new_doctors(doctors, instances, records)
    return [doctor_row(d) for d in doctors], [(*instance_row(i), institution[i.doctor]) for i in instances]


# -- workflow cases -------------------------------------------------------------------------


@attrs.frozen
class CaseWrites:
    """What a case's step writes outside the case, in the case's own transaction.

    The agency tables change the world (its version moves); the rest do not.
    """

    #: Upsert an agency (its assignments untouched): an approved application.
    agency: Agency | None = None
    #: (agency, institution) to add to or remove from ``assignments``: 指定 / 撤销.
    assign: tuple[str, str] | None = None
    unassign: tuple[str, str] | None = None
    #: (doctor, profile): an approved information change.
    profile: tuple[str, dict[str, Any]] | None = None
    #: (doctor, {column: value}): the registry fields an approved information change corrects
    #: (``model.CORRECTABLE``: the licence, sex, certificate numbers, category of practice).
    registry: tuple[str, dict[str, str]] | None = None
    #: (account, password hash): activation, reset, a new password.
    credential: tuple[str, str] | None = None
    #: (name, text) of the file the case produced (an export).
    file: tuple[str, str] | None = None
    #: (policy id, version, text) stored and made the current policy: 本周期考核设置.
    policy: tuple[str, str, str] | None = None
    #: (cycle, reasons) added where the cycle has no reason of that id yet: a loaded policy's list.
    seed_reasons: tuple[str, dict[str, ExemptionReason]] | None = None
    #: (cycle, reason id, the reason — or ``None``, deleting it): 免考设置.
    reason: tuple[str, str, ExemptionReason | None] | None = None
    #: An agency revoked: it and its assignments leave the world (撤销考核机构).
    revoke: str | None = None
    #: The case is itself a fact the world is loaded with (an institution's 确认考核周期): nothing
    #: else to write, but the world's version moves so every engine reloads it.
    touches_world: bool = False

    @property
    def world(self) -> bool:
        return (
            self.agency is not None
            or self.assign is not None
            or self.unassign is not None
            or self.policy is not None
            or self.seed_reasons is not None
            or self.reason is not None
            or self.revoke is not None
            or self.touches_world
        )


CASE_COLUMNS = ("machine", "id", "subject", "state", "version", "flags", "data", "head")


def case_row(case: Case) -> tuple[Any, ...]:
    return (case.machine, case.id, case.subject, case.state, case.version, flags_text(case.flags), case.data, case.head)


def case_from_row(row: Sequence[Any]) -> Case:
    machine, cid, subject, state, version, flags, data, head = row
    return Case(machine, cid, subject, state, int(version), _flags(flags), data, head)
