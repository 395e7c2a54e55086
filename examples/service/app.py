"""An HTTP JSON service over renew_fsm: what a provincial front end, a hospital's HR system or an
agency's screen talks to.

    pip install 'renew_fsm[service]'
    python examples/service/app.py --db cycle.db --port 8000            # or a postgresql://… URL
    RENEW_FSM_DB=cycle.db uvicorn --app-dir examples/service --factory app:create_app --port 8000

Who is asking comes from two request headers, ``X-Actor-Role`` and ``X-Actor-Id``
(an admin's id is its region id).  **The service trusts them**: real
authentication — a login, a certificate, a gateway that sets these headers
after checking a token — is the host's business and must sit in front of it.

Every refusal of the library (``renew_fsm.Refused``) becomes an HTTP status with
the body ``{code, rule, message, message_zh}``: 403 ``forbidden``, 404
``not_found``, 409 ``conflict`` and ``invalid_transition``, 422 ``guard_failed``
and ``bad_input`` (a malformed request body or query is ``bad_input`` too).
An ``Idempotency-Key`` header on a fire makes a retried request safe: the same
key for the same doctor returns the current state and writes nothing twice.

Threads: FastAPI runs these (synchronous) handlers on a thread pool, and an
engine holds one database connection, so each request checks an engine out of
a pool for itself (``Engines``) — never two requests on one connection.  Use a
SQLite *file* or PostgreSQL: each engine's ``:memory:`` database would be a
different, empty one.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import queue
import tempfile
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any

import attrs
from fastapi import Depends, FastAPI, Header, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

import renew_fsm
from renew_fsm import Actor, Refused
from renew_fsm.errors import BAD_INPUT, CONFLICT, FORBIDDEN, GUARD_FAILED, INVALID_TRANSITION, NOT_FOUND
from renew_fsm.stats import LEVELS, Sheet, Stats, compute, to_xlsx
from renew_fsm.world import World

#: How each refusal code reads over HTTP.
STATUS = {
    FORBIDDEN: 403,
    NOT_FOUND: 404,
    CONFLICT: 409,
    INVALID_TRANSITION: 409,
    GUARD_FAILED: 422,
    BAD_INPUT: 422,
}
ROLES = frozenset({"doctor", "institution", "agency", "admin", "exam_system", "system"})
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


# -- what goes over the wire -------------------------------------------------------------------------


class Problem(BaseModel):
    """A refusal: nothing was written."""

    code: str = Field(description="forbidden, not_found, conflict, invalid_transition, guard_failed or bad_input")
    rule: str | None = Field(None, description="the policy rule for guard_failed (window_closed, not_eligible, …)")
    message: str
    message_zh: str


class FireBody(BaseModel):
    data: dict[str, Any] = Field(default_factory=dict, description="the event's fields (reason, score, months, …)")


class ViewOut(BaseModel):
    doctor: str
    state: str
    reason: str | None
    flags: list[str]
    version: int


class RecordOut(BaseModel):
    seq: int
    event: str
    from_state: str
    to_state: str
    role: str
    actor: str | None
    at: str
    data: dict[str, Any]
    policy_version: str
    hash: str
    idempotency_key: str | None


class AllowedOut(BaseModel):
    doctor: str
    events: list[str]


class ItemOut(BaseModel):
    doctor: str
    name: str
    institution: str
    state: str
    reason: str | None
    flags: list[str]
    version: int
    events: list[str] = Field(description="the to-do events this actor may fire on the doctor now")


class QueueOut(BaseModel):
    items: list[ItemOut]
    next: str | None = Field(description="pass as ?after= for the next page; null at the end")


class SheetOut(BaseModel):
    title: str
    headers: list[str]
    rows: list[list[Any]]


class StatsOut(BaseModel):
    cycle: str
    by: str
    taken_at: str
    progress: SheetOut
    results: SheetOut


class CaseFireBody(BaseModel):
    data: dict[str, Any] = Field(default_factory=dict, description="the event's fields (materials, reason, …)")
    subject: str | None = Field(
        None, description="on a new case's first event only: whom it is about (institution:H1, a doctor id, …)"
    )


class CaseOut(BaseModel):
    machine: str
    id: str
    subject: str
    state: str
    version: int
    flags: list[str]
    data: dict[str, Any]
    secret: str | None = Field(
        None, description="an account's one-time initial secret, on the answer to its activation or reset only"
    )


class CaseAllowedOut(BaseModel):
    machine: str
    id: str
    events: list[str]


class HealthOut(BaseModel):
    ok: bool
    cycle: str | None


def _errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {status: {"model": Problem} for status in statuses}


# -- a pool of engines -----------------------------------------------------------------------------------


class Engines:
    """A pool of engines over one database: each request checks one out for itself alone.

    An engine holds one connection, which two requests must never use at once
    (a PostgreSQL transaction would nest inside another's).  FastAPI may run
    a request's dependencies and its handler on different pool threads, so a
    per-thread engine is not enough; a checked-out engine is.  The pool grows
    to the number of requests served at once and is closed at shutdown.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self._idle: queue.SimpleQueue[renew_fsm.Engine] = queue.SimpleQueue()
        self._all: list[renew_fsm.Engine] = []
        self._lock = threading.Lock()

    def acquire(self) -> renew_fsm.Engine:
        try:
            return self._idle.get_nowait()
        except queue.Empty:
            engine = renew_fsm.open(self.url)
            with self._lock:
                self._all.append(engine)
            return engine

    def release(self, engine: renew_fsm.Engine) -> None:
        self._idle.put(engine)

    def close(self) -> None:
        with self._lock:
            for engine in self._all:
                engine.close()
            self._all.clear()


def actor_from(
    role: Annotated[str, Header(alias="X-Actor-Role", description="doctor, institution, agency, admin, exam_system")],
    ident: Annotated[str | None, Header(alias="X-Actor-Id", description="the actor's id; an admin's region id")] = None,
) -> Actor:
    """The actor as the host's authentication layer vouched for it (see the module's docstring)."""
    if role not in ROLES:
        raise Refused(BAD_INPUT, f"X-Actor-Role must be one of {', '.join(sorted(ROLES))}", message_zh="角色不正确")
    return Actor(role, ident or None)


def engine_of(request: Request) -> Iterator[renew_fsm.Engine]:
    """An engine of the pool, this request's alone until it is answered (see ``Engines``)."""
    engines: Engines = request.app.state.engines
    engine = engines.acquire()
    try:
        yield engine
    finally:
        engines.release(engine)


ActorDep = Annotated[Actor, Depends(actor_from)]
EngineDep = Annotated[renew_fsm.Engine, Depends(engine_of)]


def _view(view: renew_fsm.View) -> ViewOut:
    return ViewOut(
        doctor=view.doctor, state=view.state, reason=view.reason, flags=list(view.flags), version=view.version
    )


def _may_read(engine: renew_fsm.Engine, actor: Actor, doctor: str) -> None:
    """Reads follow the same jurisdiction as writes: a doctor reads only their own file."""
    doc = engine.storage.get_doctor(doctor)
    if doc is None:
        raise Refused(NOT_FOUND, f"no doctor {doctor!r}", message_zh=f"无医师 {doctor}")
    if actor.role == "system" or not engine.world().may_act(actor, doc):
        raise Refused(
            FORBIDDEN,
            f"{doctor} is outside the jurisdiction of {actor.role} {actor.id}",
            message_zh=f"医师 {doctor} 不在 {actor.role} {actor.id} 的管辖范围内",
        )


def _case(view: renew_fsm.CaseView) -> CaseOut:
    return CaseOut(
        machine=view.machine,
        id=view.id,
        subject=view.subject,
        state=view.state,
        version=view.version,
        flags=list(view.flags),
        data=view.data,
        secret=view.secret,
    )


def _may_read_case(engine: renew_fsm.Engine, actor: Actor, machine: str, case: str) -> None:
    if actor.role == "system" or not engine.case_may_act(machine, case, actor):
        raise Refused(
            FORBIDDEN,
            f"{machine} {case} is outside the jurisdiction of {actor.role} {actor.id}",
            message_zh=f"{case} 不在 {actor.role} {actor.id} 的管辖范围内",
        )


def _in_scope(world: World, actor: Actor, by: str, group: str) -> bool:
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


def _scoped_stats(engine: renew_fsm.Engine, actor: Actor, by: str) -> Stats:
    if actor.role not in ("admin", "institution", "agency"):
        raise Refused(FORBIDDEN, f"a {actor.role} has no statistics screen", message_zh=f"{actor.role} 无统计功能")
    if by not in LEVELS:
        raise Refused(BAD_INPUT, f"by must be one of {', '.join(LEVELS)}", message_zh="统计口径不正确")
    stats = compute(engine, by=by)
    world = engine.world()

    def keep(sheet: Sheet) -> Sheet:
        return attrs.evolve(sheet, rows=[row for row in sheet.rows if _in_scope(world, actor, by, str(row[0]))])

    return attrs.evolve(stats, progress=keep(stats.progress), results=keep(stats.results))


def _sheet(sheet: Sheet) -> SheetOut:
    return SheetOut(title=sheet.title, headers=sheet.headers, rows=sheet.rows)


# -- the application -------------------------------------------------------------------------------------


def create_app(url: str | None = None) -> FastAPI:
    """The service over the database at ``url`` (default: the ``RENEW_FSM_DB`` environment variable)."""
    url = url or os.environ.get("RENEW_FSM_DB")
    if not url:
        raise SystemExit("give the database: --db URL or RENEW_FSM_DB")
    engines = Engines(url)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        engines.close()

    app = FastAPI(
        title="renew_fsm assessment service",
        version=renew_fsm.__version__,
        description=(
            "医师定期考核 over HTTP. The actor comes from X-Actor-Role / X-Actor-Id, which the host's "
            "authentication layer must set; refusals carry {code, rule, message, message_zh}."
        ),
        lifespan=lifespan,
    )
    app.state.engines = engines

    @app.exception_handler(Refused)
    async def refused(_: Request, exc: Refused) -> JSONResponse:
        return JSONResponse(exc.as_dict(), status_code=STATUS.get(exc.code, 422))

    @app.exception_handler(RequestValidationError)
    async def malformed(_: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()))
        message = f"{where}: {first.get('msg', 'invalid request')}" if where else "invalid request"
        return JSONResponse(
            {"code": BAD_INPUT, "rule": None, "message": message, "message_zh": f"请求格式有误：{message}"},
            status_code=422,
        )

    @app.get("/health", response_model=HealthOut)
    def health(engine: EngineDep) -> HealthOut:
        """Whether the database answers, and the cycle loaded (null before a policy is loaded)."""
        policy = engine.world().policy
        return HealthOut(ok=True, cycle=policy.id if policy else None)

    @app.post(
        "/doctors/{doctor}/events/{event}",
        response_model=ViewOut,
        responses=_errors(403, 404, 409, 422),
    )
    def fire(
        doctor: str,
        event: str,
        actor: ActorDep,
        engine: EngineDep,
        body: FireBody | None = None,
        idempotency_key: Annotated[
            str | None, Header(alias="Idempotency-Key", description="a retry with the same key writes nothing twice")
        ] = None,
        expected: Annotated[
            int | None,
            Header(alias="X-Expected-Version", description="the version the screen showed; 409 conflict if it moved"),
        ] = None,
    ) -> ViewOut:
        """Fire an event at a doctor's instance; the new state.  A refusal writes nothing."""
        data = body.data if body is not None else {}
        retried = idempotency_key is not None and engine.storage.find_idempotent(engine.cycle, doctor, idempotency_key)
        if expected is not None and not retried and engine.state(doctor).version != expected:
            raise Refused(
                CONFLICT,
                f"{doctor} changed since version {expected}; read it again and decide again",
                message_zh=f"医师 {doctor} 的考核状态已被他人修改，请刷新后重试",
            )
        return _view(engine.fire(doctor, event, actor, data, idempotency_key=idempotency_key))

    @app.get("/doctors/{doctor}", response_model=ViewOut, responses=_errors(403, 404, 422))
    def state(doctor: str, actor: ActorDep, engine: EngineDep) -> ViewOut:
        """The doctor's current state, reason, flags and version."""
        _may_read(engine, actor, doctor)
        return _view(engine.state(doctor))

    @app.get("/doctors/{doctor}/history", response_model=list[RecordOut], responses=_errors(403, 404, 422))
    def history(doctor: str, actor: ActorDep, engine: EngineDep) -> list[RecordOut]:
        """Every accepted event of the doctor's cycle, oldest first (append-only, hash-chained)."""
        _may_read(engine, actor, doctor)
        return [
            RecordOut(
                seq=r.seq,
                event=r.event,
                from_state=r.from_state,
                to_state=r.to_state,
                role=r.role,
                actor=r.actor,
                at=r.at,
                data=json.loads(r.data),
                policy_version=r.policy_version,
                hash=r.hash,
                idempotency_key=r.idempotency_key,
            )
            for r in engine.history(doctor)
        ]

    @app.get("/doctors/{doctor}/allowed", response_model=AllowedOut, responses=_errors(403, 404, 422))
    def allowed(doctor: str, actor: ActorDep, engine: EngineDep) -> AllowedOut:
        """The events this actor may fire on the doctor now (which buttons to show)."""
        _may_read(engine, actor, doctor)
        return AllowedOut(doctor=doctor, events=engine.allowed(doctor, actor))

    @app.post(
        "/cases/{machine}/{case}/events/{event}",
        response_model=CaseOut,
        responses=_errors(403, 404, 409, 422),
    )
    def case_fire(
        machine: str, case: str, event: str, actor: ActorDep, engine: EngineDep, body: CaseFireBody | None = None
    ) -> CaseOut:
        """Fire an event at a workflow case (agency_application, info_change, account, export_request);
        a new case is created by its first accepted event, which names its subject."""
        body = body or CaseFireBody()
        return _case(engine.case_fire(machine, case, event, actor, body.data, subject=body.subject))

    @app.get("/cases/{machine}/{case}", response_model=CaseOut, responses=_errors(403, 404, 422))
    def case_state(machine: str, case: str, actor: ActorDep, engine: EngineDep) -> CaseOut:
        """A workflow case's state, flags and data, for an actor whose jurisdiction it lies in."""
        _may_read_case(engine, actor, machine, case)
        return _case(engine.case_state(machine, case))

    @app.get("/cases/{machine}/{case}/allowed", response_model=CaseAllowedOut, responses=_errors(403, 404, 422))
    def case_allowed(machine: str, case: str, actor: ActorDep, engine: EngineDep) -> CaseAllowedOut:
        """The events this actor may fire on the case now (which buttons to show)."""
        _may_read_case(engine, actor, machine, case)
        return CaseAllowedOut(machine=machine, id=case, events=engine.case_allowed(machine, case, actor))

    @app.get("/queue", response_model=QueueOut, responses=_errors(404, 422))
    def queue(
        actor: ActorDep,
        engine: EngineDep,
        state: Annotated[list[str] | None, Query(description="only these states (repeat the parameter)")] = None,
        page_size: Annotated[int, Query(ge=1, le=1000)] = 50,
        after: Annotated[str | None, Query(description="the previous page's next")] = None,
    ) -> QueueOut:
        """The actor's work queue: doctors on whom it has something to do now, by doctor id."""
        page = engine.work_queue(actor, states=state, page_size=page_size, after=after)
        return QueueOut.model_validate(page.as_dict())

    @app.get("/stats", response_model=StatsOut, responses=_errors(403, 422))
    def stats(
        actor: ActorDep,
        engine: EngineDep,
        by: Annotated[str, Query(description=f"one of {', '.join(LEVELS)}")] = "city",
    ) -> StatsOut:
        """考核进度统计 and 考核结果统计, limited to the rows of the actor's jurisdiction."""
        figures = _scoped_stats(engine, actor, by)
        return StatsOut(
            cycle=figures.cycle,
            by=figures.by,
            taken_at=figures.taken_at.isoformat(),
            progress=_sheet(figures.progress),
            results=_sheet(figures.results),
        )

    @app.get(
        "/stats.xlsx",
        response_class=Response,
        responses={200: {"content": {XLSX: {}}, "description": "an Excel workbook"}, **_errors(403, 422)},
    )
    def stats_xlsx(
        actor: ActorDep,
        engine: EngineDep,
        by: Annotated[str, Query(description=f"one of {', '.join(LEVELS)}")] = "city",
    ) -> Response:
        """The same statistics as an Excel workbook (one sheet per table)."""
        figures = _scoped_stats(engine, actor, by)
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "stats.xlsx"
            to_xlsx(figures, path)
            content = path.read_bytes()
        name = f"{figures.cycle}-{by}-{dt.date.today().isoformat()}.xlsx"
        return Response(content, media_type=XLSX, headers={"Content-Disposition": f'attachment; filename="{name}"'})

    return app


def openapi_text(app: FastAPI) -> str:
    """The OpenAPI description as committed in examples/service/openapi.json."""
    return json.dumps(app.openapi(), ensure_ascii=False, indent=2, sort_keys=True) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description="Serve renew_fsm over HTTP")
    parser.add_argument("--db", default=os.environ.get("RENEW_FSM_DB"), help="SQLite file or postgresql://… URL")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--openapi", action="store_true", help="print the OpenAPI description and exit")
    args = parser.parse_args()
    if args.openapi:
        print(openapi_text(create_app(args.db or "memory:")), end="")
        return
    import uvicorn

    uvicorn.run(create_app(args.db), host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
