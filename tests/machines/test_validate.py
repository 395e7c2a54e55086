"""Definition-time validation: the shipped machines pass, and every defect is caught and named.

A machine with a defect must never reach the engine: ``validate`` names the
check and the state or event at fault, ``compile_machine`` refuses it, and
``renew-fsm check`` prints it and exits non-zero.  The broken definitions are
one-change copies of a tiny valid machine (``broken_machines``) or of the
shipped ones, so each reported problem can only come from that change.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import attrs
import pytest
from typer.testing import CliRunner

from renew_fsm.cli import app
from renew_fsm.machines import MACHINES
from renew_fsm.machines.compile import compile_machine
from renew_fsm.machines.doctor import DOCTOR_MACHINE
from renew_fsm.machines.dsl import Machine, Transition
from renew_fsm.machines.reexam import REEXAM
from renew_fsm.machines.validate import Problem, validate

from .broken_machines import DEFECTS, VALID, Defect
from .run_cli import renew_fsm

HERE = Path(__file__).resolve().parent


def found(problems: list[Problem], check: str, where: str, mentions: str = "") -> bool:
    return any(p.check == check and p.where == where and mentions in p.message for p in problems)


def listing(problems: list[Problem]) -> str:
    return "\n".join(map(str, problems)) or "(no problems)"


# -- the shipped machines ---------------------------------------------------------------------


@pytest.mark.parametrize("machine_id", sorted(MACHINES))
def test_shipped_machine_has_no_problems(machine_id: str) -> None:
    problems = validate(MACHINES[machine_id])
    assert problems == [], listing(problems)


def test_check_command_passes_on_the_shipped_machines() -> None:
    result = renew_fsm("check")
    assert result.returncode == 0, result.stderr
    for machine_id in MACHINES:
        assert f"✓ {machine_id}" in result.stdout
    assert "problem(s)" not in result.stdout + result.stderr


def test_the_tiny_machine_is_valid_so_each_broken_copy_shows_one_defect() -> None:
    assert validate(VALID) == []
    compile_machine(VALID)  # does not raise


# -- one defect at a time ---------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(DEFECTS))
def test_defect_is_caught_and_named(name: str) -> None:
    defect: Defect = DEFECTS[name]
    problems = validate(defect.machine)
    assert found(problems, defect.check, defect.where, defect.mentions), (
        f"{name}: expected [{defect.check}] {defect.where} mentioning {defect.mentions!r}, got:\n{listing(problems)}"
    )


@pytest.mark.parametrize("name", sorted(DEFECTS))
def test_a_broken_machine_is_not_compiled(name: str) -> None:
    defect = DEFECTS[name]
    with pytest.raises(ValueError, match=r"is not valid") as caught:
        compile_machine(defect.machine)
    assert defect.where in str(caught.value)


def test_unreachable_says_whether_the_state_is_final() -> None:
    """The two cases read differently to whoever fixes them: a lost result vs a lost step."""
    plain = validate(DEFECTS["UNREACHABLE"].machine)
    final = validate(DEFECTS["UNREACHABLE_FINAL"].machine)
    assert [p.message for p in plain if p.where == "island"] == ["state cannot be reached from 'idle'"]
    assert [p.message for p in final if p.where == "never"] == ["final state cannot be reached from 'idle'"]


def test_an_unconditional_branch_declared_before_a_conditional_one_is_ambiguous() -> None:
    """Branches are tried in declaration order: an unconditional first one would shadow the rest."""
    ts = list(VALID.transitions)
    ts[2], ts[3] = ts[3], ts[2]  # the fallback to work.doing now comes before the tests_pass branch
    problems = validate(attrs.evolve(VALID, transitions=ts))
    assert found(problems, "ambiguous", "work.checking --finish-->", "to 'work.doing' and to 'done'"), listing(problems)


def test_conditional_branches_without_a_fallback_are_not_ambiguous() -> None:
    """With every branch decided by its own condition, no transition is a valid outcome, not a defect."""
    without_fallback = attrs.evolve(VALID, transitions=[t for i, t in enumerate(VALID.transitions) if i != 3])
    problems = validate(without_fallback)
    assert not [p for p in problems if p.check == "ambiguous"], listing(problems)


def test_graph_checks_wait_until_the_names_resolve() -> None:
    """An unknown target would also make states look unreachable; only the root cause is reported."""
    problems = validate(DEFECTS["UNKNOWN_TARGET"].machine)
    assert {p.check for p in problems} == {"unknown_state"}, listing(problems)


# -- the shipped machines, broken on purpose ------------------------------------------------------


def without(machine: Machine, drop: Callable[[Transition], bool]) -> Machine:
    return attrs.evolve(machine, transitions=[t for t in machine.transitions if not drop(t)])


def test_doctor_machine_without_a_way_to_qualify_reports_qualified_unreachable() -> None:
    broken = without(DOCTOR_MACHINE, lambda t: t.target == "qualified")
    problems = validate(broken)
    # ``qualified`` is not final in the machine: a finding after the pass may still reopen it.
    assert found(problems, "unreachable", "qualified", "state cannot be reached"), listing(problems)


def test_doctor_machine_without_a_way_to_pass_the_reexam_reports_a_final_state_unreachable() -> None:
    broken = without(DOCTOR_MACHINE, lambda t: t.target == "reexam_passed")
    problems = validate(broken)
    assert found(problems, "unreachable", "reexam_passed", "final state"), listing(problems)


def test_doctor_machine_with_a_roleless_transition_names_the_event() -> None:
    ts = [attrs.evolve(t, roles=()) if t.event == "refuse_simple" else t for t in DOCTOR_MACHINE.transitions]
    problems = validate(attrs.evolve(DOCTOR_MACHINE, transitions=ts))
    assert found(problems, "no_role", "refuse_simple", "'simple.institution_approved'"), listing(problems)


def test_doctor_machine_with_an_undecided_program_confirmation_is_ambiguous_in_both_programs() -> None:
    ts = [
        attrs.evolve(t, when=None) if t.event == "confirm_program" and t.when == "evaluation_passed" else t
        for t in DOCTOR_MACHINE.transitions
    ]
    problems = validate(attrs.evolve(DOCTOR_MACHINE, transitions=ts))
    for program in ("simple", "general"):
        assert found(problems, "ambiguous", f"{program}.institution_approved --confirm_program-->"), listing(problems)


def test_doctor_machine_without_its_history_cannot_return_from_a_deferral() -> None:
    problems = validate(attrs.evolve(DOCTOR_MACHINE, history=()))
    # Only the missing history: the deferral states still have other ways out (approval, admin_exit,
    # the make-up sweep), so nothing else is reported and the cause is not drowned in consequences.
    assert [(p.check, p.where) for p in problems] == [("no_history", "history")], listing(problems)


def test_reexam_machine_without_a_way_out_of_the_list_reports_a_dead_end() -> None:
    broken = without(REEXAM, lambda t: "reexam.listed" in t.sources)
    problems = validate(broken)
    assert found(problems, "dead_end", "reexam.listed"), listing(problems)
    assert found(problems, "unreachable", "reexam.awaiting_grade"), listing(problems)


def test_a_shipped_transition_to_a_misspelt_state_is_caught() -> None:
    broken = attrs.evolve(
        REEXAM,
        transitions=[*REEXAM.transitions, Transition("confirm_reexam", "reexam.listed", "reexam.lsited", "admin")],
    )
    problems = validate(broken)
    assert found(problems, "unknown_state", "confirm_reexam", "'reexam.lsited'"), listing(problems)


# -- the command line ---------------------------------------------------------------------------

CLI_CASES = {
    "UNREACHABLE": "[unreachable] island",
    "UNREACHABLE_FINAL": "[unreachable] never",
    "DEAD_END": "[dead_end] stuck",
    "FINAL_EXIT": "[final_exit] done",
    "NO_ROLE": "[no_role] check",
    "UNKNOWN_GUARD": "[unknown_rule] start",
    "AMBIGUOUS": "[ambiguous] work.checking --finish-->",
    "UNKNOWN_TARGET": "[unknown_state] check",
    "RETURN_WITHOUT_HISTORY": "[no_history] history",
    "UNDECLARED_EVENT": "[unknown_event] teleport",
}


@pytest.mark.parametrize("name", sorted(CLI_CASES))
def test_check_command_exits_1_naming_the_defect(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The command itself, in-process: a problem means exit status 1 and a line naming it."""
    monkeypatch.syspath_prepend(str(HERE))
    result = CliRunner().invoke(app, ["check", "--from", f"broken_machines:{name}"])
    assert result.exit_code == 1, result.output
    assert CLI_CASES[name] in result.output
    assert "✗ tiny" in result.output


@pytest.mark.parametrize("name", ["DEAD_END", "AMBIGUOUS", "UNDECLARED_EVENT"])
def test_console_script_exits_1_naming_the_defect_of_a_module_machine(name: str) -> None:
    """``renew-fsm check --from module:attr`` in a fresh process, as an engineer checks a draft."""
    result = renew_fsm("check", "--from", f"broken_machines:{name}", pythonpath=HERE)
    assert result.returncode == 1, result.stdout + result.stderr
    assert CLI_CASES[name] in result.stderr
    assert "✗ tiny" in result.stderr
    assert "Traceback" not in result.stderr
    # The shipped machines are still checked and still pass alongside the broken one.
    assert "✓ doctor" in result.stdout


def test_console_script_accepts_a_valid_module_machine() -> None:
    result = renew_fsm("check", "--from", "broken_machines:VALID", pythonpath=HERE)
    assert result.returncode == 0, result.stderr
    assert "✓ tiny" in result.stdout


def test_console_script_reports_a_missing_attribute_as_a_usage_error() -> None:
    result = renew_fsm("check", "--from", "broken_machines:NO_SUCH_MACHINE", pythonpath=HERE)
    assert "Traceback" not in result.stderr
    assert result.returncode == 2
    assert "NO_SUCH_MACHINE" in result.stderr


def test_a_return_to_a_state_the_machine_does_not_remember_is_reported() -> None:
    ts = [
        attrs.evolve(t, returns=(*t.returns, "qualified")) if t.event == "uphold_appeal" and t.returns else t
        for t in DOCTOR_MACHINE.transitions
    ]
    problems = validate(attrs.evolve(DOCTOR_MACHINE, transitions=ts))
    assert [(p.check, p.where) for p in problems] == [("unknown_state", "uphold_appeal")], listing(problems)
    assert "'qualified'" in problems[0].message
