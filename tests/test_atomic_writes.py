"""Nothing half-written counts as done: a process killed in the middle of a save leaves no output,
the task stays incomplete, and the next run produces a complete output."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import d6tflow
from d6tflow.errors import OutputError
from d6tflow.provenance import manifest_of
from slow_format import slow_format_source

FLOW = (
    textwrap.dedent(
        """
    import sys, time
    import d6tflow
    from d6tflow.formats import Format, register

    """
    )
    + slow_format_source("slow", 'sys.argv[2] == "hang"', "sys.argv[3]")
    + textwrap.dedent(
        """

    class TaskBig(d6tflow.tasks.TaskData):
        format = "slow"

        def run(self):
            self.save(b"x" * 1_000_000)

    d6tflow.set_dir(sys.argv[1])
    d6tflow.run(TaskBig(), execution_summary=False)
    print(len(TaskBig().outputLoad()))
    """
    )
)


@pytest.mark.slow
def test_killed_process_mid_save_leaves_no_complete_output(tmp_path):
    script = tmp_path / "flow.py"
    script.write_text(FLOW)
    data, marker = tmp_path / "data", tmp_path / "mid-write"
    proc = subprocess.Popen([sys.executable, str(script), str(data), "hang", str(marker)])
    try:
        deadline = time.monotonic() + 60
        while not marker.exists():
            assert proc.poll() is None, "the flow exited before reaching the save"
            assert time.monotonic() < deadline, "the flow never reached the save"
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)

    folder = data / "TaskBig"
    assert not (folder / "TaskBig__99914b932b-data.slow").exists()
    leftovers = os.listdir(folder)
    assert any(name.startswith(".tmp-") for name in leftovers)
    assert [name for name in leftovers if not name.startswith(".")] == []  # no output, no manifest

    rerun = subprocess.run(
        [sys.executable, str(script), str(data), "finish", ""],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert rerun.returncode == 0, rerun.stderr
    assert rerun.stdout.strip() == "1000000"
    assert (folder / "TaskBig__99914b932b-data.slow").stat().st_size == 1_000_000


def test_failed_save_in_process_removes_its_temporary_file(fresh_data_dir):
    import d6tflow

    class TaskBad(d6tflow.tasks.TaskPickle):
        def run(self):
            self.save(lambda: None)  # not picklable: the format raises mid-save

    result = d6tflow.run(TaskBad(), abort=False, execution_summary=False)
    assert not result
    assert not TaskBad().complete()
    left = [n for n in os.listdir(fresh_data_dir / "TaskBad") if not n.endswith(".lock")]
    assert left == []


class TaskReport(d6tflow.tasks.TaskPickle):
    def run(self):
        self.save({"rows": 3})


def test_output_path_that_became_a_folder_is_kept_and_the_task_fails_saying_what_to_do(
    fresh_data_dir,
):
    assert d6tflow.run(TaskReport(), execution_summary=False)
    committed = manifest_of(TaskReport(), fresh=True)
    path = Path(TaskReport().output().path)
    path.unlink()
    path.mkdir()  # someone's folder now, where the output was
    (path / "notes.txt").write_text("mine")

    result = d6tflow.run(TaskReport(), abort=False, execution_summary=False)

    assert not result
    [failure] = result.failures
    assert isinstance(failure.exception, OutputError)
    message = str(failure.exception)
    assert str(path) in message and "folder" in message and "delete" in message
    assert (path / "notes.txt").read_text() == "mine"
    assert [n for n in os.listdir(path.parent) if n.startswith(".tmp-")] == []
    assert not TaskReport().complete()
    assert manifest_of(TaskReport(), fresh=True) == committed  # failed before its commit


def test_saving_a_file_where_a_folder_is_raises_and_keeps_the_folder(fresh_data_dir):
    path = Path(TaskReport().output().path)
    path.mkdir(parents=True)
    (path / "notes.txt").write_text("mine")

    with pytest.raises(OutputError, match="Move the folder elsewhere or delete it"):
        TaskReport().save({"rows": 3})  # outside a run: written and moved into place at once

    assert (path / "notes.txt").read_text() == "mine"
    assert [n for n in os.listdir(path.parent) if n.startswith(".tmp-")] == []


class TaskFailsAfterSaving(d6tflow.tasks.TaskPickle):
    def run(self):
        self.save({"rows": 3})
        raise ValueError("the check after saving failed")


def test_a_task_that_raises_after_saving_is_not_complete_and_runs_again(fresh_data_dir):
    result = d6tflow.run(TaskFailsAfterSaving(), abort=False, execution_summary=False)

    assert not result
    assert not TaskFailsAfterSaving().complete()
    # The saved output never appeared: a half-done run leaves nothing a reader could load.
    assert not Path(TaskFailsAfterSaving().output().path).exists()
    left = os.listdir(fresh_data_dir / "TaskFailsAfterSaving")
    assert [n for n in left if not n.endswith(".lock")] == [], left  # no output, record, temp
    again = d6tflow.run(TaskFailsAfterSaving(), abort=False, execution_summary=False)
    assert again.status[TaskFailsAfterSaving()] == d6tflow.TaskState.FAILED


class TaskSavesTwice(d6tflow.tasks.TaskPickle):
    def run(self):
        self.save({"draft": True})
        self.save({"draft": False})  # the second save replaces the first


def test_saving_twice_in_run_keeps_the_last_and_leaves_no_temporary_file(fresh_data_dir):
    assert d6tflow.run(TaskSavesTwice(), execution_summary=False)

    assert TaskSavesTwice().outputLoad() == {"draft": False}
    assert TaskSavesTwice().complete()
    left = os.listdir(fresh_data_dir / "TaskSavesTwice")
    assert [n for n in left if n.startswith(".tmp-")] == [], left
