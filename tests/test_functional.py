"""The functional API: functions as tasks, decorators, run/load/reset/delete by function."""

from __future__ import annotations

import itertools
import os
import pickle

import pandas as pd
import pytest

import d6tflow
from d6tflow.errors import TaskNotCompleteError
from d6tflow.functional import Flow, Workflow
from d6tflow.workflow import MultiRunResult

calls: list[str] = []


@pytest.fixture(autouse=True)
def quiet_and_clear(monkeypatch):
    monkeypatch.setattr(d6tflow.settings, "execution_summary", False)
    calls.clear()


def make_flow():
    """A three-step flow: get_numbers -> get_letters / scale -> report."""
    flow = Workflow()

    @flow.task(d6tflow.tasks.TaskPqPandas)
    def get_numbers(task):
        """Some numbers."""
        calls.append("get_numbers")
        task.save(pd.DataFrame({"a": [1, 2, 3]}))

    @flow.task(d6tflow.tasks.TaskPickle)
    @flow.requires(get_numbers)
    @flow.params(multiplier=d6tflow.IntParameter(default=1))
    def scale(task):
        calls.append(f"scale-{task.multiplier}")
        task.save(task.inputLoad()["a"].sum() * task.multiplier)

    @flow.task(d6tflow.tasks.TaskJson)
    @flow.requires({"total": scale, "numbers": get_numbers})
    @flow.persists(["total", "count"])
    def report(task):
        calls.append(f"report-{task.multiplier}")
        data = task.inputLoad()
        task.save({"total": int(data["total"]), "count": len(data["numbers"])})

    return flow, get_numbers, scale, report


# -- decorators ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "order", list(itertools.permutations(["task", "persists", "requires", "params"]))
)
def test_decorators_work_in_every_order(order):
    flow = Workflow()

    @flow.task(d6tflow.tasks.TaskPickle)
    def source(task):
        task.save(5)

    decorators = {
        "task": flow.task(d6tflow.tasks.TaskPickle),
        "persists": flow.persists(["a", "b"]),
        "requires": flow.requires(source),
        "params": flow.params(n=d6tflow.IntParameter(default=2)),
    }

    def combine(task):
        """Combine the source with n."""
        task.save({"a": task.inputLoad() * task.n, "b": task.n})

    decorated = combine
    for name in reversed(order):  # the decorator written last is applied first
        decorated = decorators[name](decorated)

    cls = flow.steps["combine"]
    assert decorated.task_class is cls
    assert cls.persist == ["a", "b"] and cls.get_param_names() == ["n"]
    assert decorated.__name__ == "combine" and decorated.__doc__ == "Combine the source with n."
    assert flow.run(decorated, params={"n": 3})
    assert flow.outputLoad(decorated) == [15, 3]
    assert flow.outputLoad(decorated, keys="b") == 3


def test_decorated_function_keeps_its_name_doc_and_still_runs_as_a_function():
    flow, get_numbers, scale, _ = make_flow()
    assert get_numbers.__name__ == "get_numbers" and get_numbers.__doc__ == "Some numbers."
    assert flow.steps["scale"] is scale.task_class
    assert scale.task_class.__name__ == "scale" and scale.task_class().task_id.startswith("scale_")

    class Fake:
        def save(self, obj):
            calls.append(("saved", len(obj)))

    get_numbers(Fake())  # calling the function still calls it
    assert calls == ["get_numbers", ("saved", 3)]


def test_task_takes_any_TaskData_subclass_including_your_own():
    class TaskMyPickle(d6tflow.tasks.TaskPickle):  # the original asserted a direct subclass
        pass

    flow = Workflow()

    @flow.task(TaskMyPickle)
    def mine(task):
        task.save("mine")

    flow.run(mine)
    assert issubclass(mine.task_class, TaskMyPickle)
    assert flow.outputLoad(mine) == "mine"


def test_bad_decorator_arguments_are_explained():
    flow = Workflow()
    with pytest.raises(TypeError, match=r"subclass of d6tflow\.tasks\.TaskData"):
        flow.task(d6tflow.tasks.TaskAggregator)
    with pytest.raises(TypeError, match="expected a parameter"):
        flow.params(n=3)

    def plain(task):
        pass

    with pytest.raises(TypeError, match=r"plain is not a flow task: decorate it"):
        flow.requires(plain)
    with pytest.raises(TypeError, match="needs at least one"):
        flow.requires()
    with pytest.raises(KeyError, match="No function named 'nope'"):
        flow.outputLoad("nope")

    @flow.task(d6tflow.tasks.TaskPickle)
    def once(task):
        pass

    with pytest.raises(TypeError, match="applied twice"):
        flow.task(d6tflow.tasks.TaskPickle)(once)


def test_requires_several_functions_gives_a_list_of_inputs():
    flow = Workflow()

    @flow.task(d6tflow.tasks.TaskPickle)
    def one(task):
        task.save(1)

    @flow.task(d6tflow.tasks.TaskPickle)
    def two(task):
        task.save(2)

    @flow.task(d6tflow.tasks.TaskPickle)
    @flow.requires(one, two)
    def both(task):
        task.save(task.inputLoad())

    flow.run(both)
    assert flow.outputLoad(both) == [1, 2]


def test_add_global_params_adds_to_every_function_defined_so_far():
    flow = Workflow()

    @flow.task(d6tflow.tasks.TaskPickle)
    def first(task):
        task.save(task.seed)

    flow.add_global_params(seed=d6tflow.IntParameter(default=0))

    @flow.task(d6tflow.tasks.TaskPickle)
    def later(task):
        task.save(1)

    assert first.task_class.get_param_names() == ["seed"]
    assert later.task_class.get_param_names() == []
    flow.run(first, params={"seed": 7})
    assert flow.outputLoad(first) == 7
    assert first.task_class(seed=7).task_id.startswith("first_7_")


def test_old_names_flow_and_step_still_work():
    flow = Flow()

    @flow.step(d6tflow.tasks.TaskCache)
    def old_style(task):
        task.save("ok")

    flow.run(old_style)
    assert flow.outputLoad(old_style) == "ok"


module_flow = Workflow()


@module_flow.task(d6tflow.tasks.TaskPickle)
@module_flow.params(n=d6tflow.IntParameter(default=1))
def module_step(task):
    task.save(task.n)


def test_function_tasks_can_be_pickled_to_run_in_other_processes():
    task = module_step.task_class(n=3)
    copy = pickle.loads(pickle.dumps(task))
    assert copy == task and type(copy) is module_step.task_class


# -- running and loading --------------------------------------------------------------------------


def test_run_uses_params_for_every_function_and_load_uses_the_last_run():
    flow, _, scale, report = make_flow()
    result = flow.run(report, params={"multiplier": 2})
    assert result and report.task_class(multiplier=2) in result.status
    assert calls == ["get_numbers", "scale-2", "report-2"]
    assert flow.outputLoad(report) == [12, 3]
    assert flow.outputLoad(report, as_dict=True) == {"total": 12, "count": 3}
    # scale ran only because report needed it: it loads with the same parameters.
    assert flow.outputLoad(scale) == 12
    assert flow.params_used == {"report": [{"multiplier": 2}]}


def test_outputLoad_with_params_or_before_any_run():
    flow, _, scale, _ = make_flow()
    with pytest.raises(TaskNotCompleteError, match="run flow first"):
        flow.outputLoad(scale)
    flow.run(scale)
    flow.run(scale, params={"multiplier": 3})
    assert flow.outputLoad(scale) == 18
    assert flow.outputLoad(scale, params={}) == 6
    assert flow.outputLoad("scale", params={"multiplier": 1}) == 6


def test_each_function_remembers_its_own_last_parameters():
    flow, _, scale, report = make_flow()
    flow.run(report, params={"multiplier": 2})
    flow.run(scale, params={"multiplier": 5})
    assert flow.outputLoad(report) == [12, 3]  # still the parameters report ran with
    assert flow.outputLoad(scale) == 30


def test_multi_params_run_every_set_together_and_load_per_experiment():
    flow, _, _, report = make_flow()
    result = flow.run(report, multi_params={"x2": {"multiplier": 2}, "x3": {"multiplier": 3}})
    assert isinstance(result, MultiRunResult) and result and set(result) == {"x2", "x3"}
    assert calls.count("get_numbers") == 1  # shared by both experiments
    assert flow.outputLoad(report, keys="total") == {"x2": 12, "x3": 18}
    everything = flow.outputLoadAll(report)
    assert set(everything) == {"x2", "x3"}
    assert set(everything["x3"]) == {"report", "scale", "get_numbers"}
    assert everything["x3"]["scale"] == 18


def test_multi_params_results_say_why_each_experiments_tasks_ran():
    flow, _, _, report = make_flow()
    result = flow.run(report, multi_params={"x2": {"multiplier": 2}, "x3": {"multiplier": 3}})
    ran = {t.task_family: why for t, why in result["x2"].reasons.items()}
    assert set(ran) == {"report", "scale", "get_numbers"} and all(ran.values())


def test_outputLoadAll_keys_by_function_name():
    flow, _, _, report = make_flow()
    flow.run(report)
    data = flow.outputLoadAll(report, as_dict=True)
    assert list(data) == ["report", "scale", "get_numbers"]
    assert data["report"] == {"total": 6, "count": 3}


def test_forced_can_name_functions():
    flow, _, scale, report = make_flow()
    flow.run(report, params={"multiplier": 2})
    calls.clear()
    flow.run(report, params={"multiplier": 2}, forced=scale)
    assert calls == ["scale-2", "report-2"]
    calls.clear()
    flow.run(report, multi_params={"a": {"multiplier": 2}}, forced=[scale])
    assert calls == ["scale-2", "report-2"]


def test_preview_one_set_each_set_or_the_last_run(capsys):
    flow, _, scale, report = make_flow()
    flow.preview(report, params={"multiplier": 4})
    out = capsys.readouterr().out
    assert out.count("'multiplier': '4'") == 2 and "PENDING" in out
    sets = {"a": {"multiplier": 2}, "b": {"multiplier": 3}}
    flow.preview(report, sets)  # a dict of sets passed as params, as the original examples do
    out = capsys.readouterr().out
    assert "'multiplier': '2'" in out and "'multiplier': '3'" in out
    flow.preview(report, multi_params=sets, show_params=False)
    assert "[report- (PENDING" in capsys.readouterr().out
    flow.run(scale, params={"multiplier": 9})
    flow.preview(scale)
    out = capsys.readouterr().out
    assert "'multiplier': '9'" in out and "COMPLETE" in out


# -- reset and delete -----------------------------------------------------------------------------


def test_reset_covers_every_parameter_set_including_implicit_runs():
    flow, get_numbers, scale, report = make_flow()
    flow.run(report, params={"multiplier": 2})
    flow.run(report, params={"multiplier": 3})
    assert flow.reset(scale)  # scale ran only because report needed it
    assert not scale.task_class(multiplier=2).output().exists()
    assert not scale.task_class(multiplier=3).output().exists()
    assert get_numbers.task_class().output().exists()
    assert flow.reset(report, params={"multiplier": 2})
    assert report.task_class(multiplier=3).output()["total"].exists()
    assert not report.task_class(multiplier=2).output()["total"].exists()


def test_reset_upstream_true_also_resets_what_the_function_needs():
    flow, get_numbers, scale, report = make_flow()
    flow.run(report)
    flow.reset(scale, upstream=True)
    assert not get_numbers.task_class().output().exists()
    assert report.task_class().output()["total"].exists()


def test_reset_asks_first_when_confirm(answer):
    flow, _, scale, _ = make_flow()
    flow.run(scale)
    answer("n")
    assert flow.reset(scale, confirm=True) is False
    assert flow.outputLoad(scale) == 6


def test_resetAll_resets_every_task_the_flow_ran():
    flow, get_numbers, scale, report = make_flow()
    flow.run(report, multi_params={"a": {"multiplier": 2}, "b": {"multiplier": 3}})
    flow.run(scale, params={"multiplier": 5})
    assert flow.resetAll()
    for cls, params in [(get_numbers, {}), (scale, {"multiplier": 5}), (report, {"multiplier": 3})]:
        assert not cls.task_class(**params).complete()
    assert not any(f.endswith(".parquet") or f.endswith(".pkl") for f in _all_files())


def _outputs(paths):
    """The outputs among deleted paths (d6tflow may keep other files next to them)."""
    return [
        p
        for p in paths
        if os.path.basename(p).rsplit(".", 1)[0].rsplit("-", 1)[-1] in {"data", "total", "count"}
    ]


def _all_files():
    return [os.path.join(d, f) for d, _, files in os.walk(d6tflow.settings.dirpath) for f in files]


def test_delete_removes_every_output_of_that_function_only():
    flow = Workflow()

    @flow.task(d6tflow.tasks.TaskPickle)
    def load(task):
        task.save("load")
        task.metaSave({"n": 1})

    @flow.task(d6tflow.tasks.TaskPickle)
    @flow.params(day=d6tflow.IntParameter(default=0))
    def load_data(task):
        task.save(task.day)

    flow.run([load, load_data])
    d6tflow.run([load_data.task_class(day=d) for d in (1, 2)])  # run outside the flow
    # A file the original d6tflow wrote for load_data into the folder "load" (name cut at "_").
    legacy = d6tflow.settings.dirpath / "load" / f"{load_data.task_class(day=9).task_id}-data.pkl"
    legacy.write_bytes(b"")

    deleted = {os.path.basename(p) for p in flow.delete(load)}
    task_id = load.task_class().task_id
    assert {f"{task_id}-data.pkl", f"{task_id}-meta.pickle"} <= deleted
    assert all(name.startswith(f"{task_id}") for name in deleted)
    assert not load.task_class().complete()
    assert legacy.exists()  # the original deleted every file in "load/", this one too
    assert all(load_data.task_class(day=d).complete() for d in (0, 1, 2))

    deleted = flow.delete(load_data)  # every parameter setting, also those run elsewhere
    assert len(_outputs(deleted)) == 3
    assert not any(load_data.task_class(day=d).complete() for d in (0, 1, 2))


def test_delete_finds_outputs_of_earlier_sessions_and_in_memory_outputs():
    def define():
        flow = Workflow()

        @flow.task(d6tflow.tasks.TaskCache)
        @flow.params(k=d6tflow.IntParameter(default=0))
        def in_memory(task):
            task.save(task.k)

        @flow.task(d6tflow.tasks.TaskPickle)
        @flow.params(k=d6tflow.IntParameter(default=0))
        def on_disk(task):
            task.save(task.k)

        return flow, in_memory, on_disk

    flow, in_memory, on_disk = define()
    flow.run([in_memory, on_disk], multi_params={i: {"k": i} for i in range(3)})
    flow2, in_memory2, on_disk2 = define()  # a new session: nothing recorded
    assert len(_outputs(flow2.delete(on_disk2))) == 3
    assert len(_outputs(flow2.delete(in_memory2))) == 3
    assert not any(on_disk2.task_class(k=i).complete() for i in range(3))
    assert not any(in_memory2.task_class(k=i).complete() for i in range(3))


def test_delete_without_task_ids_in_file_names(monkeypatch):
    monkeypatch.setattr(d6tflow.settings, "save_with_param", False)
    flow = Workflow()

    @flow.task(d6tflow.tasks.TaskPickle)
    def plain_names(task):
        task.save(1)

    flow.run(plain_names)
    assert plain_names.task_class().output().path.name == "data.pkl"
    assert "data.pkl" in [os.path.basename(p) for p in flow.delete(plain_names)]
    assert not plain_names.task_class().output().exists()


def test_deleteAll_asks_once_and_deletes_every_function(answer):
    flow, _, _, report = make_flow()
    flow.run(report)
    answer("n")
    assert flow.deleteAll(confirm=True) == []
    assert report.task_class().complete()
    deleted = flow.deleteAll()
    assert len(_outputs(deleted)) == 4  # get_numbers, scale, and report's two outputs
    assert [f for f in _all_files() if not os.path.basename(f).startswith(".")] == []
