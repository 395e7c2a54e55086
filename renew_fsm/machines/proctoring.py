"""Proctoring photos (监考照片) — one case per test attempt, its subject the doctor.

Read it next to the manual (卫生行政机构 2.2.8 考核过程监管; 考核机构 2.2.7 and 卫生机构 2.2.9
监考管理): the testing app (医师服务 App) takes photos at random while a doctor sits a test and
compares each face with the doctor's; after the attempt's score it sends the photos'
*references* (an object key or URL in the province's object store — never the images), their
capture times and the face-similarity score.  Agencies, institutions and authorities page
through them within their jurisdiction, the lowest similarity first (最低相似度); 【处理】 from
the list is the doctor's ``discipline`` event, and 违纪处理记录 / 向社会公布名单 are queries
(``renew_fsm.photos``).

The case id is ``<doctor>/<test>/<attempt>`` (``D1/humanities/2``), so a doctor's photos sit
together and an attempt's photos are sent once.
"""

from __future__ import annotations

from .dsl import Event, Machine, Param, State, Transition
from .vocabulary import EXAM

EVENTS: dict[str, Event] = {
    "submit_photos": Event(
        "上传监考照片", "send an attempt's proctoring photos",
        (Param("test", "test"), Param("attempt", "attempt"), Param("similarity", "score"), Param("photos", "photos")),
    ),
}

PROCTORING = Machine(
    "proctoring", "监考照片", "an attempt's proctoring photos",
    initial="new",
    states=[
        State("new", "未上传", "not sent"),
        State("captured", "已上传，供核对", "sent, to be checked", final=True),
    ],
    events=EVENTS,
    transitions=[
        Transition("submit_photos", "new", "captured", EXAM, guards="attempt_recorded", then="store_photos"),
    ],
)
