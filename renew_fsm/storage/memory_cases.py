"""In-process: the institution change and workflow cases (mixed into ``MemoryStorage``)."""

from __future__ import annotations

from typing import Any

import attrs

from ..model import CORRECTABLE, Case, Doctor, Instance, Record
from ..rules.policy import ExemptionReason
from ..world import Agency
from .base import CaseWrites, ConflictError


class MemoryCases:
    _lock: Any
    doctors: dict[str, Doctor]
    agencies: dict[str, Agency]
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
            for pair, add in ((w.assign, True), (w.unassign, False)):
                if pair is not None:
                    agency = self.agencies[pair[0]]
                    held = agency.institutions | {pair[1]} if add else agency.institutions - {pair[1]}
                    self.agencies[pair[0]] = attrs.evolve(agency, institutions=held)
            if w.profile is not None:
                self.doctors[w.profile[0]] = attrs.evolve(self.doctors[w.profile[0]], profile=dict(w.profile[1]))
            if w.registry is not None:
                fields = {c: w.registry[1][c] for c in CORRECTABLE if c in w.registry[1]}
                self.doctors[w.registry[0]] = attrs.evolve(self.doctors[w.registry[0]], **fields)
            if w.credential is not None:
                self._credentials[w.credential[0]] = w.credential[1]
            if w.file is not None:
                self._files[(case.machine, case.id)] = w.file
            if w.policy is not None:
                policy_id, version, text = w.policy
                self.policies[(policy_id, version)] = text
                self.meta["policy"] = f"{policy_id}@{version}"
            if w.seed_reasons is not None:
                listing = self.reasons.setdefault(w.seed_reasons[0], {})
                for rid, seeded in w.seed_reasons[1].items():
                    listing.setdefault(rid, seeded)
            if w.reason is not None:
                cycle, rid, reason = w.reason
                if reason is None:
                    self.reasons.get(cycle, {}).pop(rid, None)
                else:
                    self.reasons.setdefault(cycle, {})[rid] = reason
            if w.revoke is not None:
                self.agencies.pop(w.revoke, None)
            if w.world:
                self._bump()

    def scan_cases(self, machine: str, after: str | None, limit: int) -> list[Case]:
        ids = sorted(cid for (m, cid) in self._cases if m == machine and (after is None or cid > after))
        return [self._cases[(machine, cid)] for cid in ids[:limit]]

    def set_credential(self, account: str, hashed: str) -> None:
        with self._lock:
            if account in self._credentials:
                self._credentials[account] = hashed

    def credential(self, account: str) -> str | None:
        return self._credentials.get(account)

    def case_file(self, machine: str, case_id: str) -> tuple[str, str] | None:
        return self._files.get((machine, case_id))


__all__ = ["MemoryCases"]
