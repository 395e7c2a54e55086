"""The stable refusal codes of SPEC §4 and the one exception that carries them."""

from __future__ import annotations

from typing import Any

BAD_INPUT = "bad_input"
NOT_FOUND = "not_found"
FORBIDDEN = "forbidden"
INVALID_TRANSITION = "invalid_transition"
GUARD_FAILED = "guard_failed"
CONFLICT = "conflict"

CODES = (BAD_INPUT, NOT_FOUND, FORBIDDEN, INVALID_TRANSITION, GUARD_FAILED, CONFLICT)


class Refused(Exception):
    """A command was refused and nothing was written.

    ``code`` is one of ``CODES``; ``rule`` names the guard for ``guard_failed``;
    ``message`` is English, ``message_zh`` Chinese, both meant for the person
    who sent the command.
    """

    def __init__(self, code: str, message: str, *, rule: str | None = None, message_zh: str | None = None):
        super().__init__(message)
        self.code = code
        self.rule = rule
        self.message = message
        self.message_zh = message_zh or message

    def __reduce__(self) -> tuple[object, tuple[str, str, str | None, str]]:
        # Exceptions pickle as ``cls(*args)``, which loses the keyword-only fields (and fails on the
        # missing ``message``): a refusal must cross a process pool, a task queue, ``copy``.
        return _rebuild, (self.code, self.message, self.rule, self.message_zh)

    def as_dict(self) -> dict[str, str | None]:
        return {"code": self.code, "rule": self.rule, "message": self.message, "message_zh": self.message_zh}

    def __repr__(self) -> str:
        return f"Refused({self.code!r}, {self.message!r}, rule={self.rule!r})"


def _rebuild(code: str, message: str, rule: str | None, message_zh: str) -> Refused:
    return Refused(code, message, rule=rule, message_zh=message_zh)


def bad_input(message: str, message_zh: str | None = None) -> Refused:
    return Refused(BAD_INPUT, message, message_zh=message_zh or f"输入有误：{message}")


def outside(actor: Any, what: str, what_zh: str | None = None) -> Refused:
    """``forbidden``: ``what`` (a doctor, an institution, a case) is not in ``actor``'s jurisdiction —
    said one way wherever a jurisdiction is judged."""
    from .labels import role_zh  # (the labels read the machines; the codes above stay import-free)

    return Refused(
        FORBIDDEN,
        f"{what} is outside the jurisdiction of {actor.role} {actor.id}",
        message_zh=f"{what_zh or what} 不在{role_zh(actor.role)} {actor.id} 的管辖范围内",
    )
