"""附件1 医师定期考核延期考核申请表, filled from the store: what the institution stamps and the authority files.

The form carries the doctor's registry facts (name, 性别, institution, the whole
id-card number, 资格证书编号, 执业证书编号, 执业类别), the reason given with the
deferral request and the opinions the institution and the authority recorded,
each with its date; what the store does not know is left blank for the pen.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from types import SimpleNamespace

import pytest
from conftest import WORLD, doctor_cmd
from notice_world import build
from test_notice import NEEDS_POPPLER, cli, embedded, pdffonts, pdftext

import renew_fsm
from renew_fsm.forms import fill_deferral, registry_field, to_html


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("forms") / "world.db"
    build(db)
    return db


def cell(page: str, label: str) -> str:
    """The value cell after the label (the form is a table of label, value)."""
    match = re.search(rf"<th>{re.escape(label)}</th>\s*<td[^>]*>(.*?)</td>", page, re.S)
    assert match, label
    return match.group(1).strip()


def test_an_approved_deferral_fills_the_form_with_the_reason_and_both_opinions(world: Path) -> None:
    result = cli("form", "deferral", "DF", "--db", str(world))
    assert result.returncode == 0, result.stderr
    page = result.stdout
    engine = renew_fsm.open(str(world))
    doc = engine.storage.get_doctor("DF")
    engine.close()
    assert doc is not None
    assert "<h1>医师定期考核延期考核申请表</h1>" in page and "附件1" in page
    assert cell(page, "姓名") == doc.name
    assert cell(page, "所在执业卫生机构") == "青秀区人民医院"
    # The application the authority checks identity against: the whole number.
    assert cell(page, "身份证号") == doc.id_card
    assert "援外医疗队派驻境外" in cell(page, "申请延期<br>考核原因") and "2021-05-10" in page
    institution = cell(page, "卫生机构<br>意见")
    assert "同意。情况属实，同意延期" in institution and "2021-05-12（盖章）" in institution
    authority = cell(page, "卫生行政<br>部门意见")
    assert authority.startswith("同意") and "2021-05-20（盖章）" in authority
    assert "一份审批后由本单位存档，一份由卫生行政部门存档" in page


def test_a_pending_request_leaves_the_opinions_blank_for_the_stamps(world: Path) -> None:
    page = cli("form", "deferral", "RG", "--db", str(world)).stdout
    assert "孕产期，无法参加首轮考核" in page
    for label in ("卫生机构<br>意见", "卫生行政<br>部门意见"):
        value = cell(page, label)
        assert "同意" not in value and "年　月　日（盖章）" in value, value


def test_registry_fields_are_printed_when_the_registry_has_them(tmp_path: Path) -> None:
    """性别, 资格证书编号, 执业证书编号 and 执业类别, given in the doctor's profile, fill their cells."""
    engine = renew_fsm.open(":memory:")
    profile = {"sex": "female", "qualification_no": "200445110450103", "license_no": "110450100012345"}
    profile["practice_category"] = "tcm"
    for cmd in [*WORLD, {**doctor_cmd("D1", license="assistant"), "profile": profile}]:
        engine.apply(cmd)
    engine.apply({"op": "clock", "at": "2021-04-20T09:00:00+08:00"})
    doc = engine.storage.get_doctor("D1")
    assert doc is not None
    page = to_html(fill_deferral(engine, doc, engine.history("D1")))
    engine.close()
    assert cell(page, "性别") == "女"
    assert cell(page, "医师资格证书编号") == "200445110450103"
    assert cell(page, "执业/助理证书编号") == "110450100012345（执业助理医师）"
    assert cell(page, "执业类别") == "中医"
    # No deferral asked yet: the reason is left for the pen, the dates too.
    assert cell(page, "申请延期<br>考核原因").startswith("<div") and "年　月　日" in page


def test_registry_fields_on_the_doctor_itself_are_read_too() -> None:
    """The registry fields being added to ``Doctor`` are read from the doctor first, the profile second."""
    doctor = SimpleNamespace(sex="male", practice_category="public_health", profile={"sex": "female"})
    assert registry_field(doctor, "sex", {"male": "男"}) == "男"
    assert registry_field(doctor, "practice_category", {"public_health": "公共卫生"}) == "公共卫生"
    assert registry_field(doctor, "license_no") == ""
    assert registry_field(SimpleNamespace(profile={}), "sex") == ""


def test_a_form_for_an_unknown_doctor_is_refused(world: Path, tmp_path: Path) -> None:
    out = tmp_path / "f.html"
    result = cli("form", "deferral", "D404", "--db", str(world), "--out", str(out))
    assert result.returncode == 1 and "not_found" in result.stderr and "Traceback" not in result.stderr
    assert not out.exists()


@NEEDS_POPPLER
def test_the_form_as_pdf_embeds_its_font(world: Path, tmp_path: Path) -> None:
    out = tmp_path / "deferral.pdf"
    result = cli("form", "deferral", "DF", "--db", str(world), "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert embedded(pdffonts(out))
    text = pdftext(out)
    assert "医师定期考核延期考核申请表" in text and "援外医疗队派驻境外" in text and "2021-05-12（盖章）" in text
    info = subprocess.run(["pdfinfo", str(out)], capture_output=True, text=True).stdout
    assert re.search(r"^Pages:\s+1$", info, re.M)
