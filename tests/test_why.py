"""d6tflow.why(): what exactly changed (a diff of the code, the parameters, the upstream outputs
and input files); d6tflow.accept(): keep outputs after a change of code that does not matter,
and never after a change of data."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from tests.user_modules import user_modules_in

import d6tflow
from d6tflow import TaskState
from d6tflow.errors import AcceptRefusedError
from d6tflow.graph import Graph

HELPERS = """
def factor():
    return 2
"""

FLOW = """
from pathlib import Path

import d6tflow
import whyhelpers

class Source(d6tflow.tasks.TaskPickle):
    input_files = ["raw.txt"]

    def run(self):
        self.save(int(Path("raw.txt").read_text()))

@d6tflow.requires(Source)
class Scaled(d6tflow.tasks.TaskPickle):
    def run(self):
        self.save(self.inputLoad() * whyhelpers.factor())

class Grid(d6tflow.tasks.TaskPickle):
    depth = d6tflow.IntParameter(default=1)
    rate = d6tflow.FloatParameter(default=0.1)

    def run(self):
        self.save(self.depth * self.rate)
"""


@pytest.fixture
def flow(tmp_path, monkeypatch):
    for modules in user_modules_in(tmp_path, monkeypatch):
        Path("raw.txt").write_text("3")
        modules.write("whyhelpers", HELPERS)
        modules.write("whyflow", FLOW)
        modules.flow = modules["whyflow"]
        yield modules


def state_of(task):
    return Graph([task]).states()[task]


def record_of(task):
    folder = Path(task.output().path).parent
    lines = [json.loads(x) for x in (folder / ".manifests.jsonl").read_text().splitlines()]
    return [r for r in lines if r.get("task_id") == task.task_id][-1]


# -- why ------------------------------------------------------------------------------------------


def test_why_shows_a_diff_of_the_code_that_changed(flow):
    d6tflow.run(flow.flow.Scaled(), execution_summary=False)
    flow.edit("whyhelpers", "return 2", "return 2 * 1  # the same, written otherwise")
    found = d6tflow.why(flow["whyflow"].Scaled())
    assert found.state == "STALE"
    assert found.reasons == ["code of whyhelpers.factor changed"]
    assert [c["member"] for c in found.code] == ["whyhelpers.factor"]
    diff = found.code[0]["diff"]
    assert "-    return 2\n" in diff and "+    return 2 * 1\n" in diff
    assert "# the same" not in diff  # comments are not code: the fingerprint never saw it
    text = str(found)
    assert text.startswith("Scaled() is STALE: code of whyhelpers.factor changed")
    assert "--- whyhelpers.factor (recorded)" in text and "+    return 2 * 1" in text
    assert found.to_dict()["code"] == found.code


def test_why_of_a_complete_task_says_there_is_nothing_to_rerun(flow):
    d6tflow.run(flow.flow.Scaled(), execution_summary=False)
    found = d6tflow.why(flow.flow.Scaled())
    assert (found.state, found.reasons, found.code, found.upstream) == ("COMPLETE", [], [], [])
    assert str(found) == "Scaled() is COMPLETE\nNothing changed that makes it rerun."


def test_why_names_the_parameters_that_differ_from_the_nearest_earlier_run(flow):
    grid = flow.flow.Grid
    d6tflow.run([grid(depth=1, rate=0.1), grid(depth=3, rate=0.5)], execution_summary=False)
    found = d6tflow.why(grid(depth=3, rate=0.7))
    assert found.state == "PENDING" and found.reasons == ["parameters new"]
    assert found.compared_with == grid(depth=3, rate=0.5).task_id
    assert found.params == {"rate": ["0.5", "0.7"]}
    assert "  rate: '0.5' -> '0.7'" in str(found)
    # A task that ran here with these parameters has nothing to compare.
    assert d6tflow.why(grid(depth=1, rate=0.1)).params == {}


def test_why_shows_the_input_file_and_upstream_output_that_changed_with_sizes(flow):
    d6tflow.run(flow.flow.Scaled(), execution_summary=False)
    Path("raw.txt").write_text("1234")
    found = d6tflow.why(flow.flow.Source())
    (change,) = found.inputs
    assert (change["path"], change["change"]) == ("raw.txt", "changed")
    assert (change["size"], change["recorded_size"]) == (4, 1)
    assert "Input file raw.txt changed: 4 bytes, modified " in str(found)
    assert "(was 1 bytes, modified " in str(found)

    d6tflow.run(flow.flow.Source(), execution_summary=False)  # its output changes
    found = d6tflow.why(flow.flow.Scaled())
    assert found.reasons == ["upstream Source output changed"]
    (upstream,) = found.upstream
    (output,) = upstream["outputs"]
    assert output["file"] == str(flow.flow.Source().output().path)
    assert output["size"] == os.path.getsize(output["file"])
    assert f"Upstream Source() output changed:\n  {output['file']}: " in str(found)


def test_why_says_an_upstream_task_runs_first(flow):
    d6tflow.run(flow.flow.Scaled(), execution_summary=False)
    Path("raw.txt").write_text("4")
    found = d6tflow.why(flow.flow.Scaled())
    assert found.upstream == [{"task": "Source()", "state": "STALE", "outputs": []}]
    assert "Upstream Source() is STALE: it runs first." in str(found)


# -- accept ---------------------------------------------------------------------------------------


def test_accept_keeps_the_outputs_after_a_change_of_code_and_nothing_reruns(flow):
    d6tflow.run(flow.flow.Scaled(), execution_summary=False)
    before = record_of(flow.flow.Scaled())
    module = flow.edit(
        "whyflow",
        "self.inputLoad() * whyhelpers",
        "whyhelpers.factor() and self.inputLoad() * whyhelpers",
    )
    assert state_of(module.Scaled()).reasons == ("code of Scaled.run changed",)

    assert d6tflow.accept(module.Scaled(), confirm=False) == [module.Scaled()]
    assert state_of(module.Scaled()).complete
    result = d6tflow.run(module.Scaled(), execution_summary=False)
    assert result.status == {module.Scaled(): TaskState.COMPLETE}
    after = record_of(module.Scaled())
    assert after["code"] != before["code"] and after["accepted"]
    kept = {k: v for k, v in after.items() if k not in ("code", "accepted")}
    assert kept == {k: v for k, v in before.items() if k != "code"}
    (run,) = d6tflow.history(module.Scaled()).itertuples()
    assert run.accepted is not None and run.code == after["code"]
    assert "Its code was accepted on " in str(d6tflow.why(module.Scaled()))


def test_accept_covers_the_tasks_upstream_and_a_later_diff_starts_from_the_accepted_code(flow):
    d6tflow.run(flow.flow.Scaled(), execution_summary=False)
    module = flow.edit("whyflow", "int(Path(", "int(1 * Path(")
    assert state_of(module.Scaled()).reasons == ("upstream Source stale",)
    assert d6tflow.accept(module.Scaled(), confirm=False) == [module.Source()]
    assert state_of(module.Scaled()).complete

    module = flow.edit("whyflow", "int(1 * Path(", "int(2 * Path(")
    (change,) = d6tflow.why(module.Source()).code
    assert "-    self.save(int(1 * Path('raw.txt').read_text()))" in change["diff"]
    assert "+    self.save(int(2 * Path('raw.txt').read_text()))" in change["diff"]


def test_accept_asks_first_and_a_no_changes_nothing(flow, answer, capsys):
    d6tflow.run(flow.flow.Scaled(), execution_summary=False)
    flow.edit("whyhelpers", "return 2", "return 1 + 1")
    module = flow["whyflow"]
    prompts = answer("n")
    assert d6tflow.accept(module.Scaled()) == []
    assert len(prompts) == 1 and "Cancelled" in capsys.readouterr().out
    assert state_of(module.Scaled()).state.value == "STALE"
    answer("y")
    assert d6tflow.accept(module.Scaled()) == [module.Scaled()]
    assert state_of(module.Scaled()).complete


def test_accept_refuses_when_an_upstream_output_changed(flow):
    d6tflow.run(flow.flow.Scaled(), execution_summary=False)
    Path("raw.txt").write_text("5")
    d6tflow.run(flow.flow.Source(), execution_summary=False)
    flow.edit("whyhelpers", "return 2", "return 1 + 1")
    module = flow["whyflow"]
    before = record_of(module.Scaled())
    with pytest.raises(
        AcceptRefusedError, match=r"Cannot accept Scaled\(\): .*upstream Source output changed"
    ):
        d6tflow.accept(module.Scaled(), confirm=False)
    assert record_of(module.Scaled()) == before
    assert state_of(module.Scaled()).state.value == "STALE"


def test_accept_refuses_a_changed_input_file_and_writes_nothing_for_the_other_tasks(flow):
    d6tflow.run(flow.flow.Scaled(), execution_summary=False)
    flow.edit("whyhelpers", "return 2", "return 1 + 1")
    module = flow["whyflow"]  # Scaled: code only
    Path("raw.txt").write_text("6")  # Source: data
    before = record_of(module.Scaled())
    with pytest.raises(AcceptRefusedError, match=r"Source\(\): input file raw.txt changed"):
        d6tflow.accept(module.Scaled(), confirm=False)
    assert record_of(module.Scaled()) == before


@pytest.mark.parametrize("how", ["never ran", "output deleted"])
def test_accept_refuses_a_task_without_its_outputs(flow, how):
    task = flow.flow.Grid(depth=2)
    if how == "output deleted":
        d6tflow.run(task, execution_summary=False)
        Path(task.output().path).unlink()
    with pytest.raises(AcceptRefusedError, match=r"Cannot accept Grid\(depth=2.*run the flow"):
        d6tflow.accept(task, confirm=False)


def test_why_and_accept_look_through_a_task_that_saves_nothing(flow):
    flow.write(
        "gridall",
        """
import d6tflow
import whyflow

class GridAll(d6tflow.tasks.TaskAggregator):
    def run(self):
        yield [whyflow.Grid(depth=1), whyflow.Grid(depth=2)]
""",
    )
    d6tflow.run(flow["gridall"].GridAll(), execution_summary=False)
    flow.edit("whyflow", "self.depth * self.rate", "self.rate * self.depth")
    everything = flow["gridall"].GridAll()
    found = d6tflow.why(everything)
    assert found.state == "PENDING" and found.params == {}
    assert [dep["task"] for dep in found.upstream] == [
        "Grid(depth=1, rate=0.1)",
        "Grid(depth=2, rate=0.1)",
    ]
    accepted = d6tflow.accept(everything, confirm=False)
    assert accepted == [flow["whyflow"].Grid(depth=1), flow["whyflow"].Grid(depth=2)]
    assert Graph([everything]).states()[everything].complete
