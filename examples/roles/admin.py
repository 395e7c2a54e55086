"""卫生行政部门 — what a health authority does in the manual (卫生行政机构 2.2.3–2.2.10), as library calls.

    python examples/roles/admin.py

An admin acts as ``Actor("admin", <region id>)`` on everything inside its region.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from _province import AGENCY, CITY, COUNTY, EXAM, HOSPITAL, PROVINCE, SELF, at, province, registered, show, testing

from renew_fsm import Actor, Refused
from renew_fsm.stats import compute, to_xlsx


def main() -> None:
    engine = province()

    print("2.2.4(2) 免考设置 — the province's business-level exemption reasons, with their open/closed switch")
    engine.apply({"op": "exemption_reason", "id": "senior_title", "text": "考核周期内取得高级职称", "open": True})
    engine.apply({"op": "exemption_reason", "id": "promotion_exam", "text": "晋升考试", "open": False})

    print("2.2.5(3) 指定卫生机构 — assign hospitals to an agency (re-sending replaces the list)")
    engine.apply({"op": "agency", "id": "A1", "region": "NN", "name": "南宁市考核机构", "assigned": ["H1", "H2"]})

    print("延期考核 — the authority decides after the hospital agreed")
    registered(engine, "D3")
    engine.fire("D3", "request_deferral", Actor("doctor", "D3"), {"reason": "外出进修"})
    engine.fire("D3", "approve_deferral", HOSPITAL)
    print("   the county's work queue:", [(i.doctor, i.events) for i in engine.work_queue(COUNTY).items])
    show(engine.fire("D3", "approve_deferral", COUNTY, {"opinion": "同意"}), "approve_deferral")

    print("2.2.10(1) 驳回 — send a doctor back to choose again, or out of the cycle")
    registered(engine, "D4")
    engine.fire("D4", "choose_simple", Actor("doctor", "D4"), {"condition": "good_record_5y", **SELF})
    show(engine.fire("D4", "admin_rechoose", CITY, {"reason": "程序选择有误"}), "admin_rechoose")
    show(engine.fire("D4", "admin_exit", CITY, {"reason": "本周期不参加考核"}), "admin_exit")

    print("2.2.8 考核过程监管 — mark, lift (admins only), and find a breach of discipline")
    testing(engine, "D2", "simple")
    testing(engine, "D1", "general")
    first_round = at("2021-06-03")
    engine.fire("D2", "mark_suspected", AGENCY, at=first_round)
    show(engine.fire("D2", "unmark_suspected", PROVINCE, {"reason": "照片中多人但无沟通"}, at=first_round),
         "unmark_suspected")  # fmt: skip
    engine.fire("D1", "record_score", EXAM, {"test": "business", "score": 40}, at=first_round)
    show(engine.fire("D1", "discipline", COUNTY, {"finding": "communicating", "reason": "抓拍照片显示相互沟通"},
                     at=first_round), "discipline (communicating)")  # fmt: skip

    print("2.2.9 再次考核管理 — suspend 3–6 months, the province lists the doctor, the authority grades")
    try:
        engine.fire("D1", "suspend", COUNTY, {"months": 9}, at=at("2021-07-10"))
    except Refused as refused:
        print(f"   refused {refused.code}/{refused.rule}: {refused.message}")
    show(engine.fire("D1", "suspend", COUNTY, {"months": 3}, at=at("2021-07-10")), "suspend 3 months")
    try:
        engine.fire("D1", "confirm_reexam", CITY, at=at("2021-07-10"))
    except Refused as refused:
        print(f"   refused {refused.code}: {refused.message}")
    show(engine.fire("D1", "confirm_reexam", PROVINCE, at=at("2021-07-10")), "confirm_reexam (province only)")
    # A discipline finding voids the tests it was made in: the re-exam re-sits both.
    engine.fire("D1", "record_score", EXAM, {"test": "business", "score": 71}, at=at("2021-11-10"))
    engine.fire("D1", "record_score", EXAM, {"test": "humanities", "score": 80}, at=at("2021-11-10"))
    show(engine.fire("D1", "grade", CITY, at=at("2021-11-20")), "grade the re-exam")

    print("首轮考核结束 — the scheduler's sweep marks who never came (normally run by cron, see docs/guide.md)")
    print("   moved:", engine.sweep("close_first_round", at=at("2021-06-28")))

    print("2.2.10(3)(4) 考核进度统计、考核结果统计 — as an Excel workbook")
    path = Path(tempfile.mkdtemp()) / "统计.xlsx"
    to_xlsx(compute(engine, by="county"), path)
    print(f"   wrote {path.name} ({path.stat().st_size} bytes)")
    assert engine.state("D1").state == "reexam_passed" and "no_promotion" in engine.state("D1").flags
    engine.close()


if __name__ == "__main__":
    main()
