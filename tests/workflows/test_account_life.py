"""账号 over its whole life (issue 36): 修改 before activation, 注销 after, and 【导出】 of a
jurisdiction's accounts — never a secret or a hash."""

from __future__ import annotations

import io

import pytest
from conftest import CITY, COUNTY, H1, H2, PROVINCE, doctor, doctor_cmd, make_engine

import renew_fsm
from renew_fsm import Actor, Refused
from renew_fsm.accounts import account_list, account_sheet
from renew_fsm.lists import to_xlsx
from renew_fsm.verify import verify

ACC = "account"


def code(call) -> tuple[str, str | None]:
    with pytest.raises(Refused) as refused:
        call()
    return refused.value.code, refused.value.rule


def in_use(e: renew_fsm.Engine, account: str, holder: str, superior: Actor) -> str:
    """An account activated and its initial secret replaced: the secret it signs in with."""
    e.case_fire(ACC, account, "create_account", superior, {"name": account}, subject=holder)
    one_time = e.case_fire(ACC, account, "activate_account", superior).secret
    e.change_password(account, one_time, f"{account}-long-secret")
    return f"{account}-long-secret"


def test_an_account_is_edited_only_before_activation_by_its_superior(engine: renew_fsm.Engine) -> None:
    engine.case_fire(ACC, "h1", "create_account", COUNTY, {"name": "旧名"}, subject="institution:H1")
    assert code(lambda: engine.case_fire(ACC, "h1", "edit_account", H2, {"name": "x"}))[0] == "forbidden"
    assert code(lambda: engine.case_fire(ACC, "h1", "edit_account", COUNTY, {}))[0] == "bad_input"
    view = engine.case_fire(ACC, "h1", "edit_account", COUNTY, {"name": "青秀区人民医院管理员"})
    assert view.state == "created" and view.data["name"] == "青秀区人民医院管理员"
    engine.case_fire(ACC, "h1", "activate_account", COUNTY)
    assert code(lambda: engine.case_fire(ACC, "h1", "edit_account", COUNTY, {"name": "y"}))[0] == "invalid_transition"
    assert [r.event for r in engine.case_history(ACC, "h1")] == ["create_account", "edit_account", "activate_account"]


def test_a_deactivated_account_cannot_sign_in_and_its_holder_may_have_a_new_one(engine: renew_fsm.Engine) -> None:
    secret = in_use(engine, "h1", "institution:H1", COUNTY)
    assert engine.authenticate("h1", secret) == H1
    # Never activated: deleted, not deactivated; activated: deactivated, not deleted.
    assert code(lambda: engine.case_fire(ACC, "h1", "delete_account", COUNTY))[0] == "invalid_transition"
    assert code(lambda: engine.case_fire(ACC, "h1", "deactivate_account", H1))[0] == "forbidden"
    hash_before = engine.storage.credential("h1")
    view = engine.case_fire(ACC, "h1", "deactivate_account", COUNTY, {"reason": "机构撤并"})
    assert view.state == "deactivated" and view.data["reason"] == "机构撤并"
    assert engine.storage.credential("h1") != hash_before
    assert code(lambda: engine.authenticate("h1", secret)) == ("forbidden", None)
    for event in ("reset_password", "activate_account", "deactivate_account", "edit_account"):
        assert (
            code(lambda e=event: engine.case_fire(ACC, "h1", e, COUNTY, {"name": "x"} if e == "edit_account" else {}))[
                0
            ]
            == "invalid_transition"
        )
    assert engine.case_fire(ACC, "h1b", "create_account", COUNTY, subject="institution:H1").state == "created"
    assert verify(engine).ok


def test_the_export_lists_the_callers_accounts_and_no_secret(url: str) -> None:
    engine = make_engine(url, [doctor_cmd("D1"), doctor_cmd("D2", "H2", serial=2)])
    try:
        secrets = [
            in_use(engine, "qx", "admin:NN-QX", CITY),
            in_use(engine, "h1", "institution:H1", COUNTY),
            in_use(engine, "h2", "institution:H2", CITY),
            in_use(engine, "d1", "doctor:D1", H1),
            in_use(engine, "d2", "doctor:D2", H2),
        ]
        engine.case_fire(ACC, "d1", "deactivate_account", H1)
        seen = {who: [r["account"] for r in account_list(engine, who).rows] for who in (PROVINCE, CITY, COUNTY, H1, H2)}
        assert seen[PROVINCE] == ["d1", "d2", "h1", "h2", "qx"]
        assert seen[CITY] == ["d1", "d2", "h1", "h2", "qx"]
        assert seen[COUNTY] == ["d1", "h1"]  # its own account is its superior's
        assert seen[H1] == ["d1"] and seen[H2] == ["d2"]
        assert [r["account"] for r in account_list(engine, CITY, region="NN-XN").rows] == ["d2", "h2"]
        assert [r["account"] for r in account_list(engine, CITY, states=["deactivated"]).rows] == ["d1"]
        first = account_list(engine, CITY, page_size=2)
        second = account_list(engine, CITY, page_size=2, after=first.next)
        third = account_list(engine, CITY, page_size=2, after=second.next)
        assert [r["account"] for p in (first, second, third) for r in p.rows] == seen[CITY] and third.next is None
        assert code(lambda: account_list(engine, doctor("D1")))[0] == "forbidden"
        assert code(lambda: account_list(engine, Actor("agency", "A1")))[0] == "forbidden"
        assert code(lambda: account_list(engine, CITY, page_size=0))[0] == "bad_input"
        data = to_xlsx(account_sheet(engine, CITY), "账号列表")
        from openpyxl import load_workbook

        cells = [c for row in load_workbook(io.BytesIO(data)).active.iter_rows(values_only=True) for c in row]
        assert "已注销" in cells and "d1" in cells
        text = " ".join(str(c) for c in cells)
        for secret in secrets:
            assert secret not in text
        for account in ("qx", "h1", "h2", "d1", "d2"):
            assert engine.storage.credential(account) not in text
    finally:
        engine.close()


def test_a_formula_typed_as_a_name_is_exported_as_text(engine: renew_fsm.Engine) -> None:
    engine.case_fire(ACC, "h1", "create_account", COUNTY, {"name": '=HYPERLINK("x")'}, subject="institution:H1")
    from openpyxl import load_workbook

    ws = load_workbook(io.BytesIO(to_xlsx(account_sheet(engine, COUNTY), "账号列表"))).active
    name = ws.cell(row=2, column=6)
    assert name.data_type == "s" and not str(name.value).startswith("=")
