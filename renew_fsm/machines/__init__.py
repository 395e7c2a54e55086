"""The shipped machines, by id, and their compiled forms (built once, shared)."""

from __future__ import annotations

import functools

from .account import ACCOUNT_MACHINE
from .agency_application import AGENCY_APPLICATION
from .agency_revocation import AGENCY_REVOCATION
from .compile import Compiled, compile_machine
from .department import DEPARTMENT
from .doctor import DOCTOR_MACHINE
from .dsl import Machine
from .export_request import EXPORT_REQUEST
from .info_change import INFO_CHANGE
from .organisation import ORGANISATION
from .proctoring import PROCTORING
from .reexam import REEXAM
from .settings import CYCLE_SETTINGS

#: Workflows with subjects of their own, stored as cases (``renew_fsm.workflows``); the doctor's
#: cycle and its re-exam part run on the doctor's instance.
CASE_MACHINES: dict[str, Machine] = {
    m.id: m
    for m in (
        AGENCY_APPLICATION, INFO_CHANGE, ACCOUNT_MACHINE, EXPORT_REQUEST,
        # the organisations' own records (``renew_fsm.records``)
        PROCTORING, CYCLE_SETTINGS, ORGANISATION, DEPARTMENT, AGENCY_REVOCATION,
    )
}
MACHINES: dict[str, Machine] = {m.id: m for m in (DOCTOR_MACHINE, REEXAM)} | CASE_MACHINES


@functools.cache
def compiled(machine_id: str) -> Compiled:
    return compile_machine(MACHINES[machine_id])


__all__ = ["CASE_MACHINES", "MACHINES", "Compiled", "Machine", "compiled"]
