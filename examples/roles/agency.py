"""考核机构 — what an assessment agency does in the manual (考核机构角色 2.2.2–2.2.7), as library calls.

python examples/roles/agency.py
"""

from __future__ import annotations

from _province import AGENCY, EXAM, HOSPITAL, SELF, at, province, show

from renew_fsm import Actor
from renew_fsm.stats import compute


def main() -> None:
    engine = province()
    for doctor in ("D1", "D2", "D3", "D4"):
        engine.fire(doctor, "enroll", HOSPITAL)
        engine.fire(doctor, "submit_info", Actor("doctor", doctor))
        engine.fire(doctor, "approve_info", HOSPITAL)

    print("2.2.2 已指定卫生机构列表 — the hospitals this agency assesses (assigned by the authority)")
    print("   ", sorted(engine.world().agencies["A1"].institutions))

    print("2.2.3 确认考核医师名单 — confirm each registration (批量通过 = one call per doctor), or send back")
    for item in engine.work_queue(AGENCY, states=["info_approved"]).items:
        if item.doctor != "D3":
            show(engine.fire(item.doctor, "confirm_registration", AGENCY), "confirm_registration")
    show(engine.fire("D3", "reject_registration", AGENCY, {"reason": "执业地点有误"}), "reject_registration")

    print("2.2.4/2.2.5(1) 复核工作成绩、职业道德 — confirm the hospital's evaluation, or return it")
    engine.fire("D1", "choose_general", Actor("doctor", "D1"), SELF)
    engine.fire("D2", "choose_simple", Actor("doctor", "D2"), {"condition": "good_record_5y", **SELF})
    engine.fire("D4", "choose_simple", Actor("doctor", "D4"), {"condition": "good_record_5y", **SELF})
    for doctor in ("D1", "D2", "D4"):
        engine.fire(doctor, "approve_program", HOSPITAL, {"work_performance": "pass", "ethics": "pass"})
    show(engine.fire("D1", "return_program", AGENCY, {"reason": "评定意见缺失"}), "return_program")
    engine.fire("D1", "approve_program", HOSPITAL, {"work_performance": "pass", "ethics": "pass", "opinion": "同意"})
    show(engine.fire("D1", "confirm_program", AGENCY), "confirm_program")
    show(engine.fire("D2", "confirm_program", AGENCY), "confirm_program")
    print("   凡不符合简易程序考核条件的考生，驳回其简易程序申请，按照一般程序完成考核")
    show(engine.fire("D4", "refuse_simple", AGENCY, {"reason": "不符合简易程序条件"}), "refuse_simple")

    print("2.2.5(2) 复核业务水平免考申请 — after the hospital approved it")
    engine.fire("D1", "apply_exemption", Actor("doctor", "D1"), {"reason_id": "promotion_exam"})
    engine.fire("D1", "approve_exemption", HOSPITAL)
    show(engine.fire("D1", "approve_exemption", AGENCY), "approve_exemption (business exempt)")

    print("2.2.7 监考管理 — mark a doctor suspected from the snapshots")
    engine.fire("D2", "record_score", EXAM, {"test": "humanities", "score": 81}, at=at("2021-06-05"))
    show(engine.fire("D2", "mark_suspected", AGENCY, {"reason": "照片相似度低"}, at=at("2021-06-05")),
         "mark_suspected")  # fmt: skip
    engine.fire("D1", "record_score", EXAM, {"test": "humanities", "score": 66}, at=at("2021-06-06"))

    print("2.2.4(2)/2.2.5(3) 成绩评定 — grade inside the grading window; the result follows from the scores")
    for item in engine.work_queue(AGENCY, at=at("2021-06-30")).items:
        print(f"     to grade: {item.doctor} {item.state}")
        show(engine.fire(item.doctor, "grade", AGENCY, {"opinion": "合格"}, at=at("2021-06-30")), "grade")

    print("2.2.6 考核结果统计 — results per hospital, for this agency's hospitals")
    stats = compute(engine, by="agency")
    for row in stats.results.rows:
        print("    ", row[:4], "合格", row[4])
    assert engine.state("D1").state == engine.state("D2").state == "qualified"
    engine.close()


if __name__ == "__main__":
    main()
