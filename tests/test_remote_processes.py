"""Sharing across real processes on a real S3-compatible server (moto): a push or pull killed
midway, two pushes at once, and a colleague who has only the FlowExport stubs."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import d6tflow

pytestmark = pytest.mark.slow

# The flow every process of these tests defines (a module of its own, as a user's would be).
FLOW = """
import pandas as pd
import d6tflow

class Raw(d6tflow.tasks.TaskPqPandas):
    n = d6tflow.IntParameter(default=3)
    def run(self):
        self.save(pd.DataFrame({"a": range(self.n)}))

@d6tflow.requires(Raw)
class Model(d6tflow.tasks.TaskPickle):
    def run(self):
        self.save({"total": int(self.inputLoad()["a"].sum())})
        self.metaSave({"score": 0.5})

@d6tflow.requires(Model)
class Report(d6tflow.tasks.TaskJson):
    def run(self):
        self.save({"total": self.inputLoad()["total"]})
"""


@pytest.fixture
def flow(tmp_path, monkeypatch):
    """The flow's module, importable here and in the child processes."""
    (tmp_path / "flow.py").write_text(FLOW)
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop("flow", None)
    import flow as module

    yield module
    sys.modules.pop("flow", None)


def _child(tmp_path: Path, body: str, *args: str) -> subprocess.CompletedProcess:
    script = tmp_path / "child.py"
    script.write_text(textwrap.dedent(body))
    return subprocess.run(
        [sys.executable, str(script), *args], cwd=tmp_path, capture_output=True, text=True
    )


def _visible_outputs(folder: Path) -> list[str]:
    """Output files a user (or a state check) sees: not temporary files, not bookkeeping."""
    return sorted(p.name for p in folder.rglob("*") if p.is_file() and not p.name.startswith("."))


def test_a_pull_killed_midway_leaves_nothing_half_visible_and_the_next_completes(
    s3, flow, tmp_path
):
    url = s3.new_bucket() + "/team"
    d6tflow.set_remote(url, trusted=True, **s3.options)
    tasks = [flow.Report(n=i) for i in range(1, 6)]
    d6tflow.run(tasks, execution_summary=False)
    d6tflow.push(tasks, show=False)

    other = tmp_path / "colleague"
    result = _child(
        tmp_path,
        f"""
        import json, os, signal, sys
        import d6tflow, d6tflow.transfer as transfer
        from flow import Report
        d6tflow.set_dir({str(other)!r})
        d6tflow.set_remote({url!r}, **json.loads(sys.argv[1]))
        commit, done = transfer._commit_pulled, []
        def dying_commit(*args):
            if len(done) == 4:  # killed for real in the middle of the pull's commits
                os.kill(os.getpid(), signal.SIGKILL)
            commit(*args)
            done.append(1)
        transfer._commit_pulled = dying_commit
        d6tflow.pull([Report(n=i) for i in range(1, 6)], show=False)
        """,
        json.dumps(s3.options),
    )
    assert result.returncode == -signal.SIGKILL, result.stderr

    d6tflow.set_dir(other)
    d6tflow.cache.data.clear()
    everything = d6tflow.graph.Graph(tasks)
    states = everything.states()
    complete = [t for t, s in states.items() if s.complete]
    assert len(complete) == 4
    # A task is there whole (it loads) or not at all: none of its outputs is visible.
    seen = set(_visible_outputs(other))
    for task in everything.order:
        names = {Path(p).name for p in task._file_paths()[0].values()}
        if task in complete:
            assert names <= seen
            task.outputLoad()
        else:
            assert not names & seen
    assert any(p.name.startswith(".tmp-") for p in other.rglob("*"))  # what the kill left

    moved = d6tflow.pull(tasks, show=False)
    assert len(moved.tasks) == len(everything.order) - 4
    assert all(s.complete for s in d6tflow.graph.Graph(tasks).states().values())
    assert [flow.Report(n=i).outputLoad()["total"] for i in range(1, 6)] == [0, 1, 3, 6, 10]
    assert d6tflow.verify() == []
    assert not any(p.name.startswith(".tmp-") for p in other.rglob("*"))


def test_a_push_killed_before_its_records_counts_for_nothing_and_the_next_completes(
    s3, flow, tmp_path
):
    url = s3.new_bucket() + "/team"
    options = json.dumps(s3.options)
    result = _child(
        tmp_path,
        f"""
        import json, os, signal, sys
        import d6tflow
        from d6tflow.remote_storage import RemoteLog
        from flow import Report
        d6tflow.set_dir("mine")
        d6tflow.set_remote({url!r}, **json.loads(sys.argv[1]))
        d6tflow.run(Report(n=3), execution_summary=False)
        def dying(*args, **kwargs):  # the uploads are done; killed before any record
            os.kill(os.getpid(), signal.SIGKILL)
        RemoteLog.append_many = dying
        d6tflow.push(Report(n=3), show=False)
        """,
        options,
    )
    assert result.returncode == -signal.SIGKILL, result.stderr
    d6tflow.set_remote(url, trusted=True, **s3.options)
    # The objects are on the remote, with no record: a pull finds nothing to take.
    moved = d6tflow.pull(flow.Report(n=3), show=False)
    assert moved.tasks == [] and len(moved.absent) == 3
    assert _visible_outputs(tmp_path / "data") == []

    # The next push (from the same folder) completes it.
    d6tflow.set_dir(tmp_path / "mine")
    assert len(d6tflow.push(flow.Report(n=3), show=False).tasks) == 3
    d6tflow.set_dir(tmp_path / "fresh")
    assert len(d6tflow.pull(flow.Report(n=3), show=False).tasks) == 3
    assert flow.Report(n=3).outputLoad() == {"total": 3}


def test_two_processes_pushing_one_flow_at_once_leave_a_consistent_remote(s3, flow, tmp_path):
    url = s3.new_bucket() + "/team"
    body = f"""
        import json, sys
        import d6tflow
        from flow import Report
        d6tflow.set_dir(sys.argv[2])
        d6tflow.set_remote({url!r}, **json.loads(sys.argv[1]))
        tasks = [Report(n=i) for i in range(1, 9)]
        d6tflow.run(tasks, execution_summary=False)
        print(len(d6tflow.push(tasks, show=False).tasks))
        """
    script = tmp_path / "pusher.py"
    script.write_text(textwrap.dedent(body))
    procs = [
        subprocess.Popen(
            [sys.executable, str(script), json.dumps(s3.options), f"machine{i}"],
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(2)
    ]
    outs = [p.communicate(timeout=180) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [o[1] for o in outs]

    d6tflow.set_remote(url, trusted=True, **s3.options)
    d6tflow.set_dir(tmp_path / "fresh")
    tasks = [flow.Report(n=i) for i in range(1, 9)]
    assert len(d6tflow.pull(tasks, show=False).tasks) == 24  # Report, Model and Raw of each n
    assert [t.outputLoad()["total"] for t in tasks] == [sum(range(i)) for i in range(1, 9)]
    assert d6tflow.verify() == []


def test_a_colleague_with_only_the_stubs_pulls_and_loads_every_output(s3, flow, tmp_path):
    url = s3.new_bucket() + "/team"
    d6tflow.set_remote(url, **s3.options)
    workflow = d6tflow.Workflow(flow.Report, {"n": 4})
    workflow.run(execution_summary=False)
    stubs = tmp_path / "hand_off" / "stubs.py"
    d6tflow.FlowExport(flows=workflow, save=True, path_export=str(stubs)).generate()
    workflow.push(show=False)

    # Elsewhere: no flow.py, only the stubs module and the remote.
    result = _child(
        tmp_path / "hand_off",
        f"""
        import json, sys
        import d6tflow
        d6tflow.set_dir("data")
        d6tflow.set_remote({url!r}, trusted=True, **json.loads(sys.argv[1]))
        stubs = d6tflow.FlowImport(".", "stubs").tasks
        d6tflow.pull([cls() for cls in stubs.values()], show=False)
        print(json.dumps({{
            "report": stubs.Report().outputLoad(),
            "model": stubs.Model().outputLoad(),
            "meta": stubs.Model().outputLoadMeta(),
            "raw": stubs.Raw().outputLoad()["a"].tolist(),
        }}))
        """,
        json.dumps(s3.options),
    )
    assert result.returncode == 0, result.stderr
    assert "import flow" not in (tmp_path / "hand_off" / "stubs.py").read_text()
    loaded = json.loads(result.stdout.strip().splitlines()[-1])
    assert loaded == {
        "report": {"total": 6},
        "model": {"total": 6},
        "meta": {"score": 0.5},
        "raw": [0, 1, 2, 3],
    }
