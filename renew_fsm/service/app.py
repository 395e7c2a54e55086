"""The HTTP application: routes over the public engine API, each request on an engine of the pool.

Every route but ``/health``, ``/session`` (sign-in) and the OpenAPI description
needs ``Authorization: Bearer <token>``; the actor is the token's account, and
nothing the client sends (no ``X-Actor-*`` header) can change it.  Every answer
that is not a success has the body ``{code, rule, message, message_zh}``:
the engine's refusals (SPEC §4), sign-in failures (``forbidden`` with a rule,
401), ``unavailable`` (503, with ``Retry-After``, when the database is locked
or unreachable: the rule says whether the write may have happened), a body
over the limit (413), an unknown route (404).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import sys
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, TypeVar

import attrs
from fastapi import Depends, FastAPI, Header, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

import renew_fsm
from renew_fsm.engine import Engine
from renew_fsm.errors import (
    BAD_INPUT,
    CONFLICT,
    FORBIDDEN,
    GUARD_FAILED,
    INVALID_TRANSITION,
    NOT_FOUND,
    Refused,
    outside,
)
from renew_fsm.model import Actor
from renew_fsm.stats import LEVELS, Sheet, Stats, compute, to_xlsx
from renew_fsm.storage import ConflictError, StorageError
from renew_fsm.world import World

from ..labels import role_zh
from . import records
from . import schemas as s
from .issuer import TrustedIssuer, looks_like_jwt
from .pool import Engines, PoolExhausted
from .sessions import Session, SignInRules, resolve, sign_in, sign_out
from .settings import Settings

UNAVAILABLE = "unavailable"
#: Sign-in failures: 401 (the client must sign in again), not 403 (it is signed in but may not).
SIGN_IN_RULES = frozenset({"sign_in_required", "token_invalid", "token_expired", "wrong_secret", "locked"})
STATUS = {
    FORBIDDEN: 403,
    NOT_FOUND: 404,
    CONFLICT: 409,
    INVALID_TRANSITION: 409,
    GUARD_FAILED: 422,
    BAD_INPUT: 422,
}
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
log = logging.getLogger("renew_fsm.service")
access = logging.getLogger("renew_fsm.service.access")
T = TypeVar("T")
#: Sign-ins and password changes hash at once at most this many per process.  argon2id is made to
#: be costly (64 MiB and some tens of ms each): a burst of sign-ins would otherwise take memory
#: without bound and hold engines — database connections — while they wait for a CPU, starving
#: every other request of the pool.  Waiting here holds nothing.
HASHING = threading.BoundedSemaphore(max(1, os.cpu_count() or 1))


# -- opening the store -----------------------------------------------------------------------------


def open_engine(url: str, busy_timeout: float) -> Engine:
    """An engine over an existing store; a SQLite write waits ``busy_timeout`` for another program's lock."""
    from renew_fsm.storage import StoreURL
    from renew_fsm.storage.sqlite import SQLiteStorage

    where = StoreURL.parse(url)
    if where.kind != "sqlite":
        return renew_fsm.open(url, create=False)
    return Engine(SQLiteStorage(where, timeout=busy_timeout, create=False))


class Unavailable(Exception):
    """The database could not be reached or stayed locked: 503, and whether anything was written."""

    def __init__(self, cause: Exception, *, wrote: bool | None) -> None:
        super().__init__(str(cause))
        self.cause = cause
        #: False: certainly nothing written; None: a write may have been saved.
        self.wrote = wrote

    def body(self) -> dict[str, Any]:
        if self.wrote is None:
            return {
                "code": UNAVAILABLE,
                "rule": "write_unknown",
                "message": f"the database became unavailable during the write ({self.cause}); it may have "
                "been saved: read the record again before retrying, or retry with the same Idempotency-Key",
                "message_zh": "数据库暂时不可用，本次操作可能已保存：请先刷新查看，或使用相同的幂等键重试",
            }
        return {
            "code": UNAVAILABLE,
            "rule": "nothing_written",
            "message": f"the database is unavailable for now ({self.cause}); nothing was written: try again shortly",
            "message_zh": "数据库暂时不可用，本次操作未保存，请稍后重试",
        }


# -- the service: the pool, sign-in rules, running one request --------------------------------------


@attrs.define
class Service:
    settings: Settings
    engines: Engines
    rules: SignInRules
    issuer: TrustedIssuer | None = None

    @classmethod
    def of(cls, settings: Settings) -> Service:
        rules = SignInRules(
            token_ttl=dt.timedelta(seconds=settings.token_ttl),
            failures=settings.failures,
            lockout=dt.timedelta(minutes=settings.lockout_minutes),
        )
        engines = Engines(
            lambda: open_engine(settings.db, settings.busy_timeout), settings.pool_size, wait=settings.pool_wait
        )
        issuer = None
        if settings.jwt_issuer and settings.jwt_audience and settings.jwt_public_key:
            issuer = TrustedIssuer(settings.jwt_issuer, settings.jwt_audience, settings.jwt_public_key)
        return cls(settings, engines, rules, issuer)

    def session(self, engine: Engine, token: HTTPAuthorizationCredentials | None) -> Session:
        """The session of a bearer token: a signed-in account's, or the trusted issuer's (if one is set)."""
        raw = token.credentials if token is not None else None
        if raw and self.issuer is not None and looks_like_jwt(raw):
            return self.issuer.session(raw)
        return resolve(engine, raw)

    def use(self, fn: Callable[[Engine], T], *, write: bool) -> T:
        """``fn`` on an engine of the pool.  A read that lost its connection is tried once more on a
        fresh one; a write never is (whether it was saved is unknown), and says so."""
        for attempt in (1, 2):
            try:
                engine = self.engines.acquire()
            except PoolExhausted as exc:
                raise Unavailable(exc, wrote=False) from None
            except StorageError as exc:
                if attempt == 2:
                    raise Unavailable(exc, wrote=False) from None
                continue
            try:
                result = fn(engine)
            except StorageError as exc:
                lost = "lost the connection" in str(exc)
                self.engines.discard(engine, idle_too=lost)
                if write:
                    raise Unavailable(exc, wrote=False if "nothing was written" in str(exc) else None) from None
                if attempt == 2:
                    raise Unavailable(exc, wrote=False) from None
                continue
            except BaseException:
                self.engines.release(engine)
                raise
            self.engines.release(engine)
            return result
        raise AssertionError("unreachable")

    def as_actor(
        self,
        request: Request,
        token: HTTPAuthorizationCredentials | None,
        fn: Callable[[Engine, Actor], T],
        *,
        write: bool,
    ) -> T:
        """``fn`` as the signed-in account's actor (the token's, never a header's)."""

        def run(engine: Engine) -> T:
            session = self.session(engine, token)
            request.state.actor = f"{session.actor.role}:{session.actor.id}"
            return fn(engine, session.actor)

        return self.use(run, write=write)


# -- jurisdiction of reads --------------------------------------------------------------------------


def may_read(engine: Engine, actor: Actor, doctor: str) -> None:
    """Reads follow the jurisdiction of writes: a doctor reads only their own file."""
    doc = engine.storage.get_doctor(doctor)
    if doc is None:
        raise Refused(NOT_FOUND, f"no doctor {doctor!r}", message_zh=f"无医师 {doctor}")
    if not engine.world().may_act(actor, doc):
        raise outside(actor, doctor, f"医师 {doctor}")


def may_read_case(engine: Engine, actor: Actor, machine: str, case: str) -> None:
    if not engine.case_may_act(machine, case, actor):
        raise outside(actor, f"{machine} {case}", case)


def in_scope(world: World, actor: Actor, by: str, group: str) -> bool:
    """Whether a statistics row (a region, institution or agency) is the actor's to see."""
    if actor.role == "admin":
        if by == "institution":
            inst = world.institutions.get(group)
            return inst is not None and world.governs(actor.id, inst.region)
        if by == "agency":
            agency = world.agencies.get(group)
            return agency is not None and world.governs(actor.id, agency.region)
        return world.governs(actor.id, group)
    if actor.role == "institution":
        return by == "institution" and group == actor.id
    if actor.role == "agency":
        agency = world.agencies.get(actor.id or "")
        if agency is None:
            return False
        return (by == "agency" and group == agency.id) or (by == "institution" and group in agency.institutions)
    return False


def scoped_stats(engine: Engine, actor: Actor, by: str) -> Stats:
    if actor.role not in ("admin", "institution", "agency"):
        zh = f"{role_zh(actor.role)}无统计功能"
        raise Refused(FORBIDDEN, f"a {actor.role} has no statistics screen", message_zh=zh)
    if by not in LEVELS:
        raise Refused(BAD_INPUT, f"by must be one of {', '.join(LEVELS)}", message_zh="统计口径不正确")
    stats = compute(engine, by=by)
    world = engine.world()

    def keep(sheet: Sheet) -> Sheet:
        return attrs.evolve(sheet, rows=[row for row in sheet.rows if in_scope(world, actor, by, str(row[0]))])

    return attrs.evolve(stats, progress=keep(stats.progress), results=keep(stats.results))


# -- plain ASGI around the app: the body limit and the access log -------------------------------------


def _problem_bytes(code: str, message: str, message_zh: str, rule: str | None = None) -> bytes:
    body = {"code": code, "rule": rule, "message": message, "message_zh": message_zh}
    return json.dumps(body, ensure_ascii=False).encode()


class Edge:
    """Refuses a body over ``max_body`` (413) before the app reads it, and logs one line per request."""

    def __init__(self, app: Any, max_body: int) -> None:
        self.app, self.max_body = app, max_body

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = {"code": 0}

        async def sending(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            declared = dict(scope.get("headers") or []).get(b"content-length")
            too_big = declared is not None and declared.isdigit() and int(declared) > self.max_body
            chunks: list[bytes] = []
            if not too_big and scope["method"] in ("POST", "PUT", "PATCH", "DELETE"):
                size = 0
                while True:
                    message = await receive()
                    if message["type"] == "http.disconnect":
                        return
                    chunk = message.get("body", b"")
                    size += len(chunk)
                    if size > self.max_body:
                        too_big = True
                        break
                    chunks.append(chunk)
                    if not message.get("more_body"):
                        break
                body = b"".join(chunks)
                sent = False

                async def replay() -> dict[str, Any]:
                    nonlocal sent
                    if not sent:
                        sent = True
                        return {"type": "http.request", "body": body, "more_body": False}
                    return await receive()

                receive = replay
            if too_big:
                limit = f"{self.max_body // 1024} KiB"
                payload = _problem_bytes(
                    BAD_INPUT, f"the request body is larger than {limit}", f"请求内容超过 {limit}", "body_too_large"
                )
                await sending(
                    {
                        "type": "http.response.start",
                        "status": 413,
                        "headers": [(b"content-type", b"application/json"), (b"connection", b"close")],
                    }
                )
                await sending({"type": "http.response.body", "body": payload})
                return
            await self.app(scope, receive, sending)
        finally:
            ms = (time.perf_counter() - started) * 1000
            actor = (scope.get("state") or {}).get("actor", "-")
            access.info("%s %s %d %.1fms %s", scope["method"], scope["path"], status["code"], ms, actor)


# -- the application ----------------------------------------------------------------------------------

STATIC = "static"
bearer = HTTPBearer(auto_error=False, description="the token of POST /session")
TokenDep = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]


def _errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {status: {"model": s.Problem} for status in statuses}


SIGNED_IN = _errors(401, 403, 503)


def create_app(settings: Settings | None = None) -> FastAPI:
    """The service over ``settings.db`` (default: the settings ``renew-fsm serve`` put in the environment)."""
    settings = settings or Settings.from_env()
    svc = Service.of(settings)
    _quiet_logging()

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        svc.engines.close()

    app = FastAPI(
        title="renew_fsm 医师定期考核 service",
        version=renew_fsm.__version__,
        description=(
            "医师定期考核 over HTTP.  Sign in with POST /session (account and secret) and send the token as "
            "`Authorization: Bearer …`; the actor is the signed-in account's.  登录后以令牌访问；操作人即登录账号。"
            "Every error has the body {code, rule, message, message_zh}."
        ),
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_tags=s.TAGS,
    )
    app.state.service = svc
    assets = resources.files("renew_fsm.service") / STATIC
    app.mount("/static", StaticFiles(directory=str(assets)), name="static")

    @app.exception_handler(Refused)
    async def refused(_: Request, exc: Refused) -> JSONResponse:
        status = 401 if exc.code == FORBIDDEN and exc.rule in SIGN_IN_RULES else STATUS.get(exc.code, 422)
        headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
        return JSONResponse(exc.as_dict(), status_code=status, headers=headers)

    @app.exception_handler(Unavailable)
    async def unavailable(_: Request, exc: Unavailable) -> JSONResponse:
        log.warning("database unavailable: %s", exc.cause)
        return JSONResponse(exc.body(), status_code=503, headers={"Retry-After": "2"})

    @app.exception_handler(RequestValidationError)
    async def malformed(_: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()))
        message = f"{where}: {first.get('msg', 'invalid request')}" if where else "invalid request"
        body = {"code": BAD_INPUT, "rule": None, "message": message, "message_zh": f"请求格式有误：{message}"}
        return JSONResponse(body, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 404:
            body = {"code": NOT_FOUND, "rule": None, "message": "no such route", "message_zh": "无此接口"}
        elif exc.status_code == 405:
            body = {
                "code": BAD_INPUT,
                "rule": None,
                "message": "method not allowed here",
                "message_zh": "不支持该请求方法",
            }
        else:
            body = {"code": BAD_INPUT, "rule": None, "message": str(exc.detail), "message_zh": str(exc.detail)}
        return JSONResponse(body, status_code=exc.status_code, headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def crashed(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error", exc_info=exc)
        body = {
            "code": "internal",
            "rule": None,
            "message": "an unexpected error; it was logged",
            "message_zh": "服务器内部错误",
        }
        return JSONResponse(body, status_code=500)

    @app.get("/docs", include_in_schema=False)
    def docs(request: Request) -> HTMLResponse:
        """Swagger UI from the package's own files: it works on a network without the internet."""
        root = str(request.scope.get("root_path", "")).rstrip("/")  # mounted under a prefix: its URLs too
        return get_swagger_ui_html(
            openapi_url=f"{root}/openapi.json",
            title="renew_fsm 医师定期考核 — API",
            swagger_js_url=f"{root}/static/swagger-ui-bundle.js",
            swagger_css_url=f"{root}/static/swagger-ui.css",
            swagger_favicon_url=f"{root}/static/favicon.png",
        )

    # -- health and sessions ----------------------------------------------------------------------
    @app.get("/health", response_model=s.HealthOut, tags=["health"], responses=_errors(503))
    def health() -> s.HealthOut:
        """Whether the database answers, and the cycle loaded (null before a policy is loaded)."""

        def read(engine: Engine) -> s.HealthOut:
            policy = engine.world().policy
            return s.HealthOut(ok=True, cycle=policy.id if policy else None)

        return svc.use(read, write=False)

    @app.post("/session", response_model=s.SessionOut, tags=["session"], responses=_errors(401, 403, 422, 503))
    def start_session(body: s.SignIn, request: Request) -> s.SessionOut:
        """登录: an account's secret for a bearer token (the only time it is shown)."""

        def run(engine: Engine) -> s.SessionOut:
            token, session = sign_in(engine, svc.rules, body.account, body.secret, body.role)
            request.state.actor = f"{session.actor.role}:{session.actor.id}"
            return s.SessionOut(token=token, **_session(session).model_dump())

        with HASHING:
            return svc.use(run, write=True)

    @app.get("/session", response_model=s.SessionInfo, tags=["session"], responses=SIGNED_IN)
    def whoami(token: TokenDep, request: Request) -> s.SessionInfo:
        """The signed-in account, the actor it acts as and when the token expires."""

        def run(engine: Engine) -> s.SessionInfo:
            return _session(svc.session(engine, token))

        return svc.as_actor(request, token, lambda e, _: run(e), write=False)

    @app.delete("/session", status_code=204, tags=["session"], responses=SIGNED_IN)
    def end_session(token: TokenDep, request: Request) -> Response:
        """退出登录: the token no longer works."""

        def run(engine: Engine, _: Actor) -> None:
            if svc.issuer is not None and looks_like_jwt(token.credentials):  # type: ignore[union-attr]
                raise Refused(
                    BAD_INPUT,
                    "a token of the trusted issuer ends at its expiry or at the issuer, not here",
                    message_zh="统一认证的登录须在统一认证平台退出",
                )
            sign_out(engine, token.credentials)  # type: ignore[union-attr]

        svc.as_actor(request, token, run, write=True)
        return Response(status_code=204)

    @app.post("/session/password", response_model=s.CaseOut, tags=["session"], responses=_errors(401, 403, 422, 503))
    def change_password(body: s.PasswordChange) -> s.CaseOut:
        """修改密码 (the first sign-in must): proves the current secret; every token of the account ends."""

        def run(engine: Engine) -> s.CaseOut:
            return s.case_out(engine.change_password(body.account, body.secret, body.new_secret))

        with HASHING:
            return svc.use(run, write=True)

    # -- a doctor's cycle ---------------------------------------------------------------------------
    @app.post(
        "/doctors/{doctor}/events/{event}",
        response_model=s.ViewOut,
        responses={**SIGNED_IN, **_errors(404, 409, 413, 422)},
        tags=s.EVENT_TAGS,
    )
    def fire(
        doctor: str,
        event: s.EventId,
        token: TokenDep,
        request: Request,
        body: s.FireBody | None = None,
        idempotency_key: Annotated[
            str | None, Header(alias="Idempotency-Key", description="a retry with the same key writes nothing twice")
        ] = None,
        expected: Annotated[
            int | None,
            Header(alias="X-Expected-Version", description="the version the screen showed; 409 conflict if it moved"),
        ] = None,
    ) -> s.ViewOut:
        """Fire an event at a doctor's cycle; the new state.  A refusal writes nothing.  触发考核事件。"""
        data = body.data if body is not None else {}

        def run(engine: Engine, actor: Actor) -> s.ViewOut:
            view = engine.fire(
                doctor, event.value, actor, data, idempotency_key=idempotency_key, expected_version=expected
            )
            return s.view_out(view)

        return svc.as_actor(request, token, run, write=True)

    @app.post("/batch", response_model=s.BatchOut, responses={**SIGNED_IN, **_errors(413, 422)}, tags=s.EVENT_TAGS)
    def batch(body: s.BatchIn, token: TokenDep, request: Request) -> s.BatchOut:
        """批量通过 / 一键确认: one event for many doctors, a result per doctor.

        Each doctor is judged on its own; with ``all_or_nothing`` a single refusal
        writes nothing for anyone (every result then says why it was or would be refused).
        """
        if len(body.doctors) > 1000:
            raise Refused(BAD_INPUT, "at most 1000 doctors per batch", message_zh="每批最多 1000 名医师")
        if len(set(body.doctors)) != len(body.doctors):
            raise Refused(BAD_INPUT, "each doctor once per batch", message_zh="同批中医师不能重复")

        def run(engine: Engine, actor: Actor) -> s.BatchOut:
            commands = [renew_fsm.Fire(d, body.event.value, actor, dict(body.data)) for d in body.doctors]
            results = engine.fire_many(commands) if not body.all_or_nothing else _all_or_nothing(engine, commands)
            return s.batch_out(body.doctors, results)

        return svc.as_actor(request, token, run, write=True)

    @app.get("/doctors/{doctor}", response_model=s.ViewOut, responses={**SIGNED_IN, **_errors(404)}, tags=s.READ_TAGS)
    def state(doctor: str, token: TokenDep, request: Request) -> s.ViewOut:
        """The doctor's current state, reason, flags and version.  医师考核状态。"""

        def run(engine: Engine, actor: Actor) -> s.ViewOut:
            may_read(engine, actor, doctor)
            return s.view_out(engine.state(doctor))

        return svc.as_actor(request, token, run, write=False)

    @app.get(
        "/doctors/{doctor}/history",
        response_model=list[s.RecordOut],
        responses={**SIGNED_IN, **_errors(404)},
        tags=s.READ_TAGS,
    )
    def history(doctor: str, token: TokenDep, request: Request) -> list[s.RecordOut]:
        """Every accepted event of the doctor's cycle, oldest first (append-only).  考核记录。"""

        def run(engine: Engine, actor: Actor) -> list[s.RecordOut]:
            may_read(engine, actor, doctor)
            return [s.record_out(r) for r in engine.history(doctor)]

        return svc.as_actor(request, token, run, write=False)

    @app.get(
        "/doctors/{doctor}/allowed",
        response_model=s.AllowedOut,
        responses={**SIGNED_IN, **_errors(404)},
        tags=s.READ_TAGS,
    )
    def allowed(doctor: str, token: TokenDep, request: Request) -> s.AllowedOut:
        """The events this actor may fire on the doctor now (which buttons to show).  可操作的事件。"""

        def run(engine: Engine, actor: Actor) -> s.AllowedOut:
            may_read(engine, actor, doctor)
            return s.allowed_out(doctor, engine.allowed(doctor, actor))

        return svc.as_actor(request, token, run, write=False)

    @app.get(
        "/doctors/{doctor}/notice.pdf",
        response_class=Response,
        responses={
            200: {"content": {"application/pdf": {}}, "description": "考核结果通知书"},
            **SIGNED_IN,
            **_errors(404, 409),
        },
        tags=s.READ_TAGS,
    )
    def notice_pdf(doctor: str, token: TokenDep, request: Request) -> Response:
        """考核结果通知书 as PDF, once the doctor has a final result."""
        from renew_fsm.notice import notice, to_pdf

        def run(engine: Engine, actor: Actor) -> bytes:
            may_read(engine, actor, doctor)
            return to_pdf(notice(engine, doctor))

        content = svc.as_actor(request, token, run, write=False)
        disposition = f'attachment; filename="notice-{doctor}.pdf"'
        return Response(content, media_type="application/pdf", headers={"Content-Disposition": disposition})

    @app.get("/changes", response_model=s.ChangesOut, responses={**SIGNED_IN, **_errors(404, 422)}, tags=s.READ_TAGS)
    def changes(
        token: TokenDep,
        request: Request,
        after: Annotated[int, Query(ge=0, description="the last position seen; 0 from the start")] = 0,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> s.ChangesOut:
        """变更通知: the cycle's records the caller may see, in the order they were committed — what
        站内消息 (notifications) are built on.  Poll with the last ``next``; no record is ever skipped."""

        def run(engine: Engine, actor: Actor) -> s.ChangesOut:
            page = engine.storage.changes(engine.cycle, after, limit)
            world = engine.world()
            loaded = engine.storage.load(engine.cycle, sorted({r.doctor for _, r in page}))
            mine = {d for d, (_, doc) in loaded.items() if world.may_act(actor, doc)}
            return s.ChangesOut(
                changes=[s.change_out(p, r) for p, r in page if r.doctor in mine],
                next=page[-1][0] if page else after,
            )

        return svc.as_actor(request, token, run, write=False)

    # -- workflow cases -----------------------------------------------------------------------------
    @app.post(
        "/cases/{machine}/{case}/events/{event}",
        response_model=s.CaseOut,
        responses={**SIGNED_IN, **_errors(404, 409, 422)},
        tags=s.CASE_TAGS,
    )
    def case_fire(
        machine: s.CaseMachine,
        case: str,
        event: str,
        token: TokenDep,
        request: Request,
        body: s.CaseFireBody | None = None,
    ) -> s.CaseOut:
        """Fire an event at a workflow case (agency_application, info_change, account, export_request);
        a new case is created by its first accepted event, which names its subject.  业务流程。"""
        body = body or s.CaseFireBody()
        if machine.value == "cycle_settings" and isinstance(body.data, dict) and "file" in body.data:
            # A path would be read on the server: over HTTP a policy is a shipped one (POST /settings/policy).
            raise Refused(
                BAD_INPUT,
                "a policy file is loaded on the server (renew-fsm settings load); over HTTP give a shipped name",
                message_zh="考核政策文件须在服务器上载入；接口仅接受内置政策名称",
            )

        def run(engine: Engine, actor: Actor) -> s.CaseOut:
            return s.case_out(engine.case_fire(machine.value, case, event, actor, body.data, subject=body.subject))

        return svc.as_actor(request, token, run, write=True)

    @app.get(
        "/cases/{machine}/{case}", response_model=s.CaseOut, responses={**SIGNED_IN, **_errors(404)}, tags=s.CASE_TAGS
    )
    def case_state(machine: s.CaseMachine, case: str, token: TokenDep, request: Request) -> s.CaseOut:
        """A workflow case's state, flags and data, for an actor whose jurisdiction it lies in."""

        def run(engine: Engine, actor: Actor) -> s.CaseOut:
            may_read_case(engine, actor, machine.value, case)
            return s.case_out(engine.case_state(machine.value, case))

        return svc.as_actor(request, token, run, write=False)

    @app.get(
        "/cases/{machine}/{case}/allowed",
        response_model=s.CaseAllowedOut,
        responses={**SIGNED_IN, **_errors(404)},
        tags=s.CASE_TAGS,
    )
    def case_allowed(machine: s.CaseMachine, case: str, token: TokenDep, request: Request) -> s.CaseAllowedOut:
        """The events this actor may fire on the case now (which buttons to show)."""

        def run(engine: Engine, actor: Actor) -> s.CaseAllowedOut:
            may_read_case(engine, actor, machine.value, case)
            return s.case_allowed_out(machine.value, case, engine.case_allowed(machine.value, case, actor))

        return svc.as_actor(request, token, run, write=False)

    @app.get(
        "/exports/{case}/download",
        response_class=Response,
        responses={
            200: {"content": {"text/csv": {}, XLSX: {}}, "description": "考试进展名单"},
            **SIGNED_IN,
            **_errors(404, 409),
        },
        tags=s.CASE_TAGS,
    )
    def export_download(
        case: str,
        token: TokenDep,
        request: Request,
        format: Annotated[
            s.ExportFormat, Query(description="csv (with a byte-order mark, for Excel) or xlsx")
        ] = s.ExportFormat.csv,
    ) -> Response:
        """下载考试进展名单: the produced list as a file; the download is recorded in the case's history."""

        def run(engine: Engine, actor: Actor) -> bytes:
            return engine.download_export(case, actor, format=format.value)

        content = svc.as_actor(request, token, run, write=True)
        media = "text/csv; charset=utf-8" if format is s.ExportFormat.csv else XLSX
        disposition = f'attachment; filename="exam-progress-{case}.{format.value}"'
        return Response(content, media_type=media, headers={"Content-Disposition": disposition})

    # -- screens: the work queue and statistics ----------------------------------------------------
    @app.get("/queue", response_model=s.QueueOut, responses={**SIGNED_IN, **_errors(404, 422)}, tags=s.READ_TAGS)
    def queue(
        token: TokenDep,
        request: Request,
        state: Annotated[list[s.StateId] | None, Query(description="only these states (repeat the parameter)")] = None,
        page_size: Annotated[int, Query(ge=1, le=1000)] = 50,
        after: Annotated[str | None, Query(description="the previous page's next")] = None,
    ) -> s.QueueOut:
        """The actor's work queue: doctors on whom it has something to do now, by doctor id.  待办。"""
        states = [x.value for x in state] if state else None

        def run(engine: Engine, actor: Actor) -> s.QueueOut:
            page = engine.work_queue(actor, states=states, page_size=page_size, after=after)
            return s.queue_out(page)

        return svc.as_actor(request, token, run, write=False)

    @app.get("/stats", response_model=s.StatsOut, responses={**SIGNED_IN, **_errors(422)}, tags=s.STATS_TAGS)
    def stats(
        token: TokenDep,
        request: Request,
        by: Annotated[str, Query(description=f"one of {', '.join(LEVELS)}")] = "city",
    ) -> s.StatsOut:
        """考核进度统计 and 考核结果统计, limited to the rows of the actor's jurisdiction."""

        def run(engine: Engine, actor: Actor) -> s.StatsOut:
            return s.stats_out(scoped_stats(engine, actor, by))

        return svc.as_actor(request, token, run, write=False)

    @app.get(
        "/stats.xlsx",
        response_class=Response,
        responses={200: {"content": {XLSX: {}}, "description": "an Excel workbook"}, **SIGNED_IN, **_errors(422)},
        tags=s.STATS_TAGS,
    )
    def stats_xlsx(
        token: TokenDep,
        request: Request,
        by: Annotated[str, Query(description=f"one of {', '.join(LEVELS)}")] = "city",
    ) -> Response:
        """The same statistics as an Excel workbook (one sheet per table)."""
        figures = svc.as_actor(request, token, lambda e, a: scoped_stats(e, a, by), write=False)
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "stats.xlsx"
            to_xlsx(figures, path)
            content = path.read_bytes()
        name = f"{figures.cycle}-{by}-{dt.date.today().isoformat()}.xlsx"
        return Response(content, media_type=XLSX, headers={"Content-Disposition": f'attachment; filename="{name}"'})

    # The routes of issue 36 (photo review, the organisations' records, the lists, settings, accounts).
    records.add_routes(app, svc, SIGNED_IN, _errors)

    app.openapi = lambda: s.openapi(app)  # type: ignore[method-assign]
    return Edge(app, settings.max_body)  # type: ignore[return-value]


def _session(session: Session) -> s.SessionInfo:
    return s.SessionInfo(
        account=session.account,
        role=s.RoleId(session.actor.role),
        id=session.actor.id,
        expires_at=session.expires.isoformat(),
    )


def _all_or_nothing(engine: Engine, commands: list[renew_fsm.Fire]) -> list[renew_fsm.View | Refused]:
    """Every command decided on the doctors as read, and written in one transaction only if none is
    refused (``Engine.drive`` decides a batch of plans and commits it once; a plan that meets a
    refusal stops the batch before the commit)."""
    results: list[renew_fsm.View | Refused] = []

    class _Stop(Exception):
        pass

    def plan(cmd: renew_fsm.Fire) -> Any:
        result = yield cmd
        results.append(result)
        if isinstance(result, Refused):
            raise _Stop

    try:
        engine.drive(((c.doctor, plan(c)) for c in commands), batch=len(commands))
    except _Stop:
        unwritten = Refused(
            CONFLICT,
            "not written: another doctor of this all-or-nothing batch was refused",
            rule="batch_refused",
            message_zh="未保存：同批中有其他医师的操作被拒绝",
        )
        decided = [r if isinstance(r, Refused) else unwritten for r in results]
        return decided + [unwritten] * (len(commands) - len(decided))
    except ConflictError:
        return [
            Refused(CONFLICT, f"{c.doctor}: a doctor of the batch changed meanwhile; nothing was written")
            for c in commands
        ]
    return results


def _quiet_logging() -> None:
    """Our lines on stderr: one access line per request and the warnings; uvicorn's own access log is off."""
    logger = logging.getLogger("renew_fsm.service")
    if not any(h.get_name() == "renew-fsm service" for h in logger.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.set_name("renew-fsm service")
        handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
        logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False


__all__ = ["Service", "Unavailable", "create_app", "open_engine"]
