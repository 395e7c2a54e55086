"""The vocabulary machine files are written in.

A machine file lists states, events and transitions as plain frozen values.
Guards, branch conditions and effects appear only as *rule ids* (strings such
as ``"window_open:registration"``); their code lives in ``renew_fsm.rules`` and
is bound when the machine is compiled.  That keeps a machine file readable next
to the manual and lets validation check every name before anything runs.
"""

from __future__ import annotations

from collections.abc import Iterable

import attrs

#: Target meaning "stay where you are" (a flag or counter changes, the state does not).
STAY = "="
#: Target meaning "go back to the state remembered when the sub-flow was entered"
#: (a history pseudo-state; the deferral sub-flow uses it).
RETURN = "<return>"

SEP = "."


def _tuple(value: str | Iterable[str]) -> tuple[str, ...]:
    return (value,) if isinstance(value, str) else tuple(value)


@attrs.frozen
class State:
    """A state; a state with children is a composite (its id prefixes theirs)."""

    id: str
    zh: str
    en: str
    final: bool = False
    children: tuple[State, ...] = attrs.field(default=(), converter=tuple)
    initial: str | None = None


@attrs.frozen
class Param:
    """One field of an event's data.  ``kind`` names a validator in ``renew_fsm.eventdata``."""

    name: str
    kind: str
    required: bool = True


@attrs.frozen
class Event:
    zh: str
    en: str
    params: tuple[Param, ...] = attrs.field(default=(), converter=tuple)
    #: Free-form events accept keys beyond ``params`` (a doctor's profile fields).
    open: bool = False
    #: System sweeps are fired for every instance they apply to, never by a person.
    sweep: bool = False
    #: Fired only through this engine method, which also writes outside the machine (the
    #: registry, a credential, a file); the batch path refuses it.  ``None`` for most events.
    via: str | None = None


@attrs.frozen
class Transition:
    """``event`` moves an instance from any of ``sources`` to ``target``.

    ``roles`` may fire it (``"admin:province"`` restricts an admin to the
    province level); ``guards`` are rule ids that refuse it; ``when`` is the
    rule id of the branch condition that chooses between several transitions of
    one event from one state; ``then`` are effect ids applied on the way.
    With a ``RETURN`` target, ``returns`` narrows the remembered states it may go
    back to (default: all of the machine's ``history``), so that no branch is
    compiled that could never be taken.
    """

    event: str
    sources: tuple[str, ...] = attrs.field(converter=_tuple)
    target: str
    roles: tuple[str, ...] = attrs.field(converter=_tuple)
    guards: tuple[str, ...] = attrs.field(default=(), converter=_tuple)
    when: str | None = None
    then: tuple[str, ...] = attrs.field(default=(), converter=_tuple)
    returns: tuple[str, ...] = attrs.field(default=(), converter=_tuple)


@attrs.frozen
class Fragment:
    """States and transitions that several machines (or one machine twice) share."""

    states: tuple[State, ...] = attrs.field(converter=tuple)
    transitions: tuple[Transition, ...] = attrs.field(converter=tuple)


@attrs.frozen
class Machine:
    id: str
    zh: str
    en: str
    initial: str
    states: tuple[State, ...] = attrs.field(converter=tuple)
    events: dict[str, Event]
    transitions: tuple[Transition, ...] = attrs.field(converter=tuple)
    #: States a ``RETURN`` target may lead back to (the history of a sub-flow).
    history: tuple[str, ...] = attrs.field(default=(), converter=tuple)


def within(prefix: str, ids: Iterable[str]) -> tuple[str, ...]:
    """``within("simple", ["testing"])`` → ``("simple.testing",)``: ids inside a composite."""
    return tuple(f"{prefix}{SEP}{i}" for i in ids)
