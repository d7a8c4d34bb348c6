"""executor="dask": flows run on a real Dask cluster (scheduler and two workers on 127.0.0.1)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

import d6tflow
from d6tflow.errors import FlowFailedError
from d6tflow.executors.dask import DaskExecutor, DataFolderNotSharedError
from d6tflow.executors.shipping import WorkerDiedError
from d6tflow.formats import Format, register
from d6tflow.scheduler import TaskState

pytest.importorskip("distributed")
pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]


class TaskWhere(d6tflow.tasks.TaskPickle):
    """Saves which process ran it, and when."""

    n = d6tflow.IntParameter()
    seconds = d6tflow.FloatParameter(default=0.0)

    def run(self):
        start = time.time()
        time.sleep(self.seconds)
        self.save({"pid": os.getpid(), "host": socket.gethostname(), "start": start})


class TaskNumbers(d6tflow.tasks.TaskCache):
    def run(self):
        self.save([1, 2, 3])


@d6tflow.requires({"numbers": TaskNumbers, "where": TaskWhere})
class TaskReport(d6tflow.tasks.TaskPickle):
    n = d6tflow.IntParameter()
    seconds = d6tflow.FloatParameter(default=0.0)

    def run(self):
        data = self.inputLoad()
        self.save({"total": sum(data["numbers"]) * self.n, "upstream_pid": data["where"]["pid"]})


class TaskBroken(d6tflow.tasks.TaskPickle):
    def run(self):
        raise KeyError("column 'price' is missing")


@d6tflow.requires(TaskBroken)
class TaskAfterBroken(d6tflow.tasks.TaskPickle):
    def run(self):
        self.save("never")


@register
class HalfThenWaitFormat(Format):
    """Writes half the bytes, leaves a marker with the worker's pid, then waits to be killed
    (only the first time: the flag file exists afterwards)."""

    name = ext = "halfwait"

    def save(self, obj, path, flag=None, **kwargs):
        with open(path, "wb") as f:
            f.write(obj[: len(obj) // 2])
            f.flush()
            if not os.path.exists(flag):
                with open(flag, "w") as marker:
                    marker.write(str(os.getpid()))
                time.sleep(120)
            f.write(obj[len(obj) // 2 :])

    def load(self, path, **kwargs):
        with open(path, "rb") as f:
            return f.read()


class TaskHalfWritten(d6tflow.tasks.TaskData):
    format = "halfwait"
    flag = d6tflow.Parameter()

    def run(self):
        self.save(b"y" * 200_000, flag=self.flag)


class TaskKillsWorker(d6tflow.tasks.TaskPickle):
    def run(self):
        os._exit(137)  # as if the out-of-memory killer struck, on every worker it runs on


def run(tasks, **kwargs):
    kwargs.setdefault("execution_summary", False)
    return d6tflow.run(tasks, **kwargs)


def test_flow_runs_on_the_cluster_with_in_memory_outputs_and_parallel_branches(dask_cluster):
    tasks = [TaskReport(n=n, seconds=1.0) for n in range(1, 5)]
    result = run(tasks, executor="dask", address=dask_cluster.address)
    assert result
    assert {t.outputLoad()["total"] for t in tasks} == {6, 12, 18, 24}
    assert TaskNumbers().outputLoad() == [1, 2, 3]  # an in-memory output, copied back here
    wheres = [TaskWhere(n=n, seconds=1.0).outputLoad() for n in range(1, 5)]
    assert os.getpid() not in {w["pid"] for w in wheres}
    assert len({w["pid"] for w in wheres}) == 2  # both workers took tasks
    again = run(tasks, executor="dask", address=dask_cluster.address)
    assert set(again.status.values()) == {TaskState.COMPLETE}  # same manifests as inline


def test_summary_is_the_same_as_inline(dask_cluster, capsys, tmp_path):
    tasks = [TaskReport(n=n) for n in (1, 2)]
    run(tasks, execution_summary=True, executor="dask", address=dask_cluster.address)
    on_dask = capsys.readouterr().out
    d6tflow.set_dir(tmp_path / "inline")
    d6tflow.data.clear()
    run(tasks, execution_summary=True)
    assert capsys.readouterr().out == on_dask


def test_failure_comes_back_with_its_traceback_and_other_branches_go_on(dask_client):
    result = run([TaskAfterBroken(), TaskWhere(n=7)], executor=dask_client, abort=False)
    assert result.status[TaskWhere(n=7)] == TaskState.DONE
    assert result.status[TaskAfterBroken()] == TaskState.SKIPPED
    (failure,) = result.failures
    assert isinstance(failure.exception, KeyError)
    assert "column 'price' is missing" in str(failure.exception)
    assert "raise KeyError(\"column 'price' is missing\")" in failure.traceback
    with pytest.raises(FlowFailedError, match="price"):
        run(TaskBroken(), executor="dask", client=dask_client)
    assert dask_client.status == "running"  # a client passed in is left open


class TaskFlaky(d6tflow.tasks.TaskPickle):
    """Fails the first time (the database did not answer), works the second."""

    flag = d6tflow.Parameter()

    def run(self):
        if not os.path.exists(self.flag):
            open(self.flag, "w").close()
            raise ConnectionError("the database did not answer")
        self.save("rows")


def test_retries_let_dask_run_a_failed_task_again(dask_client, tmp_path):
    task = TaskFlaky(flag=str(tmp_path / "tried"))
    assert run(task, executor=dask_client, retries=1)
    assert task.outputLoad() == "rows"
    other = TaskFlaky(flag=str(tmp_path / "tried-too"))
    result = run(other, executor=dask_client, abort=False)  # no retries: the failure stands
    assert isinstance(result.failures[0].exception, ConnectionError)


def test_nothing_to_run_starts_no_cluster(monkeypatch):
    assert run(TaskWhere(n=11))
    monkeypatch.setattr(
        DaskExecutor, "_start_local", lambda *args: pytest.fail("a cluster was started")
    )
    assert run(TaskWhere(n=11), executor="dask")


def test_worker_killed_mid_write_is_rerun_and_no_half_written_output_counts(dask_client, tmp_path):
    flag = tmp_path / "first-attempt"
    task = TaskHalfWritten(flag=str(flag))
    outcome = {}
    runner = threading.Thread(
        target=lambda: outcome.setdefault("result", run(task, executor=dask_client, abort=False))
    )
    runner.start()
    deadline = time.monotonic() + 60
    while not (flag.exists() and flag.read_text()):
        assert time.monotonic() < deadline, "the task never started"
        time.sleep(0.05)
    assert not task.complete()  # half written, staged under a temporary name: not an output
    os.kill(int(flag.read_text()), signal.SIGKILL)
    runner.join(timeout=180)
    assert not runner.is_alive()
    result = outcome["result"]
    assert result, result.failures  # Dask ran it again on a live worker
    assert task.outputLoad() == b"y" * 200_000
    assert d6tflow.run(task, execution_summary=False).status[task] == TaskState.COMPLETE
    dask_client.wait_for_workers(2, timeout=90)


def test_task_that_keeps_killing_its_worker_fails_clearly(dask_client):
    result = run([TaskKillsWorker(), TaskWhere(n=8)], executor=dask_client, abort=False)
    assert result.status[TaskWhere(n=8)] == TaskState.DONE
    (failure,) = result.failures
    assert isinstance(failure.exception, WorkerDiedError)
    assert "worker process died while running TaskKillsWorker()" in str(failure.exception)
    assert not TaskKillsWorker().output().exists()
    dask_client.wait_for_workers(2, timeout=90)  # the nannies restart them for the next tests


def test_local_cluster_is_started_for_the_run_and_closed_after(monkeypatch):
    started = []
    original = DaskExecutor._start_local

    def spy(self, *args):
        cluster, client = original(self, *args)
        started.append(cluster)
        return cluster, client

    monkeypatch.setattr(DaskExecutor, "_start_local", spy)
    tasks = [TaskReport(n=n) for n in (1, 2, 3)]
    assert run(tasks, executor="dask", workers=2)
    assert sorted(t.outputLoad()["total"] for t in tasks) == [6, 12, 18]
    (cluster,) = started
    assert cluster.status.name == "closed"


def test_workers_on_another_machine_with_a_local_data_folder_are_refused(dask_client, monkeypatch):
    monkeypatch.setattr("d6tflow.executors.dask._is_local", lambda host: False)
    with pytest.raises(DataFolderNotSharedError, match="shared_folder=True"):
        run(TaskWhere(n=9), executor=dask_client)
    assert not TaskWhere(n=9).output().exists()  # refused before anything ran
    assert run(TaskWhere(n=9), executor=dask_client, shared_folder=True)  # e.g. an NFS mount


def test_workflow_and_workflow_multi_run_on_the_cluster(dask_cluster):
    flow = d6tflow.Workflow(TaskReport, {"n": 5})
    assert flow.run(executor="dask", address=dask_cluster.address, execution_summary=False)
    assert flow.outputLoad()["total"] == 30
    flows = d6tflow.WorkflowMulti(TaskReport, {"a": {"n": 6}, "b": {"n": 7}})
    results = flows.run(executor="dask", address=dask_cluster.address, execution_summary=False)
    assert all(results.values())
    assert {k: v["total"] for k, v in flows.outputLoad().items()} == {"a": 36, "b": 42}


def test_dask_dataframe_task_runs_on_the_cluster(dask_cluster):
    import dask.dataframe as dd
    import pandas as pd

    class TaskFrame(d6tflow.tasks.TaskPqDask):
        def run(self):
            frame = pd.DataFrame({"x": range(100), "y": [i % 3 for i in range(100)]})
            self.save(dd.from_pandas(frame, npartitions=4))

    @d6tflow.requires(TaskFrame)
    class TaskTotals(d6tflow.tasks.TaskPqPandas):
        def run(self):
            self.save(self.inputLoad().groupby("y").x.sum().compute().to_frame())

    assert run(TaskTotals(), executor="dask", address=dask_cluster.address)
    assert TaskFrame().outputLoad().npartitions == 4
    assert TaskTotals().outputLoad().x.sum() == sum(range(100))


def test_tasks_of_a_script_run_on_the_cluster(dask_cluster, tmp_path):
    script = tmp_path / "flow.py"
    script.write_text(
        textwrap.dedent(
            """
            import os, sys
            import d6tflow

            @d6tflow.formats.register
            class TextFormat(d6tflow.formats.Format):  # a format of the script's own
                name = ext = "text"

                def save(self, obj, path, **kwargs):
                    with open(path, "w") as f:
                        f.write(obj)

                def load(self, path, **kwargs):
                    with open(path) as f:
                        return f.read()

            class TaskWord(d6tflow.tasks.TaskData):
                format = "text"

                def run(self):
                    self.save("hundred")

            @d6tflow.requires(TaskWord)
            class TaskInMain(d6tflow.tasks.TaskPickle):
                n = d6tflow.IntParameter()

                def run(self):
                    self.save(f"{self.n} {self.inputLoad()}")

            d6tflow.set_dir("data")  # relative: workers start elsewhere
            tasks = [TaskInMain(n=n) for n in range(3)]
            d6tflow.run(tasks, executor="dask", address=sys.argv[1], execution_summary=False)
            print("results", [t.outputLoad() for t in tasks])
            """
        )
    )
    done = subprocess.run(
        [sys.executable, str(script), dask_cluster.address],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert "results ['0 hundred', '1 hundred', '2 hundred']" in done.stdout


class TaskReadFile(d6tflow.tasks.TaskPickle):
    """Reads a number from a file it declares (an absolute path: workers run elsewhere)."""

    source = d6tflow.Parameter()

    def input_files(self):
        return [self.source]

    def run(self):
        with open(self.source) as f:
            self.save(int(f.read()))


@d6tflow.requires(TaskReadFile)
class TaskTenTimesFile(d6tflow.tasks.TaskPickle):
    def run(self):
        self.save(self.inputLoad() * 10)


def test_downstream_reruns_after_its_upstream_reran_on_a_worker(dask_cluster, tmp_path):
    # The upstream task commits on a worker: the run must see its new output, not the hash it
    # read before the run, and rerun the downstream task.
    source = tmp_path / "v.txt"
    source.write_text("1")
    task = TaskTenTimesFile(source=str(source))
    run(task, executor="dask", address=dask_cluster.address)
    source.write_text("2")
    result = run(task, executor="dask", address=dask_cluster.address)
    assert result.status[task] == TaskState.DONE
    assert task.outputLoad() == 20
    source.write_text("02")  # another file, the same value: the downstream task is up to date
    result = run(task, executor="dask", address=dask_cluster.address)
    assert result.status[TaskReadFile(source=str(source))] == TaskState.DONE
    assert result.status[task] == TaskState.UP_TO_DATE


def test_code_edited_since_a_worker_imported_it_runs_as_edited(dask_cluster, tmp_path):
    # Dask workers outlive a run and keep the modules they imported. After an edit, the run
    # records the new code's fingerprint: the workers must run the new code too, or the old
    # result would count as current.
    project = tmp_path / "project"
    project.mkdir()
    (project / "edited_helpers.py").write_text("def factor():\n    return 2\n")
    (project / "edited_flow.py").write_text(
        textwrap.dedent(
            """
            import time

            import d6tflow
            import edited_helpers

            class TaskScaled(d6tflow.tasks.TaskPickle):
                n = d6tflow.IntParameter()

                def run(self):
                    time.sleep(0.2)  # both workers take some
                    self.save(self.n * edited_helpers.factor())
            """
        )
    )
    script = textwrap.dedent(
        f"""
        import sys
        import d6tflow
        import edited_flow
        d6tflow.set_dir({str(tmp_path / "data")!r})
        tasks = [edited_flow.TaskScaled(n=n) for n in range(1, 7)]
        d6tflow.run(tasks, executor="dask", address={dask_cluster.address!r},
                    execution_summary=False)
        print(",".join(str(t.outputLoad()) for t in tasks))
        """
    )

    def run_in_fresh_process():
        done = subprocess.run(
            [sys.executable, "-c", script], cwd=project, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stderr
        return done.stdout.split()[-1]

    assert run_in_fresh_process() == "2,4,6,8,10,12"
    (project / "edited_helpers.py").write_text("def factor():\n    return 3  # edited\n")
    assert run_in_fresh_process() == "3,6,9,12,15,18"


def test_two_projects_with_a_module_of_the_same_name_share_a_cluster(dask_cluster, tmp_path):
    # Workers outlive a run: after project A ran, project B's module of the same name must be
    # the one B's tasks run with, not A's (found on the workers' path first).
    def project(name: str, factor: int) -> Path:
        folder = tmp_path / name
        folder.mkdir()
        (folder / "same_name_flow.py").write_text(
            textwrap.dedent(
                f"""
                import time

                import d6tflow

                class TaskProject(d6tflow.tasks.TaskPickle):
                    n = d6tflow.IntParameter()

                    def run(self):
                        time.sleep(0.2)  # both workers take some
                        self.save(self.n * {factor})
                """
            )
        )
        return folder

    script = textwrap.dedent(
        f"""
        import d6tflow
        import same_name_flow
        d6tflow.set_dir("data")
        tasks = [same_name_flow.TaskProject(n=n) for n in range(1, 7)]
        d6tflow.run(tasks, executor="dask", address={dask_cluster.address!r},
                    execution_summary=False)
        print(",".join(str(t.outputLoad()) for t in tasks))
        """
    )

    def run_in(folder: Path) -> str:
        # Run as a script: its folder (an absolute path) is first on its sys.path.
        (folder / "run.py").write_text(script)
        done = subprocess.run(
            [sys.executable, "run.py"], cwd=folder, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stderr
        return done.stdout.split()[-1]

    assert run_in(project("a", 2)) == "2,4,6,8,10,12"
    assert run_in(project("b", 5)) == "5,10,15,20,25,30"


def test_workers_on_other_hosts_write_to_a_remote_data_folder_directly(
    dask_client, s3, monkeypatch
):
    # The workers are treated as if on another machine (only the host check is replaced: the
    # cluster's processes and the S3 server are real). A local folder is refused (above); an
    # s3:// data folder needs no shared disk: every worker reads and writes it itself.
    monkeypatch.setattr("d6tflow.executors.dask._is_local", lambda host: False)
    url = s3.new_bucket() + "/data"
    d6tflow.set_dir(url, **s3.options)
    tasks = [TaskReport(n=n) for n in (1, 2, 3)]
    assert run(tasks, executor=dask_client)
    assert sorted(t.outputLoad()["total"] for t in tasks) == [6, 12, 18]
    wheres = [TaskWhere(n=n).outputLoad() for n in (1, 2, 3)]
    assert os.getpid() not in {w["pid"] for w in wheres}  # written on the workers
    assert str(TaskWhere(n=1).output().path).startswith(url)
    again = run(tasks, executor=dask_client)
    assert set(again.status.values()) == {TaskState.COMPLETE}


def test_progress_lines_come_from_the_run_loop_with_durations(dask_cluster, monkeypatch, caplog):
    monkeypatch.setattr(d6tflow.settings, "log_level", "INFO")  # not a terminal: lines at INFO
    run([TaskReport(n=7, seconds=0.2)], executor="dask", address=dask_cluster.address)
    lines = [r.getMessage() for r in caplog.records if r.name == "d6tflow"]
    assert any(line.startswith("[3/3] TaskReport(n=7, seconds=0.2) done in ") for line in lines)
    assert any(line.startswith("3/3 tasks in ") for line in lines), lines
