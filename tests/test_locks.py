"""Task locks: exclusive per task across threads and processes, independent between tasks."""

import shutil
import subprocess
import sys
import textwrap
import threading
import time

import pytest

import d6tflow
from d6tflow import locks


@pytest.fixture(params=["folder lock file", "lock file per task"])
def lock_mode(request, monkeypatch):
    """Both ways of locking: Linux's byte locks on one file per folder, and the one lock file
    per task that macOS uses (flock; Windows takes filelock's equivalent)."""
    if request.param == "folder lock file" and not locks.USES_FOLDER_LOCK:
        pytest.skip("open-file-description locks are Linux-only")
    monkeypatch.setattr(locks, "USES_FOLDER_LOCK", request.param == "folder lock file")
    return request.param


def hold_in_thread(folder, task_id, events, inside):
    def body():
        with locks.task_locked(folder, task_id):
            events.append(("in", task_id))
            inside()
            events.append(("out", task_id))

    thread = threading.Thread(target=body)
    thread.start()
    return thread


def test_two_threads_never_hold_the_same_task_lock_at_once(tmp_path, lock_mode):
    folder = str(tmp_path)
    events = []
    # Not a synchronization: a holder stays inside a while, so that a lock letting the other
    # thread in would show; with a working lock the order is the same however long it is.
    threads = [hold_in_thread(folder, "Task_A", events, lambda: time.sleep(0.3)) for _ in range(2)]
    for t in threads:
        t.join()
    assert events == [("in", "Task_A"), ("out", "Task_A")] * 2


def test_different_tasks_do_not_wait_for_each_other(tmp_path, lock_mode):
    folder = str(tmp_path)
    events = []
    # Each holder waits inside its lock for the other to be inside its own: a wait for each
    # other's lock would break the barrier (after 30 s) instead of passing it.
    both_inside = threading.Barrier(2, timeout=30)
    threads = [
        hold_in_thread(folder, name, events, both_inside.wait) for name in ("Task_A", "Task_B")
    ]
    for t in threads:
        t.join()
    assert [kind for kind, _ in events] == ["in", "in", "out", "out"]


PROBE = textwrap.dedent(
    """
    import sys, threading
    from d6tflow import locks
    got = threading.Event()

    def take():
        with locks.task_locked(sys.argv[1], sys.argv[2]):
            got.set()

    threading.Thread(target=take, daemon=True).start()
    print("free" if got.wait(1.0) else "busy")
    """
)


def probe(folder, task_id):
    """Whether another process can take the task's lock within a second."""
    out = subprocess.run(
        [sys.executable, "-c", PROBE, folder, task_id], capture_output=True, text=True, check=True
    )
    return out.stdout.strip()


def test_a_held_lock_keeps_other_processes_out(tmp_path):
    folder = str(tmp_path)
    with locks.task_locked(folder, "Task_A"):
        assert probe(folder, "Task_A") == "busy"
        assert probe(folder, "Task_B") == "free"
    assert probe(folder, "Task_A") == "free"


@pytest.mark.skipif(not locks.USES_FOLDER_LOCK, reason="per-task lock files are opened each time")
def test_a_folder_deleted_and_made_again_is_locked_for_real(tmp_path):
    folder = tmp_path / "Task"
    folder.mkdir()
    with locks.task_locked(str(folder), "Task_A"):
        pass  # this thread now keeps a descriptor of the folder's lock file
    shutil.rmtree(folder)
    folder.mkdir()
    with locks.task_locked(str(folder), "Task_A"):
        # The lock is on the file that is there now, which other processes open.
        assert probe(str(folder), "Task_A") == "busy"


class Counted(d6tflow.tasks.TaskPickle):
    n = d6tflow.IntParameter()

    def run(self):
        self.save(self.n)


def test_a_flow_runs_and_reruns_with_either_kind_of_lock(fresh_data_dir, lock_mode):
    tasks = [Counted(n=n) for n in range(3)]
    assert d6tflow.run(tasks, execution_summary=False)
    assert [t.outputLoad() for t in tasks] == [0, 1, 2]
    result = d6tflow.run(tasks, forced=tasks[1], execution_summary=False)
    assert result.tasks(d6tflow.TaskState.DONE) == [tasks[1]]
    lock_files = sorted(p.name for p in (fresh_data_dir / "Counted").glob(".*lock"))
    if lock_mode == "folder lock file":
        assert lock_files == [".d6tflow.lock"]
    else:
        assert lock_files == sorted([".d6tflow.lock"] + [f".{t.task_id}.lock" for t in tasks])
