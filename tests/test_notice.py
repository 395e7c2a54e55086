"""The result notice (考核结果通知书): what a doctor with a result is handed, and who gets none.

A notice goes on paper to the doctor and their institution: it carries a
document number, the name, the id-card number masked (first 6 and last 4
only), the institution, the program, the result and its date, a place for the
seal, and speaks to the doctor as 您.  A 不合格 notice says why, in Chinese, and
how to appeal (art. 24): within the policy's days, to the agency named.  It is
never printed for a doctor who has no result yet.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import A1, EXAM, WORLD, at, doctor_cmd, make_engine, to_testing
from notice_world import EXPECTED, WITH_RESULT, build, doctors, populate

import renew_fsm
from renew_fsm import Refused
from renew_fsm.notice import notice, notices_of, to_html
from renew_fsm.simulate import simulate

NEEDS_POPPLER = pytest.mark.skipif(
    shutil.which("pdffonts") is None and not os.environ.get("CI"),
    reason="pdffonts/pdftotext (poppler-utils) are installed by .ci/run",
)


def cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ}
    env.pop("RENEW_FSM_DB", None)
    return subprocess.run(["renew-fsm", *args], capture_output=True, text=True, env=env, timeout=300, cwd=cwd)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One doctor at each result (tests/notice_world.py), built through the engine."""
    db = tmp_path_factory.mktemp("notice-world") / "world.db"
    build(db)
    return db


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
    assert {"qualified", "reexam_passed", "registration_cancelled", "not_enrolled"} <= set(first)
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
            "program": {"simple": "简易程序", "general": "一般程序", None: "未选择程序"}[view.instance.program],
            "date": final[-1].at[:10] if final else "",
            "result_on": view.instance.result_on or "",
        }
    finally:
        engine.close()


def page_of(db: Path, doctor: str, *extra: str) -> str:
    result = cli("notice", doctor, "--db", str(db), *extra)
    assert result.returncode == 0, result.stderr
    return result.stdout


def number_of(page: str) -> str:
    (number,) = re.findall(r'<p class="number">([^<]+)</p>', page)
    return number


# -- what every notice carries -------------------------------------------------------------------


def test_a_qualified_doctors_notice_carries_everything_the_paper_needs(province: tuple[Path, dict[str, str]]) -> None:
    db, first = province
    doctor = first["qualified"]
    page = page_of(db, doctor)
    f = facts(db, doctor)
    assert page.startswith("<!doctype html>") and '<html lang="zh-CN">' in page and '<meta charset="utf-8">' in page
    assert "<h1>医师定期考核结果通知书</h1>" in page
    assert f"<tr><th>姓名</th><td>{f['name']}</td></tr>" in page
    assert f"<tr><th>执业机构</th><td>{f['institution']}</td></tr>" in page
    assert f"<tr><th>考核程序</th><td>{f['program']}</td></tr>" in page
    assert "<tr><th>考核结果</th><td>合格</td></tr>" in page
    assert f"<tr><th>日期</th><td>{f['date']}</td></tr>" in page
    assert "<tr><th>考核周期</th><td>2019-01-01 至 2020-12-31</td></tr>" in page
    assert doctor in number_of(page) and "〔2019—2020〕" in number_of(page)
    assert '<div class="seal">（盖章）</div>' in page
    assert "您在 2019-01-01 至 2020-12-31 考核周期" in page and "你" not in page
    # A pass has nothing to appeal and no reason.
    assert "不得评优" not in page and "原因" not in page and "复核" not in page


def test_the_id_card_number_is_masked_but_for_the_first_6_and_last_4(province: tuple[Path, dict[str, str]]) -> None:
    db, first = province
    doctor = first["qualified"]
    page = page_of(db, doctor)
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
    page = page_of(db, doctor)
    assert "再次考核合格" in page and "不得评优、晋升" in page
    assert f"<tr><th>日期</th><td>{facts(db, doctor)['date']}</td></tr>" in page


def test_a_cancelled_registration_says_so_and_why(province: tuple[Path, dict[str, str]]) -> None:
    db, first = province
    doctor = first["registration_cancelled"]
    page = page_of(db, doctor)
    assert "注销注册" in page and "收回医师执业证书" in page
    engine = renew_fsm.open(str(db))
    reason = engine.state(doctor).reason
    engine.close()
    # A cancelled registration keeps the reason the re-exam was about (a failed evaluation too).
    said_zh = {
        "absent": "缺考",
        "business_level": "业务水平",
        "humanities": "医学人文",
        "discipline": "违反考核纪律",
        "work_performance": "工作成绩",
        "ethics": "职业道德",
        "violation": "第二十七条",
    }[reason]
    (said,) = re.findall(r"<tr><th>原因</th><td>([^<]+)</td></tr>", page)
    assert said_zh in said


# -- 不合格: why, and how to appeal ---------------------------------------------------------------

#: What the reason says, per reason, in the doctor's words (the scores and findings of notice_world).
WHY = {
    "WP": ["工作成绩", "评定", "不合格"],
    "ET": ["职业道德", "评定", "不合格"],
    "HU": ["医学人文测评未达到合格分数线", "最好成绩 42 分", "合格分数线 60 分"],
    "BL": ["业务水平测评未达到合格分数线", "成绩 41 分", "合格分数线 60 分"],
    "AB": ["未参加本周期首轮考核", "缺考"],
    "DI": ["违反考核纪律", "作弊", "抓拍照片显示他人代为作答"],
    "VI": ["第二十七条", "收受回扣", "收受药品回扣"],
    "SU": ["业务水平测评未达到合格分数线", "成绩 40 分"],
    "LI": ["业务水平测评未达到合格分数线", "成绩 40 分"],
    "AW": ["业务水平测评未达到合格分数线", "成绩 40 分"],
}
STATUS = {
    "SU": ["暂停执业活动3个月", "2021-07-15", "2021-10-15", "期满后参加再次考核"],
    "LI": ["已列入再次考核名单", "2021-11-06 至 2021-11-28"],
    "AW": ["已参加再次考核", "待卫生行政部门评定"],
}


@pytest.mark.parametrize("doctor", sorted(WHY))
def test_an_unqualified_notice_says_why_and_how_to_appeal(world: Path, doctor: str) -> None:
    page = page_of(world, doctor)
    state, _ = EXPECTED[doctor]
    assert "<tr><th>考核结果</th><td>不合格</td></tr>" in page
    (said,) = re.findall(r"<tr><th>原因</th><td>([^<]+)</td></tr>", page)
    for words in WHY[doctor]:
        assert words in said, (doctor, words, said)
    for words in STATUS.get(doctor, []):
        assert words in page, (doctor, words)
    # Art. 24: within the policy's 30 days, to the agency assessing the doctor's institution.
    result_on = facts(world, doctor)["result_on"]
    last = (dt.date.fromisoformat(result_on) + dt.timedelta(days=30)).isoformat()
    (appeal,) = re.findall(r'<p class="para appeal">([^<]+)</p>', page)
    assert "可自收到本通知书之日起30日内，向南宁考核机构提出复核申请" in appeal
    assert f"考核结果日期为 {result_on}，复核申请最迟于 {last} 提出" in appeal
    assert "南宁考核机构自接到复核申请之日起30日内作出复核意见" in appeal
    assert f"<tr><th>日期</th><td>{result_on}</td></tr>" in page
    assert "您如对本考核结果有异议" in page and "你" not in page
    assert state == "unqualified" or state.startswith("reexam.")


def test_the_appeal_names_the_agency_of_the_doctors_own_institution(world: Path) -> None:
    page = page_of(world, "G3")
    assert "向桂林考核机构提出复核申请" in page and "南宁考核机构" not in page


def test_the_appeal_days_are_the_policys(tmp_path: Path) -> None:
    """A province whose own rules give 15 days to ask and 20 to answer prints those, and the last day
    the system accepts is counted as the appeal rule counts it."""
    text = (Path(renew_fsm.__file__).parent / "rules" / "policies" / "guangxi-2019-2020.toml").read_text("utf-8")
    policy = tmp_path / "short-appeal.toml"
    policy.write_text(
        text.replace("request_days = 30", "request_days = 15").replace("answer_days = 30", "answer_days = 20"),
        encoding="utf-8",
    )
    engine = renew_fsm.open(":memory:")
    for cmd in [*(c for c in WORLD if c["op"] != "policy"), {"op": "policy", "file": str(policy)}, doctor_cmd("D1")]:
        engine.apply(cmd)
    engine.apply({"op": "clock", "at": "2021-04-20T09:00:00+08:00"})
    to_testing(engine, "D1", "general")
    engine.fire("D1", "record_score", EXAM, {"test": "business", "score": 30}, at=at("2021-06-02"))
    engine.fire("D1", "record_score", EXAM, {"test": "humanities", "score": 80}, at=at("2021-06-02"))
    engine.fire("D1", "grade", A1, at=at("2021-07-02"))
    page = to_html(notice(engine, "D1"))
    assert "可自收到本通知书之日起15日内，向南宁考核机构提出复核申请" in page
    assert "复核申请最迟于 2021-07-17 提出" in page
    assert "自接到复核申请之日起20日内" in page
    # The notice's last day is one the appeal rule accepts.
    engine.fire("D1", "request_appeal", renew_fsm.Actor("doctor", "D1"), {"reason": "成绩有误"}, at=at("2021-07-17"))
    engine.close()


def test_the_last_day_on_the_notice_is_the_last_day_the_rule_accepts(tmp_path: Path) -> None:
    engine = make_engine("memory:")
    to_testing(engine, "D1", "general")
    engine.fire("D1", "record_score", EXAM, {"test": "business", "score": 30}, at=at("2021-06-02"))
    engine.fire("D1", "record_score", EXAM, {"test": "humanities", "score": 80}, at=at("2021-06-02"))
    engine.fire("D1", "grade", A1, at=at("2021-07-02"))
    content = notice(engine, "D1")
    assert content.appeal is not None and content.appeal.last_day == "2021-08-01"
    with pytest.raises(Refused) as late:
        engine.fire("D1", "request_appeal", renew_fsm.Actor("doctor", "D1"), {"reason": "x"}, at=at("2021-08-02"))
    assert late.value.rule == "appeal_deadline_passed"
    engine.fire("D1", "request_appeal", renew_fsm.Actor("doctor", "D1"), {"reason": "x"}, at=at("2021-08-01"))
    engine.close()


def test_no_second_appeal_is_offered_for_a_result_already_reviewed() -> None:
    engine = make_engine("memory:")
    to_testing(engine, "D1", "general")
    engine.fire("D1", "record_score", EXAM, {"test": "business", "score": 30}, at=at("2021-06-02"))
    engine.fire("D1", "record_score", EXAM, {"test": "humanities", "score": 80}, at=at("2021-06-02"))
    engine.fire("D1", "grade", A1, at=at("2021-07-02"))
    first = notice(engine, "D1")
    engine.fire("D1", "request_appeal", renew_fsm.Actor("doctor", "D1"), {"reason": "x"}, at=at("2021-07-05"))
    engine.fire("D1", "dismiss_appeal", A1, {"opinion": "成绩无误"}, at=at("2021-07-10"))
    after = notice(engine, "D1")
    engine.close()
    assert after.appeal is None and "已经复核" in (after.status or "")
    page = to_html(after)
    assert "提出复核申请" not in page
    # The dismissal left the result as it was: the same result, the same number and date.
    assert (after.number, after.date) == (first.number, first.date)


def test_an_absence_says_which_round_was_missed() -> None:
    """缺考 from the first round, from the make-up after a deferral, and from the re-exam read differently."""
    engine = make_engine("memory:", [doctor_cmd(d, serial=i + 1) for i, d in enumerate(("F1", "M1", "R1"))])
    institution, county = renew_fsm.Actor("institution", "H1"), renew_fsm.Actor("admin", "NN-QX")
    province = renew_fsm.Actor("admin", "GX")
    for d in ("F1", "M1", "R1"):
        to_testing(engine, d, "general")
    engine.fire("M1", "request_deferral", renew_fsm.Actor("doctor", "M1"), {"reason": "外出进修"}, at=at("2021-05-10"))
    engine.fire("M1", "approve_deferral", institution, at=at("2021-05-11"))
    engine.fire("M1", "approve_deferral", county, at=at("2021-05-12"))
    engine.sweep("close_first_round", at("2021-06-28"))
    engine.fire("R1", "suspend", county, {"months": 3}, at=at("2021-07-15"))
    engine.fire("R1", "confirm_reexam", province, at=at("2021-07-20"))
    engine.sweep("close_makeup", at("2021-11-29"))
    engine.sweep("close_reexam", at("2021-11-29"))
    said = {d: notice(engine, d) for d in ("F1", "M1", "R1")}
    engine.close()
    assert said["F1"].reason == "未参加本周期首轮考核，且未申请延期考核（缺考）"
    assert said["M1"].reason == "经批准延期考核后，未参加补考（缺考）"
    assert said["R1"].state == "registration_cancelled" and said["R1"].reason == "未在再次考核期间参加再次考核（缺考）"


# -- numbers -------------------------------------------------------------------------------------


def test_each_notice_has_its_own_number_and_a_reprint_keeps_it(world: Path, tmp_path: Path) -> None:
    result = cli("notice", "--institution", "H1", "--db", str(world), "--out", str(tmp_path / "h1"))
    assert result.returncode == 0, result.stderr
    numbers = {p.name: number_of(p.read_text(encoding="utf-8")) for p in (tmp_path / "h1").iterdir()}
    assert len(set(numbers.values())) == len(numbers) == len(WITH_RESULT)
    # The same result printed again (one doctor at a time) carries the same number.
    assert number_of(page_of(world, "BL")) == numbers["notice-BL.html"]


def test_a_new_result_gets_a_new_number() -> None:
    """An unqualified doctor who passes the re-exam is handed a second notice: another number."""
    engine = make_engine("memory:")
    to_testing(engine, "D1", "general")
    engine.fire("D1", "record_score", EXAM, {"test": "business", "score": 30}, at=at("2021-06-02"))
    engine.fire("D1", "record_score", EXAM, {"test": "humanities", "score": 80}, at=at("2021-06-02"))
    engine.fire("D1", "grade", A1, at=at("2021-07-02"))
    first = notice(engine, "D1").number
    county, province = renew_fsm.Actor("admin", "NN-QX"), renew_fsm.Actor("admin", "GX")
    engine.fire("D1", "suspend", county, {"months": 3}, at=at("2021-07-15"))
    assert notice(engine, "D1").number == first  # still the same result
    engine.fire("D1", "confirm_reexam", province, at=at("2021-07-20"))
    engine.fire("D1", "record_score", EXAM, {"test": "business", "score": 70}, at=at("2021-11-08"))
    engine.fire("D1", "grade", county, at=at("2021-11-20"))
    second = notice(engine, "D1")
    engine.close()
    assert second.state == "reexam_passed" and second.number != first


# -- who gets none -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("doctor", "says"),
    [
        ("NE", "has no result yet (state not_enrolled)"),
        ("RG", "has no result yet (state deferral.requested)"),
        ("AP", "result is under review (state appeal.requested)"),
    ],
)
def test_no_notice_without_a_result(world: Path, tmp_path: Path, doctor: str, says: str) -> None:
    out = tmp_path / "notice.pdf"
    result = cli("notice", doctor, "--db", str(world), "--out", str(out))
    assert result.returncode == 1
    assert "Traceback" not in result.stderr + result.stdout
    assert f"refused: invalid_transition: {doctor}" in result.stderr and says in result.stderr
    assert result.stdout == "" and not out.exists()


def test_no_notice_for_an_unknown_doctor(world: Path) -> None:
    result = cli("notice", "D9999999", "--db", str(world))
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "not_found" in result.stderr and "D9999999" in result.stderr
    assert result.stdout == ""


def test_no_notice_from_a_database_that_is_not_there(tmp_path: Path) -> None:
    result = cli("notice", "D1", "--db", str(tmp_path / "missing.db"))
    assert result.returncode == 1
    assert "no database" in result.stderr and "Traceback" not in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_the_library_refuses_a_notice_with_a_stable_code() -> None:
    engine = make_engine("memory:")
    with pytest.raises(Refused) as refused:
        notice(engine, "D1")
    assert refused.value.code == "invalid_transition"
    assert "has no result yet" in refused.value.message and "尚无考核结果" in refused.value.message_zh
    with pytest.raises(Refused) as unknown:
        notice(engine, "D404")
    assert unknown.value.code == "not_found"
    engine.close()


def test_the_notice_is_dated_by_the_result_not_by_a_later_mark() -> None:
    """A suspected-cheating mark may be set on a qualified doctor later; the result keeps its date."""
    engine = make_engine("memory:")
    to_testing(engine, "D1", "general")
    engine.fire("D1", "record_score", EXAM, {"test": "business", "score": 80}, at=at("2021-06-02"))
    engine.fire("D1", "record_score", EXAM, {"test": "humanities", "score": 80}, at=at("2021-06-02"))
    engine.fire("D1", "grade", A1, at=at("2021-07-01"))
    before = notice(engine, "D1")
    engine.fire("D1", "mark_suspected", A1, {"reason": "复查照片"}, at=at("2021-08-15"))
    content = notice(engine, "D1")
    engine.close()
    assert content.date == "2021-07-01" and content.number == before.number
    page = to_html(content)
    assert "<tr><th>执业机构</th><td>青秀区人民医院</td></tr>" in page
    assert "<tr><th>考核程序</th><td>一般程序</td></tr>" in page
    assert "广西卫生健康委员会" in page


# -- an institution's notices in one run ---------------------------------------------------------


def test_an_institutions_notices_are_written_one_file_per_doctor_with_a_result(world: Path, tmp_path: Path) -> None:
    out = tmp_path / "H1"
    result = cli("notice", "--institution", "H1", "--db", str(world), "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert f"wrote {len(WITH_RESULT)} notices of H1" in result.stdout
    assert sorted(p.name for p in out.iterdir()) == sorted(f"notice-{d}.html" for d in WITH_RESULT)
    # Each file is that doctor's notice, the same page as printed alone.
    for d in ("Q1", "DI", "SU"):
        assert (out / f"notice-{d}.html").read_text(encoding="utf-8") == page_of(world, d)


def test_the_batch_reads_an_institutions_doctors_on_every_backend_page_by_page(url: str) -> None:
    engine = make_engine(url, doctors())
    try:
        populate(engine)
        # Pages of 3 (the store is read a page at a time): every doctor once, in id order, none of H3's.
        found = [n.doctor for n in notices_of(engine, "H1", page=3)]
        assert found == WITH_RESULT
        assert [n.doctor for n in notices_of(engine, "H3", page=1)] == ["G3"]
        assert list(notices_of(engine, "H2")) == []
        with pytest.raises(Refused) as unknown:
            notices_of(engine, "H9")
        assert unknown.value.code == "not_found"
    finally:
        engine.close()


def test_an_unknown_institution_is_refused_and_nothing_is_written(world: Path, tmp_path: Path) -> None:
    out = tmp_path / "H9"
    result = cli("notice", "--institution", "H9", "--db", str(world), "--out", str(out))
    assert result.returncode == 1
    assert "refused: not_found: no institution 'H9' in this store" in result.stderr
    assert "Traceback" not in result.stderr and not out.exists()


def test_an_institution_without_results_writes_nothing_and_says_so(world: Path, tmp_path: Path) -> None:
    result = cli("notice", "--institution", "H2", "--db", str(world), "--out", str(tmp_path / "H2"))
    assert result.returncode == 0, result.stderr
    assert "no doctor of H2 has a result yet" in result.stdout and not (tmp_path / "H2").exists()


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--institution", "H1"], "give the folder with --out DIR"),
        (["D1", "--institution", "H1", "--out", "x"], "give a doctor id or --institution (one of them)"),
        ([], "give a doctor id or --institution (one of them)"),
        (["--institution", "H1", "--out", "x", "--format", "docx"], "--format must be html or pdf"),
        (["BL", "--format", "pdf"], "a PDF is written to a file: give --out"),
        (["BL", "--format", "pdf", "--out", "n.html"], "--out n.html does not end in .pdf, as --format pdf writes"),
    ],
)
def test_the_batch_asks_for_what_it_needs(world: Path, tmp_path: Path, args: list[str], says: str) -> None:
    result = cli("notice", *args, "--db", str(world), cwd=tmp_path)
    assert result.returncode in (1, 2) and says in result.stderr and "Traceback" not in result.stderr
    assert list(tmp_path.iterdir()) == []


# -- the province's own template -----------------------------------------------------------------

PROVINCE_TEMPLATE = """<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>{{ notice.number }}</title>
<style>body { font-family: "Noto Serif SC"; }</style></head>
<body><h1>省卫生健康委 医师定期考核结果告知书</h1>
<p>文号：{{ notice.number }}</p>
<p>{{ notice.name }}同志：您的考核结果为{{ notice.result }}。</p>
{% if notice.reason %}<p>理由：{{ notice.reason }}</p>{% endif %}
{% if notice.appeal %}<p>异议：{{ notice.appeal.days }}日内向{{ notice.appeal.agency }}申请复核。</p>{% endif %}
</body></html>
"""


def test_the_province_overrides_the_template_with_a_file(world: Path, tmp_path: Path) -> None:
    own = tmp_path / "my-notice.html"
    own.write_text(PROVINCE_TEMPLATE, encoding="utf-8")
    page = page_of(world, "BL", "--template", str(own))
    assert "<h1>省卫生健康委 医师定期考核结果告知书</h1>" in page
    assert f"<p>文号：{number_of(page_of(world, 'BL'))}</p>" in page
    assert "<p>测试BL同志：您的考核结果为不合格。</p>" in page
    assert "理由：业务水平测评未达到合格分数线" in page and "异议：30日内向南宁考核机构申请复核。" in page
    assert "医师定期考核结果通知书" not in page  # nothing of the packaged template is left
    # The batch takes the same file.
    out = tmp_path / "batch"
    batch = cli("notice", "--institution", "H1", "--db", str(world), "--out", str(out), "--template", str(own))
    assert batch.returncode == 0, batch.stderr
    assert "告知书" in (out / "notice-Q1.html").read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("<p>{{ notice.name </p>", "line 1"),
        ("<p>{{ notice.nmae }}</p>", "nmae"),
        ("{% for x in rows %}<p>{{ x }}</p>", "line 1"),
    ],
)
def test_a_broken_template_is_refused_in_one_line_and_writes_nothing(
    world: Path, tmp_path: Path, text: str, says: str
) -> None:
    own = tmp_path / "broken.html"
    own.write_text(text, encoding="utf-8")
    out = tmp_path / "n.html"
    result = cli("notice", "BL", "--db", str(world), "--template", str(own), "--out", str(out))
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "refused: bad_input" in result.stderr and says in result.stderr and str(own) in result.stderr
    assert not out.exists()
    missing = cli("notice", "BL", "--db", str(world), "--template", str(tmp_path / "nope.html"))
    assert missing.returncode == 1 and "no template file" in missing.stderr


# -- PDF ------------------------------------------------------------------------------------------


def pdffonts(pdf: Path) -> list[list[str]]:
    lines = subprocess.run(["pdffonts", str(pdf)], capture_output=True, text=True, check=True).stdout.splitlines()
    return [line.split() for line in lines[2:] if line.strip()]


def pdftext(pdf: Path) -> str:
    text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    return re.sub(r"\s+", "", text)


def embedded(rows: list[list[str]]) -> bool:
    """Every font of the file embedded: pdffonts' ``emb`` column (fifth from the right) says yes."""
    return bool(rows) and all(row[-5] == "yes" for row in rows)


@NEEDS_POPPLER
def test_pdf_notices_embed_their_chinese_font_and_say_what_the_html_says(world: Path, tmp_path: Path) -> None:
    """Every kind of notice — a pass, each reason of 不合格, each re-exam state — as a PDF."""
    out = tmp_path / "pdf"
    result = cli("notice", "--institution", "H1", "--db", str(world), "--out", str(out), "--format", "pdf")
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in out.iterdir()) == sorted(f"notice-{d}.pdf" for d in WITH_RESULT)
    for d in WITH_RESULT:
        pdf = out / f"notice-{d}.pdf"
        assert pdf.read_bytes().startswith(b"%PDF-")
        fonts = pdffonts(pdf)
        assert embedded(fonts), (d, fonts)
        assert any("Noto-Serif-SC" in row[0] for row in fonts), fonts
        text = pdftext(pdf)
        html = page_of(world, d)
        assert "医师定期考核结果通知书" in text and number_of(html).replace(" ", "") in text
        assert "您" in text and "（盖章）" in text
        for words in WHY.get(d, []):
            assert words.replace(" ", "") in text, (d, words)
        if d in WHY:
            assert "可自收到本通知书之日起30日内，向南宁考核机构提出复核申请" in text, d
    pages = subprocess.run(["pdfinfo", str(out / "notice-DI.pdf")], capture_output=True, text=True).stdout
    assert re.search(r"^Pages:\s+1$", pages, re.M), "one A4 page"
    assert "595.276 x 841.89 pts (A4)" in pages


@NEEDS_POPPLER
def test_one_notice_as_pdf_embeds_its_font(world: Path, tmp_path: Path) -> None:
    out = tmp_path / "notice.pdf"
    result = cli("notice", "HU", "--db", str(world), "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert embedded(pdffonts(out))
    assert "最好成绩42分" in pdftext(out)
    # --format pdf into a folder names the file by the doctor.
    assert cli("notice", "HU", "--db", str(world), "--out", str(tmp_path), "--format", "pdf").returncode == 0
    assert (tmp_path / "notice-HU.pdf").read_bytes().startswith(b"%PDF-")


@NEEDS_POPPLER
def test_the_province_template_gives_the_pdf_too(world: Path, tmp_path: Path) -> None:
    own = tmp_path / "my-notice.html"
    own.write_text(PROVINCE_TEMPLATE, encoding="utf-8")
    out = tmp_path / "notice.pdf"
    result = cli("notice", "WP", "--db", str(world), "--out", str(out), "--template", str(own))
    assert result.returncode == 0, result.stderr
    text = pdftext(out)
    assert "医师定期考核结果告知书" in text and "异议：30日内向南宁考核机构申请复核" in text
    assert embedded(pdffonts(out))
