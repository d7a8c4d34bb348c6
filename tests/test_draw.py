"""d6tflow.draw: the flow as a Graphviz graph (DOT, SVG, PNG) or Mermaid text, each task coloured
by its state with why it is pending or stale. The DOT and Mermaid text need no ``dot`` program;
only the tests that render images skip without it (Debian: apt-get install graphviz)."""

from __future__ import annotations

import html
import re
import subprocess
import sys
from pathlib import Path

import pytest

import d6tflow
from d6tflow.errors import InvalidArgumentError

needs_dot = pytest.mark.usefixtures("dot")  # installed when missing and we may, else skipped
VALUE = {"raw": [1, 2, 3]}


class DGetData(d6tflow.tasks.TaskPickle):
    def run(self):
        self.save(list(VALUE["raw"]))


@d6tflow.requires(DGetData)
class DPrep(d6tflow.tasks.TaskPickle):
    scale = d6tflow.BoolParameter(default=True)

    def run(self):
        self.save([x / 10 if self.scale else x for x in self.inputLoad()])


@d6tflow.requires(DPrep)
class DTrain(d6tflow.tasks.TaskPickle):
    model = d6tflow.Parameter(default="ols")

    def run(self):
        self.save(sum(self.inputLoad()))


def nodes(source: str) -> dict[str, dict[str, str]]:
    """``{first label line: attributes}`` of the DOT text."""
    found = {}
    for node_id, attrs in re.findall(r"^\s*(t\d+) \[(.*)\]$", source, re.M):
        values = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', attrs))
        values["id"] = node_id
        found[values["label"].split("\\n")[0]] = values
    return found


def edges(source: str) -> set[tuple[str, str]]:
    return set(re.findall(r"^\s*(t\d+) -> (t\d+)$", source, re.M))


def stale_flow() -> None:
    """DGetData complete, DPrep stale (its input changed), DTrain(model='gbm') pending."""
    d6tflow.run(DTrain(), execution_summary=False)
    VALUE["raw"] = [4, 5, 6]
    try:
        d6tflow.run(DGetData(), forced_all=True, execution_summary=False)
    finally:
        VALUE["raw"] = [1, 2, 3]


def test_dot_text_colours_each_task_by_state_and_its_tooltip_says_why():
    stale_flow()
    found = nodes(d6tflow.draw(DTrain(model="gbm")).source)
    assert set(found) == {"DGetData", "DPrep", "DTrain"}
    assert found["DGetData"]["label"] == "DGetData\\nCOMPLETE"
    assert found["DGetData"]["fillcolor"] == "#c8e6c9"  # green
    assert found["DPrep"]["label"] == "DPrep\\nscale=True\\nSTALE"
    assert found["DPrep"]["fillcolor"] == "#ffe0b2"  # orange
    assert found["DPrep"]["tooltip"].startswith("DPrep-{'scale': 'True'}\\nSTALE: ")
    assert "DGetData" in found["DPrep"]["tooltip"]  # the upstream output that changed
    assert found["DTrain"]["label"] == "DTrain\\nscale=True\\nmodel=gbm\\nPENDING"
    assert found["DTrain"]["fillcolor"] == "#bbdefb"  # blue
    assert found["DTrain"]["tooltip"].endswith("PENDING: parameters new")


def test_arrows_point_from_a_task_to_the_tasks_that_use_its_output():
    picture = d6tflow.draw([DTrain(model="a"), DTrain(model="b")])
    found = nodes(picture.source)
    ids = {v["id"]: v["label"] for v in found.values()}
    assert len(re.findall(r"^\s*t\d+ \[", picture.source, re.M)) == 4  # DPrep and DGetData once
    labels = {(ids.get(a, a), ids.get(b, b)) for a, b in edges(picture.source)}
    assert ("DGetData\\nPENDING", "DPrep\\nscale=True\\nPENDING") in labels
    assert len(edges(picture.source)) == 3


def test_parameter_values_with_backslashes_and_quotes_stay_literal_in_dot():
    class Odd(d6tflow.tasks.TaskPickle):
        where = d6tflow.Parameter(default='C:\\new "dir"')

    source = d6tflow.draw(Odd()).source
    assert 'label="Odd\\nwhere=C:\\\\new \\"dir\\"\\nPENDING"' in source


def test_mermaid_text_for_markdown_needs_no_graphviz():
    d6tflow.run(DGetData(), execution_summary=False)
    assert d6tflow.draw(DPrep(scale=False), format="mermaid") == (
        "flowchart TD\n"
        '    t0["DGetData<br/>COMPLETE"]:::complete\n'
        '    t1["DPrep<br/>scale=False<br/>PENDING"]:::pending\n'
        "    t0 --> t1\n"
        "    classDef complete fill:#c8e6c9,stroke:#2e7d32\n"
        "    classDef pending fill:#bbdefb,stroke:#1565c0\n"
        "    classDef stale fill:#ffe0b2,stroke:#ef6c00\n"
    )


def test_mermaid_escapes_characters_that_would_end_a_label():
    class Odd(d6tflow.tasks.TaskPickle):
        text = d6tflow.Parameter(default='a "b" <c> #d')

    text = d6tflow.draw(Odd(), format="mermaid")
    assert 't0["Odd<br/>text=a #quot;b#quot; #lt;c#gt; #35;d<br/>PENDING"]:::pending' in text


def test_draw_takes_a_workflow_and_a_workflow_multi():
    flow = d6tflow.Workflow(DTrain, {"model": "gbm"})
    assert "model=gbm" in d6tflow.draw(flow).source
    flows = d6tflow.WorkflowMulti(DTrain, {"model": ["a", "b", "c"]})
    found = nodes(d6tflow.draw(flows).source)
    assert len(re.findall(r"^\s*t\d+ \[", d6tflow.draw(flows).source, re.M)) == 5
    assert set(found) == {"DGetData", "DPrep", "DTrain"}


def test_an_unknown_format_is_refused_with_the_formats_to_use():
    with pytest.raises(InvalidArgumentError, match=r"format='jpgg'.*'svg'.*'mermaid'"):
        d6tflow.draw(DTrain(), format="jpgg")


def test_without_the_graphviz_package_draw_names_the_extra_and_mermaid_still_works(tmp_path):
    # A real process in which `import graphviz` fails (None in sys.modules makes it raise).
    script = """
import sys
sys.modules["graphviz"] = None
import d6tflow

class T(d6tflow.tasks.TaskPickle):
    pass

print(d6tflow.draw(T(), format="mermaid").splitlines()[1])
try:
    d6tflow.draw(T())
except d6tflow.errors.MissingDependencyError as e:
    print(e)
"""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path, timeout=60
    )
    assert done.returncode == 0, done.stderr
    mermaid, error = done.stdout.splitlines()
    assert mermaid == '    t0["T<br/>PENDING"]:::pending'
    assert "pip install 'd6tflow[draw]'" in error and "apt-get install graphviz" in error


@needs_dot
def test_svg_has_a_box_per_task_with_its_state_and_the_reason_as_tooltip():
    stale_flow()
    svg = d6tflow.draw(DTrain(model="gbm")).pipe(encoding="utf-8")
    assert svg.count('class="node"') == 3
    texts = re.findall(r"<text[^>]*>([^<]*)</text>", svg)
    assert texts == ["DGetData", "COMPLETE", "DPrep", "scale=True", "STALE", "DTrain",
                     "scale=True", "model=gbm", "PENDING"]  # fmt: skip
    tooltips = [html.unescape(t) for t in re.findall(r'xlink:title="([^"]*)"', svg)]
    assert "DTrain-{'scale': 'True', 'model': 'gbm'}\nPENDING: parameters new" in tooltips
    assert 'fill="#ffe0b2"' in svg


@needs_dot
def test_png_is_an_image(tmp_path):
    written = d6tflow.draw(DTrain(), format="png").render(tmp_path / "flow")
    assert Path(written).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
