"""An in-process store: the reference backend for tests and throwaway simulations."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager, nullcontext

from ..model import Doctor, Instance, Record
from ..rules.policy import ExemptionReason
from ..world import Agency, Institution, Region
from .base import (
    ConflictError,
    WorldRows,
    check_doctor_batch,
    check_new_doctors,
    guarded,
    policy_text_sha256,
    same_doctor,
)
from .memory_cases import MemoryCases


@guarded
class MemoryStorage(MemoryCases):
    def __init__(self, url: str = "memory:") -> None:
        self.url = url
        self._lock = threading.RLock()
        self.meta: dict[str, str] = {"world_version": "0"}
        self.regions: dict[str, Region] = {}
        self.institutions: dict[str, Institution] = {}
        self.agencies: dict[str, Agency] = {}
        #: (id, version) → (text, its SHA-256 when loaded).
        self.policies_by_id: dict[tuple[str, str], tuple[str, str]] = {}
        self.reasons: dict[str, dict[str, ExemptionReason]] = {}
        self.doctors: dict[str, Doctor] = {}
        #: Id-card number → doctor id (the SQL stores' index on ``doctors (id_card)``).
        self._cards: dict[str, str] = {}
        self.instances: dict[tuple[str, str], Instance] = {}
        self.records: dict[tuple[str, str], list[Record]] = {}
        self.idempotency: dict[tuple[str, str, str], Record] = {}

    def close(self) -> None:
        pass

    def get_meta(self, key: str) -> str | None:
        return self.meta.get(key)

    def meta_with_prefix(self, prefix: str) -> list[tuple[str, str]]:
        with self._lock:
            return sorted((k, v) for k, v in self.meta.items() if k.startswith(prefix))

    def changes(self, cycle: str, after: int, limit: int) -> list[tuple[int, Record]]:
        with self._lock:
            feed = self.__dict__.get("_feed", [])
            out = [(n, rec) for n, rec in enumerate(feed[after:], start=after + 1) if rec.cycle == cycle]
        return out[:limit]

    def delete_meta(self, keys: Sequence[str]) -> None:
        with self._lock:
            for key in keys:
                self.meta.pop(key, None)

    def set_meta(self, key: str, value: str) -> None:
        with self._lock:
            self.meta[key] = value

    def _bump(self) -> None:
        self.meta["world_version"] = str(int(self.meta["world_version"]) + 1)

    def world_version(self) -> int:
        return int(self.meta["world_version"])

    def load_world(self, cycle: str | None) -> WorldRows:
        with self._lock:
            current = self.meta.get("policy")
            text = self.policy_text(*current.split("@", 1)) if current else None
            return WorldRows(
                self.world_version(),
                list(self.regions.values()),
                list(self.institutions.values()),
                list(self.agencies.values()),
                text,
                dict(self.reasons.get(cycle or "", {})),
            )

    def put_region(self, region: Region) -> None:
        with self._lock:
            self.regions[region.id] = region
            self._log("regions", [(region.id,)])
            self._bump()

    def put_institution(self, institution: Institution) -> None:
        with self._lock:
            self.institutions[institution.id] = institution
            self._log("institutions", [(institution.id,)])
            self._bump()

    def put_agency(self, agency: Agency) -> None:
        with self._lock:
            old = self.agencies.get(agency.id)
            self.agencies[agency.id] = agency
            self._log("agencies", [(agency.id,)])
            held = old.institutions if old is not None else frozenset()
            self._log("assignments", [(agency.id, i) for i in sorted(held | agency.institutions)])
            self._bump()

    def put_policy(self, policy_id: str, version: str, text: str) -> None:
        with self._lock:
            self.policies_by_id.setdefault((policy_id, version), (text, policy_text_sha256(text)))
            self.meta["policy"] = f"{policy_id}@{version}"
            self._bump()

    def policy_text(self, policy_id: str, version: str) -> str | None:
        stored = self.policies_by_id.get((policy_id, version))
        return stored[0] if stored is not None else None

    def put_exemption_reason(self, cycle: str, reason_id: str, reason: ExemptionReason) -> None:
        with self._lock:
            self.reasons.setdefault(cycle, {})[reason_id] = reason
            self._log("exemption_reasons", [(cycle, reason_id)])
            self._bump()

    def seed_exemption_reasons(self, cycle: str, reasons: dict[str, ExemptionReason]) -> None:
        with self._lock:
            listing = self.reasons.setdefault(cycle, {})
            fresh = [rid for rid in reasons if rid not in listing]
            for rid in fresh:
                listing[rid] = reasons[rid]
            self._log("exemption_reasons", [(cycle, rid) for rid in fresh])
            self._bump()

    def put_doctors(self, doctors: Sequence[Doctor], cycle: str | None) -> list[str]:
        check_doctor_batch(doctors)
        with self._lock:
            present = []
            for doc in doctors:
                old = self.doctors.get(doc.id)
                if old is not None and not same_doctor(old, doc):
                    raise ConflictError(f"doctor {doc.id!r} already exists with other details")
                if old is not None:
                    present.append(doc.id)
            fresh = [(doc.id,) for doc in doctors if doc.id not in self.doctors]
            for doc in doctors:
                self._cards.setdefault(self.doctors.setdefault(doc.id, doc).id_card, doc.id)
                if cycle:
                    self.instances.setdefault((cycle, doc.id), Instance(doc.id, cycle))
            self._log("doctors", fresh)
            return present

    def put_new_doctors(
        self, doctors: Sequence[Doctor], instances: Sequence[Instance], records: Sequence[Record]
    ) -> None:
        check_new_doctors(doctors, instances, records)
        with self._lock:
            if any(doc.id in self.doctors for doc in doctors) or any(
                (inst.cycle, inst.doctor) in self.instances for inst in instances
            ):
                raise ConflictError("a new doctor or instance is already stored")
            self.commit([], records)  # the records' own checks, and nothing written if one fails
            for doc in doctors:
                self.doctors[doc.id] = doc
                self._cards.setdefault(doc.id_card, doc.id)
            for inst in instances:
                self.instances[(inst.cycle, inst.doctor)] = inst
            self._log("doctors", [(doc.id,) for doc in doctors])

    def get_doctor(self, doctor_id: str) -> Doctor | None:
        return self.doctors.get(doctor_id)

    def doctors_with_id_cards(self, id_cards: Sequence[str]) -> dict[str, str]:
        with self._lock:
            return {card: did for card in id_cards if (did := self._cards.get(card)) is not None}

    def ensure_instances(self, cycle: str) -> int:
        with self._lock:
            added = 0
            for did in self.doctors:
                if (cycle, did) not in self.instances:
                    self.instances[(cycle, did)] = Instance(did, cycle)
                    added += 1
            return added

    def load(self, cycle: str, doctor_ids: Sequence[str]) -> dict[str, tuple[Instance, Doctor]]:
        with self._lock:
            return {
                did: (self.instances[(cycle, did)], self.doctors[did])
                for did in doctor_ids
                if (cycle, did) in self.instances
            }

    def commit(self, updates: Sequence[tuple[int, Instance]], records: Sequence[Record]) -> None:
        with self._lock:
            for expected, inst in updates:
                current = self.instances.get((inst.cycle, inst.doctor))
                if current is None or current.version != expected:
                    raise ConflictError(f"{inst.doctor} changed since it was read")
            seqs: set[tuple[str, str, int]] = set()
            keys: set[tuple[str, str, str]] = set()
            for rec in records:
                seq = (rec.cycle, rec.doctor, rec.seq)
                if seq in seqs or any(r.seq == rec.seq for r in self.records.get(seq[:2], ())):
                    raise ConflictError(f"{rec.doctor}: history already has record {rec.seq}")
                seqs.add(seq)
                key = rec.idempotency_key
                if key is not None:
                    if (rec.cycle, rec.doctor, key) in self.idempotency or (rec.cycle, rec.doctor, key) in keys:
                        raise ConflictError(f"{rec.doctor}: idempotency key {key!r} already used")
                    keys.add((rec.cycle, rec.doctor, key))
            for _, inst in updates:
                self.instances[(inst.cycle, inst.doctor)] = inst
            for rec in records:
                self.records.setdefault((rec.cycle, rec.doctor), []).append(rec)
                self.__dict__.setdefault("_feed", []).append(rec)  # commit order, for ``changes``
                if rec.idempotency_key is not None:
                    self.idempotency[(rec.cycle, rec.doctor, rec.idempotency_key)] = rec

    def history(self, cycle: str, doctor_id: str) -> list[Record]:
        return list(self.records.get((cycle, doctor_id), []))

    def instance_ids(self, cycle: str) -> list[str]:
        return sorted(did for (c, did) in self.instances if c == cycle)

    def scan(
        self, cycle: str, states: Sequence[str] | None, after: str | None, limit: int, until: str | None = None
    ) -> list[tuple[Instance, Doctor]]:
        wanted = set(states) if states is not None else None
        out = []
        for did in self.instance_ids(cycle):
            if after is not None and did <= after:
                continue
            if until is not None and did > until:
                break
            inst = self.instances[(cycle, did)]
            if wanted is None or inst.state in wanted:
                out.append((inst, self.doctors[did]))
                if len(out) >= limit:
                    break
        return out

    def deciding(self) -> AbstractContextManager[None]:
        return nullcontext()  # every read is of the store itself

    def find_idempotent(self, cycle: str, doctor_id: str, key: str) -> Record | None:
        return self.idempotency.get((cycle, doctor_id, key))

    def all_history(self, cycle: str) -> Iterable[Record]:
        for (c, _), records in sorted(self.records.items()):
            if c == cycle:
                yield from records

    def cycles(self) -> list[str]:
        return sorted({c for (c, _) in self.instances})

    def tally(self, cycle: str) -> list[tuple[str, str, str | None, str | None, int]]:
        """(institution, state, program, reason, count) over the cycle: what statistics add up."""
        counts: dict[tuple[str, str, str | None, str | None], int] = {}
        for (c, did), inst in self.instances.items():
            if c == cycle:
                key = (self.doctors[did].institution, inst.state, inst.program, inst.reason)
                counts[key] = counts.get(key, 0) + 1
        return [(*key, n) for key, n in counts.items()]

    def checkpoint(self) -> None:
        """Nothing to copy: the store is its own memory."""

    def count_history(self, cycle: str) -> int:
        return sum(len(records) for (c, _), records in self.records.items() if c == cycle)

    def work_queue(
        self,
        cycle: str,
        clauses: Sequence[tuple[str, frozenset[str], frozenset[str]]],
        institutions: Sequence[str] | None,
        doctor: str | None,
        after: str | None,
        limit: int,
    ) -> list[tuple[Instance, Doctor]]:
        """The reference answer the SQL backends must agree with: a plain filter in doctor-id order."""
        by_state: dict[str, list[tuple[frozenset[str], frozenset[str]]]] = {}
        for state, need, forbid in clauses:
            by_state.setdefault(state, []).append((need, forbid))
        inside = set(institutions) if institutions is not None else None
        out: list[tuple[Instance, Doctor]] = []
        with self._lock:
            for did in self.instance_ids(cycle):
                if (after is not None and did <= after) or (doctor is not None and did != doctor):
                    continue
                inst, doc = self.instances[(cycle, did)], self.doctors[did]
                if inside is not None and doc.institution not in inside:
                    continue
                options = by_state.get(inst.state, ())
                if any(need <= inst.flags and not (forbid & inst.flags) for need, forbid in options):
                    out.append((inst, doc))
                    if len(out) >= limit:
                        break
        return out

    def put_institutions(self, institutions: Sequence[Institution]) -> None:
        """Insert or replace many institutions at once (a CSV import: all or nothing)."""
        with self._lock:
            for institution in institutions:
                self.institutions[institution.id] = institution
            self._log("institutions", [(i.id,) for i in institutions])
            self._bump()
