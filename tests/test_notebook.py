"""Jupyter display: tasks, flows, previews and run results show as HTML (their ``_repr_html_``),
and ``set_dir``'s folder is not echoed by a cell. The last test executes a real notebook in a
real kernel (nbclient) with this interpreter."""

from __future__ import annotations

import html
import json
import re
import shutil
import sys
from pathlib import Path

import pytest

import d6tflow


class NGetData(d6tflow.tasks.TaskPickle):
    def run(self):
        self.save([1, 2, 3])


@d6tflow.requires(NGetData)
class NTrain(d6tflow.tasks.TaskPickle):
    model = d6tflow.Parameter(default="ols")

    def run(self):
        if self.model == "broken":
            raise ValueError("no such model")
        self.save(sum(self.inputLoad()))


def badges(page: str) -> list[str]:
    return re.findall(r'<span style="background:[^"]*">([^<]*)</span>', page)


def text_of(page: str) -> list[str]:
    """The lines a browser shows of a ``<pre>`` of HTML."""
    return html.unescape(re.sub(r"<[^>]+>", "", page)).splitlines()


def test_a_task_shows_its_tree_with_coloured_states_and_reasons():
    d6tflow.run(NGetData(), execution_summary=False)
    page = NTrain(model="gbm")._repr_html_()
    assert badges(page) == ["PENDING", "COMPLETE"]
    assert "<b>NTrain</b>-{&#x27;model&#x27;: &#x27;gbm&#x27;}" in page
    assert "parameters new" in page
    assert text_of(page) == [
        "└─--NTrain-{'model': 'gbm'} PENDING parameters new",
        "   └─--NGetData-{} COMPLETE",
    ]


def test_a_run_result_shows_a_row_per_task_and_the_failure():
    d6tflow.run(NGetData(), execution_summary=False)
    result = d6tflow.run([NTrain(), NTrain(model="broken")], abort=False, execution_summary=False)
    page = result._repr_html_()
    assert "d6tflow run: failed" in page
    rows = re.findall(r"<tr>(.*?)</tr>", page)[1:]
    assert len(rows) == 3
    assert badges(page) == ["complete", "done", "failed"]
    assert "<summary>NTrain(model=broken) failed: ValueError: no such model</summary>" in page


def test_a_workflow_multi_shows_shared_tasks_once_and_each_flow():
    flows = d6tflow.WorkflowMulti(NTrain, {"model": ["a", "b"]})
    page = flows._repr_html_()
    assert "<b>Shared by all 2 flows:</b>" in page
    assert page.count("<b>NGetData</b>-{}") == 3  # its tree line, and one pointer per flow
    assert badges(page) == ["PENDING", "PENDING", "PENDING"]
    results = flows.run(execution_summary=False)
    assert results._repr_html_().count("d6tflow run: ok") == 2


def test_a_workflow_without_a_default_task_shows_its_repr():
    assert d6tflow.Workflow()._repr_html_() is None
    assert "model=gbm" not in d6tflow.Workflow(NTrain, {"model": "gbm"})._repr_html_()
    assert (
        "&#x27;model&#x27;: &#x27;gbm&#x27;"
        in d6tflow.Workflow(NTrain, {"model": "gbm"})._repr_html_()
    )


def test_set_dir_returns_the_folder_with_nothing_for_a_cell_to_echo(tmp_path):
    returned = d6tflow.set_dir(tmp_path / "elsewhere")
    assert returned == tmp_path / "elsewhere" and (returned / "x").name == "x"  # a Path
    assert returned._ipython_display_() is None  # IPython calls this instead of echoing it


CELLS = [
    "import d6tflow\nprint(d6tflow.__file__)",
    "d6tflow.set_dir('data')",
    """
class GetData(d6tflow.tasks.TaskPickle):
    def run(self):
        self.save([1, 2, 3])

@d6tflow.requires(GetData)
class Train(d6tflow.tasks.TaskPickle):
    model = d6tflow.Parameter(default="ols")

    def run(self):
        self.save(sum(self.inputLoad()))
""",
    "Train()",
    "d6tflow.preview(Train())",
    "d6tflow.run(Train(), execution_summary=False)",
    "d6tflow.Workflow(Train, {'model': 'gbm'})",
    "d6tflow.WorkflowMulti(Train, {'model': ['a', 'b', 'c']})",
    "print(d6tflow.draw(Train(), format='mermaid'))",
]
# The picture itself needs Graphviz's dot program (Debian: apt-get install graphviz).
PICTURE_CELL = "d6tflow.draw(Train())"


def kernel_of_this_interpreter(folder: Path) -> str:
    """A kernel spec that starts this interpreter with this d6tflow (not whatever a machine's
    default python3 kernel is); JUPYTER_PATH must point at ``folder``."""
    spec = folder / "kernels" / "d6tflow-test"
    spec.mkdir(parents=True)
    source = str(Path(d6tflow.__file__).resolve().parents[1])
    kernel = {
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "d6tflow test",
        "language": "python",
        "env": {"PYTHONPATH": source},
    }
    (spec / "kernel.json").write_text(json.dumps(kernel))
    return "d6tflow-test"


@pytest.mark.slow
def test_a_real_notebook_shows_tasks_flows_and_results_as_html(tmp_path, monkeypatch):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    kernel = kernel_of_this_interpreter(tmp_path / "jupyter")
    has_dot = shutil.which("dot") is not None
    cells = [*CELLS, PICTURE_CELL] if has_dot else CELLS
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    nbformat.write(notebook, tmp_path / "flow.ipynb")
    notebook = nbformat.read(tmp_path / "flow.ipynb", as_version=4)
    client = nbclient.NotebookClient(
        notebook, kernel_name=kernel, timeout=120, resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute()
    out = [cell.outputs for cell in notebook.cells]

    assert out[0][0]["text"].strip() == d6tflow.__file__  # the kernel runs this d6tflow
    assert out[1] == []  # set_dir echoes nothing
    task = out[3][0]
    assert task["output_type"] == "execute_result"
    assert badges(task["data"]["text/html"]) == ["PENDING", "PENDING"]
    preview = out[4]
    assert [o["output_type"] for o in preview] == ["display_data"]  # shown, not printed
    assert badges(preview[0]["data"]["text/html"]) == ["PENDING", "PENDING"]
    assert "[Train-{'model': 'ols'} (PENDING)] parameters new" in preview[0]["data"]["text/plain"]
    progress, result = out[5]  # one progress area, updated in place, then the result
    assert progress["output_type"] == "display_data"
    lines = progress["data"]["text/plain"].splitlines()
    assert lines[0].startswith("d6tflow 2/2 tasks")
    assert [line.split()[:2] for line in lines[1:]] == [
        ["done", "GetData()"],
        ["done", "Train(model=ols)"],
    ]
    assert all(line.endswith(" s") for line in lines[1:])  # each task's duration
    run = result["data"]["text/html"]
    assert "d6tflow run: ok" in run and badges(run) == ["done", "done"]
    flow = out[6][0]["data"]["text/html"]
    assert badges(flow) == ["PENDING", "COMPLETE"] and "&#x27;model&#x27;: &#x27;gbm&#x27;" in flow
    flows = out[7][0]["data"]["text/html"]
    assert "<b>Shared by all 3 flows:</b>" in flows and flows.count("<b>Flow ") == 3
    assert out[8][0]["text"].startswith("flowchart TD\n")
    assert (tmp_path / "data" / "Train").is_dir()  # the notebook's own data folder
    if has_dot:
        svg = out[9][0]["data"]["image/svg+xml"]
        assert svg.count('class="node"') == 2 and ">COMPLETE</text>" in svg
