"""Progress while a flow runs (d6tflow.progress) and the words d6tflow prints around a run: the
live display in a real pseudo-terminal, log lines elsewhere, failures, unknown arguments."""

from __future__ import annotations

import logging
import os
import pty
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

import d6tflow
from d6tflow.errors import UsageError

ROOT = Path(__file__).resolve().parent.parent

FLOW = """
import sys
import d6tflow

d6tflow.set_dir(sys.argv[1])


class Leaf(d6tflow.tasks.TaskPickle):
    i = d6tflow.IntParameter()

    def run(self):
        self.save(self.i)


class Root(d6tflow.tasks.TaskPickle):
    def requires(self):
        return [Leaf(i=i) for i in range(3)]

    def run(self):
        self.save(sum(self.inputLoad()))
"""


def run_script(tmp_path: Path, body: str, terminal: bool = False) -> tuple[str, str, int]:
    """Run ``FLOW`` + ``body`` in a new Python process; its stderr on a pseudo-terminal if
    ``terminal`` (what a user at a terminal has), else on a pipe. (stdout, stderr, exit code)."""
    script = tmp_path / "flow.py"
    script.write_text(FLOW + textwrap.dedent(body))
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "TERM": "xterm", "COLUMNS": "120"}
    env.pop("NO_COLOR", None)
    args = [sys.executable, str(script), str(tmp_path / "data")]
    if not terminal:
        done = subprocess.run(args, capture_output=True, text=True, env=env, timeout=120)
        return done.stdout, done.stderr, done.returncode
    master, slave = pty.openpty()
    chunks: list[bytes] = []

    def read() -> None:
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:  # the other end closed
                return
            if not data:
                return
            chunks.append(data)

    reader = threading.Thread(target=read)
    reader.start()
    try:
        done = subprocess.run(
            args, stdout=subprocess.PIPE, stderr=slave, text=True, env=env, timeout=120
        )
    finally:
        os.close(slave)
        reader.join(10)
        os.close(master)
    return done.stdout, b"".join(chunks).decode(errors="replace"), done.returncode


# -- the live display ---------------------------------------------------------------------------


def test_in_a_terminal_a_run_shows_a_live_display_of_tasks_done_and_durations(tmp_path):
    _out, err, code = run_script(tmp_path, "d6tflow.run(Root(), execution_summary=False)", True)
    assert code == 0, err
    assert "4/4 tasks" in err  # the last state stays on screen
    assert "elapsed" in err
    assert "done     Root()" in err and " s" in err  # recently finished, with durations


def test_a_noop_rerun_and_progress_false_show_no_display(tmp_path):
    body = """
    d6tflow.run(Root(), execution_summary=False, progress=False)
    d6tflow.run(Root(), execution_summary=False)  # nothing to run
    """
    _out, err, code = run_script(tmp_path, body, True)
    assert code == 0, err
    assert "tasks" not in err, err


def test_the_setting_turns_the_display_off(tmp_path):
    body = """
    d6tflow.settings.progress = False
    d6tflow.run(Root(), execution_summary=False)
    """
    _out, err, code = run_script(tmp_path, body, True)
    assert code == 0 and "tasks" not in err, err


def test_worker_processes_show_progress_in_the_parents_display(tmp_path):
    _out, err, code = run_script(
        tmp_path, "d6tflow.run(Root(), workers=2, execution_summary=False)", True
    )
    assert code == 0, err
    assert "4/4 tasks" in err


def test_what_a_task_prints_shows_with_the_display(tmp_path):
    body = """
    class Talks(d6tflow.tasks.TaskPickle):
        def run(self):
            print("hello from the task")
            self.save(1)


    d6tflow.run(Talks(), execution_summary=False)
    """
    out, err, code = run_script(tmp_path, body, True)
    assert code == 0, err
    assert "hello from the task" in out + err


# -- log lines when not in a terminal -------------------------------------------------------------


def test_not_in_a_terminal_log_level_info_shows_a_line_per_task_without_logging_setup(tmp_path):
    body = """
    d6tflow.settings.log_level = "INFO"  # no logging.basicConfig(): d6tflow's lines still show
    d6tflow.run(Root(), execution_summary=False)
    """
    _out, err, code = run_script(tmp_path, body)
    assert code == 0, err
    lines = err.splitlines()
    assert any(line.startswith("[1/4] Leaf(i=0) done in ") for line in lines), err
    assert any(line.startswith("[4/4] Root() done in ") for line in lines), err
    assert any(line.startswith("4/4 tasks in ") for line in lines), err


def test_not_in_a_terminal_the_default_is_quiet(tmp_path):
    _out, err, code = run_script(tmp_path, "d6tflow.run(Root(), execution_summary=False)")
    assert code == 0 and err == "", err


def test_progress_false_drops_the_task_lines_but_not_other_logging(monkeypatch, caplog):
    monkeypatch.setattr(d6tflow.settings, "log_level", "INFO")

    class Single(d6tflow.tasks.TaskPickle):
        def run(self):
            logging.getLogger("d6tflow").info("the task's own note")
            self.save(1)

    d6tflow.run(Single(), execution_summary=False, progress=False)
    assert "the task's own note" in caplog.text
    assert "done in" not in caplog.text


def test_tasks_a_task_yields_join_the_outer_runs_count(monkeypatch, caplog):
    monkeypatch.setattr(d6tflow.settings, "log_level", "INFO")

    class Part(d6tflow.tasks.TaskPickle):
        i = d6tflow.IntParameter()

        def run(self):
            self.save(self.i)

    class Gather(d6tflow.tasks.TaskPickle):
        def run(self):
            first = yield Part(i=0)  # each yield is a run inside this one
            second = yield Part(i=1)
            self.save(first.load() + second.load())

    d6tflow.run(Gather(), execution_summary=False)
    lines = [r.getMessage() for r in caplog.records]
    assert any(line.startswith("[1/2] Part(i=0) done in") for line in lines), lines
    assert any(line.startswith("[2/3] Part(i=1) done in") for line in lines), lines
    assert any(line.startswith("[3/3] Gather() done in") for line in lines), lines
    assert sum(line.startswith("3/3 tasks in") for line in lines) == 1, lines


def test_a_failure_counts_what_it_skips(monkeypatch, caplog):
    monkeypatch.setattr(d6tflow.settings, "log_level", "INFO")

    class Breaks(d6tflow.tasks.TaskPickle):
        def run(self):
            raise ValueError("broken input")

    @d6tflow.requires(Breaks)
    class After(d6tflow.tasks.TaskPickle):
        def run(self):
            self.save(1)

    d6tflow.run(After(), execution_summary=False, abort=False)
    lines = [r.getMessage() for r in caplog.records]
    assert any(line.startswith("[1/2] Breaks() failed in") for line in lines), lines
    assert "2/2 tasks in" in "\n".join(lines)


# -- failures and messages ------------------------------------------------------------------------


def test_a_failed_tasks_traceback_is_printed_once_without_d6tflows_frames(tmp_path):
    body = """
    class Breaks(d6tflow.tasks.TaskPickle):
        def run(self):
            raise ValueError("the database did not answer")


    d6tflow.run(Breaks(), execution_summary=False)
    """
    _out, err, code = run_script(tmp_path, body)
    assert code == 1
    assert err.count('raise ValueError("the database did not answer")') == 1, err
    assert "executors" not in err and "provenance.py" not in err, err


def test_with_abort_false_the_traceback_is_logged_once(tmp_path):
    body = """
    class Breaks(d6tflow.tasks.TaskPickle):
        def run(self):
            raise ValueError("the database did not answer")


    result = d6tflow.run(Breaks(), execution_summary=False, abort=False)
    assert not result
    """
    _out, err, code = run_script(tmp_path, body)
    assert code == 0, err
    assert err.count('raise ValueError("the database did not answer")') == 1, err
    assert "executors" not in err, err


def test_a_failure_in_a_yielded_task_is_reported_once(tmp_path):
    body = """
    class Breaks(d6tflow.tasks.TaskPickle):
        def run(self):
            raise ValueError("the database did not answer")


    class Gather(d6tflow.tasks.TaskAggregator):
        def run(self):
            yield Breaks()


    d6tflow.run(Gather(), execution_summary=False)
    """
    _out, err, code = run_script(tmp_path, body)
    assert code == 1
    assert err.count('raise ValueError("the database did not answer")') == 1, err


def test_an_unknown_run_argument_gets_the_closest_one_suggested():
    class Single(d6tflow.tasks.TaskPickle):
        def run(self):
            self.save(1)

    with pytest.raises(UsageError, match=r"forcedall= \(did you mean forced_all=\?\)"):
        d6tflow.run(Single(), forcedall=True)
    with pytest.raises(UsageError, match=r"progres= \(did you mean progress=\?\)"):
        d6tflow.run(Single(), progres=False)
