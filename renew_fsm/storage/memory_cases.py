"""In-process: the institution change and workflow cases (mixed into ``MemoryStorage``)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import attrs

from ..keys import HistoryKey
from ..model import CORRECTABLE, Case, Doctor, Instance, Record
from ..rules.policy import ExemptionReason
from ..world import Agency, Institution, Region
from .base import DOCTOR_COLUMNS, CaseWrites, ConflictError, doctor_row, policy_text_sha256
from .registry import key_name, new_entry, row_digest


class MemoryCases:
    _lock: Any
    key: HistoryKey | None = None
    doctors: dict[str, Doctor]
    agencies: dict[str, Agency]
    regions: dict[str, Region]
    institutions: dict[str, Institution]
    reasons: dict[str, dict[str, ExemptionReason]]
    policies_by_id: dict[tuple[str, str], tuple[str, str]]
    instances: dict[tuple[str, str], Instance]
    records: dict[tuple[str, str], list[Record]]
    idempotency: dict[tuple[str, str, str], Record]
    policies: dict[tuple[str, str], str]
    meta: dict[str, str]
    reasons: dict[str, dict[str, ExemptionReason]]

    def _bump(self) -> None: ...  # provided by MemoryStorage

    @property
    def _cases(self) -> dict[tuple[str, str], Case]:
        return self.__dict__.setdefault("_case_rows", {})

    @property
    def _credentials(self) -> dict[str, str]:
        return self.__dict__.setdefault("_credential_rows", {})

    @property
    def _files(self) -> dict[tuple[str, str], tuple[str, str]]:
        return self.__dict__.setdefault("_file_rows", {})

    # -- the registry log (see ``registry``) -------------------------------------------------------
    @property
    def _log_rows(self) -> list[tuple[int, str, str, str, str]]:
        return self.__dict__.setdefault("_registry_log", [])

    def _row(self, table: str, key: tuple[str, ...]) -> dict[str, Any] | None:
        """A logged table's row as a SQL store would hold it, or ``None``."""
        if table == "regions":
            r = self.regions.get(key[0])
            return None if r is None else {"id": r.id, "level": r.level, "name": r.name, "parent": r.parent}
        if table == "institutions":
            i = self.institutions.get(key[0])
            return None if i is None else {"id": i.id, "region": i.region, "name": i.name, "kind": i.kind}
        if table == "agencies":
            a = self.agencies.get(key[0])
            return None if a is None else {"id": a.id, "region": a.region, "name": a.name}
        if table == "assignments":
            a = self.agencies.get(key[0])
            held = a is not None and key[1] in a.institutions
            return {"agency": key[0], "institution": key[1]} if held else None
        if table == "doctors":
            d = self.doctors.get(key[0])
            return None if d is None else dict(zip(DOCTOR_COLUMNS, doctor_row(d), strict=True))
        if table == "exemption_reasons":
            e = self.reasons.get(key[0], {}).get(key[1])
            return None if e is None else {"cycle": key[0], "id": key[1], "text": e.text, "open": int(e.open)}
        if table == "credentials":
            h = self._credentials.get(key[0])
            return None if h is None else {"account": key[0], "hash": h}
        if table == "case_files":
            f = self._files.get((key[0], key[1]))
            return None if f is None else {"machine": key[0], "id": key[1], "name": f[0], "content": f[1]}
        raise ValueError(f"{table!r} is not a logged table")

    def _keys(self, table: str) -> list[tuple[str, ...]]:
        if table == "regions":
            return [(k,) for k in self.regions]
        if table == "institutions":
            return [(k,) for k in self.institutions]
        if table == "agencies":
            return [(k,) for k in self.agencies]
        if table == "assignments":
            return [(a.id, i) for a in self.agencies.values() for i in sorted(a.institutions)]
        if table == "doctors":
            return [(k,) for k in self.doctors]
        if table == "exemption_reasons":
            return [(c, r) for c, listing in self.reasons.items() for r in listing]
        if table == "credentials":
            return [(k,) for k in self._credentials]
        if table == "case_files":
            return list(self._files)
        raise ValueError(f"{table!r} is not a logged table")

    def _log(self, table: str, keys: Iterable[tuple[str, ...]]) -> None:
        changes: dict[str, str | None] = {}
        for key in keys:
            row = self._row(table, key)
            changes[key_name(key)] = None if row is None else row_digest(row)
        if changes:
            log = self._log_rows
            log.append(new_entry(self.key, (log[-1][0], log[-1][4]) if log else None, table, changes))

    def registry_log(self) -> list[tuple[int, str, str, str, str]]:
        return list(self._log_rows)

    def registry_rows(self, table: str) -> list[dict[str, Any]]:
        with self._lock:
            return [row for key in self._keys(table) if (row := self._row(table, key)) is not None]

    def policies(self) -> list[tuple[str, str, str, str | None]]:
        return [(pid, version, text, sha) for (pid, version), (text, sha) in sorted(self.policies_by_id.items())]

    def _append(self, record: Record) -> None:
        trail = self.records.setdefault((record.cycle, record.doctor), [])
        if any(r.seq == record.seq for r in trail):
            raise ConflictError(f"{record.doctor}: history already has record {record.seq}")
        trail.append(record)
        self.__dict__.setdefault("_feed", []).append(record)  # commit order, for ``changes``

    def move_doctor(self, expected: int, inst: Instance, record: Record, institution: str) -> None:
        with self._lock:
            current = self.instances.get((inst.cycle, inst.doctor))
            if current is None or current.version != expected:
                raise ConflictError(f"{inst.doctor} changed since it was read")
            self._append(record)
            if record.idempotency_key is not None:
                self.idempotency[(record.cycle, record.doctor, record.idempotency_key)] = record
            self.instances[(inst.cycle, inst.doctor)] = inst
            self.doctors[inst.doctor] = attrs.evolve(self.doctors[inst.doctor], institution=institution)
            self._log("doctors", [(inst.doctor,)])

    def load_case(self, machine: str, case_id: str) -> Case | None:
        return self._cases.get((machine, case_id))

    def commit_case(self, expected: int, case: Case, record: Record, writes: CaseWrites) -> None:
        with self._lock:
            current = self._cases.get((case.machine, case.id))
            if (current.version if current is not None else 0) != expected or (current is None) != (expected == 0):
                raise ConflictError(f"case {case.machine}/{case.id} changed since it was read")
            self._append(record)
            self._cases[(case.machine, case.id)] = case
            w = writes
            if w.agency is not None:
                old = self.agencies.get(w.agency.id)
                self.agencies[w.agency.id] = attrs.evolve(
                    w.agency, institutions=old.institutions if old is not None else frozenset()
                )
                self._log("agencies", [(w.agency.id,)])
            for pair, add in ((w.assign, True), (w.unassign, False)):
                if pair is not None:
                    agency = self.agencies[pair[0]]
                    held = agency.institutions | {pair[1]} if add else agency.institutions - {pair[1]}
                    self.agencies[pair[0]] = attrs.evolve(agency, institutions=held)
                    self._log("assignments", [pair])
            if w.profile is not None:
                self.doctors[w.profile[0]] = attrs.evolve(self.doctors[w.profile[0]], profile=dict(w.profile[1]))
                self._log("doctors", [(w.profile[0],)])
            if w.registry is not None:
                fields = {c: w.registry[1][c] for c in CORRECTABLE if c in w.registry[1]}
                if fields:
                    self.doctors[w.registry[0]] = attrs.evolve(self.doctors[w.registry[0]], **fields)
                    self._log("doctors", [(w.registry[0],)])
            if w.credential is not None:
                self._credentials[w.credential[0]] = w.credential[1]
                self._log("credentials", [(w.credential[0],)])
            if w.file is not None:
                self._files[(case.machine, case.id)] = w.file
                self._log("case_files", [(case.machine, case.id)])
            if w.policy is not None:
                policy_id, version, text = w.policy
                # The first text stays, as ``put_policy`` keeps it: records judged under it name its SHA-256.
                self.policies_by_id.setdefault((policy_id, version), (text, policy_text_sha256(text)))
                self.meta["policy"] = f"{policy_id}@{version}"
            if w.seed_reasons is not None:
                listing = self.reasons.setdefault(w.seed_reasons[0], {})
                for rid, seeded in w.seed_reasons[1].items():
                    listing.setdefault(rid, seeded)
                self._log("exemption_reasons", [(w.seed_reasons[0], rid) for rid in w.seed_reasons[1]])
            if w.reason is not None:
                cycle, rid, reason = w.reason
                if reason is None:
                    self.reasons.get(cycle, {}).pop(rid, None)
                else:
                    self.reasons.setdefault(cycle, {})[rid] = reason
                self._log("exemption_reasons", [(cycle, rid)])
            if w.revoke is not None:
                revoked = self.agencies.pop(w.revoke, None)
                if revoked is not None:
                    self._log("assignments", [(w.revoke, i) for i in sorted(revoked.institutions)])
                self._log("agencies", [(w.revoke,)])
            if w.world:
                self._bump()

    def scan_cases(self, machine: str, after: str | None, limit: int) -> list[Case]:
        ids = sorted(cid for (m, cid) in self._cases if m == machine and (after is None or cid > after))
        return [self._cases[(machine, cid)] for cid in ids[:limit]]

    def set_credential(self, account: str, hashed: str) -> None:
        with self._lock:
            if account in self._credentials:
                self._credentials[account] = hashed
                self._log("credentials", [(account,)])

    def credential(self, account: str) -> str | None:
        return self._credentials.get(account)

    def case_file(self, machine: str, case_id: str) -> tuple[str, str] | None:
        return self._files.get((machine, case_id))


__all__ = ["MemoryCases"]
