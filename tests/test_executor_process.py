"""workers=N: tasks run in a pool of worker processes on this machine, and behave as inline."""

from __future__ import annotations

import contextlib
import linecache
import logging
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

import d6tflow
from d6tflow.errors import FlowFailedError
from d6tflow.executors import InlineExecutor, get_executor
from d6tflow.executors.process import ProcessExecutor
from d6tflow.executors.shipping import RemoteTaskError, WorkerDiedError
from d6tflow.scheduler import TaskState
from slow_format import slow_format_source

pytestmark = pytest.mark.timeout(120)


def wait_for(path: str, what: str) -> None:
    """Wait (60 s at most) until ``path`` exists: how a task knows another one started."""
    deadline = time.monotonic() + 60
    while not os.path.exists(path):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: {path} never appeared")
        time.sleep(0.01)


class TaskPid(d6tflow.tasks.TaskPickle):
    """Saves the pid of the process that ran it. ``started``: a file it leaves when it starts;
    ``meet``: a file it waits for before it finishes (another task's ``started``)."""

    name = d6tflow.Parameter(default="a")
    started = d6tflow.Parameter(default="")
    meet = d6tflow.Parameter(default="")

    def run(self):
        if self.started:
            open(self.started, "w").close()
        if self.meet:
            wait_for(self.meet, f"{self!r} waited for a task running at the same time")
        self.save({"pid": os.getpid()})


class TaskMemory(d6tflow.tasks.TaskCache):
    value = d6tflow.IntParameter(default=1)

    def run(self):
        self.save({"value": self.value, "pid": os.getpid()})


@d6tflow.requires(TaskMemory)
class TaskUsesMemory(d6tflow.tasks.TaskPickle):
    value = d6tflow.IntParameter(default=1)

    def run(self):
        self.save(self.inputLoad()["value"] * 10)


class TaskFails(d6tflow.tasks.TaskPickle):
    def run(self):
        raise ValueError("the input had no rows")


@d6tflow.requires(TaskFails)
class TaskAfterFailure(d6tflow.tasks.TaskPickle):
    def run(self):
        self.save("never")


class NeedsTwoArguments(Exception):
    def __init__(self, table, rows):
        super().__init__(f"{table} has {rows} rows")


class TaskRaisesOddException(d6tflow.tasks.TaskPickle):
    def run(self):
        raise NeedsTwoArguments("sales", 0)


class TaskUnpicklableOutput(d6tflow.tasks.TaskCache):
    def run(self):
        self.save(threading.Lock())


class TaskKillsItself(d6tflow.tasks.TaskPickle):
    """Its worker process dies: every time, or only the first time (``once``). ``after``: a file
    to wait for first (so another task is running when the pool breaks); ``attempts``: a file
    it adds a line to each time it starts."""

    once = d6tflow.BoolParameter(default=False)
    flag = d6tflow.Parameter(default="")
    after = d6tflow.Parameter(default="")
    attempts = d6tflow.Parameter(default="")

    def run(self):
        if self.attempts:
            with open(self.attempts, "a") as f:
                f.write("started\n")
        if not self.once or not os.path.exists(self.flag):
            if self.once:
                open(self.flag, "w").close()
            if self.after:
                wait_for(self.after, "the other task never started")
            os.kill(os.getpid(), signal.SIGKILL)
        self.save("survived")


@d6tflow.requires(TaskKillsItself)
class TaskAfterKill(d6tflow.tasks.TaskPickle):
    def run(self):
        self.save("never")


def run(tasks, **kwargs):
    kwargs.setdefault("execution_summary", False)
    kwargs.setdefault("workers", 2)
    return d6tflow.run(tasks, **kwargs)


def test_workers_above_one_use_a_process_pool_and_one_runs_inline(caplog):
    assert isinstance(get_executor(None, workers=2), ProcessExecutor)
    assert isinstance(get_executor(None, workers=1), InlineExecutor)
    assert get_executor("process", workers=3).capacity == 3
    with caplog.at_level(logging.WARNING, logger="d6tflow"):
        assert isinstance(get_executor("inline", workers=2), InlineExecutor)
    assert "one task at a time" in caplog.text
    with pytest.raises(TypeError, match="start_method"):
        get_executor("process", workers=2, adress="typo")
    with pytest.raises(ValueError, match="fork"):
        get_executor("process", workers=2, start_method="fork")


def test_run_with_workers_takes_the_process_pools_options():
    tasks = [TaskPid(name="a"), TaskPid(name="b")]
    assert run(tasks, grace_period=1)
    assert all(t.complete() for t in tasks)


def test_independent_tasks_run_at_the_same_time_in_other_processes(tmp_path):
    # Each waits for the other to start: run one after the other, the first would time out.
    a_started, b_started = str(tmp_path / "a-started"), str(tmp_path / "b-started")
    tasks = [
        TaskPid(name="a", started=a_started, meet=b_started),
        TaskPid(name="b", started=b_started, meet=a_started),
    ]
    assert run(tasks)
    a, b = (t.outputLoad() for t in tasks)
    assert len({a["pid"], b["pid"], os.getpid()}) == 3


def test_outputs_of_workers_are_complete_for_a_later_inline_run():
    tasks = [TaskUsesMemory(value=v) for v in (1, 2, 3)]
    assert run(tasks)
    again = run(tasks, workers=1)
    assert set(again.status.values()) == {TaskState.COMPLETE}


def test_in_memory_outputs_reach_downstream_tasks_and_the_caller():
    assert run([TaskUsesMemory(value=2), TaskUsesMemory(value=3)])
    assert TaskUsesMemory(value=2).outputLoad() == 20
    assert TaskUsesMemory(value=3).outputLoad() == 30
    memory = TaskMemory(value=2).outputLoad()
    assert memory["value"] == 2 and memory["pid"] != os.getpid()  # a copy made in a worker
    assert TaskMemory(value=2).output().path in d6tflow.data


def test_in_memory_output_of_an_earlier_run_goes_to_the_worker_that_needs_it():
    TaskMemory(value=4).output().save({"value": 4, "pid": os.getpid()})  # already in memory
    result = run(TaskUsesMemory(value=4))
    assert result.status[TaskMemory(value=4)] == TaskState.COMPLETE
    assert TaskUsesMemory(value=4).outputLoad() == 40


def test_failure_in_a_worker_comes_back_as_inline_with_its_traceback():
    result = run([TaskAfterFailure(), TaskPid(name="independent")], abort=False)
    assert result.status[TaskAfterFailure()] == TaskState.SKIPPED
    assert result.status[TaskPid(name="independent")] == TaskState.DONE
    (failure,) = result.failures
    assert isinstance(failure.exception, ValueError)
    assert str(failure.exception) == "the input had no rows"
    assert 'raise ValueError("the input had no rows")' in failure.traceback
    assert "in run" in failure.traceback
    with pytest.raises(FlowFailedError, match="the input had no rows"):
        run(TaskFails())


def test_exception_that_cannot_be_unpickled_comes_back_as_runtime_error():
    result = run(TaskRaisesOddException(), abort=False)
    (failure,) = result.failures
    assert isinstance(failure.exception, RemoteTaskError)
    assert isinstance(failure.exception, RuntimeError)
    assert "NeedsTwoArguments" in str(failure.exception)
    assert "sales has 0 rows" in str(failure.exception)
    assert "raise NeedsTwoArguments" in failure.traceback


def test_unpicklable_in_memory_output_fails_its_task_clearly():
    result = run(TaskUnpicklableOutput(), abort=False)
    (failure,) = result.failures
    assert "must be picklable" in str(failure.exception)


def test_task_that_cannot_be_pickled_fails_clearly_and_the_rest_runs():
    class TaskHoldsLock(d6tflow.tasks.TaskPickle):
        def run(self):
            self.save(1)

    holder = TaskHoldsLock()
    holder.lock = threading.Lock()
    result = run([holder, TaskPid(name="other")], abort=False)
    assert result.status[TaskPid(name="other")] == TaskState.DONE
    (failure,) = result.failures
    assert "cannot be sent to a worker process" in str(failure.exception)


def test_task_holding_a_lambda_travels_by_value():
    task = TaskPid(name="lambda")
    task.transform = lambda record: {**record, "doubled": True}
    assert run([task])
    assert task.outputLoad()["pid"] != os.getpid()


def test_tasks_defined_inside_a_function_run_in_workers():
    def make_flow(factor):
        class TaskBase(d6tflow.tasks.TaskPickle):
            n = d6tflow.IntParameter()

            def run(self):
                self.save(self.n * factor)

        @d6tflow.requires(TaskBase)
        class TaskTop(d6tflow.tasks.TaskPickle):
            n = d6tflow.IntParameter()

            def run(self):
                self.save((self.inputLoad(), os.getpid()))

        return TaskTop

    top = make_flow(3)
    assert run([top(n=1), top(n=2)])
    assert top(n=2).outputLoad()[0] == 6
    assert top(n=2).outputLoad()[1] != os.getpid()


def test_code_fingerprint_is_the_parents_even_where_workers_cannot_read_the_source():
    # A notebook cell: its source is in this process's linecache only, never on disk.
    source = textwrap.dedent(
        """
        class TaskInCell(d6tflow.tasks.TaskPickle):
            def run(self):
                total = 0
                for i in range(3):
                    total += i
                self.save(total)
        """
    )
    filename = "<notebook-cell-7>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    namespace = {"d6tflow": d6tflow, "__name__": "__main__"}
    exec(compile(source, filename, "exec"), namespace)
    task = namespace["TaskInCell"]()
    assert run(task)
    assert d6tflow.run(task, execution_summary=False).status[task] == TaskState.COMPLETE


def test_relative_data_folder_and_settings_reach_workers(tmp_path):
    d6tflow.set_dir("relative-data")
    d6tflow.settings.save_with_param = False
    assert run([TaskPid(name="x")])
    assert (tmp_path / "relative-data" / "TaskPid" / "data.pkl").exists()


def test_killed_worker_fails_its_task_and_the_rest_of_the_graph_goes_on(tmp_path, caplog):
    started = str(tmp_path / "other-started")
    # Started before the pool breaks: if still running then, it runs again in a fresh pool.
    other = TaskPid(name="other", started=started)
    after_kill = TaskAfterKill(after=started)
    result = run([after_kill, other], abort=False)
    assert result.status[other] == TaskState.DONE
    assert result.status[after_kill] == TaskState.SKIPPED
    (failure,) = result.failures
    assert isinstance(failure.exception, WorkerDiedError)
    message = str(failure.exception)
    assert "worker process died while running TaskKillsItself(" in message
    assert "killed or out of memory" in message and "SIGKILL" in message


def test_task_whose_worker_died_once_is_run_again(tmp_path):
    started = str(tmp_path / "b-started")
    task = TaskKillsItself(once=True, flag=str(tmp_path / "died-once"), after=started)
    assert run([task, TaskPid(name="b", started=started)])
    assert task.outputLoad() == "survived"


def test_task_whose_worker_dies_every_time_is_tried_twice_then_fails(tmp_path):
    attempts = tmp_path / "attempts"
    task = TaskKillsItself(attempts=str(attempts))
    result = run([task], abort=False)
    (failure,) = result.failures
    assert isinstance(failure.exception, WorkerDiedError)
    # Once more after the first death, not again: each try may cost the machine its memory.
    assert attempts.read_text().splitlines() == ["started", "started"]


MAIN_SCRIPT = textwrap.dedent(
    """
    import enum, os, sys
    import d6tflow

    print("script body ran in", os.getpid(), flush=True)
    d6tflow.set_dir(sys.argv[1])

    class Unit(enum.Enum):
        ONE = 1

    class TaskSquare(d6tflow.tasks.TaskPickle):
        n = d6tflow.IntParameter()
        unit = d6tflow.EnumParameter(enum=Unit, default=Unit.ONE)

        def run(self):
            self.save((self.n ** 2 * self.unit.value, os.getpid()))

    class TaskNumbers(d6tflow.tasks.TaskCache):
        def run(self):
            self.save([1, 2, 3])

    @d6tflow.requires(TaskNumbers)
    class TaskTotal(d6tflow.tasks.TaskPickle):
        def run(self):
            self.save(sum(self.inputLoad()))

    # No `if __name__ == "__main__":` guard, as scripts written for the original d6tflow often are.
    tasks = [TaskSquare(n=n) for n in range(4)] + [TaskTotal()]
    d6tflow.run(tasks, workers=2, execution_summary=False)
    pids = {t.outputLoad()[1] for t in tasks[:4]}
    print("squares", [t.outputLoad()[0] for t in tasks[:4]], "total", TaskTotal().outputLoad())
    print("parent ran none", os.getpid() not in pids, "numbers", TaskNumbers().outputLoad())
    """
)


@pytest.mark.slow
def test_tasks_in_main_of_a_script_without_guard_run_in_workers(tmp_path):
    script = tmp_path / "flow.py"
    script.write_text(MAIN_SCRIPT)
    done = subprocess.run(
        [sys.executable, str(script), str(tmp_path / "data")],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("script body ran") == 1  # workers did not re-run the script
    assert "squares [0, 1, 4, 9] total 6" in done.stdout
    assert "parent ran none True numbers [1, 2, 3]" in done.stdout


INTERRUPT_SCRIPT = (
    textwrap.dedent(
        """
    import os, signal, sys, time
    import d6tflow
    from d6tflow.formats import Format, register

    # Ctrl-C as in a terminal: a test runner started in the background (`cmd &` without job
    # control) passes SIGINT on ignored, and Python then keeps ignoring it.
    signal.signal(signal.SIGINT, signal.default_int_handler)

    """
    )
    + slow_format_source(
        "slowbytes", 'sys.argv[2] == "hang"', "os.path.join(sys.argv[3], str(os.getpid()))"
    )
    + textwrap.dedent(
        """

    class TaskSlow(d6tflow.tasks.TaskData):
        format = "slowbytes"
        n = d6tflow.IntParameter()

        def run(self):
            self.save(b"x" * 100_000)

    d6tflow.set_dir(sys.argv[1])
    tasks = [TaskSlow(n=n) for n in range(4)]
    d6tflow.run(tasks, workers=2, execution_summary=False)
    print("done", [len(t.outputLoad()) for t in tasks])
    """
    )
)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    status = Path(f"/proc/{pid}/stat")
    return not (status.exists() and status.read_text().split(") ")[-1].startswith("Z"))


def _start_hanging_flow(tmp_path, **popen_options):
    """The interrupt script in a process of its own, its two workers hanging mid-save (each
    writes a marker named by its pid)."""
    script = tmp_path / "flow.py"
    script.write_text(INTERRUPT_SCRIPT)
    data, markers = tmp_path / "data", tmp_path / "mid-write"
    markers.mkdir()
    command = [sys.executable, str(script), str(data), "hang", str(markers)]
    return subprocess.Popen(command, **popen_options), script, data, markers


@pytest.mark.slow
def test_ctrl_c_stops_workers_and_leaves_no_half_written_output(tmp_path):
    proc, script, data, markers = _start_hanging_flow(
        tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 60
        while len(os.listdir(markers)) < 2:  # both workers are in the middle of a write
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the tasks never started"
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode != 0
    assert "KeyboardInterrupt" in err
    worker_pids = [int(name) for name in os.listdir(markers)]
    assert not any(_alive(pid) for pid in worker_pids)
    files = sorted(p.name for p in (data / "TaskSlow").iterdir())
    assert not [f for f in files if f.endswith(".slowbytes")], files
    assert ".manifests.jsonl" not in files, files  # no task was recorded as committed
    assert not [f for f in files if f.startswith(".tmp-")], files  # workers cleaned up

    rerun = subprocess.run(
        [sys.executable, str(script), str(data), "fast", str(markers)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert rerun.returncode == 0, rerun.stderr
    assert "done [100000, 100000, 100000, 100000]" in rerun.stdout


def _running_in_group(pgid: int) -> dict[int, str]:
    """{pid: command line} of the processes of a process group that have not ended (Linux)."""
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            command = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:  # ended meanwhile
            continue
        fields = stat.rpartition(")")[2].split()
        if int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
            found[int(entry)] = command.decode(errors="replace")[:120]
    return found


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads processes from /proc")
def test_killing_the_flow_process_ends_its_workers_fork_server_and_tracker(tmp_path):
    # A session of its own: the run's processes (workers, fork server, resource tracker) are
    # then the process group whose id is the flow process's pid, even after it is gone.
    proc, _, data, markers = _start_hanging_flow(
        tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    left: dict[int, str] = {}
    try:
        deadline = time.monotonic() + 60
        while len(os.listdir(markers)) < 2:  # both workers are in the middle of a write
            assert proc.poll() is None, "the flow exited before its tasks started"
            assert time.monotonic() < deadline, "the tasks never started"
            time.sleep(0.05)
        started = _running_in_group(proc.pid)
        worker_pids = {int(name) for name in os.listdir(markers)}
        assert worker_pids <= started.keys() and len(started) >= 5, started

        proc.kill()
        proc.wait(timeout=10)
        deadline = time.monotonic() + 10
        while (left := _running_in_group(proc.pid)) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert left == {}, f"still running 10 s after the flow process was killed: {left}"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for pid in _running_in_group(proc.pid):
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
    # The workers were stopped as by the pool: their tasks unwound and removed their staged files.
    files = sorted(p.name for p in (data / "TaskSlow").iterdir())
    assert not [f for f in files if not f.startswith(".")], files
    assert not [f for f in files if f.startswith(".tmp-")], files
