"""d6tflow.report: one self-contained HTML file with the flow's picture, a row per task (state,
why, last run, duration, output sizes, metadata) and the run history; checked in a real headless
Chromium (installed from Debian's packages when missing and we may)."""

from __future__ import annotations

import html
import re
import subprocess

import pytest
from tests.png_colours import colours

import d6tflow

COMPLETE_FILL = (0xC8, 0xE6, 0xC9)  # the picture's green (d6tflow.display.STATE_COLOURS)


class RGetData(d6tflow.tasks.TaskPickle):
    def run(self):
        self.save([1, 2, 3])


@d6tflow.requires(RGetData)
class RTrain(d6tflow.tasks.TaskPickle):
    model = d6tflow.Parameter(default="ols")

    def run(self):
        self.save(sum(self.inputLoad()) * 1000)
        self.metaSave({"score": 0.91, "model": self.model})


def table_rows(page: str, css_class: str) -> list[list[str]]:
    """The text of each cell of each body row of the table of ``css_class``."""
    table = re.search(rf'<table[^>]*class="[^"]*{css_class}[^"]*".*?</table>', page, re.S)
    assert table, f"no table {css_class}"
    body = re.search(r"<tbody>(.*)</tbody>", table.group(0), re.S).group(1)
    return [
        [
            html.unescape(re.sub(r"<[^>]+>", "", cell.replace("<br>", "\n"))).strip()
            for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
        ]
        for row in re.findall(r"<tr[^>]*>(.*?)</tr>", body, re.S)
    ]


def a_grid_half_run() -> d6tflow.WorkflowMulti:
    flows = d6tflow.WorkflowMulti(RTrain, {"model": ["ols", "gbm"]})
    flows.run(flow="model_ols", execution_summary=False)
    return flows


def test_report_has_a_row_per_task_with_state_duration_sizes_and_metadata(tmp_path):
    written = d6tflow.report(a_grid_half_run(), tmp_path / "report.html")
    assert written == tmp_path / "report.html"
    rows = table_rows(written.read_text(), "d6tflow-tasks")
    assert [(r[0], r[1], r[2]) for r in rows] == [
        ("RTrain-{'model': 'gbm'}", "PENDING", "parameters new"),
        ("RTrain-{'model': 'ols'}", "COMPLETE", ""),
        ("RGetData-{}", "COMPLETE", ""),
    ]
    gbm, ols, get_data = rows
    assert gbm[3:] == ["", "", "", ""]  # never ran: no run, no outputs, no metadata
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", ols[3])
    assert re.fullmatch(r"\d+\.\d{3} s", ols[4])
    size = (RTrain(model="ols").output().path).stat().st_size
    assert ols[5] == f"data: {size} bytes"
    assert ols[6] == "{'score': 0.91, 'model': 'ols'}"
    assert get_data[6] == ""  # saved no metadata


def test_report_history_lists_the_runs_on_record_newest_first(tmp_path):
    page = d6tflow.report(a_grid_half_run(), tmp_path / "report.html").read_text()
    history = table_rows(page, "d6tflow-history")
    assert [(r[1], r[2]) for r in history] == [("RTrain", "{'model': 'ols'}"), ("RGetData", "{}")]


def test_report_history_has_every_run_with_why_it_ran_and_its_metadata(tmp_path):
    d6tflow.run(RTrain(), execution_summary=False)
    d6tflow.run(RTrain(), forced=RTrain(), confirm=False, execution_summary=False)
    page = d6tflow.report(RTrain(), tmp_path / "r.html").read_text()
    runs = [r for r in table_rows(page, "d6tflow-history") if r[1] == "RTrain"]
    assert len(runs) == 2  # both runs, not only the current output
    assert all(r[6] == "{'score': 0.91, 'model': 'ols'}" for r in runs)
    assert runs[1][3] == "parameters new"  # the first run (newest first)


def test_report_history_can_come_from_the_caller(tmp_path):
    import pandas as pd

    given = pd.DataFrame({"run": ["r1"], "tasks": [2]})
    page = d6tflow.report(RTrain(), tmp_path / "r.html", history=given).read_text()
    assert table_rows(page, "d6tflow-history") == [["r1", "2"]]


def test_report_loads_nothing_from_the_network(tmp_path):
    page = d6tflow.report(a_grid_half_run(), tmp_path / "report.html").read_text()
    assert "<script" not in page and "<link" not in page and "<img" not in page
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)
    assert not re.search(r"url\(", page)


@pytest.mark.usefixtures("dot")
def test_report_embeds_the_picture_as_inline_svg(tmp_path):
    page = d6tflow.report(a_grid_half_run(), tmp_path / "report.html").read_text()
    svg = re.search(r"<svg.*?</svg>", page, re.S).group(0)
    assert svg.count('class="node"') == 3 and "<?xml" not in page


def test_without_dot_the_report_holds_the_graph_as_text_and_says_what_to_install(
    tmp_path, monkeypatch
):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))  # no dot program on this PATH
    page = d6tflow.report(RTrain(), tmp_path / "report.html").read_text()
    assert "<svg" not in page
    assert "apt-get install graphviz" in page
    assert "t0 -&gt; t1" in page  # the DOT text
    assert len(table_rows(page, "d6tflow-tasks")) == 2


# -- in a real browser ----------------------------------------------------------------------------


def headless(browser: str, *args: str) -> subprocess.CompletedProcess:
    command = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", *args]
    done = subprocess.run(command, capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    return done


@pytest.mark.slow
def test_report_renders_in_a_headless_browser(tmp_path, chromium):
    page = d6tflow.report(a_grid_half_run(), tmp_path / "report.html")
    url = page.resolve().as_uri()
    dom = headless(chromium, "--dump-dom", url).stdout.decode()
    assert len(re.findall(r"<svg", dom)) == 1
    assert len(table_rows(dom, "d6tflow-tasks")) == 3  # one row per task
    assert "<h1>d6tflow report</h1>" in dom
    shot = tmp_path / "report.png"
    headless(chromium, "--window-size=900,700", f"--screenshot={shot}", url)
    seen = colours(shot.read_bytes())
    assert len(seen) > 20  # text, boxes, badges: not a blank page
    assert seen[COMPLETE_FILL] > 1000  # the picture's green boxes are drawn
