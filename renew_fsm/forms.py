"""The manual's forms, filled from the registry and the history: 附件1 医师定期考核延期考核申请表.

The form is what the doctor signs and the institution and the health authority
stamp (附件2: "提交书面申请由所在的医疗卫生机构审核盖章，并报送所属卫生健康部门审核批准").
It is filled from what the store knows — the registry's facts, the reason given
with ``request_deferral`` and the opinions recorded with ``approve_deferral`` /
``reject_deferral`` — and leaves blank what it does not, for the pen.

The id-card number is printed whole, unlike on a notice: the form is the
application the authority checks the doctor's identity against, kept in two
files (the institution's and the authority's), not a paper handed around.

性别, 资格证书编号, 执业证书编号 and 执业类别 are read with ``getattr``: the
registry fields are added to ``Doctor`` separately, and a store without them
prints blanks.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import attrs

from . import paper
from .engine import Engine
from .model import Doctor, Record

TEMPLATE = "deferral.html"

SEX_ZH = {"male": "男", "female": "女", "M": "男", "F": "女"}
#: 执业类别 (art. 5 of the 2007 Measures).
CATEGORY_ZH = {"clinical": "临床", "tcm": "中医", "dental": "口腔", "public_health": "公共卫生"}


@attrs.frozen
class Opinion:
    """An approval step of the form: what was said, by whom and when; blank until it is recorded."""

    text: str = ""
    date: str = ""


@attrs.frozen
class DeferralForm:
    doctor: str
    cycle: str
    name: str
    sex: str
    institution: str
    id_card: str
    qualification_no: str
    license_no: str
    license: str
    practice_category: str
    reason: str
    requested_on: str
    institution_opinion: Opinion
    authority_opinion: Opinion


def registry_field(doc: Doctor, name: str, labels: dict[str, str] | None = None) -> str:
    """A registry field that may not exist yet on ``Doctor`` (nor in an older store): blank when absent.

    Falls back to the doctor's profile (what ``submit_info`` or an information change stored).
    """
    value = getattr(doc, name, None)
    if value in (None, ""):
        value = (getattr(doc, "profile", None) or {}).get(name)
    if value in (None, ""):
        return ""
    text = str(value)
    return (labels or {}).get(text, text)


def deferral_form(engine: Engine, doctor: str) -> DeferralForm:
    """附件1 filled for ``doctor`` (``Refused`` ``not_found`` for an unknown doctor)."""
    engine.state(doctor)  # refuses an unknown doctor with the engine's own code
    doc = engine.storage.get_doctor(doctor)
    assert doc is not None
    return fill_deferral(engine, doc, engine.history(doctor))


def fill_deferral(engine: Engine, doc: Doctor, records: list[Record]) -> DeferralForm:
    world, policy = engine.world(), engine.policy
    place = world.institutions.get(doc.institution)
    reason, requested_on, by_institution, by_authority = "", "", Opinion(), Opinion()
    for rec in records:
        data = json.loads(rec.data or "{}")
        if rec.event == "request_deferral":
            # A new request starts a new form: earlier answers belong to the earlier request.
            reason, requested_on = data.get("reason", ""), rec.at[:10]
            by_institution, by_authority = Opinion(), Opinion()
        elif rec.event in ("approve_deferral", "reject_deferral"):
            said = "同意" if rec.event == "approve_deferral" else "不同意"
            words = data.get("opinion") or data.get("reason") or ""
            opinion = Opinion(words if words.startswith(said) else f"{said}。{words}" if words else said, rec.at[:10])
            if rec.role == "institution":
                by_institution = opinion
            elif rec.role == "admin":
                by_authority = opinion
    return DeferralForm(
        doctor=doc.id,
        cycle=policy.policy.zh,
        name=doc.name,
        sex=registry_field(doc, "sex", SEX_ZH),
        institution=place.name if place and place.name else doc.institution,
        id_card=doc.id_card,
        qualification_no=registry_field(doc, "qualification_no"),
        license_no=registry_field(doc, "license_no"),
        license={"physician": "执业医师", "assistant": "执业助理医师"}.get(doc.license, doc.license),
        practice_category=registry_field(doc, "practice_category", CATEGORY_ZH),
        reason=reason,
        requested_on=requested_on,
        institution_opinion=by_institution,
        authority_opinion=by_authority,
    )


def to_html(form: DeferralForm, template: str | Path | None = None) -> str:
    return paper.render(paper.template(TEMPLATE, template), form=form)


def to_pdf(form: DeferralForm, template: str | Path | None = None) -> bytes:
    base = Path(template).resolve().parent.as_uri() + "/" if template is not None else None
    return paper.to_pdf(to_html(form, template), base)


def as_dict(form: DeferralForm) -> dict[str, Any]:
    return attrs.asdict(form)
