"""A tiny valid machine and one deliberately broken copy per defect ``renew-fsm check`` must catch.

Kept in a plain module (not a test file) so that a subprocess can load the
machines by reference — ``renew-fsm check --from broken_machines:DEAD_END`` with
``PYTHONPATH=tests/machines`` — exactly as an engineer would check a draft.
Each broken machine differs from ``VALID`` by one change, so a problem
reported on it can only come from that change.
"""

from __future__ import annotations

import attrs

from renew_fsm.machines.dsl import RETURN, STAY, Event, Machine, Param, State, Transition
from renew_fsm.machines.vocabulary import ADMIN, AGENCY, DOCTOR, INSTITUTION

EVENTS: dict[str, Event] = {
    "start": Event("开始", "start"),
    "check": Event("检查", "check"),
    "finish": Event("完成", "finish", (Param("reason", "text", required=False),)),
    "mark": Event("标记", "mark"),
    "hold": Event("暂停", "hold"),
    "unhold": Event("恢复", "unhold"),
}

#: Every kind of declaration the shipped machines use: a composite with an
#: initial child, conditional branches with an unconditional fallback, a STAY
#: loop, a guard and an effect with arguments, and a RETURN with its history.
TRANSITIONS: tuple[Transition, ...] = (
    Transition("start", "idle", "work", DOCTOR, guards="window_open:registration"),
    Transition("check", "work.doing", "work.checking", INSTITUTION),
    Transition("finish", "work.checking", "done", AGENCY, when="tests_pass", then="set_flag:no_promotion"),
    Transition("finish", "work.checking", "work.doing", AGENCY),
    Transition("mark", "work", STAY, (AGENCY, ADMIN), guards="flag_clear:suspected", then="set_flag:suspected"),
    Transition("hold", "work.doing", "paused", DOCTOR, then="remember_state"),
    Transition("unhold", "paused", RETURN, DOCTOR),
)

VALID = Machine(
    "tiny",
    "小机器",
    "a tiny machine",
    initial="idle",
    states=[
        State("idle", "空闲", "idle"),
        State(
            "work",
            "工作",
            "working",
            initial="doing",
            children=[State("doing", "进行中", "doing"), State("checking", "检查中", "checking")],
        ),
        State("paused", "暂停", "paused"),
        State("done", "完成", "done", final=True),
    ],
    events=EVENTS,
    transitions=TRANSITIONS,
    history=("work.doing",),
)


def with_states(*extra: State) -> tuple[State, ...]:
    return (*VALID.states, *extra)


def with_transitions(*extra: Transition) -> tuple[Transition, ...]:
    return (*VALID.transitions, *extra)


def replacing(index: int, **changes: object) -> tuple[Transition, ...]:
    """VALID's transitions with the one at ``index`` changed."""
    ts = list(VALID.transitions)
    ts[index] = attrs.evolve(ts[index], **changes)
    return tuple(ts)


# A state nothing leads to (it has a way out, so it is only unreachable).
UNREACHABLE = attrs.evolve(
    VALID,
    states=with_states(State("island", "孤岛", "island")),
    transitions=with_transitions(Transition("finish", "island", "done", AGENCY)),
)
# A final state nothing leads to.
UNREACHABLE_FINAL = attrs.evolve(VALID, states=with_states(State("never", "永不", "never", final=True)))
# A reachable, non-final state with no transition out.
DEAD_END = attrs.evolve(
    VALID,
    states=with_states(State("stuck", "卡住", "stuck")),
    transitions=with_transitions(Transition("check", "idle", "stuck", INSTITUTION)),
)
# A final state that can be left again.
FINAL_EXIT = attrs.evolve(VALID, transitions=with_transitions(Transition("start", "done", "idle", DOCTOR)))
# A transition nobody may fire.
NO_ROLE = attrs.evolve(VALID, transitions=replacing(1, roles=()))
# A transition for a role that does not exist.
UNKNOWN_ROLE = attrs.evolve(VALID, transitions=replacing(1, roles=("janitor",)))
# Rule ids that the registry does not know, one per kind.
UNKNOWN_GUARD = attrs.evolve(VALID, transitions=replacing(0, guards=("window_opne:registration",)))
UNKNOWN_CONDITION = attrs.evolve(VALID, transitions=replacing(2, when="tests_passed"))
UNKNOWN_EFFECT = attrs.evolve(VALID, transitions=replacing(2, then=("set_flagg:no_promotion",)))
# A rule that needs an argument, named without one; and one that takes none, given one.
MISSING_ARGUMENT = attrs.evolve(VALID, transitions=replacing(0, guards=("window_open",)))
EXTRA_ARGUMENT = attrs.evolve(VALID, transitions=replacing(2, when="tests_pass:humanities"))
# Two unconditional branches of one event from one state: nothing decides between them.
AMBIGUOUS = attrs.evolve(VALID, transitions=replacing(2, when=None))
# Two branches decided by the same condition: the second can never be the one chosen.
DUPLICATE_CONDITION = attrs.evolve(
    VALID,
    transitions=(
        *VALID.transitions[:3],
        Transition("finish", "work.checking", "idle", AGENCY, when="tests_pass"),
        *VALID.transitions[3:],
    ),
)
# A transition to a state that is not declared.
UNKNOWN_TARGET = attrs.evolve(VALID, transitions=replacing(1, target="work.cheking"))
# A transition from a state that is not declared.
UNKNOWN_SOURCE = attrs.evolve(VALID, transitions=with_transitions(Transition("check", "work.cheking", "done", AGENCY)))
# A RETURN when the machine remembers no state to return to.
RETURN_WITHOUT_HISTORY = attrs.evolve(VALID, history=())
# A remembered state that is not declared.
UNKNOWN_HISTORY = attrs.evolve(VALID, history=("work.doing", "work.resting"))
# An event a transition fires but the machine does not declare.
UNDECLARED_EVENT = attrs.evolve(VALID, transitions=with_transitions(Transition("teleport", "idle", "done", ADMIN)))
# An event declared but never fired.
UNUSED_EVENT = attrs.evolve(VALID, events={**EVENTS, "nap": Event("小憩", "nap")})
# An event field whose kind the command boundary cannot check.
UNKNOWN_PARAM_KIND = attrs.evolve(
    VALID, events={**EVENTS, "check": Event("检查", "check", (Param("when", "timestamp"),))}
)
# The same state id twice.
DUPLICATE_STATE = attrs.evolve(VALID, states=with_states(State("idle", "又空闲", "idle again")))
# A composite whose initial child is not one of its children.
UNKNOWN_INITIAL_CHILD = attrs.evolve(
    VALID,
    states=[
        VALID.states[0],
        attrs.evolve(VALID.states[1], initial="resting"),
        *VALID.states[2:],
    ],
)
# An initial state that is not declared.
UNKNOWN_INITIAL = attrs.evolve(VALID, initial="idel")


@attrs.frozen
class Defect:
    """What ``validate`` must report for a broken machine: the check and the state or event it names."""

    machine: Machine
    check: str
    where: str
    #: Text the message must contain (the offending name), if any.
    mentions: str = ""


DEFECTS: dict[str, Defect] = {
    "UNREACHABLE": Defect(UNREACHABLE, "unreachable", "island", "state cannot be reached"),
    "UNREACHABLE_FINAL": Defect(UNREACHABLE_FINAL, "unreachable", "never", "final state cannot be reached"),
    "DEAD_END": Defect(DEAD_END, "dead_end", "stuck"),
    "FINAL_EXIT": Defect(FINAL_EXIT, "final_exit", "done", "'idle'"),
    "NO_ROLE": Defect(NO_ROLE, "no_role", "check", "'work.doing'"),
    "UNKNOWN_ROLE": Defect(UNKNOWN_ROLE, "unknown_role", "check", "'janitor'"),
    "UNKNOWN_GUARD": Defect(UNKNOWN_GUARD, "unknown_rule", "start", "unknown guard rule 'window_opne'"),
    "UNKNOWN_CONDITION": Defect(UNKNOWN_CONDITION, "unknown_rule", "finish", "unknown condition rule 'tests_passed'"),
    "UNKNOWN_EFFECT": Defect(UNKNOWN_EFFECT, "unknown_rule", "finish", "unknown effect rule 'set_flagg'"),
    "MISSING_ARGUMENT": Defect(MISSING_ARGUMENT, "unknown_rule", "start", "window_open:<window>"),
    "EXTRA_ARGUMENT": Defect(EXTRA_ARGUMENT, "unknown_rule", "finish", "'tests_pass' takes no argument"),
    "AMBIGUOUS": Defect(AMBIGUOUS, "ambiguous", "work.checking --finish-->", "'done' and to 'work.doing'"),
    "DUPLICATE_CONDITION": Defect(
        DUPLICATE_CONDITION, "ambiguous", "work.checking --finish-->", "'tests_pass' decides twice"
    ),
    "UNKNOWN_TARGET": Defect(UNKNOWN_TARGET, "unknown_state", "check", "'work.cheking'"),
    "UNKNOWN_SOURCE": Defect(UNKNOWN_SOURCE, "unknown_state", "check", "source 'work.cheking'"),
    "RETURN_WITHOUT_HISTORY": Defect(RETURN_WITHOUT_HISTORY, "no_history", "history"),
    "UNKNOWN_HISTORY": Defect(UNKNOWN_HISTORY, "unknown_state", "history", "'work.resting'"),
    "UNDECLARED_EVENT": Defect(UNDECLARED_EVENT, "unknown_event", "teleport"),
    "UNUSED_EVENT": Defect(UNUSED_EVENT, "unused_event", "nap"),
    "UNKNOWN_PARAM_KIND": Defect(UNKNOWN_PARAM_KIND, "unknown_param_kind", "check", "'timestamp'"),
    "DUPLICATE_STATE": Defect(DUPLICATE_STATE, "duplicate_state", "idle"),
    "UNKNOWN_INITIAL_CHILD": Defect(UNKNOWN_INITIAL_CHILD, "unknown_state", "work", "'resting'"),
    "UNKNOWN_INITIAL": Defect(UNKNOWN_INITIAL, "unknown_state", "initial", "'idel'"),
}
