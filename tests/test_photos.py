"""Photo review (监考照片, 违纪处理记录, 向社会公布名单), read from the scenario the manual describes.

The scenario sends three attempts' photos (D1 and D2 at 青秀区's H1, assessed by agency A1;
D3 at 兴宁区's H2, assessed by A2) and the 青秀区 authority finds cheating in D1's.
Each reader sees only the doctors of its jurisdiction.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest

import renew_fsm
from renew_fsm import Actor, Refused
from renew_fsm.lists import to_xlsx
from renew_fsm.photos import discipline_records, photo_list, published_list, published_sheet, submit_photos
from renew_fsm.replay import replay_file
from renew_fsm.verify import verify

SCENARIO = (
    Path(__file__).resolve().parents[1]
    / "examples"
    / "scenarios"
    / "proctoring_photos_are_sent_per_attempt_and_reviewed_within_jurisdiction.jsonl"
)


@pytest.fixture
def reviewed(url: str) -> renew_fsm.Engine:
    engine = renew_fsm.open(url)
    replay_file(engine, SCENARIO)
    yield engine
    engine.close()


def cases(page) -> list[str]:
    return [r["case"] for r in page.rows]


@pytest.mark.parametrize(
    ("actor", "seen"),
    [
        (Actor("institution", "H1"), ["D1/business/1", "D2/business/1"]),
        (Actor("institution", "H2"), ["D3/humanities/2"]),
        (Actor("agency", "A1"), ["D1/business/1", "D2/business/1"]),
        (Actor("agency", "A2"), ["D3/humanities/2"]),
        (Actor("admin", "NN-QX"), ["D1/business/1", "D2/business/1"]),
        (Actor("admin", "NN-XX"), ["D3/humanities/2"]),
        (Actor("admin", "NN"), ["D1/business/1", "D2/business/1", "D3/humanities/2"]),
        (Actor("admin", "GX"), ["D1/business/1", "D2/business/1", "D3/humanities/2"]),
    ],
)
def test_each_reader_pages_through_its_own_doctors_photos(reviewed, actor, seen):
    assert cases(photo_list(reviewed, actor)) == seen


def test_doctors_and_the_testing_app_do_not_read_photos(reviewed):
    for actor in (Actor("doctor", "D1"), Actor("exam_system"), Actor("system")):
        with pytest.raises(Refused) as refused:
            photo_list(reviewed, actor)
        assert refused.value.code == "forbidden"


def test_lowest_similarity_filter_keeps_the_doubtful_attempts(reviewed):
    city = Actor("admin", "NN")
    # D1's attempt scored 61.5 overall but one photo matched only 42.5: its 最低相似度 is 42.5.
    assert cases(photo_list(reviewed, city, similarity_below=50)) == ["D1/business/1"]
    assert cases(photo_list(reviewed, city, similarity_below=60)) == ["D1/business/1", "D3/humanities/2"]
    assert cases(photo_list(reviewed, city, similarity_below=0)) == []
    with pytest.raises(Refused) as refused:
        photo_list(reviewed, city, similarity_below=101)
    assert refused.value.code == "bad_input"


def test_filters_by_region_institution_and_test(reviewed):
    city = Actor("admin", "NN")
    assert cases(photo_list(reviewed, city, region="NN-XX")) == ["D3/humanities/2"]
    assert cases(photo_list(reviewed, city, institution="H1")) == ["D1/business/1", "D2/business/1"]
    assert cases(photo_list(reviewed, city, test="humanities")) == ["D3/humanities/2"]
    # A filter wider than the jurisdiction does not widen it.
    assert cases(photo_list(reviewed, Actor("admin", "NN-QX"), region="NN")) == ["D1/business/1", "D2/business/1"]


def test_pages_follow_one_another_without_overlap(reviewed):
    city = Actor("admin", "NN")
    first = photo_list(reviewed, city, page_size=2)
    assert cases(first) == ["D1/business/1", "D2/business/1"] and first.next == "D2/business/1"
    second = photo_list(reviewed, city, page_size=2, after=first.next)
    assert cases(second) == ["D3/humanities/2"] and second.next is None


def test_a_row_carries_references_never_images(reviewed):
    row = photo_list(reviewed, Actor("agency", "A1"), page_size=1).rows[0]
    assert row["doctor"] == "D1" and row["lowest"] == 42.5 and row["state"] == "unqualified"
    assert [p["ref"] for p in row["photos"]] == [f"oss://gx-proctoring/2021/D1-b1-{n}.jpg" for n in (1, 2, 3)]


def test_photos_are_recorded_in_the_history_and_verify_clean(reviewed):
    records = reviewed.case_history("proctoring", "D1/business/1")
    assert [(r.event, r.role) for r in records] == [("submit_photos", "exam_system")]
    assert verify(reviewed).ok


def test_submit_photos_names_the_attempt_case(reviewed):
    reviewed.fire("D2", "record_score", Actor("exam_system"), {"test": "humanities", "score": 80})
    photo = {"ref": "oss://gx-proctoring/2021/D2-h1-1.jpg", "at": "2021-06-02T11:00:00+08:00"}
    view = submit_photos(reviewed, "D2", "humanities", 1, 88.0, [photo], Actor("exam_system"))
    assert (view.id, view.state, view.data["lowest"]) == ("D2/humanities/1", "captured", 88.0)


def test_discipline_records_list_the_finding_and_its_photos(reviewed):
    page = discipline_records(reviewed, Actor("admin", "NN"))
    assert [(r["doctor"], r["finding"], r["by"]) for r in page.rows] == [("D1", "cheating", "admin:NN-QX")]
    assert [p["case"] for p in page.rows[0]["photos"]] == ["D1/business/1"]
    assert discipline_records(reviewed, Actor("agency", "A2")).rows == []


def test_the_published_list_and_its_export(reviewed):
    from openpyxl import load_workbook

    assert [r["doctor"] for r in published_list(reviewed, Actor("admin", "GX")).rows] == ["D1"]
    assert published_list(reviewed, Actor("institution", "H2")).rows == []
    sheet = published_sheet(reviewed, Actor("admin", "GX"))
    book = load_workbook(io.BytesIO(to_xlsx(sheet, "向社会公布名单")))
    ws = book["向社会公布名单"]
    values = [[c.value for c in row] for row in ws.iter_rows()]
    assert values[0] == sheet.headers and values[1][:5] == ["D1", "医师D1", "H1", "青秀区人民医院", "作弊"]
    assert ws.freeze_panes == "A2" and all(c.font.bold for c in ws[1])
