"""The result notice (医师定期考核结果通知书): a printable page for a doctor with a final result.

HTML always; PDF through reportlab (pure Python; the Chinese text uses the
STSong-Light CID font every PDF reader carries, so no font file ships).
"""

from __future__ import annotations

import html
from typing import Any

import attrs

from .engine import Engine
from .errors import INVALID_TRANSITION, Refused
from .idcard import mask
from .model import Record
from .stats import PROGRAM_ZH, REASON_ZH

FINAL_RESULTS = {
    "qualified": "合格",
    "reexam_passed": "再次考核合格（本考核周期内不得评优、晋升）",
    "registration_cancelled": "再次考核不合格，注销注册，收回医师执业证书",
}


@attrs.frozen
class Notice:
    doctor: str
    name: str
    id_card: str
    institution: str
    program: str
    result: str
    reason: str | None
    date: str
    cycle: str
    period: str
    authority: str

    def fields(self) -> list[tuple[str, str]]:
        rows = [
            ("姓名", self.name),
            ("身份证号", self.id_card),
            ("执业机构", self.institution),
            ("考核周期", self.period),
            ("考核程序", self.program),
            ("考核结果", self.result),
        ]
        if self.reason:
            rows.append(("原因", self.reason))
        rows.append(("日期", self.date))
        return rows


def notice(engine: Engine, doctor: str) -> Notice:
    """The notice's content, or ``Refused`` when the doctor has no final result yet."""
    view = engine.state(doctor)
    if view.state not in FINAL_RESULTS:
        raise Refused(
            INVALID_TRANSITION,
            f"{doctor} has no final result yet (state {view.state}); a notice is printed for a final result",
            message_zh=f"医师 {doctor} 尚无最终考核结果（当前状态 {view.state}），不能打印结果通知书",
        )
    doc = engine.storage.get_doctor(doctor)
    assert doc is not None
    world, policy = engine.world(), engine.policy
    inst = world.institutions.get(doc.institution)
    records = engine.history(doctor)
    province = next((r for r in world.regions.values() if r.level == "province"), None)
    return Notice(
        doctor=doctor,
        name=doc.name,
        id_card=mask(doc.id_card),
        institution=inst.name if inst and inst.name else doc.institution,
        program=PROGRAM_ZH[view.instance.program],
        result=FINAL_RESULTS[view.state],
        reason=REASON_ZH.get(view.reason or "") if view.state == "registration_cancelled" else None,
        date=_result_date(records, view.state),
        cycle=policy.id,
        period=f"{policy.period.start} 至 {policy.period.end}",
        authority=(province.name if province and province.name else policy.policy.province) + "卫生健康委员会",
    )


def _result_date(records: list[Record], final: str) -> str:
    """The day the doctor reached their final result.

    Not the newest record's day: a mark or a lifted mark after the grade
    (allowed in a final state) would otherwise re-date the result.
    """
    reached = [r for r in records if r.to_state == final and r.from_state != final]
    return reached[-1].at[:10] if reached else (records[-1].at[:10] if records else "")


def to_html(n: Notice) -> str:
    rows = "\n".join(f"      <tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in n.fields())
    return f"""<!doctype html>
<html lang="zh-CN">
<head>
  <meta charset="utf-8">
  <title>医师定期考核结果通知书 — {html.escape(n.name)}</title>
  <style>
    body {{ font-family: "Noto Serif CJK SC", "SimSun", serif; margin: 3cm 2.5cm; }}
    h1 {{ text-align: center; letter-spacing: .3em; font-size: 22pt; }}
    table {{ width: 100%; border-collapse: collapse; margin: 2em 0; font-size: 13pt; }}
    th, td {{ border: 1px solid #333; padding: .6em .8em; text-align: left; }}
    th {{ width: 25%; background: #f4f4f4; }}
    .seal {{ text-align: right; margin-top: 4em; line-height: 2; }}
    @media print {{ body {{ margin: 2cm; }} }}
  </style>
</head>
<body>
  <h1>医师定期考核结果通知书</h1>
  <p>{html.escape(n.name)}：</p>
  <p>你在 {html.escape(n.period)} 考核周期的医师定期考核结果如下。</p>
  <table>
{rows}
  </table>
  <div class="seal">{html.escape(n.authority)}<br>{html.escape(n.date)}</div>
</body>
</html>
"""


def to_pdf(n: Notice) -> bytes:
    """The same notice as a one-page A4 PDF (needs ``pip install 'renew_fsm[pdf]'``)."""
    import io

    from reportlab.lib.pagesizes import A4
    from reportlab.lib.units import cm
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.pdfgen import canvas

    pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))
    buffer = io.BytesIO()
    page = canvas.Canvas(buffer, pagesize=A4)
    page.setTitle(f"医师定期考核结果通知书 {n.name}")
    width, height = A4
    page.setFont("STSong-Light", 20)
    page.drawCentredString(width / 2, height - 3 * cm, "医师定期考核结果通知书")
    page.setFont("STSong-Light", 12)
    y = height - 5 * cm
    page.drawString(2.5 * cm, y, f"{n.name}：")
    y -= 0.8 * cm
    page.drawString(3.2 * cm, y, f"你在 {n.period} 考核周期的医师定期考核结果如下。")
    y -= 1.2 * cm
    for label, value in n.fields():
        page.rect(2.5 * cm, y - 0.35 * cm, 4 * cm, 1 * cm)
        page.rect(6.5 * cm, y - 0.35 * cm, width - 9 * cm, 1 * cm)
        page.drawString(2.8 * cm, y, label)
        page.drawString(6.8 * cm, y, value[:40])
        y -= 1 * cm
    y -= 2 * cm
    page.drawRightString(width - 2.5 * cm, y, n.authority)
    page.drawRightString(width - 2.5 * cm, y - 0.8 * cm, n.date)
    page.showPage()
    page.save()
    return buffer.getvalue()


def as_dict(n: Notice) -> dict[str, Any]:
    return attrs.asdict(n)
