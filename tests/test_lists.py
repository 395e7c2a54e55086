"""卫生机构管理, 医师管理 / 医师信息列表 and their export, read by each role within its jurisdiction.

The province of the scenario: 青秀区's H1 (D1–D3) and 兴宁区's H2 (D4, D5) are assessed by
南宁's agency A1; 秀峰区's H3 (D6) by 桂林's A2.  Each doctor's 执业类别 is a profile field
(``practice_category``) until the registry column arrives.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest

import renew_fsm
from renew_fsm import Actor, Refused
from renew_fsm.lists import doctor_list, doctor_profile, doctor_sheet, institution_list, to_xlsx
from renew_fsm.replay import replay_file

SCENARIO = (
    Path(__file__).resolve().parents[1]
    / "examples"
    / "scenarios"
    / "doctors_are_enrolled_and_cancelled_by_selection_from_the_list.jsonl"
)


@pytest.fixture
def listed(url: str) -> renew_fsm.Engine:
    engine = renew_fsm.open(url)
    replay_file(engine, SCENARIO)
    yield engine
    engine.close()


def ids(page) -> list[str]:
    return [r["doctor"] for r in page.rows]


@pytest.mark.parametrize(
    ("actor", "seen"),
    [
        (Actor("institution", "H1"), ["D1", "D2", "D3"]),
        (Actor("institution", "H3"), ["D6"]),
        (Actor("agency", "A1"), ["D1", "D2", "D3", "D4", "D5"]),
        (Actor("agency", "A2"), ["D6"]),
        (Actor("admin", "NN-XX"), ["D4", "D5"]),
        (Actor("admin", "NN"), ["D1", "D2", "D3", "D4", "D5"]),
        (Actor("admin", "GX"), ["D1", "D2", "D3", "D4", "D5", "D6"]),
    ],
)
def test_each_role_lists_its_own_doctors(listed, actor, seen):
    assert ids(doctor_list(listed, actor)) == seen


def test_doctors_and_the_system_do_not_list(listed):
    for actor in (Actor("doctor", "D1"), Actor("exam_system"), Actor("system")):
        with pytest.raises(Refused) as refused:
            doctor_list(listed, actor)
        assert refused.value.code == "forbidden"


def test_filters_narrow_and_never_widen(listed):
    gx = Actor("admin", "GX")
    assert ids(doctor_list(listed, gx, region="NN-XX")) == ["D4", "D5"]
    assert ids(doctor_list(listed, gx, institution="H1", states=["enrolled"])) == ["D3"]
    assert ids(doctor_list(listed, gx, states=["not_enrolled"])) == ["D5"]
    assert ids(doctor_list(listed, gx, practice_category="clinical")) == ["D1", "D3", "D5"]
    # the progress query by state, for a state no to-do list shows
    assert ids(doctor_list(listed, gx, states=["info_approved", "info_submitted"])) == ["D1", "D2"]
    assert ids(doctor_list(listed, Actor("admin", "NN-XX"), region="GX")) == ["D4", "D5"]
    assert ids(doctor_list(listed, Actor("institution", "H1"), institution="H2")) == []
    with pytest.raises(Refused) as refused:
        doctor_list(listed, gx, states=["no_such_state"])
    assert refused.value.code == "bad_input"


def test_pages_follow_one_another(listed):
    gx = Actor("admin", "GX")
    seen, after = [], None
    while True:
        page = doctor_list(listed, gx, page_size=4, after=after)
        seen += ids(page)
        if page.next is None:
            break
        after = page.next
    assert seen == ["D1", "D2", "D3", "D4", "D5", "D6"]
    with pytest.raises(Refused):
        doctor_list(listed, gx, page_size=0)


def test_institution_list_per_role(listed):
    def names(actor: Actor) -> list[str]:
        return [r["institution"] for r in institution_list(listed, actor).rows]

    assert names(Actor("admin", "GX")) == ["H1", "H2", "H3"]
    assert names(Actor("admin", "NN-QX")) == ["H1"]
    assert names(Actor("agency", "A1")) == ["H1", "H2"]
    assert names(Actor("institution", "H3")) == ["H3"]
    row = institution_list(listed, Actor("admin", "NN"), page_size=1).rows[0]
    assert (row["institution"], row["agency"], row["cycle_confirmed"]) == ("H1", "A1", False)


def test_institution_pages_follow_one_another(listed):
    gx = Actor("admin", "GX")
    first = institution_list(listed, gx, page_size=2)
    assert [r["institution"] for r in first.rows] == ["H1", "H2"] and first.next == "H2"
    rest = institution_list(listed, gx, page_size=2, after=first.next)
    assert [r["institution"] for r in rest.rows] == ["H3"] and rest.next is None


def test_a_selection_is_a_list_of_doctors(listed):
    from renew_fsm.lists import batch

    with pytest.raises(Refused) as refused:
        batch(listed, Actor("institution", "H1"), "enroll", "D1")
    assert refused.value.code == "bad_input"


def test_a_profile_for_whoever_covers_the_doctor(listed):
    profile = doctor_profile(listed, Actor("agency", "A1"), "D1")
    assert profile["registry"]["practice_category"] == "clinical"
    assert profile["state"]["state"] == "info_approved"
    assert [r["event"] for r in profile["history"]] == ["enroll", "submit_info", "approve_info"]
    assert doctor_profile(listed, Actor("doctor", "D1"), "D1")["registry"]["doctor"] == "D1"
    for outsider in (Actor("agency", "A2"), Actor("institution", "H2"), Actor("doctor", "D2"), Actor("admin", "GL")):
        with pytest.raises(Refused) as refused:
            doctor_profile(listed, outsider, "D1")
        assert refused.value.code == "forbidden"


def test_the_export_is_the_whole_filtered_list_as_an_office_opens_it(listed):
    from conftest import doctor_cmd
    from openpyxl import load_workbook

    # A name typed as a formula stays text in the export.
    listed.apply(doctor_cmd("D7", "H2", name="=1+1", serial=7))
    listed.fire("D7", "enroll", Actor("institution", "H2"))
    sheet = doctor_sheet(listed, Actor("agency", "A1"), states=["enrolled", "info_submitted"])
    book = load_workbook(io.BytesIO(to_xlsx(sheet, "医师信息列表")))
    ws = book["医师信息列表"]
    values = [[c.value for c in row] for row in ws.iter_rows()]
    assert values[0] == sheet.headers and [v[0] for v in values[1:]] == ["D2", "D3", "D4", "D7"]
    assert values[4][1] == "'=1+1"
    assert ws.freeze_panes == "A2" and all(c.font.bold for c in ws[1])
    assert all(c.data_type == "s" for row in ws.iter_rows() for c in row if isinstance(c.value, str))
    for index, header in enumerate(sheet.headers, 1):
        width = ws.column_dimensions[ws.cell(1, index).column_letter].width
        wide = sum(2 if ord(ch) > 0x2E80 else 1 for ch in header)
        assert min(40, wide + 2) <= width <= 40, (header, width)
