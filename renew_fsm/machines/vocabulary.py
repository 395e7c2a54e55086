"""Roles and the events of the doctor's cycle (SPEC §1–§2): ids, labels and data fields.

Shared by the doctor machine and the re-exam machine, which fire the same
events; each event's data fields are checked at the boundary
(``renew_fsm.eventdata``) before any rule sees them.
"""

from __future__ import annotations

from .dsl import Event, Param

DOCTOR = "doctor"
INSTITUTION = "institution"
AGENCY = "agency"
ADMIN = "admin"
#: An admin at the province level only (cycle policy, ``confirm_reexam``).
PROVINCE = "admin:province"
EXAM = "exam_system"
SYSTEM = "system"
#: The holder of an account acting on that account after proving its secret (changing the
#: password); no other event takes it, so an account's superior and its holder never mix.
ACCOUNT = "account"

ROLES: dict[str, tuple[str, str]] = {
    DOCTOR: ("医师", "doctor"),
    INSTITUTION: ("卫生机构", "health institution"),
    AGENCY: ("考核机构", "assessment agency"),
    ADMIN: ("卫生行政部门", "health authority (county, city or province)"),
    PROVINCE: ("省级卫生行政部门", "provincial health authority"),
    EXAM: ("测评系统", "testing app"),
    SYSTEM: ("系统", "system (time-driven sweeps)"),
    ACCOUNT: ("账号本人", "the account holder, signed in"),
}

#: Art. 27 of the 2007 measures (医师定期考核管理办法第二十七条): what an agency or an
#: authority may find, each making the cycle's result unqualified with reason ``violation``.
#: ``other`` is a finding the list does not name; the required ``reason`` text says what it is.
VIOLATIONS: dict[str, tuple[str, str]] = {
    "medical_accident_primary_responsibility": (
        "在发生的医疗事故中负有完全或主要责任", "full or primary responsibility for a medical accident",
    ),
    "practising_outside_registration": (
        "擅自在注册地点以外或跨执业类别执业", "practising outside the registered place or category",
    ),
    "exam_substitution": ("代他人参加医师资格考试", "sitting a qualification exam for someone else"),
    "soliciting_property": ("索要患者及其亲友财物或牟取不正当利益", "soliciting property from patients"),
    "kickbacks": ("收受回扣、提成或谋取不正当利益", "taking kickbacks or commissions"),
    "referral_kickbacks": (
        "介绍病人到其他单位检查、治疗或购买药品、医疗器械收取回扣或提成",
        "commissions for sending patients elsewhere for tests, treatment or purchases",
    ),
    "false_medical_certificate": (
        "出具虚假医学证明文件，或未经亲自诊查签署证明文件", "issuing a false medical certificate",
    ),
    "false_advertising": ("参与虚假广告宣传和药品医疗器械促销", "taking part in false advertising or promotion"),
    "clinical_norms_serious_consequence": (
        "违反诊疗规范、常规造成严重后果", "breaching clinical norms with serious consequences",
    ),
    "infection_control_failure": (
        "未按规定执行医院感染控制任务造成疾病传播、流行", "infection control not carried out, spreading disease",
    ),
    "patient_privacy_leak": ("泄露患者隐私或传染病人个人信息", "disclosing a patient's private information"),
    "infectious_disease_reporting": (
        "未按规定履行传染病监测、报告义务", "not reporting infectious disease as required",
    ),
    "poor_ethics_rating": ("考核周期内医德考评结果为医德较差", "an ethics appraisal of poor in the cycle"),
    "assessment_obstruction": ("无正当理由不参加考核或扰乱考核秩序", "refusing or disrupting the assessment"),
    "administrative_penalty": (
        "违反执业医师法受到行政处罚", "an administrative penalty under the Practising Physicians Law",
    ),
    "other": ("其他违规行为（须说明）", "another violation (described in the reason)"),
}

REASON = Param("reason", "text")
OPTIONAL_REASON = Param("reason", "text", required=False)
OPINION = Param("opinion", "text", required=False)
#: 自评: the manual asks for it with the program choice; a choice without one is refused.
SELF_EVALUATION = Param("self_evaluation", "text")

EVENTS: dict[str, Event] = {
    "enroll": Event("纳入本周期考核", "enrol in the cycle"),
    "cancel_enrollment": Event("取消参加考核", "cancel the enrolment", (OPTIONAL_REASON,)),
    "submit_info": Event("确认个人信息", "confirm personal details", open=True),
    "approve_info": Event("审核通过个人信息", "approve the details", (OPINION,)),
    "reject_info": Event("驳回个人信息", "reject the details", (REASON,)),
    "confirm_registration": Event("复核通过（报名成功）", "confirm the registration", (OPINION,)),
    "reject_registration": Event("驳回报名", "reject the registration", (REASON,)),
    "choose_simple": Event(
        "申请简易程序并自评", "choose the simple program",
        (Param("condition", "condition"), SELF_EVALUATION),
    ),
    "choose_general": Event("选择一般程序并自评", "choose the general program", (SELF_EVALUATION,)),
    "approve_program": Event(
        "评定工作成绩、职业道德", "evaluate work and ethics",
        (Param("work_performance", "pass_fail"), Param("ethics", "pass_fail"), OPINION),
    ),
    "reject_program": Event("驳回考核程序", "reject the program application", (REASON,)),
    "confirm_program": Event("复核工作成绩、职业道德", "confirm the evaluation", (OPINION,)),
    "return_program": Event("驳回卫生机构重新评定", "return for re-evaluation", (REASON,)),
    "refuse_simple": Event("驳回简易程序申请", "refuse the simple program", (REASON,)),
    "apply_exemption": Event(
        "申请免考", "apply for an exemption",
        (Param("reason_id", "reason_id"), Param("proof", "text", required=False)),
    ),
    "approve_exemption": Event("通过免考申请", "approve the exemption", (OPINION,)),
    "reject_exemption": Event(
        "驳回免考申请", "reject the exemption", (Param("mode", "rejection_mode"), REASON)
    ),
    "record_score": Event("记录测评成绩", "record a test score", (Param("test", "test"), Param("score", "score"))),
    "grade": Event("评定考核结果", "grade the result", (OPINION,)),
    "request_deferral": Event("申请延期考核", "request a deferral", (REASON,)),
    "approve_deferral": Event("同意延期考核", "approve the deferral", (OPINION,)),
    "reject_deferral": Event("驳回延期考核", "reject the deferral", (REASON,)),
    "resume": Event("参加补考", "resume for the make-up exam"),
    "close_first_round": Event("首轮考核结束", "close the first round", sweep=True),
    "close_makeup": Event("补考结束", "close the make-up", sweep=True),
    "close_reexam": Event("再次考核结束", "close the re-exam", sweep=True),
    "mark_suspected": Event("标记疑似作弊", "mark as suspected of cheating", (OPTIONAL_REASON,)),
    "unmark_suspected": Event("撤销疑似作弊标记", "lift the suspected-cheating mark", (OPTIONAL_REASON,)),
    "discipline": Event(
        "违纪处理", "find a breach of exam discipline", (Param("finding", "finding"), REASON)
    ),
    "request_assistance": Event("申请年轻医师从旁指导", "ask for assisted testing", (OPTIONAL_REASON,)),
    "approve_assistance": Event("同意从旁指导", "approve assisted testing", (OPINION,)),
    "admin_exit": Event("驳回到退出当前周期", "send back out of the cycle", (REASON,)),
    "admin_rechoose": Event("驳回到重新选择程序", "send back to choose the program again", (REASON,)),
    "suspend": Event("暂停执业", "suspend practice", (Param("months", "months"),)),
    "confirm_reexam": Event("确认再次考核名单", "list for the re-exam"),
    # 违规 (art. 27), 复核申请 (art. 24), 变更卫生机构 (SPEC §1)
    "record_violation": Event(
        "认定违规行为（考核不合格）", "record a violation (unqualified)", (Param("finding", "violation"), REASON)
    ),
    "request_appeal": Event("申请复核", "appeal the result", (REASON,)),
    "uphold_appeal": Event("复核：变更考核结果", "uphold the appeal", (OPINION,)),
    "dismiss_appeal": Event("复核：维持考核结果", "dismiss the appeal", (OPINION,)),
    "correct_score": Event(
        "复核：更正测评成绩", "correct a score (an upheld appeal)",
        (Param("test", "test"), Param("score", "score"), REASON),
    ),
    "change_institution": Event(
        "变更卫生机构", "change the doctor's institution",
        (Param("institution", "id"), Param("previous", "id", required=False)),
        via="change_institution",
    ),
}
