"""A synthetic province: cities, counties, institutions of varied size, agencies, and doctors.

Sizes follow the number of doctors asked for; every name, date and id-card
number is drawn from the seed, so the same arguments give the same province.
"""

from __future__ import annotations

import bisect
import datetime as dt
import functools
import itertools
from collections.abc import Iterator
from typing import Any

from ..idcard import make
from ..ops import DoctorOp
from ..rules.policy import Policy
from .dice import Dice, mix, zipf_weights
from .profile import Profile

SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈"
    "姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
)
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍红建文辉力宁林波斌宇浩凯俊峰颖琳雪梅晨阳鹏飞婷慧"
CITY_NAMES = [
    "南宁",
    "柳州",
    "桂林",
    "梧州",
    "北海",
    "防城港",
    "钦州",
    "贵港",
    "玉林",
    "百色",
    "贺州",
    "河池",
    "来宾",
    "崇左",
]
KINDS = ["人民医院", "中医医院", "妇幼保健院", "卫生院", "社区卫生服务中心", "疾病预防控制中心"]


def doctor_id(n: int) -> str:
    return f"D{n:07d}"


def layout(doctors: int, profile: Profile) -> tuple[int, int, int]:
    """(cities, counties, institutions) for a province of ``doctors`` doctors."""
    p = profile.province
    institutions = max(3, doctors // max(1, p.doctors_per_institution))
    counties = max(1, institutions // max(1, p.institutions_per_county))
    cities = max(1, min(p.max_cities, counties))
    return cities, counties, institutions


def world_commands(doctors: int, seed: int, policy: Policy, profile: Profile) -> list[dict[str, Any]]:
    """The region, institution and agency commands of the province (SPEC §5 ops)."""
    cities, counties, institutions = layout(doctors, profile)
    cmds: list[dict[str, Any]] = [{"op": "region", "id": "P", "level": "province", "name": "模拟省"}]
    for c in range(cities):
        name = CITY_NAMES[c] if c < len(CITY_NAMES) else f"第{c + 1}市"
        cmds.append({"op": "region", "id": f"C{c:02d}", "level": "city", "parent": "P", "name": f"{name}市"})
    county_city = [k % cities for k in range(counties)]
    for k in range(counties):
        cmds.append(
            {
                "op": "region",
                "id": f"C{county_city[k]:02d}-{k:03d}",
                "level": "county",
                "parent": f"C{county_city[k]:02d}",
                "name": f"第{k + 1}区县",
            }
        )
    by_city: dict[int, list[str]] = {c: [] for c in range(cities)}
    industry: list[str] = []
    for i in range(institutions):
        k = i % counties
        county = f"C{county_city[k]:02d}-{k:03d}"
        hid = f"H{i:05d}"
        cmds.append(
            {
                "op": "institution",
                "id": hid,
                "region": county,
                "name": f"第{k + 1}区县{KINDS[i % len(KINDS)]}{i}",
            }
        )
        if Dice(seed, i, "industry").chance(profile.province.industry_agency_share):
            industry.append(hid)
        else:
            by_city[county_city[k]].append(hid)
    for c, members in by_city.items():
        cmds.append(
            {
                "op": "agency",
                "id": f"A{c:02d}",
                "region": f"C{c:02d}",
                "name": f"{CITY_NAMES[c] if c < len(CITY_NAMES) else f'第{c + 1}'}市考核机构",
                "assigned": members,
            }
        )
    cmds.append({"op": "agency", "id": "A-IND", "region": "P", "name": "省医师协会（行业组织）", "assigned": industry})
    return cmds


@functools.lru_cache(maxsize=4)
def _cumulative_sizes(institutions: int) -> tuple[float, ...]:
    """The institutions' running total of skewed sizes: made once per province, not once per page of
    doctors (the nation has 80,000 institutions and thousands of pages)."""
    return tuple(itertools.accumulate(zipf_weights(institutions)))


def doctor_commands(
    doctors: int, seed: int, policy: Policy, profile: Profile, start: int = 0, stop: int | None = None
) -> Iterator[DoctorOp]:
    """The ``doctor`` commands, streamed: ages, licences, years of practice and records drawn per doctor.

    The doctors are numbered institution by institution, as a registry exports them and a
    hospital enrols its staff: an institution's doctors are consecutive, their number its share
    of the skewed sizes.  Drawn at random for each doctor instead, every doctor added landed on a
    page of the ``doctors (institution)`` index of their own, which each commit wrote again:
    a large province wrote a third more to the disk and took longer.
    """
    _, _, institutions = layout(doctors, profile)
    cumulative = _cumulative_sizes(institutions)
    per_doctor = cumulative[-1] / doctors
    # Dates as day numbers: ``date ± timedelta(days=n)`` built a timedelta each time (parsing its
    # keyword arguments), two or three per doctor.
    end = policy.period.end.toordinal()
    date_of = dt.date.fromordinal
    d = profile.doctors
    for n in range(start, doctors if stop is None else min(stop, doctors)):
        dice = Dice(seed, n, "doctor")
        institution = bisect.bisect_left(cumulative, (n + 0.5) * per_doctor)
        age = dice.triangular(d.age_min, d.age_max + 1, d.age_mode)
        born = end - int(age * 365.25)
        start_age = dice.uniform(23, 28)
        since = born + int(start_age * 365.25)
        if since > end:
            since = end - 30
        birth = date_of(born)
        roll = dice.uniform(0, 1)
        record = "good" if roll < d.good_record_share else "bad" if roll > 1 - d.bad_record_share else "none"
        name = SURNAMES[mix(n + seed) % len(SURNAMES)] + GIVEN[mix(n * 7 + seed) % len(GIVEN)]
        if dice.chance(0.6):
            name += GIVEN[mix(n * 13 + seed) % len(GIVEN)]
        yield DoctorOp(
            doctor_id(n),
            f"H{min(institution, institutions - 1):05d}",
            name,
            # The region code's last four digits and the serial together are n: every simulated doctor
            # holds an id-card number of their own, as the registry requires (up to 10 million).
            make(f"45{n // 1000 % 10000:04d}", birth, n),
            "assistant" if dice.chance(d.assistant_share) else "physician",
            birth,
            date_of(since),
            record,
        )
