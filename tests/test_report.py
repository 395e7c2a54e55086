"""The cycle report (``renew_fsm.report``): one offline HTML file with the screens, the stages day by day
across the windows, and the refusals a run counted — opened in a real browser to see the chart drew."""

from __future__ import annotations

import datetime as dt
import itertools
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import A1, EXAM, at, doctor_cmd, make_engine, register, to_testing

import renew_fsm
from renew_fsm.report import COLOURS, Refusals, render, report_days, timeline
from renew_fsm.stats import STAGES
from renew_fsm.stats import stage as stage_of
from renew_fsm.timeline import day_end, instances_at

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
NEEDS_CHROMIUM = pytest.mark.skipif(
    CHROMIUM is None and not os.environ.get("CI"), reason="chromium (Debian's package) is installed by .ci/run"
)
JULY_2 = dt.date(2021, 7, 2)


@pytest.fixture
def moving(url: str) -> renew_fsm.Engine:
    """D1 registered on 04-20, tested from 06-02, graded on 07-01; D2 registered on 04-20; D3 never moves;
    D4 at an institution of a city whose name is markup."""
    e = make_engine(url, [doctor_cmd(f"D{n}", serial=n) for n in (1, 2, 3)])
    e.apply({"op": "region", "id": "BS", "level": "city", "parent": "GX", "name": "<script>alert(1)</script>"})
    e.apply({"op": "region", "id": "BS-1", "level": "county", "parent": "BS", "name": "右江区"})
    e.apply({"op": "institution", "id": "H9", "region": "BS-1", "name": "右江区医院"})
    e.apply(doctor_cmd("D4", "H9", serial=4))
    to_testing(e, "D1")
    register(e, "D2")
    e.fire("D1", "record_score", EXAM, {"test": "business", "score": 70}, at=at("2021-06-02"))
    e.fire("D1", "record_score", EXAM, {"test": "humanities", "score": 70}, at=at("2021-06-03"))
    e.fire("D1", "grade", A1, at=at("2021-07-01"))
    return e


def test_the_days_run_across_the_windows_and_stop_at_today(moving: renew_fsm.Engine) -> None:
    days = report_days(moving.policy)
    assert days[0] == dt.date(2021, 4, 16) and days[-1] == dt.date(2021, 12, 1)  # 04-19 … 11-28, three days more
    assert all((b - a).days == 1 for a, b in itertools.pairwise(days))
    assert report_days(moving.policy, JULY_2)[-1] == JULY_2  # the days to come have no counts yet


def test_the_stages_each_day_are_rebuilt_from_the_history(moving: renew_fsm.Engine) -> None:
    days = [dt.date(2021, 4, 19), dt.date(2021, 4, 20), dt.date(2021, 6, 30), dt.date(2021, 7, 1)]
    line = timeline(moving, days)
    assert line.days == days and set(line.counts) == set(STAGES)
    assert line.counts["未纳入"] == [4, 2, 2, 2]  # D3, D4 never move
    assert line.counts["报名"] == [0, 1, 1, 1]  # D2
    assert line.counts["测评/免考"] == [0, 1, 0, 0]  # D1 in the first round
    assert line.counts["待评定"] == [0, 0, 1, 0]  # … awaiting the grade after it closed
    assert line.counts["合格"] == [0, 0, 0, 1]
    for index in range(len(days)):  # every doctor stands somewhere every day
        assert sum(counts[index] for counts in line.counts.values()) == 4


def test_the_days_count_each_doctor_where_the_rebuilt_instance_stands(tmp_path: Path) -> None:
    """The report reads each record's state instead of rebuilding an instance per day: the two agree,
    on every day of a simulated cycle."""
    from renew_fsm.simulate import simulate

    engine = renew_fsm.open(str(tmp_path / "sim.db"))
    simulate(engine, doctors=200, seed=11)
    days = report_days(engine.policy)
    rebuilt = {name: [0] * len(days) for name in STAGES}
    for _doctor, instances in instances_at(engine, [day_end(engine.policy, d) for d in days]):
        for index, instance in enumerate(instances):
            rebuilt[stage_of(instance.state)][index] += 1
    line = timeline(engine, days)
    assert line.counts == rebuilt
    assert len({tuple(c) for c in rebuilt.values() if any(c)}) >= 5  # a cycle that moved, not a flat one
    engine.close()


def series(page: str) -> dict[str, list[tuple[float, float]]]:
    """Each stage's line in the chart: its points."""
    found = {}
    for stage, d in re.findall(r'<path class="series" data-stage="([^"]+)" d="([^"]+)"', page):
        found[stage] = [tuple(map(float, p.split(","))) for p in re.findall(r"[ML]([\d.]+,[\d.]+)", d)]
    return found


def test_the_page_is_one_self_contained_file(moving: renew_fsm.Engine) -> None:
    page = render(moving, until=JULY_2)
    # Nothing fetched when it is opened: no script, stylesheet, image or font from elsewhere.
    assert not re.search(r"<script|<link|<img|src=|@import|url\(", page, re.I)
    assert re.findall(r"https?://[^\"' ]+", page) == ["http://www.w3.org/2000/svg"]
    # A name typed into the registry is shown, never run.
    assert "<script>alert" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "考核进度统计" in page and "考核结果统计" in page and "合计" in page


def test_the_chart_draws_a_line_per_stage_and_the_windows_under_the_axis(moving: renew_fsm.Engine) -> None:
    page = render(moving, until=JULY_2)
    lines = series(page)
    assert set(lines) == {"未纳入", "报名", "测评/免考", "待评定", "合格"}  # the stages someone stood at
    days = report_days(moving.policy, JULY_2)
    assert all(len(points) == len(days) for points in lines.values())
    # Higher on the page is more doctors: 合格 rises on its last day, 待评定 falls back to the axis.
    qualified, awaiting = lines["合格"], lines["待评定"]
    assert qualified[-1][1] < qualified[0][1] and awaiting[-1][1] == awaiting[0][1]
    drawn = re.findall(r'class="window" data-window="(\w+)"', page)
    assert drawn == ["registration", "first_round", "grading"]  # the windows up to 07-02
    assert "报名 04-19–05-28" in page and "延期申请截止 05-30" in page


def test_refusals_say_the_store_keeps_none_and_show_what_a_run_counted(moving: renew_fsm.Engine) -> None:
    alone = render(moving, until=JULY_2)
    assert "被拒绝的命令不写入任何记录" in alone and "no run's refusals" in alone
    samples = [
        "D7 grade: out_of_window window_open 考核窗口已关闭",
        "D8 grade: out_of_window window_open 考核窗口已关闭",
        "D9 enroll: conflict  another write won",
    ]
    counted = Refusals(12, samples)
    assert counted.by_rule() == [("out_of_window", "window_open", 2), ("conflict", "", 1)]
    page = render(moving, counted, until=JULY_2)
    assert "<b>12</b>" in page and "<td>window_open</td><td class='n'>2</td>" in page


# -- the commands -----------------------------------------------------------------------------------------


def cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200"}
    env.pop("RENEW_FSM_DB", None)
    return subprocess.run(["renew-fsm", *args], capture_output=True, text=True, env=env, timeout=300, cwd=cwd)


def test_report_writes_the_file_and_refuses_a_missing_store(tmp_path: Path) -> None:
    db = tmp_path / "cycle.db"
    e = make_engine(str(db), [doctor_cmd("D1")])
    to_testing(e, "D1")
    e.close()
    result = cli("report", "--db", str(db), "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    page = (tmp_path / "cycle-report.html").read_text(encoding="utf-8")
    assert "周期报告" in page and '<svg xmlns="http://www.w3.org/2000/svg" id="timeline"' in page
    missing = cli("report", "--db", str(tmp_path / "none.db"), "--out", str(tmp_path / "r.html"))
    assert missing.returncode == 1 and "Traceback" not in missing.stderr and not (tmp_path / "r.html").exists()


@pytest.fixture(scope="module")
def simulated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess[str]]:
    folder = tmp_path_factory.mktemp("sim")
    report = folder / "cycle-report.html"
    args = ("simulate", "--doctors", "300", "--db", str(folder / "s.db"), "--json", "--report", str(report))
    result = cli(*args)
    return report, result


def test_simulate_writes_the_report_with_its_refusals(simulated: tuple[Path, subprocess.CompletedProcess[str]]) -> None:
    report, result = simulated
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)  # --json prints the figures alone
    page = report.read_text(encoding="utf-8")
    assert f"本次模拟中未按计划被拒绝的命令：<b>{summary['refusals']:,}</b>" in page
    assert f"医师 <span class='en'>doctors</span><b>{summary['doctors']:,}</b>" in page
    assert {"合格", "待评定", "测评/免考"} <= set(series(page))
    # The chart's numbers: on the last day the cycle stands as the run ended it.
    table = page.split("每日人数表", 1)[1]
    headers = re.findall(r"<th>([^<]+)</th>", table.split("</thead>", 1)[0])
    last = re.findall(r"<tr>(.*?)</tr>", table.split("<tbody>", 1)[1].split("</tbody>", 1)[0])[-1]
    counts = dict(zip(headers, re.findall(r"<td[^>]*>([^<]+)</td>", last), strict=True))
    assert int(counts["合格"].replace(",", "")) == summary["by_state"]["qualified"]
    assert sum(int(v.replace(",", "")) for k, v in counts.items() if k != "日期") == summary["doctors"]


def test_simulate_refuses_a_report_it_could_not_write_before_it_runs(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    result = cli("simulate", "--doctors", "20", "--db", str(db), "--report", str(tmp_path / "no" / "r.html"))
    assert result.returncode == 1 and "there is no folder" in result.stderr and "Traceback" not in result.stderr
    assert not db.exists()


def headless(*args: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None, "chromium is missing: .ci/run installs Debian's package"
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", f"--user-data-dir={tmp_path / 'p'}"]
    return subprocess.run([CHROMIUM, *flags, *args], capture_output=True, text=True, timeout=120)


@NEEDS_CHROMIUM
def test_chromium_opens_the_report_and_draws_the_chart(
    simulated: tuple[Path, subprocess.CompletedProcess[str]], tmp_path: Path
) -> None:
    from PIL import Image

    report, result = simulated
    assert result.returncode == 0, result.stderr
    # The browser's own DOM: the SVG parsed (not dropped as bad markup) with every series in it.
    dom = headless("--dump-dom", report.as_uri(), tmp_path=tmp_path)
    assert dom.returncode == 0, dom.stderr[-2000:]
    expected = series(report.read_text(encoding="utf-8"))
    assert set(series(dom.stdout)) == set(expected) and len(expected) >= 4
    # And it painted them: the screenshot holds the colour of each line that rises well above the others
    # far more than its legend swatch (18 × 3 pixels) alone would give.
    shot = tmp_path / "report.png"
    painted = headless(f"--screenshot={shot}", "--window-size=1200,1000", report.as_uri(), tmp_path=tmp_path)
    assert painted.returncode == 0 and shot.exists(), painted.stderr[-2000:]
    colours = pixel_counts(Image.open(shot).convert("RGB"))
    for stage in ("未纳入", "测评/免考", "待评定", "合格"):
        colour = COLOURS[STAGES.index(stage)]
        rgb = tuple(int(colour[i : i + 2], 16) for i in (1, 3, 5))
        assert colours.get(rgb, 0) >= 300, (stage, colour, colours.get(rgb, 0))


def pixel_counts(image: object) -> dict[tuple[int, int, int], int]:
    """How many pixels of each colour the image has."""
    return {rgb: n for n, rgb in image.getcolors(maxcolors=1 << 24)}  # type: ignore[attr-defined]
