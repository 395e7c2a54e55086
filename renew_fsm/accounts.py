"""所辖机构账户管理 【导出】: a jurisdiction's accounts as a list and an xlsx export.

An account is listed to whoever may act on it — the same ``Kind.may_act`` the account machine's
events are judged by (an authority its region's institutions', agencies', doctors' and lower
authorities' accounts; an institution its doctors'; the national operator every one) — so the
export shows exactly the accounts the caller could edit, reset or deactivate.  A row never
carries a secret or a hash: only the account id, its holder, its display name and its state.
The export goes through ``lists.to_xlsx`` (``cells.xlsx_row``), so a name typed as ``=…`` stays
text.

Reading: the account cases in id order (``Storage.scan_cases``), each holder resolved as the
machine resolves it (a doctor's through the registry, so its institution is today's).  A page
for a county in a large province may read far more cases than it shows; an index of accounts by
region is the next step if a province's offices export often.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .commands import check_actor
from .errors import FORBIDDEN, Refused, bad_input
from .lists import MAX_PAGE, Page, Sheet, check_page
from .machines.account import ACCOUNT_MACHINE
from .model import Actor
from .world import World

if TYPE_CHECKING:
    from .engine import Engine

#: Who manages accounts, and so may list them (an agency makes none: its institution's do).
ACCOUNT_LISTERS = ("admin", "institution", "system")
ACCOUNT_HEADERS = ["账号", "持有人类别", "持有人", "持有人名称", "所属区域", "账号名称", "状态"]
HOLDER_ZH = {
    "admin": "卫生行政机构",
    "institution": "卫生机构",
    "agency": "考核机构",
    "doctor": "医师",
    "exam_system": "考试系统",
}


def _state_zh(state: str) -> str:
    return next((s.zh for s in ACCOUNT_MACHINE.states if s.id == state), state)


def account_list(
    engine: Engine,
    actor: Actor,
    *,
    region: str | None = None,
    states: list[str] | None = None,
    page_size: int = 50,
    after: str | None = None,
) -> Page:
    """The accounts the actor manages, by account id; ``region`` narrows to a region's holders and
    ``states`` to some states (``created``, ``must_change``, ``active``, ``deleted``, ``deactivated``)."""
    from .workflows import KINDS

    check_actor(actor)
    if actor.role not in ACCOUNT_LISTERS:
        raise Refused(FORBIDDEN, f"a {actor.role} manages no accounts", message_zh="无权查看账号名单")
    check_page(page_size)
    known = {s.id for s in ACCOUNT_MACHINE.states} - {"new"}
    if states is not None and (not isinstance(states, list) or not set(states) <= known):
        raise bad_input(f"states are some of {', '.join(sorted(known))}", "账号状态不正确")
    world = engine.world()
    if region is not None and region not in world.regions:
        raise bad_input(f"no region {region!r}", f"无行政区域 {region}")
    kind = KINDS["account"]
    rows: list[dict[str, Any]] = []
    cursor = after
    while page := engine.storage.scan_cases("account", cursor, MAX_PAGE):
        cursor = page[-1].id
        for case in page:
            if case.state == "new" or (states is not None and case.state not in states):
                continue
            row = _row(engine, world, kind, actor, case, region)
            if row is None:
                continue
            rows.append(row)
            if len(rows) == page_size:
                more = engine.storage.scan_cases("account", case.id, 1)
                return Page(rows, case.id if more else None)
    return Page(rows, None)


def _row(engine: Engine, world: World, kind: Any, actor: Actor, case: Any, region: str | None) -> dict[str, Any] | None:
    try:
        subject = kind.load(engine, world, case.subject, case.id)
    except Refused:
        return None  # a holder gone from the world (an agency revoked): nobody's jurisdiction proves it
    if not kind.may_act(world, actor, subject):
        return None
    if region is not None and (subject.region is None or not world.governs(region, subject.region)):
        return None
    role, _, hid = case.subject.partition(":")
    return {
        "account": case.id,
        "holder_role": role,
        "holder": hid,
        "holder_name": getattr(subject.entity, "name", "") or "",
        "region": subject.region,
        "name": case.values.get("name"),
        "state": case.state,
    }


def account_sheet(engine: Engine, actor: Actor, **filters: Any) -> Sheet:
    """The whole filtered account list the actor manages, as one sheet: the 【导出】 (no secrets)."""
    rows: list[list[Any]] = []
    after = None
    while True:
        page = account_list(engine, actor, page_size=MAX_PAGE, after=after, **filters)
        rows += [
            [
                r["account"],
                HOLDER_ZH.get(r["holder_role"], r["holder_role"]),
                r["holder"],
                r["holder_name"],
                r["region"] or "",
                r["name"] or "",
                _state_zh(r["state"]),
            ]
            for r in page.rows
        ]
        if page.next is None:
            return Sheet("账号列表", ACCOUNT_HEADERS, rows)
        after = page.next


__all__ = ["ACCOUNT_HEADERS", "ACCOUNT_LISTERS", "account_list", "account_sheet"]
