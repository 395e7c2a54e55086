"""The routes of issue 36: photo review, the organisations' records, the lists, settings, accounts.

Each route is one library call (the call table of docs/records.md) as the signed-in account's
actor: the library applies the jurisdiction (a list shows only the caller's rows, an act outside
it is ``forbidden``) and every refusal comes back as ``{code, rule, message, message_zh}`` like
every other route.  Pages are bounded (1–1000 rows) and continue with the previous page's
``next``; the xlsx exports go through ``lists.to_xlsx`` (``cells.xlsx_row``: a typed ``=…`` stays
text).  An organisation's or a department's acts (保存, 确认考核周期, 新增科室 …) are events of their
cases and go through ``POST /cases/{machine}/{case}/events/{event}``.
"""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Depends, FastAPI, Query, Request
from fastapi.responses import Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field

from renew_fsm import accounts, lists, organisations, photos
from renew_fsm.engine import Engine
from renew_fsm.errors import Refused, bad_input
from renew_fsm.model import Actor
from renew_fsm.rules.policy import shipped
from renew_fsm.workflows import CaseFire

from . import schemas as s

if TYPE_CHECKING:
    from .app import Service

#: The same bearer scheme as app.py's (one ``HTTPBearer`` in the description).
bearer = HTTPBearer(auto_error=False, description="the token of POST /session")
TokenDep = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PageSize = Annotated[int, Query(ge=1, le=lists.MAX_PAGE, description="rows per page (1–1000)")]
After = Annotated[str | None, Query(description="the previous page's next")]
Region = Annotated[str | None, Query(description="only this region (inside the caller's)")]
Institution = Annotated[str | None, Query(description="only this institution")]
Department = Annotated[str | None, Query(description="only this department (H1/IM …)")]
Program = Annotated[str | None, Query(description="general or simple")]
States = Annotated[list[s.StateId] | None, Query(description="only these states (repeat the parameter)")]
Result = Annotated[str | None, Query(description="考核结果: the unqualified reason")]
Category = Annotated[str | None, Query(description="执业类别: clinical, tcm, dental, public_health")]
AccountStates = Annotated[list[str] | None, Query(description="only these states (repeat the parameter)")]
LIST_TAGS: list[Any] = [s.tag(r) for r in ("institution", "agency", "admin")]
ADMIN_TAGS: list[Any] = [s.tag("admin")]
ACCOUNT_TAGS: list[Any] = [s.tag("institution"), s.tag("admin")]


class ReasonAction(enum.StrEnum):
    add = "add"
    edit = "edit"
    open = "open"
    close = "close"
    delete = "delete"


class PageOut(BaseModel):
    """One page of a list; ``next`` is the ``after`` of the following page (null: the last)."""

    rows: list[dict[str, Any]]
    next: str | None


class PolicyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(description="a shipped policy's name (a file is loaded on the server: renew-fsm settings load)")


class ReasonIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str | None = Field(None, description="the reason's text (add, edit)")
    open: bool | None = Field(None, description="add: whether applications open at once")


class RevokeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(description="why the agency is revoked")
    reassign_to: str | None = Field(None, description="the agency its institutions go to; null: left unassigned")


class RevokeOut(BaseModel):
    revocation: s.CaseOut
    reassigned: list[dict[str, Any]]


class AccountEditIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(description="the account's new display name")


class AccountDeactivateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str | None = Field(None, description="why (kept in its history)")


class AccountsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    accounts: list[str] = Field(min_length=1, max_length=1000, description="the selected accounts, each once")


def _xlsx(sheet: lists.Sheet, filename: str) -> Response:
    content = lists.to_xlsx(sheet, sheet.title)
    return Response(content, media_type=XLSX, headers={"Content-Disposition": f'attachment; filename="{filename}"'})


def _result(key: str, ident: str, result: Any) -> dict[str, Any]:
    """One item of a selection: its view, or the refusal in its place."""
    if isinstance(result, Refused):
        return {key: ident, "ok": False, "error": result.as_dict()}
    return {key: ident, "ok": True, "state": result.state, "secret": getattr(result, "secret", None)}


def add_routes(app: FastAPI, svc: Service, signed_in: dict[int | str, dict[str, Any]], errors: Any) -> None:
    """Adds the routes to ``app``; ``signed_in`` and ``errors`` document the refusals as app.py does."""
    read = {**signed_in, **errors(404, 422)}
    acts = {**signed_in, **errors(404, 409, 422)}
    xlsx = {200: {"content": {XLSX: {}}, "description": "an Excel workbook"}, **read}

    def as_actor(request: Request, token: Any, fn: Any, *, write: bool = False) -> Any:
        return svc.as_actor(request, token, fn, write=write)

    def as_page(request: Request, token: Any, list_page: Any) -> PageOut:
        """One page of a list, as the signed-in actor may see it (``list_page(engine, actor)``)."""
        return as_actor(request, token, lambda e, a: PageOut.model_validate(list_page(e, a).as_dict()))

    # -- 监考照片, 违纪处理记录, 向社会公布名单 -------------------------------------------------------------
    @app.get("/photos", response_model=PageOut, responses=read, tags=LIST_TAGS)
    def photo_list(
        token: TokenDep,
        request: Request,
        similarity_below: Annotated[float | None, Query(ge=0, le=100, description="最低相似度: below this")] = None,
        region: Region = None,
        institution: Institution = None,
        test: Annotated[str | None, Query(description="business or humanities")] = None,
        page_size: PageSize = 50,
        after: After = None,
    ) -> PageOut:
        """监考照片: each attempt's photo references, within the caller's jurisdiction; 【处理】 is the
        doctor's ``discipline`` event."""

        return as_page(
            request,
            token,
            lambda e, a: photos.photo_list(
                e, a, similarity_below=similarity_below, region=region, institution=institution,
                test=test, page_size=page_size, after=after,
            ),
        )  # fmt: skip

    @app.get("/discipline-records", response_model=PageOut, responses=read, tags=LIST_TAGS)
    def discipline_records(
        token: TokenDep,
        request: Request,
        region: Region = None,
        institution: Institution = None,
        page_size: PageSize = 50,
        after: After = None,
    ) -> PageOut:
        """违纪处理记录: every finding of the photo review, with its photos' references."""

        return as_page(
            request,
            token,
            lambda e, a: photos.discipline_records(
                e, a, region=region, institution=institution, page_size=page_size, after=after
            ),
        )

    @app.get("/published", response_model=PageOut, responses=read, tags=LIST_TAGS)
    def published(
        token: TokenDep,
        request: Request,
        region: Region = None,
        institution: Institution = None,
        page_size: PageSize = 50,
        after: After = None,
    ) -> PageOut:
        """向社会公布名单: the doctors whose cheating is made public."""

        return as_page(
            request,
            token,
            lambda e, a: photos.published_list(
                e, a, region=region, institution=institution, page_size=page_size, after=after
            ),
        )

    @app.get("/published.xlsx", response_class=Response, responses=xlsx, tags=LIST_TAGS)
    def published_xlsx(token: TokenDep, request: Request) -> Response:
        """向社会公布名单 【导出】."""
        sheet = as_actor(request, token, lambda e, a: photos.published_sheet(e, a))
        return _xlsx(sheet, "published.xlsx")

    # -- 本机构信息, 科室信息 ---------------------------------------------------------------------------
    @app.get("/organisations/{organisation}", response_model=dict[str, Any], responses=read, tags=LIST_TAGS)
    def organisation(organisation: str, token: TokenDep, request: Request) -> dict[str, Any]:
        """本机构信息 of ``admin:<region>`` or ``institution:<id>`` (its committee and office for an
        authority; the cycles it confirmed for an institution).  Acts: POST /cases/organisation/…"""
        return as_actor(request, token, lambda e, a: organisations.organisation_record(e, a, organisation))

    @app.get(
        "/institutions/{institution}/departments", response_model=list[dict[str, Any]], responses=read, tags=LIST_TAGS
    )
    def departments(institution: str, token: TokenDep, request: Request) -> list[dict[str, Any]]:
        """科室信息: the institution's departments, first level then each one's second level.
        Acts: POST /cases/department/…"""
        return as_actor(request, token, lambda e, a: organisations.departments(e, a, institution))

    # -- 卫生机构管理, 医师管理, 医师信息列表 -------------------------------------------------------------
    @app.get("/institutions", response_model=PageOut, responses=read, tags=LIST_TAGS)
    def institution_list(
        token: TokenDep,
        request: Request,
        region: Region = None,
        kind: Annotated[str | None, Query(description="institution or industry_organisation")] = None,
        unassigned: Annotated[bool, Query(description="only those no agency assesses")] = False,
        page_size: PageSize = 50,
        after: After = None,
    ) -> PageOut:
        """卫生机构管理: the institutions the caller oversees, each with its agency and its confirmation."""

        return as_page(
            request,
            token,
            lambda e, a: lists.institution_list(
                e, a, region=region, kind=kind, unassigned=unassigned, page_size=page_size, after=after
            ),
        )

    def doctor_filters(
        region: str | None,
        institution: str | None,
        department: str | None,
        program: str | None,
        state: list[s.StateId] | None,
        result: str | None,
        practice_category: str | None,
    ) -> dict[str, Any]:
        return {
            "region": region,
            "institution": institution,
            "department": department,
            "program": program,
            "states": [x.value for x in state] if state else None,
            "result": result,
            "practice_category": practice_category,
        }

    @app.get("/doctors", response_model=PageOut, responses=read, tags=LIST_TAGS)
    def doctor_list(
        token: TokenDep,
        request: Request,
        region: Region = None,
        institution: Institution = None,
        department: Department = None,
        program: Program = None,
        state: States = None,
        result: Result = None,
        practice_category: Category = None,
        page_size: PageSize = 50,
        after: After = None,
    ) -> PageOut:
        """医师管理 / 医师信息列表 / 考核进度查询: the caller's doctors in the cycle, filtered, by doctor id."""
        filters = doctor_filters(region, institution, department, program, state, result, practice_category)

        return as_page(
            request, token, lambda e, a: lists.doctor_list(e, a, page_size=page_size, after=after, **filters)
        )

    @app.get("/doctors.xlsx", response_class=Response, responses=xlsx, tags=LIST_TAGS)
    def doctor_xlsx(
        token: TokenDep,
        request: Request,
        region: Region = None,
        institution: Institution = None,
        department: Department = None,
        program: Program = None,
        state: States = None,
        result: Result = None,
        practice_category: Category = None,
    ) -> Response:
        """医师信息列表 【导出】: the whole filtered list (every page)."""
        filters = doctor_filters(region, institution, department, program, state, result, practice_category)
        sheet = as_actor(request, token, lambda e, a: lists.doctor_sheet(e, a, **filters))
        return _xlsx(sheet, "doctors.xlsx")

    @app.get("/doctors/{doctor}/profile", response_model=dict[str, Any], responses=read, tags=s.READ_TAGS)
    def doctor_profile(doctor: str, token: TokenDep, request: Request) -> dict[str, Any]:
        """查看: the doctor's registry data, current state and history."""
        return as_actor(request, token, lambda e, a: lists.doctor_profile(e, a, doctor))

    # -- 本周期考核设置, 免考设置 (the province admin) --------------------------------------------------------
    @app.post("/settings/policy", response_model=s.CaseOut, responses=acts, tags=ADMIN_TAGS)
    def set_policy(body: PolicyIn, token: TokenDep, request: Request) -> s.CaseOut:
        """本周期考核设置: load a shipped policy as the cycle's, recorded as the province admin's act."""
        if body.name not in shipped():
            raise bad_input(
                f"no shipped policy {body.name!r}: one of {', '.join(sorted(shipped()))}",
                f"无此考核政策 {body.name}",
            )

        def run(engine: Engine, actor: Actor) -> s.CaseOut:
            view = engine.case_fire("cycle_settings", actor.id or "", "set_policy", actor, {"name": body.name})
            return s.case_out(view)

        return as_actor(request, token, run, write=True)

    @app.post(
        "/settings/exemption-reasons/{reason}/{action}", response_model=s.CaseOut, responses=acts, tags=ADMIN_TAGS
    )
    def exemption_reason(
        reason: str, action: ReasonAction, token: TokenDep, request: Request, body: ReasonIn | None = None
    ) -> s.CaseOut:
        """免考设置: add, edit, open or close applications for, or delete a business-level exemption reason."""
        data: dict[str, Any] = {"reason_id": reason}
        if body is not None and body.text is not None:
            data["text"] = body.text
        if body is not None and body.open is not None:
            data["open"] = body.open

        def run(engine: Engine, actor: Actor) -> s.CaseOut:
            event = f"{action.value}_exemption_reason"
            return s.case_out(engine.case_fire("cycle_settings", actor.id or "", event, actor, data))

        return as_actor(request, token, run, write=True)

    # -- 撤销考核机构 ------------------------------------------------------------------------------------
    @app.post("/agencies/{agency}/revoke", response_model=RevokeOut, responses=acts, tags=ADMIN_TAGS)
    def revoke(agency: str, body: RevokeIn, token: TokenDep, request: Request) -> RevokeOut:
        """撤销考核机构: its institutions are released, then assigned to ``reassign_to`` or left unassigned
        (GET /institutions?unassigned=true lists them)."""

        def run(engine: Engine, actor: Actor) -> RevokeOut:
            view, moves = organisations.revoke_agency(engine, agency, actor, body.reason, reassign_to=body.reassign_to)
            released = view.data.get("released", [])
            return RevokeOut(
                revocation=s.case_out(view),
                reassigned=[_result("institution", i, m) for i, m in zip(released, moves, strict=False)],
            )

        return as_actor(request, token, run, write=True)

    # -- 账户管理: 修改, 注销, 导出, 批量密码重置 ----------------------------------------------------------------

    @app.get("/accounts", response_model=PageOut, responses=read, tags=ACCOUNT_TAGS)
    def account_list(
        token: TokenDep,
        request: Request,
        region: Region = None,
        state: AccountStates = None,
        page_size: PageSize = 50,
        after: After = None,
    ) -> PageOut:
        """所辖机构账户管理: the accounts the caller manages — never a secret or a hash."""

        return as_page(
            request,
            token,
            lambda e, a: accounts.account_list(e, a, region=region, states=state, page_size=page_size, after=after),
        )

    @app.get("/accounts.xlsx", response_class=Response, responses=xlsx, tags=ACCOUNT_TAGS)
    def account_xlsx(token: TokenDep, request: Request, region: Region = None, state: AccountStates = None) -> Response:
        """所辖机构账户 【导出】 (no secrets, no hashes)."""
        sheet = as_actor(request, token, lambda e, a: accounts.account_sheet(e, a, region=region, states=state))
        return _xlsx(sheet, "accounts.xlsx")

    @app.post(
        "/accounts/{account}/edit",
        response_model=s.CaseOut,
        responses=acts,
        tags=ACCOUNT_TAGS,
    )
    def account_edit(account: str, body: AccountEditIn, token: TokenDep, request: Request) -> s.CaseOut:
        """修改账号信息: an account not yet activated, by its superior."""

        def run(engine: Engine, actor: Actor) -> s.CaseOut:
            return s.case_out(engine.case_fire("account", account, "edit_account", actor, {"name": body.name}))

        return as_actor(request, token, run, write=True)

    @app.post(
        "/accounts/{account}/deactivate",
        response_model=s.CaseOut,
        responses=acts,
        tags=ACCOUNT_TAGS,
    )
    def account_deactivate(
        account: str, token: TokenDep, request: Request, body: AccountDeactivateIn | None = None
    ) -> s.CaseOut:
        """注销账号: by its superior; it can no longer sign in and every token of it ends."""
        data = {"reason": body.reason} if body is not None and body.reason is not None else {}

        def run(engine: Engine, actor: Actor) -> s.CaseOut:
            return s.case_out(engine.case_fire("account", account, "deactivate_account", actor, data))

        return as_actor(request, token, run, write=True)

    @app.post(
        "/accounts/reset",
        response_model=list[dict[str, Any]],
        responses={**signed_in, **errors(422)},
        tags=ACCOUNT_TAGS,
    )
    def account_reset(body: AccountsIn, token: TokenDep, request: Request) -> list[dict[str, Any]]:
        """批量密码重置: each selected account's new one-time secret (shown only now), or its refusal."""
        if len(set(body.accounts)) != len(body.accounts):
            raise bad_input("each account once per selection", "同批中账号不能重复")

        def run(engine: Engine, actor: Actor) -> list[dict[str, Any]]:
            results = engine.case_fire_many("account", [CaseFire(a, "reset_password", actor) for a in body.accounts])
            return [_result("account", a, r) for a, r in zip(body.accounts, results, strict=True)]

        return as_actor(request, token, run, write=True)


__all__ = ["PageOut", "add_routes"]
