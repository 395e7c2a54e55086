"""What goes over the wire: request and response bodies, the enums of ids, the tags, the OpenAPI text.

The enums and each event's ``data`` schema are generated from the machine
declarations (``renew_fsm/machines/``), so the description cannot drift from
what the engine accepts: a new event or field appears here by itself.
"""

from __future__ import annotations

import enum
import json
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel, Field

from renew_fsm import labels
from renew_fsm.errors import Refused
from renew_fsm.eventdata import MAX_TEXT
from renew_fsm.machines import CASE_MACHINES, compiled
from renew_fsm.machines.dsl import Event
from renew_fsm.machines.vocabulary import ROLES
from renew_fsm.model import CaseView, Record, View
from renew_fsm.queue import Item, Page
from renew_fsm.stats import Sheet, Stats

from .sessions import HTTP_ROLES

_DOCTOR = compiled("doctor")
#: Events a person fires over HTTP: not the sweeps (``renew-fsm sweep`` on the server).
FIREABLE = {name: ev for name, ev in _DOCTOR.machine.events.items() if not ev.sweep}

EventId = enum.Enum("EventId", {name: name for name in FIREABLE}, type=str)  # type: ignore[misc]
StateId = enum.Enum(  # type: ignore[misc]
    "StateId", {node: node for node, n in _DOCTOR.graph.nodes.items() if not n.children}, type=str
)
RoleId = enum.Enum("RoleId", {role: role for role in HTTP_ROLES}, type=str)  # type: ignore[misc]
CaseMachine = enum.Enum("CaseMachine", {m: m for m in CASE_MACHINES}, type=str)  # type: ignore[misc]


class ExportFormat(enum.StrEnum):
    csv = "csv"
    xlsx = "xlsx"


def tag(role: str) -> str:
    zh, _ = ROLES[role]
    return f"{role} · {zh}"


#: Routes are tagged by the roles that use them, in English and Chinese.
TAGS = [
    {"name": "session", "description": "登录与退出 — signing in and out; changing the password"},
    *({"name": tag(r), "description": f"{ROLES[r][0]} — what a {ROLES[r][1]} does"} for r in HTTP_ROLES),
    {"name": "health", "description": "运行状态 — whether the service and its database answer"},
]
EVENT_TAGS: list[str | enum.Enum] = [tag(r) for r in HTTP_ROLES]
READ_TAGS: list[str | enum.Enum] = [tag(r) for r in HTTP_ROLES]
CASE_TAGS: list[str | enum.Enum] = [tag(r) for r in ("doctor", "institution", "agency", "admin")]
STATS_TAGS: list[str | enum.Enum] = [tag(r) for r in ("institution", "agency", "admin")]


class Problem(BaseModel):
    """Why a request was not done; a refusal writes nothing (``unavailable`` says whether it may have)."""

    code: str = Field(
        description="forbidden, not_found, conflict, invalid_transition, guard_failed, bad_input or unavailable"
    )
    rule: str | None = Field(None, description="the rule: window_closed, token_expired, write_unknown, …")
    message: str
    message_zh: str


class SignIn(BaseModel):
    account: str = Field(max_length=64, description="the account id")
    secret: str = Field(max_length=1024, description="the account's password")
    role: RoleId | None = Field(None, description="agency: an institution that is an agency signs in as the agency")


class SessionInfo(BaseModel):
    account: str
    role: RoleId
    id: str | None
    expires_at: str


class SessionOut(SessionInfo):
    token: str = Field(description="send as Authorization: Bearer <token>; shown only here")


class PasswordChange(BaseModel):
    account: str = Field(max_length=64)
    secret: str = Field(max_length=1024, description="the current (or one-time) secret")
    new_secret: str = Field(max_length=4096, description="8–1,024 characters, not the account id nor the current")


class FireBody(BaseModel):
    data: dict[str, Any] = Field(
        default_factory=dict, description="the event's fields: see the schema EventData.<event>"
    )


class LabelOut(BaseModel):
    """An id with what a person reads for it (中文 first): the id itself never changes."""

    id: str
    label_zh: str
    label_en: str


#: The labels sit next to the ids they name (``state`` → ``state_label_zh``): every id key stays.
_LABEL = "a person's name for the id beside it (machine data; the id stays the stable key)"


class ViewOut(BaseModel):
    doctor: str
    state: StateId
    reason: str | None
    flags: list[str]
    version: int
    state_label_zh: str = Field(description=_LABEL)
    state_label_en: str = Field(description=_LABEL)
    reason_label_zh: str | None = Field(description=_LABEL)
    reason_label_en: str | None = Field(description=_LABEL)
    flag_labels: list[LabelOut] = Field(description="each flag of ``flags`` with its labels, in the same order")


class BatchIn(BaseModel):
    event: EventId
    doctors: list[str] = Field(min_length=1, description="at most 1000, each once")
    data: dict[str, Any] = Field(default_factory=dict, description="the event's fields, the same for every doctor")
    all_or_nothing: bool = Field(False, description="write nothing unless every doctor's event is accepted")


class BatchItem(BaseModel):
    doctor: str
    ok: bool
    view: ViewOut | None = None
    error: Problem | None = None


class BatchOut(BaseModel):
    accepted: int
    refused: int
    results: list[BatchItem]


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
    event_label_zh: str = Field(description=_LABEL)
    event_label_en: str = Field(description=_LABEL)
    from_state_label_zh: str = Field(description=_LABEL)
    from_state_label_en: str = Field(description=_LABEL)
    to_state_label_zh: str = Field(description=_LABEL)
    to_state_label_en: str = Field(description=_LABEL)
    role_label_zh: str = Field(description=_LABEL)
    role_label_en: str = Field(description=_LABEL)


class ChangeOut(RecordOut):
    position: int = Field(description="the feed's position of this record: pass the last one as ?after=")
    doctor: str


class ChangesOut(BaseModel):
    changes: list[ChangeOut] = Field(description="the records the caller may see, in the order they were committed")
    next: int = Field(description="pass as ?after= for the next page (the same when nothing is new yet)")


class AllowedOut(BaseModel):
    doctor: str
    events: list[str]
    event_labels: list[LabelOut] = Field(description="each event of ``events`` with its labels, in the same order")


class ItemOut(BaseModel):
    doctor: str
    name: str
    institution: str
    state: StateId
    reason: str | None
    flags: list[str]
    version: int
    events: list[str] = Field(description="the to-do events this actor may fire on the doctor now")
    state_label_zh: str = Field(description=_LABEL)
    state_label_en: str = Field(description=_LABEL)
    reason_label_zh: str | None = Field(description=_LABEL)
    reason_label_en: str | None = Field(description=_LABEL)
    flag_labels: list[LabelOut] = Field(description="each flag of ``flags`` with its labels, in the same order")
    event_labels: list[LabelOut] = Field(description="each event of ``events`` with its labels, in the same order")


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
    state_label_zh: str = Field(description=_LABEL)
    state_label_en: str = Field(description=_LABEL)
    secret: str | None = Field(
        None, description="an account's one-time initial secret, on the answer to its activation or reset only"
    )


class CaseAllowedOut(BaseModel):
    machine: str
    id: str
    events: list[str]
    event_labels: list[LabelOut] = Field(description="each event of ``events`` with its labels, in the same order")


class HealthOut(BaseModel):
    ok: bool
    cycle: str | None


# -- from the library's values ---------------------------------------------------------------------------


def view_out(view: View) -> ViewOut:
    return ViewOut(
        doctor=view.doctor,
        state=view.state,
        reason=view.reason,
        flags=list(view.flags),
        version=view.version,
        **labels.view_labels(view.state, view.reason, view.flags),
    )


def record_out(r: Record) -> RecordOut:
    return RecordOut(
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
        **labels.record_labels(r.event, r.from_state, r.to_state, r.role, labels.machine_of(r)),
    )


def allowed_out(doctor: str, events: list[str]) -> AllowedOut:
    return AllowedOut(doctor=doctor, events=events, event_labels=labels.events(events))


def case_allowed_out(machine: str, case: str, events: list[str]) -> CaseAllowedOut:
    return CaseAllowedOut(machine=machine, id=case, events=events, event_labels=labels.events(events, machine))


def _item_out(item: Item) -> ItemOut:
    return ItemOut.model_validate(
        item.as_dict()
        | labels.view_labels(item.state, item.reason, item.flags)
        | {"event_labels": labels.events(item.events)}
    )


def queue_out(page: Page) -> QueueOut:
    return QueueOut(items=[_item_out(i) for i in page.items], next=page.next)


def change_out(position: int, r: Record) -> ChangeOut:
    return ChangeOut(position=position, doctor=r.doctor, **record_out(r).model_dump())


def case_out(view: CaseView) -> CaseOut:
    return CaseOut(
        machine=view.machine,
        id=view.id,
        subject=view.subject,
        state=view.state,
        version=view.version,
        flags=list(view.flags),
        data=view.data,
        secret=view.secret,
        state_label_zh=labels.state(view.state, view.machine).zh,
        state_label_en=labels.state(view.state, view.machine).en,
    )


def _sheet(sheet: Sheet) -> SheetOut:
    return SheetOut(title=sheet.title, headers=sheet.headers, rows=sheet.rows)


def stats_out(figures: Stats) -> StatsOut:
    return StatsOut(
        cycle=figures.cycle,
        by=figures.by,
        taken_at=figures.taken_at.isoformat(),
        progress=_sheet(figures.progress),
        results=_sheet(figures.results),
    )


def batch_out(doctors: list[str], results: list[View | Refused]) -> BatchOut:
    items = [
        BatchItem(doctor=d, ok=False, error=Problem(**r.as_dict()))  # type: ignore[arg-type]
        if isinstance(r, Refused)
        else BatchItem(doctor=d, ok=True, view=view_out(r))
        for d, r in zip(doctors, results, strict=True)
    ]
    accepted = sum(1 for i in items if i.ok)
    return BatchOut(accepted=accepted, refused=len(items) - accepted, results=items)


# -- each event's data, from its declared fields -------------------------------------------------------------

_ID = {"type": "string", "minLength": 1, "maxLength": 64}
_PARAM_SCHEMAS: dict[str, dict[str, Any]] = {
    "text": {"type": "string", "maxLength": MAX_TEXT},
    "condition": {**_ID, "description": "a simple-program condition of the policy (good_record_5y, …)"},
    "reason_id": {**_ID, "description": "an exemption reason id (age_60, tcm_1998, the province's list)"},
    "pass_fail": {"type": "string", "enum": ["pass", "fail"]},
    "rejection_mode": {"type": "string", "enum": ["supplement", "forbid"]},
    "test": {"type": "string", "enum": ["humanities", "business"]},
    "score": {"type": "number", "minimum": 0, "maximum": 100},
    "finding": {"type": "string", "enum": ["communicating", "camera_blocked", "cheating"]},
    "months": {"type": "integer"},
    "id": _ID,
    "count": {"type": "integer", "minimum": 0},
    "sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
}


def event_data_schema(name: str, event: Event) -> dict[str, Any]:
    """The JSON schema of an event's ``data``: its declared fields, their kinds, which are required."""
    from renew_fsm.machines.vocabulary import VIOLATIONS

    kinds = {**_PARAM_SCHEMAS, "violation": {"type": "string", "enum": list(VIOLATIONS)}}
    schema: dict[str, Any] = {
        "title": f"EventData.{name}",
        "description": f"{event.zh} — {event.en}",
        "type": "object",
        "properties": {p.name: dict(kinds.get(p.kind, {})) for p in event.params},
        "additionalProperties": event.open,
    }
    required = [p.name for p in event.params if p.required]
    if required:
        schema["required"] = required
    return schema


def openapi(app: FastAPI) -> dict[str, Any]:
    """FastAPI's description, with a schema per event's data (``EventData.<event>``) added."""
    if app.openapi_schema:
        return app.openapi_schema
    spec = get_openapi(
        title=app.title,
        version=app.version,
        description=app.description,
        routes=app.routes,
        tags=app.openapi_tags,
    )
    schemas = spec.setdefault("components", {}).setdefault("schemas", {})
    for name, event in FIREABLE.items():
        schemas[f"EventData.{name}"] = event_data_schema(name, event)
    data = schemas["FireBody"]["properties"]["data"]
    data["anyOf"] = [{"$ref": f"#/components/schemas/EventData.{name}"} for name in FIREABLE]
    data.pop("type", None)
    data.pop("additionalProperties", None)
    app.openapi_schema = spec
    return spec


def openapi_text(app: FastAPI) -> str:
    return json.dumps(app.openapi(), ensure_ascii=False, indent=2, sort_keys=True) + "\n"


__all__ = ["EventId", "RoleId", "StateId", "event_data_schema", "openapi", "openapi_text"]
