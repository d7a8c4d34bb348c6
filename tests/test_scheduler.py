"""d6tflow.run: order, states, failures in the middle of a graph, the summary, deep graphs."""

from __future__ import annotations

import logging

import pytest

import d6tflow
from d6tflow import TaskState
from d6tflow.errors import FlowFailedError

calls: list[str] = []


@pytest.fixture(autouse=True)
def clear_calls():
    calls.clear()


class Leaf(d6tflow.tasks.TaskPickle):
    name = d6tflow.Parameter(default="a")

    def run(self):
        calls.append(f"Leaf-{self.name}")
        self.save(self.name)


class Broken(d6tflow.tasks.TaskPickle):
    def run(self):
        calls.append("Broken")
        raise ZeroDivisionError("bad input in Broken")


@d6tflow.requires(Broken)
class AfterBroken(d6tflow.tasks.TaskPickle):
    def run(self):
        calls.append("AfterBroken")
        self.save(1)


class Top(d6tflow.tasks.TaskPickle):
    def requires(self):
        return [Leaf(name="a"), AfterBroken(), Leaf(name="b")]

    def run(self):
        calls.append("Top")
        self.save(1)


def test_tasks_run_in_dependency_order_once_each():
    class Mid(d6tflow.tasks.TaskPickle):
        def requires(self):
            return {"x": Leaf(name="a"), "y": Leaf(name="a")}

        def run(self):
            calls.append("Mid")
            self.save(self.inputLoad())

    result = d6tflow.run([Mid(), Leaf(name="a")])
    assert calls == ["Leaf-a", "Mid"]
    assert result and result.status == {Mid(): TaskState.DONE, Leaf(name="a"): TaskState.DONE}


def test_second_run_runs_nothing_and_reports_complete(capsys):
    d6tflow.run(Leaf())
    calls.clear()
    result = d6tflow.run(Leaf())
    assert calls == []
    assert result.status == {Leaf(): TaskState.COMPLETE}
    assert "* 1 complete one was encountered:\n    - 1 Leaf(name=a)" in capsys.readouterr().out


def test_failure_keeps_independent_branches_and_skips_dependents():
    result = d6tflow.run(Top(), abort=False, execution_summary=False)
    assert not result
    assert set(calls) == {"Leaf-a", "Broken", "Leaf-b"}
    assert result.status[Broken()] is TaskState.FAILED
    assert result.status[AfterBroken()] is TaskState.SKIPPED
    assert result.status[Top()] is TaskState.SKIPPED
    assert result.status[Leaf(name="b")] is TaskState.DONE
    (failure,) = result.failures
    assert failure.task == Broken()
    assert isinstance(failure.exception, ZeroDivisionError)
    assert (
        "bad input in Broken" in failure.traceback
        and "raise ZeroDivisionError" in failure.traceback
    )


def test_abort_raises_runtime_error_with_each_failure_and_traceback():
    with pytest.raises(FlowFailedError) as info:
        d6tflow.run(Top(), execution_summary=False)
    assert isinstance(info.value, RuntimeError)
    assert info.value.exceptions[0].args == ("bad input in Broken",)
    message = str(info.value)
    assert "Broken() failed: ZeroDivisionError: bad input in Broken" in message
    assert "Traceback" in message
    assert "Leaf-b" in calls  # the independent branch ran before the error was raised


def test_rerun_after_fix_runs_only_failed_task_and_its_dependents(monkeypatch):
    d6tflow.run(Top(), abort=False, execution_summary=False)
    calls.clear()
    monkeypatch.setattr(Broken, "run", lambda self: (calls.append("Broken"), self.save(0)))
    assert d6tflow.run(Top(), execution_summary=False)
    assert calls == ["Broken", "AfterBroken", "Top"]


def test_summary_reads_like_the_original(capsys):
    d6tflow.run(Top(), abort=False)
    out = capsys.readouterr().out
    assert "Scheduled 5 tasks of which:" in out
    assert "* 2 ran successfully:\n    - 2 Leaf(name=a), Leaf(name=b)" in out
    assert "* 1 failed:\n    - 1 Broken()" in out
    assert "* 2 were left pending, among these:\n    * 2 had failed dependencies:" in out
    assert "This progress looks :( because there were failed tasks" in out


def test_execution_summary_off_prints_nothing(capsys):
    d6tflow.run(Leaf(), execution_summary=False)
    assert capsys.readouterr().out == ""
    d6tflow.settings.execution_summary = False
    d6tflow.run(Leaf(name="z"))
    assert capsys.readouterr().out == ""


def test_run_without_saving_output_fails_clearly():
    class Forgetful(d6tflow.tasks.TaskPickle):
        def run(self):
            pass

    with pytest.raises(FlowFailedError, match=r"Forgetful\(\)\.run\(\) finished without saving"):
        d6tflow.run(Forgetful(), execution_summary=False)


def test_bad_arguments_are_explained():
    with pytest.raises(TypeError, match=r"pass an instance: Leaf\(\)"):
        d6tflow.run(Leaf)
    with pytest.raises(TypeError, match=r"unknown argument.*force"):
        d6tflow.run(Leaf(), force=True)


def test_executor_options_with_one_worker_say_where_they_apply():
    with pytest.raises(TypeError, match=r"grace_period.*workers > 1"):
        d6tflow.run(Leaf(), grace_period=1)


def test_a_misspelt_option_with_workers_stops_the_run_before_forced_deletes_anything():
    d6tflow.run(Leaf(), execution_summary=False)
    with pytest.raises(TypeError, match="forcd"):
        d6tflow.run(Leaf(), workers=2, forced_all=True, forcd=True)
    assert Leaf().complete()


class LogsItsLevel(d6tflow.tasks.TaskPickle):
    def run(self):
        self.save(logging.getLogger("d6tflow").getEffectiveLevel())


def test_log_level_applies_during_the_run_and_the_users_level_comes_back(monkeypatch):
    logger = logging.getLogger("d6tflow")
    before = logger.level
    monkeypatch.setattr(d6tflow.settings, "log_level", "INFO")
    logger.setLevel(logging.ERROR)
    try:
        d6tflow.run(LogsItsLevel(), execution_summary=False)
        assert LogsItsLevel().outputLoad() == logging.INFO
        assert logger.level == logging.ERROR
    finally:
        logger.setLevel(before)


def test_workers_argument_of_original_code_still_runs(caplog):
    # workers=2 runs tasks in worker processes (tests/test_executor_process.py), so `calls`,
    # appended to in another process, stays empty here; the output is what counts.
    assert d6tflow.run([Leaf(name="a"), Leaf(name="b")], workers=2, execution_summary=False)
    assert Leaf(name="a").outputLoad() == "a" and Leaf(name="b").outputLoad() == "b"
    assert d6tflow.run(Leaf(), workers=2, executor="inline", execution_summary=False)
    assert "workers=2" in caplog.text


def test_tuple_of_tasks_is_accepted():
    assert d6tflow.run((Leaf(name="a"), Leaf(name="b")), execution_summary=False)
    assert sorted(calls) == ["Leaf-a", "Leaf-b"]


class Chain(d6tflow.tasks.TaskPickle):
    i = d6tflow.IntParameter()

    def requires(self):
        return Chain(i=self.i - 1) if self.i > 0 else []

    def run(self):
        self.save(self.inputLoad() + 1 if self.i > 0 else 0)


def test_chain_of_ten_thousand_does_not_hit_the_recursion_limit():
    top = Chain(i=9_999)
    assert d6tflow.run(top, execution_summary=False)
    assert top.outputLoad() == 9_999
    assert top.complete()
    assert len(d6tflow.taskflow_upstream(top)) == 10_000


def test_forced_reruns_the_task_and_its_downstream_only():
    d6tflow.run(Top(), abort=False, execution_summary=False)
    d6tflow.run(Leaf(name="x"), execution_summary=False)
    calls.clear()

    class Top2(d6tflow.tasks.TaskPickle):
        def requires(self):
            return [Leaf(name="a"), Leaf(name="b")]

        def run(self):
            calls.append("Top2")
            self.save(1)

    d6tflow.run(Top2(), execution_summary=False)
    calls.clear()
    d6tflow.run(Top2(), forced=Leaf(name="a"), execution_summary=False)
    assert calls == ["Leaf-a", "Top2"]
    calls.clear()
    d6tflow.run(Top2(), forced_all=True, execution_summary=False)
    assert calls == ["Top2"]
    calls.clear()
    d6tflow.run(Top2(), forced_all_upstream=True, execution_summary=False)
    assert sorted(calls) == ["Leaf-a", "Leaf-b", "Top2"]
    assert Leaf(name="x").complete()  # outside the flow: untouched


def test_forced_task_not_in_flow_forces_its_class_with_a_warning(caplog):
    class Top3(d6tflow.tasks.TaskPickle):
        def requires(self):
            return Leaf(name="a")

        def run(self):
            self.save(1)

    d6tflow.run(Top3(), execution_summary=False)
    calls.clear()
    d6tflow.run(Top3(), forced=Leaf(name="other"), execution_summary=False)
    assert calls == ["Leaf-a"]
    assert "forcing every Leaf" in caplog.text


def test_confirm_declined_runs_nothing(answer):
    d6tflow.run(Leaf(), execution_summary=False)
    calls.clear()
    prompts = answer("n")
    result = d6tflow.run(Leaf(), forced_all=True, confirm=True, execution_summary=False)
    assert prompts and calls == [] and Leaf().complete()
    assert result.status == {}


def test_check_dependencies_off_does_not_rerun_downstream_of_missing_upstream():
    d6tflow.run(Chain(i=2), execution_summary=False)
    Chain(i=0).reset(confirm=False)
    assert not Chain(i=2).complete()
    d6tflow.settings.check_dependencies = False
    assert Chain(i=2).complete()
    result = d6tflow.run(Chain(i=2), execution_summary=False)
    assert result.status == {Chain(i=2): TaskState.COMPLETE}


def test_the_garbage_collector_is_left_as_the_user_had_it():
    # d6tflow pauses the cyclic collector while it builds graphs and checks states; a user's
    # process must get it back in the state it was in.
    import gc

    assert gc.isenabled()
    d6tflow.run(Leaf(name="gc"), execution_summary=False)
    assert gc.isenabled()
    gc.disable()
    try:
        Leaf(name="gc").outputLoad()
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_a_tasks_run_has_the_garbage_collector_as_the_user_had_it(fresh_data_dir):
    # The pause is for d6tflow's own bookkeeping: a task's run() may make cyclic garbage.
    import gc

    seen = []

    class Watched(d6tflow.tasks.TaskPickle):
        def run(self):
            seen.append(gc.isenabled())
            self.save(1)

    d6tflow.run(Watched(), execution_summary=False)
    gc.disable()
    try:
        Watched().reset(confirm=False)
        d6tflow.run(Watched(), execution_summary=False)
        assert not gc.isenabled()
    finally:
        gc.enable()
    assert seen == [True, False]


def test_objects_the_user_froze_stay_frozen(fresh_data_dir, monkeypatch):
    # d6tflow hands a large flow's objects to the oldest generation with freeze + unfreeze, which
    # would also unfreeze a user's frozen objects (a pre-fork server's, say): it must not.
    import gc

    from d6tflow import utils

    monkeypatch.setattr(utils, "_PROMOTE_AFTER", 0)  # this small flow counts as large

    def is_frozen(obj):
        return not any(o is obj for o in gc.get_objects())  # frozen objects are in no generation

    marker = [[]]
    gc.freeze()
    try:
        assert is_frozen(marker)
        d6tflow.run(Leaf(name="frozen"), execution_summary=False)
        assert is_frozen(marker)
    finally:
        gc.unfreeze()
    assert not is_frozen(marker)
