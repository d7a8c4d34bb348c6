"""Temporary files of processes that died mid-save are removed by the next run in their folder;
those of a run that is still going (here or on another machine) never are."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import d6tflow
from d6tflow import store
from slow_format import slow_format_source

pytestmark = [
    pytest.mark.skipif(os.name != "posix", reason="process ids are checked on POSIX"),
    pytest.mark.timeout(60),
]

FLOW = (
    textwrap.dedent(
        """
    import sys, time
    import d6tflow
    from d6tflow.formats import Format, register

    """
    )
    + slow_format_source("slow", 'sys.argv[3] != "-"', "sys.argv[3]")
    + textwrap.dedent(
        """

    class TaskBig(d6tflow.tasks.TaskData):
        format = "slow"
        n = d6tflow.IntParameter()

        def run(self):
            self.save(b"x" * 1_000_000)

    d6tflow.set_dir(sys.argv[1])
    if sys.argv[4:] == ["outside-a-run"]:  # no task lock is held then
        TaskBig(n=int(sys.argv[2])).save(b"x" * 1_000_000)
    else:
        assert d6tflow.run(TaskBig(n=int(sys.argv[2])), execution_summary=False)
    """
    )
)


def _start_mid_save(script: Path, data: Path, n: int, marker: Path, *how: str) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, str(script), str(data), str(n), str(marker), *how])
    deadline = time.monotonic() + 60
    while not marker.exists():
        assert proc.poll() is None, "the flow exited before reaching the save"
        assert time.monotonic() < deadline, "the flow never reached the save"
        time.sleep(0.05)
    return proc


def _run_to_the_end(script: Path, data: Path, n: int) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(script), str(data), str(n), "-"],
        capture_output=True,
        text=True,
        timeout=60,
    )


def _temps(folder: Path) -> list[str]:
    return sorted(n for n in os.listdir(folder) if n.startswith(store.TEMP_PREFIX))


@pytest.mark.slow
def test_next_run_removes_a_killed_runs_staged_file_and_keeps_running_ones(tmp_path):
    script, data = tmp_path / "flow.py", tmp_path / "data"
    script.write_text(FLOW)
    folder = data / "TaskBig"
    running = saving = killed = None
    try:
        running = _start_mid_save(script, data, 2, tmp_path / "running-mid-write")
        saving = _start_mid_save(script, data, 4, tmp_path / "saving", "outside-a-run")
        live = set(_temps(folder))
        killed = _start_mid_save(script, data, 1, tmp_path / "killed-mid-write")
        killed.kill()
        killed.wait(timeout=30)
        assert len(live) == 2 and len(set(_temps(folder)) - live) == 1  # one file each

        other = _run_to_the_end(script, data, 3)
        assert other.returncode == 0, other.stderr
        assert _temps(folder) == sorted(live)  # the killed run's is gone
        assert running.poll() is None and saving.poll() is None
    finally:
        for proc in (running, saving, killed):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait(timeout=30)

    rerun = _run_to_the_end(script, data, 2)
    assert rerun.returncode == 0, rerun.stderr
    assert _temps(folder) == []
    outputs = {
        n.partition("_")[2].partition("_")[0]: (folder / n).stat().st_size
        for n in os.listdir(folder)
        if n.endswith(".slow")
    }
    assert outputs == {"2": 1_000_000, "3": 1_000_000}


LEAVE = textwrap.dedent(
    """
    import os, sys
    from d6tflow import store

    # Each path is saved by a child process that dies in the middle of writing it (a folder for
    # ".pq", as partitioned Parquet writes one): its temporary file or folder stays behind.
    for path in sys.argv[1:]:
        pid = os.fork()
        if pid == 0:
            def write(tmp):
                if tmp.endswith(".pq"):
                    os.makedirs(tmp)
                    open(os.path.join(tmp, "part.0.parquet"), "w").close()
                else:
                    open(tmp, "w").close()
                os._exit(0)
            store.atomic_write(path, write)
        os.waitpid(pid, 0)
    """
)


class TaskOut(d6tflow.tasks.TaskPickle):
    n = d6tflow.IntParameter(default=0)

    def run(self):
        self.save(self.n)


def test_temporary_files_folders_metadata_and_manifest_of_dead_processes_are_removed(tmp_path):
    folder = Path(TaskOut().output().path).parent
    folder.mkdir(parents=True)
    one, two = TaskOut(n=1).task_id, TaskOut(n=2).task_id
    paths = [
        folder / f"{one}-data.pkl",  # an output
        folder / f"{two}-data.pq",  # a partitioned output: a folder
        folder / f"{one}-meta.pickle",  # metaSave
        folder / ".manifests.jsonl",  # the log, being compacted
        folder / "data.pkl",  # saved without the task id (settings.save_with_param = False)
    ]
    script = tmp_path / "leave.py"
    script.write_text(LEAVE)
    done = subprocess.run(
        [sys.executable, str(script), *map(str, paths)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    left = _temps(folder)
    assert len(left) == len(paths) and any((folder / n).is_dir() for n in left)
    (folder / ".tmp-notes").write_text("not a name d6tflow makes: kept")

    assert d6tflow.run(TaskOut(), execution_summary=False)

    assert _temps(folder) == [".tmp-notes"]
    assert TaskOut().outputLoad() == 0
    assert [n for n in os.listdir(folder) if not n.startswith(".")] == [
        f"{TaskOut().task_id}-data.pkl"  # the temporary files were removed, not put in place
    ]


def _other_host_temp(folder: Path, final: str, age: float) -> Path:
    """A temporary file as a process on another machine names it (its host part differs)."""
    path = folder / f".tmp-4242.00000000abcdef-0-{final}"
    path.write_bytes(b"half")
    then = time.time() - age
    os.utime(path, (then, then))
    return path


def test_another_machines_temporary_file_goes_only_when_quiet_and_its_lock_is_free(tmp_path):
    folder = Path(TaskOut().output().path).parent
    folder.mkdir(parents=True)
    day, minute = 24 * 3600, 60
    dead = _other_host_temp(folder, f"{TaskOut(n=1).task_id}-data.pkl", day)
    dead_swap = _other_host_temp(folder, f"old-{TaskOut(n=1).task_id}-data.pkl", day)
    locked = _other_host_temp(folder, f"{TaskOut(n=2).task_id}-data.pkl", day)
    recent = _other_host_temp(folder, f"{TaskOut(n=3).task_id}-data.pkl", minute)
    no_id = _other_host_temp(folder, "data.pkl", day)

    # A run of TaskOut(n=2) elsewhere: a live process holds its lock.
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys\nfrom d6tflow import locks\n"
            "with locks.task_locked(sys.argv[1], sys.argv[2]):\n"
            "    print('held', flush=True)\n    sys.stdin.readline()",
            str(folder),
            TaskOut(n=2).task_id,
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        assert d6tflow.run(TaskOut(), execution_summary=False)
    finally:
        holder.kill()
        holder.wait(timeout=30)

    assert not dead.exists() and not dead_swap.exists()
    assert locked.exists() and recent.exists() and no_id.exists()


def test_invalidate_orphans_removes_a_dead_runs_temporary_file_and_keeps_a_running_ones(
    tmp_path,
):
    class TaskKept(d6tflow.tasks.TaskPickle):
        def run(self):
            self.save(1)

    d6tflow.run(TaskKept(), execution_summary=False)
    folder = d6tflow.settings.dirpath / "TaskKept"
    # A process that wrote a temporary file and ended before renaming it: a real, finished one.
    code = "import sys; from d6tflow import store; open(store.temp_path(sys.argv[1]), 'w')"
    subprocess.run([sys.executable, "-c", code, str(folder / "left.pkl")], check=True, timeout=60)
    (dead,) = folder.glob(f"{store.TEMP_PREFIX}*-left.pkl")
    # This process is running: a file it is writing belongs to a run going on.
    live = Path(store.temp_path(str(folder / "saving.pkl")))
    live.write_text("half")

    assert d6tflow.invalidate_orphans([TaskKept()], confirm=False) == [dead]
    assert live.exists() and not dead.exists()
    assert TaskKept().complete()
