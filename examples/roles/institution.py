"""卫生机构 — what a hospital does in the manual (卫生机构角色 2.2.5–2.2.9), as library calls.

python examples/roles/institution.py
"""

from __future__ import annotations

from _province import AGENCY, EXAM, HOSPITAL, SELF, at, province, registered, show

from renew_fsm import Actor
from renew_fsm.stats import compute


def main() -> None:
    engine = province()

    print("2.2.5(1) 医师信息列表 — enrol the doctors who take part in this cycle (参加考核), or cancel")
    for doctor in ("D1", "D2", "D3"):
        show(engine.fire(doctor, "enroll", HOSPITAL), "enroll")
    show(engine.fire("D3", "cancel_enrollment", HOSPITAL, {"reason": "本周期不参加"}), "cancel_enrollment")

    print("2.2.5(2) 上报考核名单 — check the details the doctor confirmed; approve or send back")
    engine.fire("D1", "submit_info", Actor("doctor", "D1"))
    engine.fire("D2", "submit_info", Actor("doctor", "D2"))
    print("   the work queue: doctors waiting for this hospital now")
    for item in engine.work_queue(HOSPITAL).items:
        print(f"     {item.doctor} {item.name} {item.state}: {', '.join(item.events)}")
    show(engine.fire("D2", "reject_info", HOSPITAL, {"reason": "执业证书编号有误"}), "reject_info")
    show(engine.fire("D1", "approve_info", HOSPITAL, {"opinion": "信息无误"}), "approve_info")

    print("2.2.6/2.2.7 简易程序、一般程序 — evaluate work performance and ethics (工作成绩、职业道德)")
    engine.fire("D1", "confirm_registration", AGENCY)
    engine.fire("D1", "choose_general", Actor("doctor", "D1"), {"self_evaluation": "……"})
    show(engine.fire("D1", "approve_program", HOSPITAL, {"work_performance": "pass", "ethics": "pass",
                                                         "opinion": "同意"}), "approve_program")  # fmt: skip
    registered(engine, "D4")
    engine.fire("D4", "choose_general", Actor("doctor", "D4"), SELF)
    show(engine.fire("D4", "reject_program", HOSPITAL, {"reason": "自评内容不完整"}), "reject_program")

    print("2.2.7(2) 一般程序免考申请 — approve, or reject for more proof (supplement) or for good (forbid)")
    engine.fire("D1", "confirm_program", AGENCY)
    engine.fire("D1", "apply_exemption", Actor("doctor", "D1"), {"reason_id": "residency_training"})
    show(engine.fire("D1", "reject_exemption", HOSPITAL, {"mode": "supplement", "reason": "请补充结业证书"}),
         "reject_exemption (supplement)")  # fmt: skip
    engine.fire("D1", "apply_exemption", Actor("doctor", "D1"), {"reason_id": "residency_training"})
    show(engine.fire("D1", "approve_exemption", HOSPITAL), "approve_exemption")

    print("延期考核 — the hospital agrees first, then the health authority")
    registered(engine, "D3")
    engine.fire("D3", "request_deferral", Actor("doctor", "D3"), {"reason": "外出进修"})
    show(engine.fire("D3", "approve_deferral", HOSPITAL, {"opinion": "同意"}), "approve_deferral")

    print("其他注意事项（二）— agree that a doctor aged 50+ is helped through the test")
    engine.fire("D4", "choose_general", Actor("doctor", "D4"), SELF)
    engine.fire("D4", "request_assistance", Actor("doctor", "D4"))
    show(engine.fire("D4", "approve_assistance", HOSPITAL), "approve_assistance")

    print("2.2.9 监考管理 — mark a doctor suspected of cheating from the snapshots (only the authority lifts it)")
    engine.fire("D2", "submit_info", Actor("doctor", "D2"))  # D2 corrects the details sent back above
    engine.fire("D2", "approve_info", HOSPITAL)
    engine.fire("D2", "confirm_registration", AGENCY)
    engine.fire("D2", "choose_simple", Actor("doctor", "D2"), {"condition": "good_record_5y", **SELF})
    engine.fire("D2", "approve_program", HOSPITAL, {"work_performance": "pass", "ethics": "pass"})
    engine.fire("D2", "confirm_program", AGENCY)
    engine.fire("D2", "record_score", EXAM, {"test": "humanities", "score": 30}, at=at("2021-06-03"))
    show(engine.fire("D2", "mark_suspected", HOSPITAL, {"reason": "抓拍照片中有他人"}, at=at("2021-06-03")),
         "mark_suspected")  # fmt: skip

    print("2.2.8 考核进度统计 — this hospital's row of the progress table")
    stats = compute(engine, by="institution")
    header, row = stats.progress.headers, next(r for r in stats.progress.rows if r[0] == "H1")
    print("   " + ", ".join(f"{h.split('（')[0]} {n}" for h, n in zip(header[2:], row[2:], strict=True) if n))
    assert engine.state("D1").state == "general.exemption.institution_approved"
    engine.close()


if __name__ == "__main__":
    main()
