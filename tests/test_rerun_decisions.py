"""Rerun decisions a user trusts: a changed input reruns what consumed it whatever the executor,
a commit is all or nothing even when its record cannot be written, outputs without a record
never pass for current after their upstream changed, a copied folder stays usable, and a damaged
record costs only its own task."""

from __future__ import annotations

import json
import os
import pickle
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import d6tflow
from d6tflow.errors import TaskNotCompleteError
from d6tflow.graph import Graph
from d6tflow.manifests import LOG_NAME, well_formed
from d6tflow.scheduler import TaskState
from d6tflow.status import State


class TaskReadValue(d6tflow.tasks.TaskPickle):
    input_files = ["v.txt"]

    def run(self):
        self.save(int(Path("v.txt").read_text()))


@d6tflow.requires(TaskReadValue)
class TaskTimesTen(d6tflow.tasks.TaskPickle):
    def run(self):
        self.save(self.inputLoad() * 10)


def state_of(task):
    return Graph([task]).states()[task]


@pytest.mark.parametrize("workers", [1, 2])
def test_downstream_reruns_after_its_upstream_reran_in_a_worker(workers):
    Path("v.txt").write_text("1")
    d6tflow.run(TaskTimesTen(), workers=workers, execution_summary=False)
    Path("v.txt").write_text("2")
    result = d6tflow.run(TaskTimesTen(), workers=workers, execution_summary=False)
    assert result.status[TaskTimesTen()] == TaskState.DONE
    assert TaskTimesTen().outputLoad() == 20
    assert state_of(TaskTimesTen()).complete


def test_upstream_rerun_with_the_same_output_leaves_downstream_up_to_date_with_workers():
    Path("v.txt").write_text("1")
    d6tflow.run(TaskTimesTen(), workers=2, execution_summary=False)
    Path("v.txt").write_text("01")  # another file, the same value
    result = d6tflow.run(TaskTimesTen(), workers=2, execution_summary=False)
    assert result.status[TaskReadValue()] == TaskState.DONE
    assert result.status[TaskTimesTen()] == TaskState.UP_TO_DATE
    assert state_of(TaskTimesTen()).complete


# -- a record that cannot be written -------------------------------------------------------------

FLOW = """
import pathlib, resource, sys
import d6tflow

class TaskA(d6tflow.tasks.TaskPickle):
    input_files = ["v.txt"]
    def run(self):
        self.save(int(pathlib.Path("v.txt").read_text()))

if __name__ == "__main__":
    d6tflow.set_dir("data")
    limit = int(sys.argv[1])
    if limit:  # files of this process may not grow past `limit` bytes (EFBIG, a short write)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))
    result = d6tflow.run(TaskA(), execution_summary=False, abort=False)
    print("ok" if result else "failed:" + str(result.failures[0].exception))
"""


def run_script(tmp_path, *args):
    done = subprocess.run(
        [sys.executable, "flow.py", *map(str, args)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_a_record_cut_short_publishes_nothing_and_the_task_runs_again(tmp_path):
    # A real file size limit: the output (a few bytes) fits, the manifest line does not.
    (tmp_path / "flow.py").write_text(FLOW)
    (tmp_path / "v.txt").write_text("1")
    out = run_script(tmp_path, 120)
    assert out.startswith("failed:") and "Could not record the run of TaskA" in out
    assert "run again" in out
    folder = tmp_path / "data" / "TaskA"
    assert [p.name for p in folder.iterdir() if p.name.endswith(".pkl")] == []
    assert not [p for p in folder.iterdir() if p.name.startswith(".tmp-")]

    (tmp_path / "v.txt").write_text("2")
    assert run_script(tmp_path, 0) == "ok"
    check = "import flow, d6tflow; d6tflow.set_dir('data'); print(flow.TaskA().outputLoad())"
    loaded = subprocess.run(
        [sys.executable, "-c", check], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert loaded.stdout.strip() == "2", loaded.stderr


def test_a_record_cut_short_keeps_the_previous_commit(tmp_path):
    (tmp_path / "flow.py").write_text(FLOW)
    (tmp_path / "v.txt").write_text("1")
    assert run_script(tmp_path, 0) == "ok"
    log = tmp_path / "data" / "TaskA" / LOG_NAME
    before = log.read_bytes()
    (tmp_path / "v.txt").write_text("2")
    out = run_script(tmp_path, len(before) + 40)
    assert out.startswith("failed:")
    assert log.read_bytes() == before  # truncated back: no torn line left behind
    output = next((tmp_path / "data" / "TaskA").glob("*.pkl"))
    assert pickle.loads(output.read_bytes()) == 1  # the new output was not published
    (tmp_path / "v.txt").write_text("3")
    assert run_script(tmp_path, 0) == "ok"
    assert pickle.loads(output.read_bytes()) == 3


# -- outputs without a record ---------------------------------------------------------------------


def test_output_without_record_reruns_after_its_upstream_reran():
    Path("v.txt").write_text("1")
    d6tflow.run(TaskTimesTen(), execution_summary=False)
    TaskTimesTen().save(10)  # saved by hand: taken as it is, with no record (legacy)
    assert state_of(TaskTimesTen()).legacy
    Path("v.txt").write_text("2")
    result = d6tflow.run(TaskTimesTen(), execution_summary=False)
    assert result.status[TaskTimesTen()] == TaskState.DONE
    assert TaskTimesTen().outputLoad() == 20


def test_preview_names_outputs_no_run_recorded(capsys):
    Path("v.txt").write_text("1")
    d6tflow.run(TaskTimesTen(), execution_summary=False)
    TaskTimesTen().save(10)
    d6tflow.preview(TaskTimesTen())
    lines = capsys.readouterr().out.splitlines()
    shown = next(line for line in lines if "TaskTimesTen" in line)
    assert "COMPLETE" in shown and "legacy: no record" in shown
    assert "legacy" not in next(line for line in lines if "TaskReadValue" in line)


# -- a copied folder ------------------------------------------------------------------------------


def copy_like_cp_r(source: Path, target: Path) -> None:
    """What ``cp -r``, a tar round-trip or a download gives: the files, with new times."""
    shutil.copytree(source, target, copy_function=shutil.copyfile)
    later = time.time() + 5
    for path in target.rglob("*"):
        os.utime(path, (later, later))


def test_a_copied_data_folder_is_complete_and_loads(tmp_path):
    Path("v.txt").write_text("3")
    d6tflow.run(TaskTimesTen(), execution_summary=False)
    copy_like_cp_r(tmp_path / "data", tmp_path / "copy")
    d6tflow.set_dir(tmp_path / "copy")
    assert state_of(TaskTimesTen()).state is State.COMPLETE
    assert TaskTimesTen().outputLoad() == 30
    assert d6tflow.verify() == []
    result = d6tflow.run(TaskTimesTen(), execution_summary=False)
    assert result.status[TaskTimesTen()] == TaskState.COMPLETE
    # The new times are recorded: the next check compares times again instead of hashing.
    log = tmp_path / "copy" / "TaskTimesTen" / LOG_NAME
    records = [json.loads(line) for line in log.read_text().splitlines()]
    latest = [r for r in records if r.get("task_id") == TaskTimesTen().task_id][-1]
    output = Path(TaskTimesTen().output().path)
    assert latest["outputs"]["data"]["mtime_ns"] == output.stat().st_mtime_ns
    assert latest["outputs"]["data"]["size"] == output.stat().st_size
    assert well_formed(latest)  # a record the next process reads vouches for the output


def test_a_copied_folder_whose_output_was_edited_is_refused_everywhere(tmp_path):
    Path("v.txt").write_text("3")
    d6tflow.run(TaskTimesTen(), execution_summary=False)
    copy_like_cp_r(tmp_path / "data", tmp_path / "copy")
    d6tflow.set_dir(tmp_path / "copy")
    output = Path(TaskTimesTen().output().path)
    output.write_bytes(pickle.dumps(40))  # same size, other content
    status = state_of(TaskTimesTen())
    assert status.state is State.PENDING and "changed after it was written" in status.reasons[0]
    assert [p["task_id"] for p in d6tflow.verify()] == [TaskTimesTen().task_id]
    with pytest.raises(TaskNotCompleteError):
        TaskTimesTen().outputLoad()


EDITS = st.sampled_from(["touch", "same size", "longer", "truncate", "rewrite same", "delete"])


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(edits=st.lists(EDITS, min_size=1, max_size=3))
def test_state_verify_and_load_always_agree(edits, fresh_data_dir):
    Path("v.txt").write_text("3")
    TaskReadValue().reset(confirm=False)
    d6tflow.run(TaskReadValue(), execution_summary=False)
    output = Path(TaskReadValue().output().path)
    for edit in edits:
        if edit == "delete":
            output.unlink(missing_ok=True)
            continue
        if not output.exists():
            continue
        content = output.read_bytes()
        later = output.stat().st_mtime + 3
        if edit == "same size":
            output.write_bytes(pickle.dumps(4))
        elif edit == "longer":
            output.write_bytes(pickle.dumps(10**30))
        elif edit == "truncate":
            output.write_bytes(content[:-1])
        elif edit == "rewrite same":
            output.write_bytes(content)
        os.utime(output, (later, later))
    complete = state_of(TaskReadValue()).complete
    try:
        loaded = TaskReadValue().outputLoad()
    except TaskNotCompleteError:
        loaded = None
    problems = d6tflow.verify(TaskReadValue())
    assert complete == (loaded is not None) == (problems == [] and output.exists())
    if complete:
        assert loaded == 3


# -- a damaged record -----------------------------------------------------------------------------


def test_a_damaged_record_makes_only_its_task_pending():
    Path("v.txt").write_text("1")
    d6tflow.run(TaskTimesTen(), execution_summary=False)
    log = Path(TaskReadValue().output().path).parent / LOG_NAME
    with open(log, "a") as f:
        f.write(json.dumps({"task_id": TaskReadValue().task_id}) + "\n")
    status = state_of(TaskReadValue())
    assert status.state is State.PENDING and "manifest unreadable" in status.reasons[0]
    assert state_of(TaskTimesTen()).state is State.STALE
    d6tflow.preview(TaskTimesTen())
    assert d6tflow.verify() == []
    with pytest.raises(TaskNotCompleteError, match="manifest unreadable"):
        TaskReadValue().outputLoad()
    result = d6tflow.run(TaskTimesTen(), execution_summary=False)
    assert result.status[TaskReadValue()] == TaskState.DONE
    assert result.status[TaskTimesTen()] == TaskState.UP_TO_DATE
    assert TaskTimesTen().outputLoad() == 10


def test_a_damaged_record_survives_compaction(tmp_path):
    from d6tflow import manifests

    Path("v.txt").write_text("1")
    d6tflow.run(TaskReadValue(), execution_summary=False)
    log = manifests.log_of(str(Path(TaskReadValue().output().path).parent))
    with open(log.path, "a") as f:
        f.write(json.dumps({"task_id": TaskReadValue().task_id, "outputs": "?"}) + "\n")
    log.refresh()
    log._compact()
    assert state_of(TaskReadValue()).state is State.PENDING


def test_records_of_the_original_format_stay_readable_after_a_damaged_one(tmp_path):
    script = textwrap.dedent(
        """
        import d6tflow
        d6tflow.set_dir("data")
        class T(d6tflow.tasks.TaskPickle):
            n = d6tflow.IntParameter()
            def run(self):
                self.save(self.n)
        d6tflow.run([T(n=1), T(n=2)], execution_summary=False)
        log = d6tflow.settings.dirpath / "T" / ".manifests.jsonl"
        with open(log, "a") as f:
            f.write('{"task_id": "%s", "upstream": 3}\\n' % T(n=1).task_id)
        print(T(n=2).outputLoad(), T(n=1).complete())
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert done.stdout.split() == ["2", "False"], done.stderr


# -- durability -----------------------------------------------------------------------------------


def test_durable_commits_flush_outputs_before_the_record_and_the_folder_after(monkeypatch):
    # A power loss cannot be produced here: what is checked is the order of the flushes that
    # make a commit survive one (os.fsync is wrapped to note what it flushed, and still called).
    flushed = []
    real_fsync = os.fsync

    def noting_fsync(fd):
        flushed.append(os.readlink(f"/proc/self/fd/{fd}"))
        real_fsync(fd)

    if not Path("/proc/self/fd").exists():
        pytest.skip("needs /proc to name flushed descriptors")
    monkeypatch.setattr(os, "fsync", noting_fsync)
    d6tflow.settings.durable = True
    Path("v.txt").write_text("1")
    d6tflow.run(TaskReadValue(), execution_summary=False)
    output = Path(TaskReadValue().output().path)
    names = [Path(p).name for p in flushed]
    staged = next(i for i, n in enumerate(names) if n.startswith(".tmp-") and n.endswith(".pkl"))
    record = names.index(LOG_NAME)
    folder = names.index(output.parent.name, record)
    assert staged < record < folder
    assert TaskReadValue().outputLoad() == 1


def test_default_commits_do_not_flush(monkeypatch):
    flushed = []
    monkeypatch.setattr(os, "fsync", flushed.append)
    Path("v.txt").write_text("1")
    d6tflow.run(TaskReadValue(), execution_summary=False)
    assert flushed == []
