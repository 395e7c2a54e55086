"""医师 — what a doctor does in the manual (医师角色 2.2.3–2.2.6), as library calls.

    python examples/roles/doctor.py

Each call is the doctor's own action in the 医师服务 APP; the steps of the
hospital and the agency in between are done by the helpers of _province.py.
"""

from __future__ import annotations

from _province import AGENCY, EXAM, HOSPITAL, SELF, at, province, registered, show, testing

from renew_fsm import Actor, Refused


def main() -> None:
    engine = province()

    print("2.2.3 个人信息填报 — confirm the personal details once the hospital has enrolled you")
    engine.fire("D1", "enroll", HOSPITAL)
    show(engine.fire("D1", "submit_info", Actor("doctor", "D1"), {"phone": "13800000001", "department": "内科"}),
         "submit_info (name and id card must match)")  # fmt: skip
    engine.fire("D1", "approve_info", HOSPITAL)
    engine.fire("D1", "confirm_registration", AGENCY)
    print("   what the doctor may do now:", engine.allowed("D1", Actor("doctor", "D1")))

    print("2.2.5 一般程序 — choose the general program with a self-evaluation")
    show(engine.fire("D1", "choose_general", Actor("doctor", "D1"), {"self_evaluation": "工作认真，无差错"}),
         "choose_general")  # fmt: skip

    print("2.2.4 简易程序 — a doctor with 5 years of practice and a good record may choose the simple program")
    registered(engine, "D2")
    show(engine.fire("D2", "choose_simple", Actor("doctor", "D2"), {"condition": "good_record_5y",
                                                                    "self_evaluation": "述职报告已上传"}),
         "choose_simple (good_record_5y)")  # fmt: skip
    engine.fire("D2", "approve_program", HOSPITAL, {"work_performance": "pass", "ethics": "pass"})
    engine.fire("D2", "confirm_program", AGENCY)
    print("   免考 — a doctor turning 60 in the period asks for the humanities exemption")
    show(engine.fire("D2", "apply_exemption", Actor("doctor", "D2"), {"reason_id": "age_60", "proof": "身份证"}),
         "apply_exemption (age_60)")  # fmt: skip

    print("其他注意事项（二）— a doctor aged 50+ asks to be helped through the phone test")
    testing(engine, "D4")
    show(engine.fire("D4", "request_assistance", Actor("doctor", "D4"), {"reason": "不会使用手机APP"}),
         "request_assistance")  # fmt: skip

    print("延期考核 — a doctor who cannot sit the first round asks before the deadline (2021-05-30)")
    registered(engine, "D3")
    show(engine.fire("D3", "request_deferral", Actor("doctor", "D3"), {"reason": "外出进修"}), "request_deferral")
    engine.fire("D3", "approve_deferral", HOSPITAL)
    engine.fire("D3", "approve_deferral", Actor("admin", "NN-QX"))
    show(engine.fire("D3", "resume", Actor("doctor", "D3"), at=at("2021-11-01")), "resume in the make-up window")

    print("a refusal writes nothing and says why, in both languages")
    try:
        engine.fire("D1", "choose_simple", Actor("doctor", "D1"), {"condition": "good_record_5y", **SELF})
    except Refused as refused:
        print(f"   {refused.code}: {refused.message} / {refused.message_zh}")

    print("2.2.6 查看考核结果 — after the tests and the agency's grade")
    engine.fire("D1", "approve_program", HOSPITAL, {"work_performance": "pass", "ethics": "pass"})
    engine.fire("D1", "confirm_program", AGENCY)
    engine.fire("D1", "record_score", EXAM, {"test": "business", "score": 78}, at=at("2021-06-02"))
    engine.fire("D1", "record_score", EXAM, {"test": "humanities", "score": 85}, at=at("2021-06-02"))
    engine.fire("D1", "grade", AGENCY, at=at("2021-06-30"))
    result = show(engine.state("D1"), "state")
    for record in engine.history("D1"):
        print(f"     {record.at[:16]}  {record.event:<22} {record.role}:{record.actor}")
    assert result.state == "qualified"
    engine.close()


if __name__ == "__main__":
    main()
