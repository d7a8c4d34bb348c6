"""The command line (``d6tflow ...`` / ``python -m d6tflow ...``): tasks named ``flow.py:Task`` or
``module:Task`` with ``--param`` values, the commands over the API, and the exit codes: 0 success,
1 a task failed (or verify found problems), 2 bad usage with a one-line error."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from d6tflow import store
from d6tflow.cli import main

SRC = Path(__file__).resolve().parents[1] / "src"

FLOW = textwrap.dedent(
    """
    import d6tflow
    import pandas as pd

    FACTOR = 3


    def make(n):
        return pd.DataFrame({"x": range(n)}) * FACTOR


    class TaskGetData(d6tflow.tasks.TaskPqPandas):
        n = d6tflow.IntParameter(default=5)

        def run(self):
            self.save(make(self.n))


    @d6tflow.requires(TaskGetData)
    class TaskTrain(d6tflow.tasks.TaskPickle):
        alpha = d6tflow.FloatParameter(default=0.5)

        def run(self):
            if self.alpha < 0:
                raise ValueError("alpha must be >= 0")
            self.save(float(self.inputLoad()["x"].sum() * self.alpha))


    class TaskScaled(d6tflow.tasks.TaskPickle):
        k = d6tflow.IntParameter()

        def run(self):
            self.save(self.k)


    if __name__ == "__main__":
        d6tflow.run(TaskTrain())
    """
)


TRAIN_COMPLETE = "TaskTrain(n=5, alpha=0.5) is COMPLETE"


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """``python -m d6tflow *args`` in a new process, with this worktree's d6tflow."""
    return subprocess.run(
        [sys.executable, "-m", "d6tflow", *args],
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(SRC)},
        capture_output=True,
        text=True,
        timeout=180,
    )


@pytest.fixture
def flow(tmp_path) -> Path:
    path = tmp_path / "flow.py"
    path.write_text(FLOW)
    return path


@pytest.fixture
def cli(tmp_path, capsys, monkeypatch):
    """``main(argv)`` in this process: returns (exit code, stdout, stderr). The flow modules it
    imports are forgotten after the test, so the next test's flow.py is imported afresh."""
    monkeypatch.setattr(sys, "path", list(sys.path))

    def call(*argv: str) -> tuple[int, str, str]:
        code = main(list(argv))
        out, err = capsys.readouterr()
        return code, out, err

    yield call
    for name, module in list(sys.modules.items()):
        if str(getattr(module, "__file__", None) or "").startswith(str(tmp_path)):
            del sys.modules[name]


def _output_of_train(data: Path, alpha: str) -> Path:
    (found,) = (data / "TaskTrain").glob(f"TaskTrain_{alpha}_*-data.pkl")
    return found


# -- running ------------------------------------------------------------------------------------


def test_run_a_flow_file_task_with_params_saves_its_output_and_then_has_nothing_to_do(flow):
    first = _cli("run", "flow.py:TaskTrain", "--param", "alpha=2", "-p", "n=4", cwd=flow.parent)
    assert first.returncode == 0, first.stderr
    assert "2 ran successfully" in first.stdout
    value = pickle.loads(_output_of_train(flow.parent / "data", "2_0_4").read_bytes())
    assert value == (0 + 1 + 2 + 3) * 3 * 2.0
    again = _cli("preview", "flow.py:TaskTrain", "-p", "alpha=2", "-p", "n=4", cwd=flow.parent)
    assert again.returncode == 0
    assert "TaskTrain-{'n': '4', 'alpha': '2.0'} (COMPLETE)" in again.stdout


def test_what_python_flow_py_ran_is_complete_for_the_command_line_until_its_code_changes(flow):
    # The flow file is imported under its file name, so its helper code (make, FACTOR) has the
    # fingerprints it had when it ran as a script.
    script = subprocess.run(
        [sys.executable, "flow.py"],
        cwd=flow.parent,
        env={**os.environ, "PYTHONPATH": str(SRC)},
        capture_output=True,
        timeout=120,
    )
    assert script.returncode == 0, script.stderr
    why = _cli("why", "flow.py:TaskTrain", cwd=flow.parent)
    assert why.stdout.splitlines() == [TRAIN_COMPLETE, "Nothing changed that makes it rerun."]
    flow.write_text(FLOW.replace("FACTOR = 3", "FACTOR = 4"))
    why = _cli("why", "flow.py:TaskTrain", cwd=flow.parent)
    assert why.returncode == 0
    assert why.stdout.splitlines() == [
        "TaskGetData(n=5) is STALE: code of flow.FACTOR changed",
        "Code of flow.FACTOR changed:",
        "--- flow.FACTOR (recorded)",
        "+++ flow.FACTOR (now)",
        "@@ -1 +1 @@",
        "-3",
        "+4",
        "",
        "TaskTrain(n=5, alpha=0.5) is STALE: upstream TaskGetData stale",
        "Upstream TaskGetData(n=5) is STALE: it runs first.",
    ]


def test_a_failed_task_exits_1_with_its_traceback_once_and_a_line_naming_it(flow):
    result = _cli("run", "flow.py:TaskTrain", "-p", "alpha=-1", cwd=flow.parent)
    assert result.returncode == 1
    assert "1 failed" in result.stdout
    assert result.stderr.count("Traceback") == 1
    assert result.stderr.rstrip().splitlines()[-1] == (
        "TaskTrain(n=5, alpha=-1.0) failed: ValueError: alpha must be >= 0"
    )


def test_workers_run_a_flow_file_from_another_folder_in_worker_processes(flow, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    result = _cli(
        "run", str(flow) + ":TaskTrain", "--workers", "2", "--executor", "process", cwd=elsewhere
    )
    assert result.returncode == 0, result.stderr
    assert "2 ran successfully" in result.stdout
    assert _output_of_train(elsewhere / "data", "0_5_5").exists()


def test_module_reference_imports_from_the_working_directory(cli, flow):
    flow.rename(flow.parent / "myflow.py")
    code, out, _ = cli("run", "myflow:TaskGetData", "-p", "n=3")
    assert code == 0
    assert "1 ran successfully" in out
    assert list((flow.parent / "data" / "TaskGetData").glob("TaskGetData_3_*-data.parquet"))


def test_dir_option_wins_over_a_set_dir_in_the_flow_file(cli, flow, tmp_path):
    flow.write_text(FLOW + "\nd6tflow.set_dir('from_the_file')\n")
    code, _, _ = cli("run", "flow.py:TaskGetData", "--dir", "chosen")
    assert code == 0
    assert list((tmp_path / "chosen" / "TaskGetData").glob("*.parquet"))
    assert not (tmp_path / "from_the_file").exists()


# -- bad usage: exit 2, one line on stderr ------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["run", "flow.py:TaskTrian"],
            "flow.py has no task 'TaskTrian'. Did you mean TaskTrain? "
            "Tasks in flow.py: TaskGetData, TaskScaled, TaskTrain",
        ),
        (
            ["run", "flow.py:TaskTrain", "-p", "alhpa=1"],
            "--param alhpa: no task named here has this parameter; did you mean alpha? "
            "Parameters of TaskTrain: n (IntParameter, default 5), "
            "alpha (FloatParameter, default 0.5)",
        ),
        (
            ["run", "flow.py:TaskTrain", "-p", "alpha=abc"],
            "--param alpha=abc: not a value of TaskTrain.alpha (FloatParameter): "
            "could not convert string to float: 'abc'",
        ),
        (
            ["run", "flow.py:TaskScaled"],
            "TaskScaled: missing required parameter 'k'. Pass it, e.g. TaskScaled(k=...), or "
            "give the parameter a default. Parameters of TaskScaled: k (IntParameter, required)",
        ),
        (
            ["preview", "flow.py"],
            "'flow.py': name a task as module:Task or path/flow.py:Task. "
            "Tasks in flow.py: TaskGetData, TaskScaled, TaskTrain.",
        ),
        (
            ["run", "flow.py:TaskTrain", "alpha=2"],
            "'alpha=2': name a task as module:Task or path/flow.py:Task. "
            "A parameter value goes after --param: --param alpha=2",
        ),
        (["why", "missing.py:TaskTrain"], "no flow file missing.py (looked from {cwd})"),
        (
            ["run", "nosuchmodule:Task"],
            "no module named 'nosuchmodule' (the working directory {cwd} and installed packages "
            "were searched); name a flow file as path/flow.py:Task",
        ),
        (
            ["run", "flow.py:TaskTrain", "--executor", "threads"],
            "Unknown executor 'threads'; known: ['dask', 'inline', 'process']",
        ),
    ],
)
def test_bad_usage_exits_2_with_one_line_that_says_what_to_do(cli, flow, argv, message):
    code, out, err = cli(*argv)
    assert code == 2
    assert err == f"d6tflow {argv[0]}: error: {message.format(cwd=flow.parent)}\n"
    assert out == ""


def test_bad_usage_exits_2_in_a_real_process_without_a_traceback(flow):
    result = _cli("run", "flow.py:TaskTrain", "--param", "alpha", cwd=flow.parent)
    assert result.returncode == 2
    assert result.stderr == (
        "d6tflow run: error: --param 'alpha': write name=value, e.g. --param alpha=0.5\n"
    )


def test_a_flow_file_that_fails_to_import_shows_its_traceback_and_exits_2(cli, flow):
    flow.write_text(FLOW + "\nraise RuntimeError('no database')\n")
    code, _, err = cli("run", "flow.py:TaskTrain")
    assert code == 2
    assert "RuntimeError: no database" in err
    assert err.splitlines()[-1] == (
        "d6tflow run: error: flow.py raised RuntimeError while being imported (traceback above)"
    )


COMMANDS = [
    "run", "preview", "show", "why", "accept", "ls", "invalidate", "reset", "gc", "verify",
    "draw", "report",
]  # fmt: skip


@pytest.mark.parametrize("command", [None, *COMMANDS, "push", "pull"])
def test_help_on_every_command(cli, command):
    argv = ["--help"] if command is None else [command, "--help"]
    with pytest.raises(SystemExit) as exited:
        cli(*argv)
    assert exited.value.code == 0


def test_help_in_a_real_process_lists_the_commands_and_the_exit_codes(tmp_path):
    result = _cli("--help", cwd=tmp_path)
    assert result.returncode == 0
    assert "Exit codes: 0 success, 1 a task failed" in " ".join(result.stdout.split())
    for command in [*COMMANDS, "push", "pull"]:
        assert command in result.stdout


def test_no_command_prints_help_and_exits_2(cli):
    code, _, err = cli()
    assert code == 2
    assert "usage: d6tflow" in err


def test_console_script_entry_point_is_cli_main():
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    config = tomllib.loads((SRC.parent / "pyproject.toml").read_text())
    assert config["project"]["scripts"] == {"d6tflow": "d6tflow.cli:main"}


# -- the catalog, why, invalidate, gc, verify ---------------------------------------------------


def test_ls_prints_the_catalog_of_the_data_folder(cli, flow):
    code, out, _ = cli("ls")
    assert (code, out) == (0, f"No outputs recorded under {flow.parent / 'data'}\n")
    cli("run", "flow.py:TaskTrain")
    code, out, _ = cli("ls")
    assert code == 0
    header, *rows = out.splitlines()
    assert header.split() == ["task_family", "params", "started", "duration", "size", "outputs"]
    assert [row.split()[0] for row in rows] == ["TaskGetData", "TaskTrain"]
    assert "TaskGetData_5_" in rows[0]


def test_invalidate_lists_without_yes_and_deletes_with_yes(cli, flow):
    cli("run", "flow.py:TaskTrain")
    code, out, _ = cli("invalidate", "flow.py:TaskTrain", "--upstream")
    assert code == 0
    assert out.splitlines() == [
        "The outputs of 2 task(s) would be deleted (add --yes to delete):",
        "  TaskGetData(n=5)",
        "  TaskTrain(n=5, alpha=0.5)",
    ]
    code, out, _ = cli("why", "flow.py:TaskTrain")
    assert "is COMPLETE" in out
    code, out, _ = cli("reset", "flow.py:TaskTrain", "--yes")
    assert (code, out) == (0, "Deleted the outputs of 1 task(s)\n")
    code, out, _ = cli("why", "flow.py:TaskTrain")
    assert out.startswith("TaskTrain(n=5, alpha=0.5) is PENDING: ")


def _dead_temp_file(folder: Path, name: str) -> Path:
    """A temporary file left by a process that ended before saving (a real, finished one)."""
    code = (
        "import sys; from d6tflow import store; "
        "open(store.temp_path(sys.argv[1]), 'w').write('half')"
    )
    subprocess.run([sys.executable, "-c", code, str(folder / name)], check=True, timeout=60)
    (found,) = folder.glob(f"{store.TEMP_PREFIX}*-{name}")
    return found


def test_gc_lists_orphans_and_dead_temporary_files_then_deletes_them_with_yes(cli, flow):
    cli("run", "flow.py:TaskTrain", "-p", "alpha=1")
    cli("run", "flow.py:TaskTrain", "-p", "alpha=2")
    data = flow.parent / "data"
    old = _output_of_train(data, "1_0_5")
    dead = _dead_temp_file(data / "TaskGetData", "leftover.parquet")
    # Written by this process, which is running: its run is not over.
    live = Path(store.temp_path(str(data / "TaskGetData" / "saving.parquet")))
    live.write_text("half")

    code, out, _ = cli("gc")
    assert code == 0
    assert out.splitlines() == [
        "1 file(s) that ended runs left behind would be deleted (add --yes to delete):",
        f"  {dead}",
        "Name the flows to keep (d6tflow gc flow.py:TaskTrain) to list orphan outputs too.",
    ]
    code, out, _ = cli("gc", "flow.py:TaskTrain", "-p", "alpha=2")
    assert code == 0
    assert out.splitlines()[0] == (
        "2 file(s) no flow named here produces would be deleted (add --yes to delete):"
    )
    assert sorted(out.splitlines()[1:]) == sorted([f"  {old}", f"  {dead}"])
    assert old.exists() and dead.exists()

    code, out, _ = cli("gc", "flow.py:TaskTrain", "-p", "alpha=2", "--yes")
    assert (code, out) == (0, "Deleted 2 file(s)\n")
    assert not old.exists() and not dead.exists() and live.exists()
    code, out, _ = cli("why", "flow.py:TaskTrain", "-p", "alpha=2")
    assert "COMPLETE" in out


def test_gc_yes_without_tasks_deletes_only_dead_temporary_files(cli, flow):
    cli("run", "flow.py:TaskGetData")
    dead = _dead_temp_file(flow.parent / "data" / "TaskGetData", "leftover.parquet")
    code, out, _ = cli("gc", "--yes")
    assert (code, out) == (0, "Deleted 1 file(s)\n")
    assert not dead.exists()
    code, out, _ = cli("why", "flow.py:TaskGetData")
    assert "COMPLETE" in out


def test_verify_exits_1_naming_an_output_changed_since_it_was_written(cli, flow):
    cli("run", "flow.py:TaskTrain")
    code, out, _ = cli("verify")
    assert (code, out) == (0, "Every recorded output has the content it was written with\n")
    output = _output_of_train(flow.parent / "data", "0_5_5")
    with output.open("ab") as f:
        f.write(b"!")
    code, out, _ = cli("verify", "flow.py:TaskTrain")
    assert code == 1
    size = output.stat().st_size
    assert out.splitlines()[0].startswith(
        f"{output}: size {size} bytes, written as {size - 1} (TaskTrain_0_5_5_"
    )
    assert out.splitlines()[1] == "1 output(s) differ from what was written: rerun their tasks"


# -- sharing ------------------------------------------------------------------------------------


def test_push_then_pull_into_another_data_folder(flow, tmp_path):
    pytest.importorskip("fsspec")
    remote = (tmp_path / "team").as_uri()
    assert _cli("run", "flow.py:TaskTrain", cwd=flow.parent).returncode == 0
    pushed = _cli("push", "flow.py:TaskTrain", "--remote", remote, cwd=flow.parent)
    assert pushed.returncode == 0, pushed.stderr
    assert pushed.stdout.startswith("pushed 2 task(s), 2 file(s)")
    pulled = _cli(
        "pull", "flow.py:TaskTrain", "--remote", remote, "--dir", "colleague", cwd=flow.parent
    )
    assert pulled.returncode == 0, pulled.stderr
    assert pulled.stdout.startswith("pulled 2 task(s), 2 file(s)")
    why = _cli("why", "flow.py:TaskTrain", "--dir", "colleague", cwd=flow.parent)
    assert why.stdout.splitlines() == [TRAIN_COMPLETE, "Nothing changed that makes it rerun."]


# -- pictures and the report ----------------------------------------------------------------------


def test_draw_prints_mermaid_and_dot_text_and_writes_an_svg(cli, flow, monkeypatch):
    monkeypatch.chdir(flow.parent)
    assert cli("run", "flow.py:TaskGetData")[0] == 0
    code, mermaid, _ = cli("draw", "flow.py:TaskTrain", "--format", "mermaid")
    assert code == 0 and mermaid.startswith("flowchart")
    assert ":::complete" in mermaid and ":::pending" in mermaid
    code, dot_text, _ = cli("draw", "flow.py:TaskTrain", "--format", "dot")
    assert code == 0 and dot_text.startswith("digraph") and "TaskGetData" in dot_text


@pytest.mark.usefixtures("dot")
def test_draw_writes_an_svg_picture(cli, flow, monkeypatch):
    monkeypatch.chdir(flow.parent)
    code, out, _ = cli("draw", "flow.py:TaskTrain", "-o", "flow.svg")
    assert (code, out.strip()) == (0, "flow.svg")
    assert (flow.parent / "flow.svg").read_text().count('class="node"') == 2


def test_report_writes_a_page_with_a_row_per_task(cli, flow, monkeypatch):
    monkeypatch.chdir(flow.parent)
    assert cli("run", "flow.py:TaskTrain")[0] == 0
    code, out, _ = cli("report", "flow.py:TaskTrain", "-o", "r.html")
    assert (code, out.strip()) == (0, "r.html")
    page = (flow.parent / "r.html").read_text()
    assert "TaskGetData" in page and "TaskTrain" in page


def test_ls_history_lists_every_run_with_why_it_ran(cli, flow):
    cli("run", "flow.py:TaskGetData")
    cli("run", "flow.py:TaskGetData", "--force")
    code, out, _ = cli("ls", "--history")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == [
        "task_family", "params", "started", "duration", "reason", "metadata", "size"
    ]  # fmt: skip
    assert [line.split()[0] for line in lines[1:]] == ["TaskGetData", "TaskGetData"]
    assert "parameters new" in lines[1]
    code, out, _ = cli("ls")
    assert len(out.splitlines()) == 2  # the catalog: the current output only


def test_accept_keeps_outputs_after_a_change_that_does_not_matter(flow):
    assert _cli("run", "flow.py:TaskTrain", cwd=flow.parent).returncode == 0
    flow.write_text(FLOW.replace("FACTOR = 3", "FACTOR = 3  # the same, said again"))
    flow.write_text(flow.read_text().replace("return pd.DataFrame", "frame = pd.DataFrame"))
    flow.write_text(flow.read_text().replace(" * FACTOR\n", " * FACTOR\n    return frame\n"))
    assert "STALE" in _cli("why", "flow.py:TaskTrain", cwd=flow.parent).stdout
    accepted = _cli("accept", "flow.py:TaskTrain", "--yes", cwd=flow.parent)
    assert accepted.returncode == 0, accepted.stderr
    assert accepted.stdout.splitlines() == ["accepted 1 task(s)", "  TaskGetData(n=5)"]
    assert "is COMPLETE" in _cli("why", "flow.py:TaskTrain", cwd=flow.parent).stdout
    why = _cli("why", "flow.py:TaskGetData", cwd=flow.parent).stdout
    assert "is COMPLETE" in why and "accepted on" in why
