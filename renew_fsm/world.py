"""The world commands act in: regions, institutions, agencies, and who may act on whom.

A ``World`` is a frozen snapshot the engine caches and reloads when storage
says it changed.  Jurisdiction is decided here and nowhere else.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from .model import Actor, Doctor
from .rules.policy import ExemptionReason, Policy

LEVELS = ("province", "city", "county")


@attrs.frozen
class Region:
    id: str
    level: str
    name: str
    parent: str | None = None


@attrs.frozen
class Institution:
    id: str
    region: str
    name: str
    #: ``institution`` (卫生机构) or ``industry_org`` (行业组织), which can be made an agency too.
    kind: str = "institution"


@attrs.frozen
class Agency:
    id: str
    region: str
    name: str
    institutions: frozenset[str] = frozenset()


_CHAINS: dict[int, tuple[Mapping[str, Region], dict[str, tuple[str, ...]]]] = {}


def _chains(regions: Mapping[str, Region]) -> dict[str, tuple[str, ...]]:
    """region → itself and its enclosing regions; kept for the last regions table seen, since a world
    changes institution by institution while its regions stay the same object."""
    cached = _CHAINS.get(id(regions))
    if cached is not None and cached[0] is regions:
        return cached[1]
    chains: dict[str, tuple[str, ...]] = {}
    for rid in regions:
        chain, seen, cur = [], set(), rid
        while cur is not None and cur in regions and cur not in seen:
            seen.add(cur)
            chain.append(cur)
            cur = regions[cur].parent
        chains[rid] = tuple(chain)
    _remember_chains(regions, chains)
    return chains


def _remember_chains(regions: Mapping[str, Region], chains: dict[str, tuple[str, ...]]) -> None:
    _CHAINS.clear()
    _CHAINS[id(regions)] = (regions, chains)


@attrs.frozen
class World:
    version: int
    regions: Mapping[str, Region]
    institutions: Mapping[str, Institution]
    agencies: Mapping[str, Agency]
    #: The cycle's policy as stored (file) and as the province admin's exemption list makes it.
    policy: Policy | None
    #: region → itself and every enclosing region, up to the province.
    chains: Mapping[str, tuple[str, ...]] = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        object.__setattr__(self, "chains", _chains(self.regions))

    @classmethod
    def build(
        cls,
        version: int,
        regions: list[Region],
        institutions: list[Institution],
        agencies: list[Agency],
        policy: Policy | None,
        reasons: Mapping[str, ExemptionReason] | None = None,
        confirmed: frozenset[str] | None = None,
    ) -> World:
        if policy is not None and reasons is not None:
            policy = policy.with_business_reasons(reasons)
        if policy is not None and confirmed is not None:
            policy = policy.with_confirmed(confirmed)
        return cls(
            version, {r.id: r for r in regions}, {i.id: i for i in institutions}, {a.id: a for a in agencies}, policy
        )

    def with_(self, **changes: object) -> World:
        """This world with some of its tables replaced (the region chains follow the regions)."""
        return attrs.evolve(self, **changes)

    def with_region(self, region: Region) -> World:
        """This world with ``region`` added (or replaced).

        A new region's chain is its parent's with itself in front, so adding one
        costs one chain, not all of them again: a nation's 20,000 counties are
        added one by one, and recomputing every chain each time was quadratic
        (minutes).  A replaced region may have moved, so its world recomputes.
        """
        regions = {**self.regions, region.id: region}
        if region.id not in self.regions:
            parent = self.chains.get(region.parent, ()) if region.parent is not None else ()
            _remember_chains(regions, {**self.chains, region.id: (region.id, *parent)})
        return attrs.evolve(self, regions=regions)

    def region_of(self, doctor: Doctor) -> str | None:
        inst = self.institutions.get(doctor.institution)
        return inst.region if inst else None

    def governs(self, region_id: str | None, place: str | None) -> bool:
        """Whether the admin of ``region_id`` governs ``place`` (its region subtree)."""
        return region_id is not None and place is not None and region_id in self.chains.get(place, ())

    def may_act(self, actor: Actor, doctor: Doctor) -> bool:
        """Jurisdiction (SPEC §1): whose doctor this is for ``actor``."""
        role = actor.role
        if role == "doctor":
            return actor.id == doctor.id
        if role == "institution":
            return actor.id == doctor.institution
        if role == "agency":
            agency = self.agencies.get(actor.id or "")
            return agency is not None and doctor.institution in agency.institutions
        if role == "admin":
            return self.governs(actor.id, self.region_of(doctor))
        if role == "exam_system":
            # A province's testing app (an account ``exam_system:<province>``) scores only that
            # province's doctors; one without an id (a replay, a single-province embedding) anyone.
            return actor.id is None or self.governs(actor.id, self.region_of(doctor))
        return role == "system"

    def is_province(self, actor: Actor) -> bool:
        region = self.regions.get(actor.id or "")
        return actor.role == "admin" and region is not None and region.level == "province"


@attrs.frozen
class Subject:
    """What a workflow case is about, as its rules and its jurisdiction see it.

    ``world`` is the snapshot the command is judged in (so a rule reading it stays a pure
    function of its arguments); the other fields say who may act on the case:
    """

    #: The subject as stored on the case (an institution, a doctor, ``<role>:<id>``, a region).
    id: str
    #: An admin whose region contains this one (with ``strict``: lies above it).
    region: str | None = None
    strict: bool = False
    #: The institution that acts on it, the doctor who does, the account acting on itself.
    institution: str | None = None
    doctor: str | None = None
    account: str | None = None
    #: The institution's kind, or the account holder's role.
    kind: str = ""
    #: The institution, doctor or region itself, and a doctor's instance in the current cycle.
    entity: Any = None
    instance: Any = None
    world: World | None = attrs.field(default=None, eq=False, repr=False)


def may_act_case(world: World, actor: Actor, subject: Subject) -> bool:
    """Jurisdiction over a workflow case (the ``may_act`` its machine passes to the decision)."""
    role = actor.role
    if role == "admin":
        inside = world.governs(actor.id, subject.region)
        return inside and not (subject.strict and actor.id == subject.region)
    if role == "institution":
        return actor.id is not None and actor.id == subject.institution
    if role == "doctor":
        return actor.id is not None and actor.id == subject.doctor
    if role == "account":
        return actor.id is not None and actor.id == subject.account
    # The national system operator (全国定考办) runs system steps and manages province accounts.
    return role == "system"


def confirmed_institutions(storage: Any, cycle: str | None) -> frozenset[str]:
    """The institutions whose ``organisation`` case confirmed ``cycle`` (确认考核周期), read once with
    the world: a confirmation moves the world's version (``CaseWrites.touches_world``), so every
    engine reloads it, and the enrol guard (``cycle_confirmed``) reads the set, not the store."""
    if cycle is None:
        return frozenset()
    found: set[str] = set()
    after = None
    while page := storage.scan_cases("organisation", after, 5000):
        after = page[-1].id
        found.update(
            c.subject.partition(":")[2]
            for c in page
            if c.subject.startswith("institution:") and cycle in c.values.get("confirmed", ())
        )
    return frozenset(found)
