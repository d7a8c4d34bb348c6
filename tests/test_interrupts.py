"""Ctrl-C during a run: held back while tasks run elsewhere, acted on where no lock is held."""

from __future__ import annotations

import os
import signal
import threading
import time
import traceback
from concurrent.futures import Future

import pytest

import d6tflow
from d6tflow import interrupts
from d6tflow.executors import Executor


@pytest.fixture(autouse=True)
def python_sigint_handler():
    """Python's own handler (KeyboardInterrupt), whatever the test runner installed."""
    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, before)


def ctrl_c() -> None:
    # raise_signal runs the handler before it returns (in the main thread): no wait needed.
    signal.raise_signal(signal.SIGINT)


def ctrl_c_once(ready, what: str) -> threading.Thread:
    """Press Ctrl-C from another thread as soon as ``ready()`` is true (60 s at most)."""

    def press():
        deadline = time.monotonic() + 60
        while not ready():
            if time.monotonic() > deadline:
                raise TimeoutError(f"never {what}")
            time.sleep(0.005)
        os.kill(os.getpid(), signal.SIGINT)

    thread = threading.Thread(target=press, daemon=True)
    thread.start()
    return thread


def test_a_held_ctrl_c_is_raised_when_the_block_ends():
    after_signal = False
    with pytest.raises(KeyboardInterrupt), interrupts.held():
        ctrl_c()
        after_signal = True  # reached: the Ctrl-C was not raised in the middle
    assert after_signal
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_check_raises_a_held_ctrl_c_where_it_is_called():
    with pytest.raises(KeyboardInterrupt) as caught, interrupts.held():
        ctrl_c()
        interrupts.check()
        pytest.fail("check() let the Ctrl-C through")
    assert "check" in [f.name for f in traceback.extract_tb(caught.value.__traceback__)]
    interrupts.check()  # delivered once: nothing pending any more


def test_nothing_is_raised_without_a_ctrl_c():
    with interrupts.held():
        interrupts.check()
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_the_users_own_handler_gets_the_ctrl_c_at_the_end():
    calls = []
    signal.signal(signal.SIGINT, lambda signum, frame: calls.append(signum))
    with interrupts.held():
        ctrl_c()
        assert calls == []
    assert calls == [signal.SIGINT]


def test_an_ignored_sigint_stays_ignored():
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    with interrupts.held():
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
        ctrl_c()
    assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN


def test_an_error_inside_goes_on_and_the_ctrl_c_is_dropped():
    with pytest.raises(ZeroDivisionError), interrupts.held():
        ctrl_c()
        1 / 0
    with interrupts.held():
        pass  # nothing left over from before: no KeyboardInterrupt here


def test_nested_blocks_deliver_once_at_the_outer_end():
    calls = []
    signal.signal(signal.SIGINT, lambda signum, frame: calls.append(signum))
    with interrupts.held():
        with interrupts.held():
            ctrl_c()
        assert calls == []  # the inner end is not a safe point of the outer block
    assert calls == [signal.SIGINT]


def test_outside_the_main_thread_nothing_changes():
    seen = []

    def body():
        with interrupts.held():
            seen.append(signal.getsignal(signal.SIGINT))
            interrupts.check()

    thread = threading.Thread(target=body)
    thread.start()
    thread.join()
    assert seen == [signal.default_int_handler]


def free_for_another_thread(lock) -> bool:
    got = []

    def take():
        if lock.acquire(timeout=1):
            got.append(True)
            lock.release()

    thread = threading.Thread(target=take)
    thread.start()
    thread.join()
    return got == [True]


class Leaf(d6tflow.tasks.TaskPickle):
    n = d6tflow.IntParameter()

    def run(self):
        self.save(self.n)


class NeverFinishes(Executor):
    """Tasks 'run elsewhere' and never finish: the scheduler sits in its wait loop, touching the
    futures' locks every slice, which is where an unheld Ctrl-C used to strand a lock."""

    def __init__(self, workers: int = 2, **options):
        super().__init__(workers=workers)
        self.futures: list[Future] = []
        self.shut_down = False

    def submit(self, task):
        future: Future = Future()
        self.futures.append(future)
        return future

    def shutdown(self):
        self.shut_down = True
        for future in self.futures:
            future.cancel()


def test_ctrl_c_while_waiting_on_workers_is_raised_outside_the_futures_code(tmp_path, monkeypatch):
    d6tflow.set_dir(tmp_path)
    monkeypatch.setattr(d6tflow.scheduler, "_WAIT_SLICE_S", 0.0001)  # many lock round trips
    executor = NeverFinishes()

    def waiting() -> bool:  # the scheduler waits on both futures: each has a waiter
        return len(executor.futures) == 2 and all(f._waiters for f in executor.futures)

    presser = ctrl_c_once(waiting, "waited on both futures")
    with pytest.raises(KeyboardInterrupt) as caught:
        d6tflow.run([Leaf(n=1), Leaf(n=2)], executor=executor, execution_summary=False)
    presser.join(10)
    frames = traceback.extract_tb(caught.value.__traceback__)
    files = [os.path.basename(f.filename) for f in frames]
    # Raised by check() in the scheduler, never from inside concurrent.futures or threading.
    assert "interrupts.py" in files, files
    assert not {"_base.py", "threading.py"} & set(files), files
    assert executor.shut_down
    # Every future's lock is free for the thread that hands over the workers' results.
    assert all(free_for_another_thread(f._condition) for f in executor.futures)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


sleeps_started = threading.Event()


class Sleeps(d6tflow.tasks.TaskPickle):
    def run(self):
        sleeps_started.set()
        time.sleep(30)
        self.save(1)


def test_ctrl_c_interrupts_a_task_running_inline_at_once(tmp_path):
    d6tflow.set_dir(tmp_path)
    sleeps_started.clear()
    presser = ctrl_c_once(sleeps_started.is_set, "started the task")
    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        d6tflow.run(Sleeps(), execution_summary=False)
    presser.join(10)
    assert time.monotonic() - started < 10  # not after the task's 30 s
    assert not Sleeps().complete()
    assert not [p for p in (tmp_path / "Sleeps").glob("*") if p.suffix == ".pkl"]


def test_only_the_inline_executor_runs_tasks_in_the_caller():
    from d6tflow.executors.dask import DaskExecutor
    from d6tflow.executors.inline import InlineExecutor
    from d6tflow.executors.process import ProcessExecutor

    assert InlineExecutor.runs_in_caller
    assert not ProcessExecutor.runs_in_caller
    assert not DaskExecutor.runs_in_caller
