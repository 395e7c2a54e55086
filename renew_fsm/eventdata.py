"""The boundary for event data: each field kind a machine file may declare, checked once.

Everything a rule reads from ``act.data`` has passed through here, so rules
never re-check types.  A failure is ``Refused("bad_input")`` naming the field.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Callable
from typing import Any

from .errors import Refused, bad_input
from .machines.dsl import Event
from .machines.vocabulary import ROLES, VIOLATIONS
from .model import Actor, Doctor, Record, json_encoder

MAX_TEXT = 4000
MAX_DATA_BYTES = 64 * 1024
#: The longest idempotency key a caller may send (a UUID is 36).
IDEMPOTENCY_KEY = 200


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("must be text")
    if not value.strip():
        raise ValueError("must not be empty")
    if len(value) > MAX_TEXT:
        raise ValueError(f"is longer than {MAX_TEXT} characters")
    return value


def _identifier(value: Any) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > 64:
        raise ValueError("must be an id (text of 1–64 characters)")
    return value


def _choice(*allowed: str) -> Callable[[Any], str]:
    def check(value: Any) -> str:
        if value not in allowed:
            raise ValueError(f"must be one of {', '.join(allowed)}")
        return value

    return check


def _score(value: Any) -> float:
    # An int is compared as it is: math.isfinite(10**400) would raise OverflowError, not refuse.
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or (isinstance(value, float) and not math.isfinite(value))
    ):
        raise ValueError("must be a number")
    if not 0 <= value <= 100:
        raise ValueError(f"must be within 0–100, got {value}")
    return float(value)


def _months(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError("must be a whole number of months")
    return value


def _count(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError("must be a whole number, 0 or more")
    return value


def _sha256(value: Any) -> str:
    if not isinstance(value, str) or len(value) != 64 or value.strip("0123456789abcdef"):
        raise ValueError("must be a SHA-256 digest (64 lower-case hex digits)")
    return value


def _attempt(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError("must be an attempt number, 1 or more")
    return value


def _switch(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError("must be true or false")
    return value


#: The most photos one attempt may carry, and members one body may list: a screen's worth, not a dump.
MAX_PHOTOS = 200
MAX_MEMBERS = 200
#: An object key or URL in the province's object store (never the image itself).
MAX_REF = 1000


def _photos(value: Any) -> list[dict[str, Any]]:
    """The proctoring photos of one attempt: references (an object key or URL) and capture times only."""
    if not isinstance(value, list) or not 1 <= len(value) <= MAX_PHOTOS:
        raise ValueError(f"must be a list of 1–{MAX_PHOTOS} photos")
    out = []
    for n, photo in enumerate(value):
        if not isinstance(photo, dict) or set(photo) - {"ref", "at", "similarity"} or "ref" not in photo:
            raise ValueError(f"photo {n}: an object with ref, at and optionally similarity")
        ref = photo["ref"]
        if not isinstance(ref, str) or not ref.strip() or len(ref) > MAX_REF or text_problem(ref, nul=True):
            raise ValueError(f"photo {n}: ref is the photo's object key or URL (1–{MAX_REF} characters)")
        taken = photo.get("at")
        try:
            dt.datetime.fromisoformat(taken)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise ValueError(f"photo {n}: at is the capture time, like 2021-06-02T09:15:00+08:00") from None
        item: dict[str, Any] = {"ref": ref, "at": taken}
        if "similarity" in photo:
            item["similarity"] = _score(photo["similarity"])
        out.append(item)
    return out


def _ids(value: Any) -> list[str]:
    """Ids the system lists (the institutions a revoked agency released)."""
    if not isinstance(value, list) or len(value) > 100_000:
        raise ValueError("must be a list of ids")
    return [_identifier(v) for v in value]


def _members(value: Any) -> list[dict[str, str]]:
    """A committee's or an office's members: each a name, with a post and a phone if given."""
    if not isinstance(value, list) or len(value) > MAX_MEMBERS:
        raise ValueError(f"must be a list of at most {MAX_MEMBERS} members")
    out = []
    for n, member in enumerate(value):
        if not isinstance(member, dict) or "name" not in member or set(member) - {"name", "post", "phone"}:
            raise ValueError(f"member {n}: an object with name, and optionally post and phone")
        try:
            out.append({k: _text(v) for k, v in member.items()})
        except ValueError as exc:
            raise ValueError(f"member {n}: {exc}") from None
    return out


PARAM_KINDS: dict[str, Callable[[Any], Any]] = {
    "text": _text,
    "condition": _identifier,
    "reason_id": _identifier,
    "pass_fail": _choice("pass", "fail"),
    "rejection_mode": _choice("supplement", "forbid"),
    "test": _choice("humanities", "business"),
    "score": _score,
    # A photo of several people who are not communicating is not a finding (SPEC §2).
    "finding": _choice("communicating", "camera_blocked", "cheating"),
    "months": _months,
    # Art. 27 of the 2007 measures: the violations that make a result unqualified.
    "violation": _choice(*VIOLATIONS),
    #: Any id of the world (an institution, a region): whether it exists is the engine's to say.
    "id": _identifier,
    "count": _count,
    "sha256": _sha256,
    "attempt": _attempt,
    "switch": _switch,
    "photos": _photos,
    "members": _members,
    "ids": _ids,
}

#: A field required only with some values of another: ``event → (field, values, required field)``.
#: A ``tcm_1998`` humanities exemption has no automatic check — the institution and the agency judge it
#: from the proof — so an application without proof is not an application (the manual asks for it).
REQUIRED_WITH: dict[str, tuple[str, frozenset[str], str]] = {
    "apply_exemption": ("reason_id", frozenset({"tcm_1998"}), "proof"),
}

#: Registry fields a doctor can never change by confirming their details.
IDENTITY = ("name", "id_card")


def text_problem(value: Any, *, nul: bool) -> str | None:
    """Why some text in ``value`` (a string, or strings nested in lists and objects, keys included)
    cannot be stored and shown back exactly on every backend; ``None`` if all of it can.

    JSON allows a lone surrogate (``"\\ud800"``), which is not Unicode text: no backend can encode
    it, so it is refused here instead of failing in storage.  A NUL character cannot be stored in a
    PostgreSQL text column; with ``nul`` it is refused too (for text stored as it is; event data is
    stored as JSON, where a NUL is written ``\\u0000`` and comes back intact).
    """
    if type(value) is dict and _flat_and_clean(value, nul):
        return None
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, str):
            if nul and "\x00" in v:
                return "must not contain a NUL character"
            if not v.isascii():
                try:
                    v.encode("utf-8")
                except UnicodeEncodeError:
                    return "is not valid Unicode text (it holds a lone surrogate)"
        elif isinstance(v, dict):
            if any(type(k) is not str for k in v):
                # JSON would write 1, True and None as "1", "true" and "null": not what was sent.
                return "has a key that is not text"
            stack.extend(v)
            stack.extend(v.values())
        elif isinstance(v, list | tuple):
            stack.extend(v)
    return None


def _flat_and_clean(data: dict[Any, Any], nul: bool) -> bool:
    """Whether ``data`` is one level of text keys and scalar values, all storable: event data almost
    always is, and this answers it in a third of the general walk's time (it runs on every event).
    ``False`` sends the value to the general walk, which also says what is wrong."""
    for key, v in data.items():
        if type(key) is not str or not key.isascii() or (nul and "\x00" in key):
            return False
        t = type(v)
        if t is str:
            if nul and "\x00" in v:
                return False
            if not v.isascii():
                try:
                    v.encode("utf-8")
                except UnicodeEncodeError:
                    return False
        elif t is not int and t is not float and t is not bool and v is not None:
            return False
    return True


#: The roles an ``Actor`` may have (a role with ``:`` names a machine's own party, not an actor).
ACTOR_ROLES = frozenset(r for r in ROLES if ":" not in r)


def is_actor(value: Any) -> bool:
    return isinstance(value, Actor) and type(value.role) is str and value.role in ACTOR_ROLES


#: Roles that act as someone (an office, a doctor, an account): without an id there is no one.
NAMED_ROLES = frozenset({"doctor", "institution", "agency", "admin", "account"})


def check_actor(value: Any) -> Actor:
    """An ``Actor`` of a known role, or ``bad_input`` (a bare id, a dict from JSON, a made-up role,
    an institution with no id — refused as input, not ``forbidden`` as if it were someone else's)."""
    # is_actor, inlined: this runs on every event.
    if not (isinstance(value, Actor) and type(value.role) is str and value.role in ACTOR_ROLES):
        role = getattr(value, "role", value)
        raise bad_input(f"unknown role {role!r} (known: {', '.join(sorted(ACTOR_ROLES))})")
    if value.id is None and value.role in NAMED_ROLES:
        raise bad_input(f"an actor of role {value.role} needs its id (which {value.role} acts)")
    return value


def not_a(kind: str, method: str, item: Any) -> Refused:
    """A batch item that is not the batch's command type (a dict straight from JSON), refused in its place."""
    return bad_input(
        f"a command for {method} must be a {kind}, not {type(item).__name__} ({item!r:.60})",
        f"{method} 的每条命令须为 {kind}，而不是 {type(item).__name__}",
    )


def check_id(value: Any, what: str, longest: int = 64) -> str:
    """The API's ids (a doctor, an actor, an idempotency key) checked before any storage sees them."""
    # is_id, inlined: this runs once or twice on every event.
    if not (isinstance(value, str) and 0 < len(value) <= longest and value.isprintable()):
        raise bad_input(f"{what} must be text of 1–{longest} printable characters, got {value!r:.80}")
    return value


_DECLARED: dict[int, tuple[Event, frozenset[str]]] = {}


def _declared(event: Event) -> frozenset[str]:
    """The event's field names, worked out once per event definition (events are few and live long)."""
    hit = _DECLARED.get(id(event))
    if hit is None or hit[0] is not event:
        hit = _DECLARED[id(event)] = (event, frozenset(p.name for p in event.params))
    return hit[1]


def check_data(name: str, event: Event, data: Any) -> dict[str, Any]:
    """The event's data, validated; refuses unknown fields unless the event is free-form."""
    if not data:
        if data is not None and not isinstance(data, dict):
            raise bad_input(f"{name}: data must be an object")
        missing = [p.name for p in event.params if p.required]
        if missing:
            raise bad_input(f"{name}: field {missing[0]!r} is required", f"操作「{event.zh}」：缺少字段 {missing[0]}")
        return {}
    if not isinstance(data, dict):
        raise bad_input(f"{name}: data must be an object")
    if event.open:
        # Free-form data is bounded as a whole; declared fields are bounded one by one below.
        check_free_form(f"{name}: data", data)
    out = dict(data)
    for param in event.params:
        if param.name not in data or data[param.name] is None:
            if param.required:
                zh = f"操作「{event.zh}」：缺少字段 {param.name}"
                raise bad_input(f"{name}: field {param.name!r} is required", zh)
            out.pop(param.name, None)
            continue
        try:
            out[param.name] = PARAM_KINDS[param.kind](data[param.name])
        except ValueError as exc:
            raise bad_input(
                f"{name}: field {param.name!r} {exc}", f"操作「{event.zh}」：字段 {param.name} 不合法（{exc}）"
            ) from None
    rule = REQUIRED_WITH.get(name)
    if rule is not None and out.get(rule[0]) in rule[1] and rule[2] not in out:
        field, _, needed = rule
        raise bad_input(
            f"{name}: field {needed!r} is required with {field} {out[field]!r}",
            f"操作「{event.zh}」：{out[field]} 须提交证明材料（{needed}）",
        )
    if not event.open and not _declared(event).issuperset(data):
        extra = sorted(set(data) - _declared(event), key=repr)
        zh = f"操作「{event.zh}」：未知字段 {'、'.join(map(str, extra))}"
        raise bad_input(f"{name}: unknown field(s) {', '.join(map(repr, extra))}", zh)
    if not event.open:  # (free-form data had this walk in check_free_form)
        problem = text_problem(out, nul=False)
        if problem:
            raise bad_input(f"{name}: data {problem}", f"操作「{event.zh}」：数据含有无法保存的字符")
    return out


_strict_json = json_encoder(allow_nan=False)


def check_free_form(what: str, value: dict[str, Any]) -> None:
    """Free-form JSON (an open event's data, a doctor's profile): plain values every backend stores
    and gives back the same, of a bounded size — or ``bad_input`` saying which rule it breaks."""
    try:
        # NaN and infinity are not JSON: a strict reader of the history (a web page) rejects them.
        size = len(_strict_json(value).encode())
    except (TypeError, ValueError, RecursionError):
        raise bad_input(f"{what} must be plain JSON values (no NaN or infinity), nested a few levels at most") from None
    if size > MAX_DATA_BYTES:
        raise bad_input(f"{what} is larger than {MAX_DATA_BYTES} bytes")
    problem = text_problem(value, nul=False)
    if problem:
        raise bad_input(f"{what} {problem}")


def _event_zh(name: str) -> str:
    # Imported here: the labels read the machines, whose validation imports this module.
    from .labels import event_zh

    return event_zh(name)


def check_identity(name: str, data: dict[str, Any], doctor: Doctor) -> None:
    """Name and id-card number must match the registry; they cannot be changed by the doctor."""
    for field in IDENTITY:
        if field in data and data[field] != getattr(doctor, field):
            raise bad_input(
                f"{name}: {field} cannot be changed here; it must match the registry",
                f"{_event_zh(name)}：姓名和身份证号不可自行修改，须与注册系统一致",
            )


def check_same_request(prior: Record, event: str, actor: Actor, data: dict[str, Any], added: str = "") -> None:
    """A key already used is a retry only of the same request: the same event by the same actor with
    the same data (``added``: a field the engine writes into the record itself).  Anything else sent
    with it is refused, not answered with the view as if it had gone through: a client reusing keys
    would lose its commands without a word.
    """
    first = json.loads(prior.data)
    if added and added not in data:
        first.pop(added, None)
    if (prior.event, prior.role, prior.actor) != (event, actor.role, actor.id) or first != data:
        raise bad_input(
            f"idempotency key already used for another request ({prior.event} by {prior.role} {prior.actor or ''},"
            f" record {prior.seq}): send a new command with a new key",
            f"该幂等键已用于另一请求（{prior.event}，记录 {prior.seq}），新命令须使用新的键",
        )
