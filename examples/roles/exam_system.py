"""测评系统 — what the testing app reports (医学人文 and 业务水平 scores), as library calls.

    python examples/roles/exam_system.py

The app records each attempt with ``record_score``; the doctor moves on by
itself once the tests are complete.  A day's uploads go through ``fire_many``.
"""

from __future__ import annotations

from _province import AGENCY, COUNTY, EXAM, at, province, show, testing

from renew_fsm import Fire, Refused
from renew_fsm.photos import photo_list, submit_photos


def main() -> None:
    engine = province()
    testing(engine, "D1", "general")  # 业务水平 (1 attempt) + 医学人文 (up to 10, best counts)
    testing(engine, "D2", "simple")  # 医学人文 only
    testing(engine, "D4", "general")
    day = at("2021-06-02")

    print("首轮考核 — one attempt at the business test; humanities until passed or 10 attempts are used")
    show(engine.fire("D1", "record_score", EXAM, {"test": "business", "score": 72}, at=day), "business 72")
    show(engine.fire("D1", "record_score", EXAM, {"test": "humanities", "score": 58}, at=day), "humanities 58")
    show(engine.fire("D1", "record_score", EXAM, {"test": "humanities", "score": 83}, at=day), "humanities 83")

    print("监考照片 — each scored attempt's photo references (never the images) and the face similarity")
    photos = [
        {"ref": "oss://gx-proctoring/2021/D1-b1-1.jpg", "at": "2021-06-02T09:05:00+08:00", "similarity": 93.0},
        {"ref": "oss://gx-proctoring/2021/D1-b1-2.jpg", "at": "2021-06-02T09:31:00+08:00", "similarity": 41.5},
    ]
    sent = submit_photos(engine, "D1", "business", 1, 88.0, photos, EXAM, at=day)
    print(f"   {sent.id}: {sent.state}, 最低相似度 {sent.data['lowest']}")
    doubtful = photo_list(engine, AGENCY, similarity_below=60)
    print("   the agency checks the doubtful ones first:", [(r["case"], r["lowest"]) for r in doubtful.rows])
    print("   【处理】 is the authority's discipline, from the same list (here: not a finding)")
    assert photo_list(engine, COUNTY, similarity_below=60).rows == doubtful.rows

    print("refusals: outside the window, a test the program does not sit, a second business attempt")
    for doctor, data, when in (
        ("D2", {"test": "humanities", "score": 90}, at("2021-07-01")),
        ("D2", {"test": "business", "score": 90}, day),
        ("D4", {"test": "business", "score": 101}, day),
    ):
        try:
            engine.fire(doctor, "record_score", EXAM, data, at=when)
        except Refused as refused:
            print(f"   {doctor} {data}: {refused.code}/{refused.rule}: {refused.message}")

    print("the testing app's queue: who is still sitting a test")
    print("   ", [(i.doctor, i.state) for i in engine.work_queue(EXAM, at=day).items])
    print("a day's uploads in one batch: one result per command, in order")
    results = engine.fire_many(
        [
            Fire("D2", "record_score", EXAM, {"test": "humanities", "score": 91}, day),
            Fire("D4", "record_score", EXAM, {"test": "business", "score": 55}, day),
            Fire("D4", "record_score", EXAM, {"test": "business", "score": 80}, day),  # refused: one attempt
            Fire("D4", "record_score", EXAM, {"test": "humanities", "score": 77}, day),
        ]
    )
    for result in results:
        print("   ", result if not isinstance(result, Refused) else f"refused {result.rule}: {result.message}")
    assert engine.state("D1").state == "general.awaiting_grade"
    assert isinstance(results[2], Refused) and results[2].rule == "attempts_exhausted"
    engine.close()


if __name__ == "__main__":
    main()
