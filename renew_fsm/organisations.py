"""The organisations' own records, read (本机构信息, 科室信息): who may see what.

The acts are workflow cases (``organisation`` and ``department``, see ``renew_fsm.records``);
these are the reads a screen shows, each refused ``forbidden`` outside the caller's
jurisdiction — the rule the acts themselves follow (``Engine.case_may_act``).
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from .errors import NOT_FOUND, Refused, outside
from .eventdata import check_actor
from .model import Actor, CaseView
from .records import cycle_confirmed, department_of, departments_of
from .workflows import CaseFire

if TYPE_CHECKING:
    from .engine import Engine


def organisation_record(engine: Engine, actor: Actor, ref: str) -> dict[str, Any]:
    """本机构信息 of ``admin:<region>`` or ``institution:<id>``: its details, and for an authority its
    考核管理委员会 and 考核办公室, for an institution the cycles it confirmed.  Empty until filled in."""
    check_actor(actor)
    view = engine.case_state("organisation", ref) if engine.storage.load_case("organisation", ref) else None
    if view is not None and not engine.case_may_act("organisation", ref, actor):
        raise outside(actor, ref)
    if view is None:
        # Judged as the first act would be: the organisation must exist and be the actor's.
        if not engine.case_allowed("organisation", ref, actor, subject=ref):
            raise outside(actor, ref)
        return {"organisation": ref, "state": "new", "info": {}}
    data = view.data
    out: dict[str, Any] = {"organisation": ref, "state": view.state, "info": data.get("info", {})}
    if ref.startswith("admin:"):
        out |= {"committee": data.get("committee", []), "office": data.get("office", [])}
    else:
        out["confirmed"] = data.get("confirmed", [])
    return out


def departments(engine: Engine, actor: Actor, institution: str) -> list[dict[str, Any]]:
    """科室信息: the institution's departments in use, first level then each one's second level."""
    check_actor(actor)
    world = engine.world()
    inst = world.institutions.get(institution)
    if inst is None:
        raise Refused(NOT_FOUND, f"no institution {institution!r}", message_zh=f"无卫生机构 {institution}")
    may = {
        "institution": actor.id == institution,
        "admin": world.governs(actor.id, inst.region),
        "agency": institution in getattr(world.agencies.get(actor.id or ""), "institutions", ()),
    }
    if not may.get(actor.role, False):
        raise outside(actor, institution)
    cases = departments_of(engine, institution)
    rows = [
        {
            "department": c.id,
            "name": c.values["name"],
            "intro": c.values.get("intro"),
            "level": c.values["level"],
            "parent": c.values.get("parent"),
            "doctors": c.values.get("doctors", []),
        }
        for c in cases
    ]
    order = {r["department"]: n for n, r in enumerate(rows) if r["level"] == 1}
    return sorted(rows, key=lambda r: (order.get(r["parent"] or r["department"], -1), r["level"], r["department"]))


def revoke_agency(
    engine: Engine,
    agency: str,
    actor: Actor,
    reason: str,
    *,
    reassign_to: str | None = None,
    at: dt.datetime | None = None,
) -> tuple[CaseView, list[CaseView | Refused]]:
    """撤销考核机构: revoke ``agency``; its institutions are released, then assigned to ``reassign_to``
    (指定卫生机构 on that agency's case, each its own record) or left unassigned
    (``lists.institution_list(…, unassigned=True)`` shows them).  The revocation and each
    assignment's result (a view, or the refusal in its place)."""
    view = engine.case_fire("agency_revocation", agency, "revoke_agency", actor, {"reason": reason}, at)
    if reassign_to is None:
        return view, []
    moves = [CaseFire(reassign_to, "assign_institution", actor, {"institution": i}, at) for i in view.data["released"]]
    return view, engine.case_fire_many("agency_application", moves)


__all__ = ["cycle_confirmed", "department_of", "departments", "organisation_record", "revoke_agency"]
