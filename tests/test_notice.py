"""The result notice (考核结果通知书): what a doctor with a final result is handed, and who gets none.

A notice goes on paper to the doctor and their institution: it must carry the
name, the id-card number masked (first 6 and last 4 only), the institution,
the program, the result and its date — and must never be printed for a doctor
whose cycle is not finished.
"""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import zlib
from pathlib import Path

import pytest
from conftest import A1, EXAM, at, make_engine, to_testing

import renew_fsm
from renew_fsm import Refused
from renew_fsm.notice import notice, to_html, to_pdf
from renew_fsm.simulate import simulate


def cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ}
    env.pop("RENEW_FSM_DB", None)
    return subprocess.run(["renew-fsm", *args], capture_output=True, text=True, env=env, timeout=120, cwd=cwd)


@pytest.fixture(scope="module")
def province(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """A simulated cycle of 2,000 doctors, and one doctor per end state (the first in id order)."""
    db = tmp_path_factory.mktemp("notice") / "notice.db"
    engine = renew_fsm.open(str(db))
    simulate(engine, 2000, 7)
    first: dict[str, str] = {}
    for inst, _ in engine.scan():
        first.setdefault(inst.state, inst.doctor)
    engine.close()
    assert {"qualified", "reexam_passed", "registration_cancelled", "not_enrolled", "reexam.suspended"} <= set(first)
    return db, first


def facts(db: Path, doctor: str) -> dict[str, str]:
    """What the notice must say, read from the store through the library, not from the notice."""
    engine = renew_fsm.open(str(db))
    try:
        doc = engine.storage.get_doctor(doctor)
        assert doc is not None
        view = engine.state(doctor)
        final = [r for r in engine.history(doctor) if r.to_state == view.state and r.from_state != view.state]
        return {
            "name": doc.name,
            "id_card": doc.id_card,
            "institution": engine.world().institutions[doc.institution].name,
            "program": {"simple": "简易程序", "general": "一般程序"}[view.instance.program],
            "date": final[-1].at[:10],
        }
    finally:
        engine.close()


def test_a_qualified_doctors_notice_carries_everything_the_paper_needs(province: tuple[Path, dict[str, str]]) -> None:
    db, first = province
    doctor = first["qualified"]
    result = cli("notice", doctor, "--db", str(db))
    assert result.returncode == 0, result.stderr
    page = result.stdout
    f = facts(db, doctor)
    assert page.startswith("<!doctype html>") and '<html lang="zh-CN">' in page and '<meta charset="utf-8">' in page
    assert "<h1>医师定期考核结果通知书</h1>" in page
    assert f"<tr><th>姓名</th><td>{f['name']}</td></tr>" in page
    assert f"<tr><th>执业机构</th><td>{f['institution']}</td></tr>" in page
    assert f"<tr><th>考核程序</th><td>{f['program']}</td></tr>" in page
    assert "<tr><th>考核结果</th><td>合格</td></tr>" in page
    assert f"<tr><th>日期</th><td>{f['date']}</td></tr>" in page
    assert "<tr><th>考核周期</th><td>2019-01-01 至 2020-12-31</td></tr>" in page
    assert "不得评优" not in page and "原因" not in page


def test_the_id_card_number_is_masked_but_for_the_first_6_and_last_4(province: tuple[Path, dict[str, str]]) -> None:
    db, first = province
    doctor = first["qualified"]
    page = cli("notice", doctor, "--db", str(db)).stdout
    card = facts(db, doctor)["id_card"]
    assert len(card) == 18
    masked = card[:6] + "*" * 8 + card[-4:]
    assert f"<tr><th>身份证号</th><td>{masked}</td></tr>" in page
    assert card not in page
    # No run of the hidden digits (birth date and sequence) survives anywhere on the page.
    assert card[6:14] not in page
    assert re.findall(r"\d{6}\*{8}[\dX]{4}", page) == [masked]


def test_a_re_exam_pass_says_no_honours_or_promotion_this_cycle(province: tuple[Path, dict[str, str]]) -> None:
    db, first = province
    doctor = first["reexam_passed"]
    page = cli("notice", doctor, "--db", str(db)).stdout
    assert "再次考核合格" in page and "不得评优、晋升" in page
    assert f"<tr><th>日期</th><td>{facts(db, doctor)['date']}</td></tr>" in page


def test_a_cancelled_registration_says_so_and_why(province: tuple[Path, dict[str, str]]) -> None:
    db, first = province
    doctor = first["registration_cancelled"]
    page = cli("notice", doctor, "--db", str(db)).stdout
    assert "注销注册" in page and "收回医师执业证书" in page
    engine = renew_fsm.open(str(db))
    reason = engine.state(doctor).reason
    engine.close()
    # A cancelled registration keeps the reason the re-exam was about (a failed evaluation too).
    zh = {
        "absent": "缺考",
        "business_level": "业务水平",
        "humanities": "医学人文",
        "discipline": "违纪",
        "work_performance": "工作成绩",
        "ethics": "职业道德",
        "violation": "违规执业",
    }[reason]
    assert f"<tr><th>原因</th><td>{zh}</td></tr>" in page


def test_the_notice_is_written_to_a_file_as_html_or_pdf(province: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    db, first = province
    doctor = first["qualified"]
    html_out = tmp_path / "notice.html"
    assert cli("notice", doctor, "--db", str(db), "--out", str(html_out)).returncode == 0
    assert "合格" in html_out.read_text(encoding="utf-8")
    pdf_out = tmp_path / "notice.pdf"
    result = cli("notice", doctor, "--db", str(db), "--out", str(pdf_out))
    assert result.returncode == 0, result.stderr
    pdf = pdf_out.read_bytes()
    assert pdf.startswith(b"%PDF-") and pdf.rstrip().endswith(b"%%EOF")
    assert len(pdf) > 1500, "a real page, not an empty shell"
    assert b"/Count 1" in pdf, "one A4 page"
    assert b"/MediaBox [ 0 0 595.2756 841.8898 ]" in pdf, "A4"
    # The Chinese text is set in the CID font every PDF reader carries; no font file is embedded.
    assert b"STSong-Light" in pdf and b"/FontFile" not in pdf


def pdf_text(pdf: bytes) -> list[str]:
    """The strings a reportlab page shows (``(…) Tj``), decoded — enough to read a notice without a PDF library.

    reportlab writes the page as an ASCII85 + Flate stream and the Chinese CID
    font's strings as UCS-2 big-endian bytes with PDF escapes.
    """
    shown: list[str] = []
    for stream in re.findall(rb"stream\r?\n(.*?)endstream", pdf, re.S):
        data = stream.strip()
        page = zlib.decompress(base64.a85decode(data if data.startswith(b"<~") else b"<~" + data, adobe=True))
        for literal in re.findall(rb"\(((?:\\.|[^\\)])*)\) Tj", page, re.S):
            shown.append(_unescape(literal).decode("utf-16-be"))
    return shown


def _unescape(literal: bytes) -> bytes:
    out, i = bytearray(), 0
    simple = {ord("n"): 10, ord("r"): 13, ord("t"): 9, ord("b"): 8, ord("f"): 12}
    while i < len(literal):
        ch = literal[i]
        if ch != ord("\\"):
            out.append(ch)
            i += 1
            continue
        octal = re.match(rb"[0-7]{1,3}", literal[i + 1 : i + 4])
        if octal:
            out.append(int(octal.group(), 8))
            i += 1 + len(octal.group())
        else:
            out.append(simple.get(literal[i + 1], literal[i + 1]))
            i += 2
    return bytes(out)


def test_the_pdf_shows_every_field_of_the_notice(province: tuple[Path, dict[str, str]]) -> None:
    db, first = province
    engine = renew_fsm.open(str(db))
    content = notice(engine, first["reexam_passed"])
    engine.close()
    shown = pdf_text(to_pdf(content))
    assert shown[0] == "医师定期考核结果通知书"
    assert f"{content.name}：" in shown
    for label, value in content.fields():
        assert label in shown, label
        assert value[:40] in shown, (label, value)
    assert content.authority in shown and shown[-1] == content.date
    f = facts(db, first["reexam_passed"])
    assert f["id_card"] not in "".join(shown)
    assert f["id_card"][:6] + "*" * 8 + f["id_card"][-4:] in shown


@pytest.mark.parametrize("state", ["not_enrolled", "reexam.suspended"])
def test_no_notice_without_a_final_result(province: tuple[Path, dict[str, str]], tmp_path: Path, state: str) -> None:
    db, first = province
    doctor = first[state]
    out = tmp_path / "notice.pdf"
    result = cli("notice", doctor, "--db", str(db), "--out", str(out))
    assert result.returncode == 1
    assert "Traceback" not in result.stderr + result.stdout
    assert doctor in result.stderr and "no final result" in result.stderr and state in result.stderr
    assert result.stdout == "" and not out.exists()


def test_no_notice_for_an_unknown_doctor(province: tuple[Path, dict[str, str]]) -> None:
    db, _ = province
    result = cli("notice", "D9999999", "--db", str(db))
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "not_found" in result.stderr and "D9999999" in result.stderr
    assert result.stdout == ""


def test_no_notice_from_a_database_that_is_not_there(tmp_path: Path) -> None:
    result = cli("notice", "D1", "--db", str(tmp_path / "missing.db"))
    assert result.returncode == 1
    assert "no database" in result.stderr and "Traceback" not in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_the_notice_is_dated_by_the_result_not_by_a_later_mark() -> None:
    """A suspected-cheating mark may be set on a qualified doctor later; the result keeps its date."""
    engine = make_engine("memory:")
    to_testing(engine, "D1", "general")
    engine.fire("D1", "record_score", EXAM, {"test": "business", "score": 80}, at=at("2021-06-02"))
    engine.fire("D1", "record_score", EXAM, {"test": "humanities", "score": 80}, at=at("2021-06-02"))
    engine.fire("D1", "grade", A1, at=at("2021-07-01"))
    engine.fire("D1", "mark_suspected", A1, {"reason": "复查照片"}, at=at("2021-08-15"))
    content = notice(engine, "D1")
    assert content.date == "2021-07-01"
    page = to_html(content)
    assert "<tr><th>执业机构</th><td>青秀区人民医院</td></tr>" in page
    assert "<tr><th>考核程序</th><td>一般程序</td></tr>" in page
    assert "广西卫生健康委员会" in page


def test_the_library_refuses_a_notice_with_a_stable_code() -> None:
    engine = make_engine("memory:")
    with pytest.raises(Refused) as refused:
        notice(engine, "D1")
    assert refused.value.code == "invalid_transition"
    assert "no final result" in refused.value.message
    with pytest.raises(Refused) as unknown:
        notice(engine, "D404")
    assert unknown.value.code == "not_found"
    assert json.dumps(refused.value.message)
