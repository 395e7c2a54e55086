"""What a person reads next to an id: the Chinese and English name of every state, event, role,
reason and flag, built from the machine data so that no screen or message keeps a copy.

A nested state reads with its parents (``general.submitted`` → 一般程序·已申请并自评，待卫生机构评定),
because the leaf's name alone repeats across programs.  Flags and reasons are not machine data: their
names are the small tables below, in the words of SPEC §2 and the manual.  An id nobody named reads
as itself, so a label never fails where the id would have been shown.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from typing import Any, NamedTuple

from .machines import MACHINES
from .machines.graph import build
from .machines.vocabulary import ROLES, VIOLATIONS
from .model import Record, View

#: The doctor's cycle: the machine an unqualified state or event id means when none is named.
DOCTOR_MACHINE = "doctor"
#: Joins a nested state's names: 一般程序·已申请并自评…
JOIN_ZH = "·"
JOIN_EN = " · "


class Label(NamedTuple):
    zh: str
    en: str


#: Why a result is unqualified (SPEC §2, 附件2 考核结果).
REASONS: dict[str, Label] = {
    "work_performance": Label("工作成绩不合格", "work performance failed"),
    "ethics": Label("职业道德不合格", "ethics failed"),
    "humanities": Label("医学人文测评不合格", "medical humanities test failed"),
    "business_level": Label("业务水平测评不合格", "business-level test failed"),
    "absent": Label("缺考", "absent"),
    "discipline": Label("违纪", "breach of exam discipline"),
    "violation": Label("违规执业", "a violation of practice rules"),
}

#: The flags an instance carries (SPEC §2 and the ones ``renew_fsm.model.FLAGS`` adds).
FLAGS: dict[str, Label] = {
    "suspected": Label("疑似作弊", "suspected of cheating"),
    "published": Label("作弊向社会公布", "cheating made public"),
    "simple_refused": Label("简易程序申请被驳回", "refused the simple program"),
    "exemption_forbidden": Label("不得再申请免考", "may not apply for an exemption again"),
    "humanities_exempt": Label("免医学人文测评", "exempt from the humanities test"),
    "business_exempt": Label("免业务水平测评", "exempt from the business-level test"),
    "no_promotion": Label("本周期不得评优、晋升", "no award or promotion this cycle"),
    "assistance_requested": Label("已申请年轻医师从旁指导", "asked for assisted testing"),
    "assisted": Label("年轻医师从旁指导", "assisted testing approved"),
    "resumed": Label("参加补考", "back for the make-up exam"),
    "appealed": Label("已申请复核", "appealed"),
    "reexam_pending": Label("待下一再次考核时段", "waiting for a later re-exam window"),
    "reexam_business": Label("再次考核：业务水平", "re-exam: business level"),
    "reexam_humanities": Label("再次考核：医学人文", "re-exam: humanities"),
    "reexam_evaluation": Label("再次考核：工作成绩、职业道德重新评定", "re-exam: a fresh evaluation"),
    "reexam_failed": Label("再次考核有项目不合格", "a re-exam item failed"),
    "reexam_evaluated": Label("再次考核评定待考核机构复核", "re-exam evaluation awaiting the agency"),
}


@functools.cache
def _states(machine: str) -> dict[str, Label]:
    nodes = build(MACHINES[machine]).nodes
    out: dict[str, Label] = {}
    for node in nodes.values():
        chain = [node]
        while chain[0].parent is not None and chain[0].parent in nodes:
            chain.insert(0, nodes[chain[0].parent])
        out[node.id] = Label(JOIN_ZH.join(n.zh for n in chain), JOIN_EN.join(n.en for n in chain))
    return out


@functools.cache
def _events(machine: str) -> dict[str, Label]:
    return {name: Label(e.zh, e.en) for name, e in MACHINES[machine].events.items()}


def state(state_id: str, machine: str = DOCTOR_MACHINE) -> Label:
    """A state by its id, its parents' names first; a remembered ``<return>`` and the like read as the id."""
    found = _states(machine).get(state_id) if machine in MACHINES else None
    return found or Label(state_id, state_id)


def event(event_id: str, machine: str = DOCTOR_MACHINE) -> Label:
    found = _events(machine).get(event_id) if machine in MACHINES else None
    if found is None:
        # An event of another machine (a case's event on a doctor's screen): the first that names it.
        found = next((_events(m)[event_id] for m in MACHINES if event_id in _events(m)), None)
    return found or Label(event_id, event_id)


def role(role_id: str) -> Label:
    found = ROLES.get(role_id)
    return Label(*found) if found else Label(role_id, role_id)


def reason(reason_id: str) -> Label:
    return REASONS.get(reason_id) or Label(reason_id, reason_id)


def flag(flag_id: str) -> Label:
    return FLAGS.get(flag_id) or Label(flag_id, flag_id)


def violation(finding: str) -> Label:
    found = VIOLATIONS.get(finding)
    return Label(*found) if found else Label(finding, finding)


# -- the words a message says -------------------------------------------------------------------------


def state_zh(state_id: str, machine: str = DOCTOR_MACHINE) -> str:
    """状态「一般程序·已申请并自评，待卫生机构评定」 — how a Chinese message names a state."""
    return f"状态「{state(state_id, machine).zh}」"


def event_zh(event_id: str, machine: str = DOCTOR_MACHINE) -> str:
    """操作「选择一般程序并自评」 — how a Chinese message names an event."""
    return f"操作「{event(event_id, machine).zh}」"


def role_zh(role_id: str) -> str:
    return role(role_id).zh


# -- labelled dictionaries for screens and JSON ----------------------------------------------------------


def pair(label: Label) -> dict[str, str]:
    return {"label_zh": label.zh, "label_en": label.en}


def item(ident: str, label: Label) -> dict[str, str]:
    """An id with its labels: ``{"id": …, "label_zh": …, "label_en": …}``."""
    return {"id": ident, **pair(label)}


def events(ids: Iterable[str], machine: str = DOCTOR_MACHINE) -> list[dict[str, str]]:
    return [item(e, event(e, machine)) for e in ids]


def flags(ids: Iterable[str]) -> list[dict[str, str]]:
    return [item(f, flag(f)) for f in ids]


def view_labels(state_id: str, reason_id: str | None, flag_ids: Iterable[str]) -> dict[str, Any]:
    """The labels that go next to a view's ids; every key is new, none replaces an id."""
    s = state(state_id)
    r = reason(reason_id) if reason_id else None
    return {
        "state_label_zh": s.zh,
        "state_label_en": s.en,
        "reason_label_zh": r.zh if r else None,
        "reason_label_en": r.en if r else None,
        "flag_labels": flags(flag_ids),
    }


def view(v: View) -> dict[str, Any]:
    """``View.as_dict()`` (unchanged keys) with the labels next to its ids."""
    return v.as_dict() | view_labels(v.state, v.reason, v.flags)


def record_labels(
    event_id: str, from_state: str, to_state: str, role_id: str, machine: str = DOCTOR_MACHINE
) -> dict[str, str]:
    e, a, b, r = event(event_id, machine), state(from_state, machine), state(to_state, machine), role(role_id)
    return {
        "event_label_zh": e.zh,
        "event_label_en": e.en,
        "from_state_label_zh": a.zh,
        "from_state_label_en": a.en,
        "to_state_label_zh": b.zh,
        "to_state_label_en": b.en,
        "role_label_zh": r.zh,
        "role_label_en": r.en,
    }


def record(r: Record) -> dict[str, Any]:
    """A history record as a dictionary (``Record._asdict()``, unchanged keys) with its labels."""
    return r._asdict() | record_labels(r.event, r.from_state, r.to_state, r.role, machine_of(r))


def machine_of(r: Record) -> str:
    # A case's records carry ``case:<machine>`` as their cycle (``renew_fsm.model.CASE_PREFIX``).
    prefix, _, rest = r.cycle.partition(":")
    return rest if prefix == "case" and rest in MACHINES else DOCTOR_MACHINE


__all__ = [
    "FLAGS",
    "REASONS",
    "Label",
    "event",
    "event_zh",
    "events",
    "flag",
    "flags",
    "item",
    "machine_of",
    "pair",
    "reason",
    "record",
    "record_labels",
    "role",
    "role_zh",
    "state",
    "state_zh",
    "view",
    "view_labels",
    "violation",
]
